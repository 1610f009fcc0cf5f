"""piapi sandbox: the built-in emulator of the Unified API, as a server any client can use."""

from __future__ import annotations

from piapi_cli.cli.commands._options import examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from piapi_cli.cli.app import State
    from piapi_cli.sandbox import Faults
    from piapi_cli.sandbox.access_log import AccessLog
    from piapi_cli.sandbox.server import SandboxServer

app = params.Group(
    help="The built-in, offline emulator of PiAPI's Unified API.",
    no_args_is_help=True,
    epilog=examples(
        "piapi sandbox serve",
        "piapi sandbox serve --port 0 --speed 10 --fail-rate 0.1",
    ),
)


_Host = Annotated[str, params.Option("--host", metavar="ADDRESS", help="Address to listen on")]

_Port = Annotated[int, params.Option("--port", metavar="PORT", min=0, max=65535, help="Port; 0 picks a free one")]

_Speed = Annotated[
    float, params.Option("--speed", metavar="X", min=0.001, help="Scale task durations: 10 is ten times faster")
]

_Concurrency = Annotated[
    int, params.Option("--concurrency", metavar="N", min=1, help="Tasks running at once; more wait as staged")
]

_ApiKey = Annotated[
    Optional[str],
    params.Option(
        "--api-key",
        metavar="KEY",
        envvar="PIAPI_SANDBOX_KEY",
        help="Accept only this key, as x-api-key or as a Bearer key on the OpenAI-compatible routes "
        "(default: any non-empty key) [env: PIAPI_SANDBOX_KEY]",
        show_default=False,
    ),
]

_FailRate = Annotated[float, params.Option("--fail-rate", metavar="P", help="Answer this share of requests with 500")]

_RateLimitRate = Annotated[
    float, params.Option("--rate-limit-rate", metavar="P", help="Answer this share with 429 and Retry-After")
]

_DropRate = Annotated[
    float,
    params.Option(
        "--drop-rate",
        metavar="P",
        help="Close the connection mid-response for this share (an event stream: mid-answer)",
    ),
]

_Latency = Annotated[float, params.Option("--latency", metavar="SECONDS", min=0.0, help="Delay every answer")]

_TruncateDownloads = Annotated[
    bool, params.Option("--truncate-downloads", help="Cut every output file short (Content-Length kept)")
]

_MaxBody = Annotated[
    str,
    params.Option(
        "--max-body",
        metavar="SIZE",
        help="Refuse larger request bodies with 413, unread (16M fits a 10 MB upload in base64)",
    ),
]

_Timeout = Annotated[
    float,
    params.Option(
        "--timeout",
        metavar="SECONDS",
        min=0.1,
        help="Close a connection idle or stalled (mid-request or mid-answer) this long",
    ),
]

_NoWebhooks = Annotated[bool, params.Option("--no-webhooks", help="Do not deliver webhooks")]

_Quiet = Annotated[bool, params.Option("--quiet", "-q", help="Do not log requests")]


@app.command(
    "serve",
    epilog=examples(
        "piapi sandbox serve",
        "URL=$(piapi sandbox serve --port 0 | head -1) &",
        'curl -H "x-api-key: any" -d \'{"model":"Qubico/flux1-dev","task_type":"txt2img",'
        '"input":{"prompt":"a cat"}}\' http://127.0.0.1:8787/api/v1/task',
        "PIAPI_BASE_URL=http://127.0.0.1:8787 PIAPI_API_KEY=any piapi create -m luma -t video_generation "
        "-i prompt=waves --wait",
        'curl -H "Authorization: Bearer any" -d \'{"model":"gpt-4o-mini","stream":true,'
        '"messages":[{"role":"user","content":"hi"}]}\' http://127.0.0.1:8787/v1/chat/completions',
        notes="Prints its base URL on stdout, logs requests and webhook deliveries on stderr, and stops "
        "cleanly on Ctrl-C or SIGTERM. Tasks live in memory while it runs. A task created with "
        "config.webhook_config gets a POST of {timestamp, data} with the x-webhook-secret header on each "
        "status change; failed deliveries are retried with backoff, each receiver in its own lane. The "
        "OpenAI-compatible routes answer too: /v1/chat/completions (streamed with keep-alives; "
        "sora-2-preview with progress and a video URL), /v1/images/generations and /v1/images/edits. "
        "In a chat prompt, [sandbox:cut] cuts the stream mid-answer and [sandbox:error] sends an error in it.",
    ),
)
def serve(
    ctx: params.Context,
    host: _Host = "127.0.0.1",
    port: _Port = 8787,
    speed: _Speed = 1.0,
    concurrency: _Concurrency = 10,
    api_key: _ApiKey = None,
    fail_rate: _FailRate = 0.0,
    rate_limit_rate: _RateLimitRate = 0.0,
    drop_rate: _DropRate = 0.0,
    latency: _Latency = 0.0,
    truncate_downloads: _TruncateDownloads = False,
    max_body: _MaxBody = "16M",
    timeout: _Timeout = 10.0,
    no_webhooks: _NoWebhooks = False,
    quiet: _Quiet = False,
) -> None:
    """Serve the Unified API on this machine: create, get, cancel, account, upload, output files."""
    import logging
    import sys

    from piapi_cli.api.errors import UsageError
    from piapi_cli.sandbox import Emulator
    from piapi_cli.sandbox.access_log import AccessLog
    from piapi_cli.sandbox.server import SandboxServer

    state: State = ctx.obj
    body_limit = _body_limit(max_body)
    faults = _faults(fail_rate, rate_limit_rate, drop_rate, latency, truncate_downloads)
    emulator = Emulator(speed=speed, concurrency=concurrency, api_key=api_key, faults=faults)
    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("piapi.sandbox").setLevel(logging.WARNING if quiet else logging.INFO)
    access = None if quiet else AccessLog(sys.stderr)  # the line per answer, off the answering thread
    try:
        server = SandboxServer(
            emulator, host, port, webhooks=not no_webhooks, max_body=body_limit, timeout=timeout, access_log=access
        )
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    _serve(state, server, access, api_key)
    state.output.info("piapi sandbox: stopped")


def _body_limit(max_body: str) -> int:
    from piapi_cli.api.errors import UsageError
    from piapi_cli.sandbox.server import parse_size

    try:
        body_limit = parse_size(max_body)
    except ValueError as exc:
        raise UsageError(f"--max-body: {exc}") from None
    if body_limit < 1024:
        raise UsageError(f"--max-body is too small to hold a create request: {max_body} ({body_limit} bytes)")
    return body_limit


def _faults(fail_rate: float, rate_limit_rate: float, drop_rate: float, latency: float, truncate: bool) -> Faults:
    from piapi_cli.api.errors import UsageError
    from piapi_cli.sandbox import Faults

    for name, value in (("--fail-rate", fail_rate), ("--rate-limit-rate", rate_limit_rate), ("--drop-rate", drop_rate)):
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"{name} is a probability from 0 to 1, not {value:g}")
    return Faults(fail_rate, rate_limit_rate, drop_rate, latency, truncate)


def _serve(state: State, server: SandboxServer, access: AccessLog | None, api_key: str | None) -> None:
    """Serve until Ctrl-C or SIGTERM; the base URL on stdout, how to use it on stderr."""
    import signal
    import sys
    import threading

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.httpd.shutdown, daemon=True).start()

    try:  # from here on, Ctrl-C at any moment stops the server the same way
        signal.signal(signal.SIGTERM, stop)
        sys.stdout.write(server.base_url + "\n")
        sys.stdout.flush()
        state.output.info(
            f"piapi sandbox: the Unified API at {server.base_url} "
            f"(any key{' but the one set' if api_key else ''}), and the OpenAI-compatible routes under "
            f"{server.base_url}/v1; try: PIAPI_BASE_URL={server.base_url} "
            "PIAPI_API_KEY=any piapi create -m Qubico/flux1-dev -t txt2img -i prompt=cat --wait; Ctrl-C stops it"
        )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if access is not None:
            access.close()
