"""piapi listen: receive PiAPI's webhook deliveries, print them, forward them, act on them."""

from __future__ import annotations

from pathlib import Path

from piapi_cli.cli.commands._options import QuietOption, examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    import threading

    from piapi_cli.cli.app import State
    from piapi_cli.core.downloads.downloader import DownloadHTTP
    from piapi_cli.core.journal.events import EventStore
    from piapi_cli.core.listener.forwarding import Route
    from piapi_cli.core.listener.listener import Listener, ListenerOptions

EPILOG = examples(
    "piapi listen",
    "piapi listen --public-url https://my-tunnel.example.com --forward-to http://localhost:3000/hooks/piapi",
    "piapi listen --events completed,failed --exec './on-done.sh' --download out",
    "piapi listen --forward-to task.completed=http://localhost:3000/done --forward-to http://localhost:3000/all",
    "piapi listen --replay failed",
    "SECRET=$(piapi listen --print-secret)",
    notes="stdout: one JSON line per event: {id, received_at, event, task_id, status, model, task_type, "
    "timestamp, source, task}. Events: task.created, task.staged, task.processing, task.completed, "
    "task.failed, task.cancelled, and task.updated for later news of a status already heard. A repeated "
    "delivery (same task, status and timestamp) is answered 200 and dropped. --exec runs the command "
    "without a shell, the event JSON on stdin, PIAPI_TASK_ID, PIAPI_STATUS, PIAPI_EVENT and "
    "PIAPI_EVENT_ID in its environment. Without --secret the listener's own secret is used: made once, "
    "kept in the config directory (0600). PiAPI needs a public URL: run a tunnel to --port and pass its "
    "address as --public-url.",
)


PortOption = Annotated[
    int, params.Option("--port", "-p", metavar="PORT", min=0, max=65535, help="Port; 0 picks a free one")
]
HostOption = Annotated[str, params.Option("--host", metavar="ADDRESS", help="Address to listen on")]
PathOption = Annotated[str, params.Option("--path", metavar="PATH", help="URL path deliveries are POSTed to")]
SecretOption = Annotated[
    Optional[str],
    params.Option(
        "--secret",
        metavar="SECRET",
        envvar="PIAPI_WEBHOOK_SECRET",
        show_envvar=False,
        help="The x-webhook-secret deliveries must carry [env: PIAPI_WEBHOOK_SECRET] (default: the listener's own)",
        show_default=False,
    ),
]
SecretFileOption = Annotated[
    Optional[Path],
    params.Option("--secret-file", metavar="FILE", help="Read the secret from this file", show_default=False),
]
ForwardToOption = Annotated[
    Optional[list[str]],
    params.Option(
        "--forward-to",
        "-f",
        metavar="[EVENT=]URL",
        help="POST each delivery, as received, to URL; EVENT=URL for one event only. Repeatable",
        show_default=False,
    ),
]
ExecCommandOption = Annotated[
    Optional[str],
    params.Option("--exec", metavar="CMD", help="Run CMD for each event (no shell; event JSON on stdin)"),
]
DownloadOption = Annotated[
    Optional[Path],
    params.Option("--download", metavar="DIR", help="Save the outputs of completed tasks into DIR"),
]
DownloadAnyUrlOption = Annotated[
    bool,
    params.Option(
        "--download-any-url",
        help="Let --download fetch http:// URLs and private or local hosts (by default: public https only)",
    ),
]
EventsOption = Annotated[
    Optional[str],
    params.Option(
        "--events",
        metavar="LIST",
        help="Only these events, e.g. completed,failed (default: all)",
        show_default=False,
    ),
]
PublicUrlOption = Annotated[
    Optional[str],
    params.Option("--public-url", metavar="URL", help="The address PiAPI reaches this listener at (a tunnel's URL)"),
]
BackstopOption = Annotated[
    float,
    params.Option(
        "--backstop",
        metavar="SECONDS",
        min=0,
        help="Fetch tasks sent to this listener that have been silent this long (0: never)",
    ),
]
PrintSecretOption = Annotated[bool, params.Option("--print-secret", help="Print the secret and exit")]
ReplayOption = Annotated[
    Optional[str],
    params.Option(
        "--replay",
        metavar="EVENT_ID|TASK|failed",
        help="Forward stored events again (an event, a task's events, or every one not forwarded), then exit",
        show_default=False,
    ),
]


def listen(
    ctx: params.Context,
    port: PortOption = 8788,
    host: HostOption = "127.0.0.1",
    path: PathOption = "/webhook",
    secret: SecretOption = None,
    secret_file: SecretFileOption = None,
    forward_to: ForwardToOption = None,
    exec_command: ExecCommandOption = None,
    download: DownloadOption = None,
    download_any_url: DownloadAnyUrlOption = False,
    events: EventsOption = None,
    public_url: PublicUrlOption = None,
    backstop: BackstopOption = 300.0,
    print_secret: PrintSecretOption = False,
    replay: ReplayOption = None,
    quiet: QuietOption = False,
) -> None:
    """Receive PiAPI's webhook deliveries: print each event, forward it, run a command, download.

    Listens on 127.0.0.1 until Ctrl-C or SIGTERM. Every delivery is checked (secret, shape),
    stored in the journal and answered only once stored.
    """
    state: State = ctx.obj
    output = state.output
    output.quiet = output.quiet or quiet
    session = state.session
    from piapi_cli.core.listener.secret import resolve_secret
    from piapi_cli.core.settings import config_dir

    the_secret = resolve_secret(secret, secret_file, config_dir(session.environ))
    if print_secret:  # (scripts ask for it: before the listener's modules are imported)
        output.line(the_secret)
        return
    from piapi_cli.core.listener import listener as lib
    from piapi_cli.core.listener.forwarding import Route, parse_events

    routes = [Route.parse(text) for text in forward_to or []]
    # never shown, never stored: the secret and the passwords of --forward-to URLs
    session.extra_secrets += [the_secret, *(r.password for r in routes if r.password)]
    store = _store(state, the_secret)
    if replay is not None:
        _replay(state, store, replay, routes)
        return
    options = lib.ListenerOptions(
        secret=the_secret,
        host=host,
        port=port,
        path=path,
        public_url=public_url,
        events=parse_events(events),
        routes=routes,
        exec_argv=_exec_argv(exec_command),
        download_dir=download,
        # the in-process sandbox's files never touch the network
        download_any_url=download_any_url or session.use_sandbox,
        backstop_after=backstop,
        keep_events=30 * 86400.0 if session.journal is not None else 600.0,
    )
    _listen(state, options, store, own_secret=secret is None and secret_file is None)


def _exec_argv(exec_command: str | None) -> list[str] | None:
    import shlex

    from piapi_cli.api.errors import UsageError

    argv = shlex.split(exec_command) if exec_command else None
    if exec_command is not None and not argv:
        raise UsageError("--exec needs a command")
    return argv


def _listen(state: State, options: ListenerOptions, store: EventStore, *, own_secret: bool) -> None:
    """The listener of these options, served until Ctrl-C or SIGTERM."""
    import threading

    from piapi_cli.core.listener import listener as lib

    session = state.session
    get_task = None
    if options.backstop_after > 0:
        try:
            get_task = session.client.get_task
        except Exception as exc:  # no key: the listener still works, without the backstop
            state.output.warn(f"the backstop is off: {getattr(exc, 'message', exc)}")
    stopped = threading.Event()
    listener = lib.Listener(
        options,
        store,
        on_event=lambda event: _print_event(state, event.line(), stopped),
        on_idle=lambda: _print_event(state, None, stopped),
        on_failure=stopped.set,
        on_log=lambda level, message: _log(state, level, message),
        world=session.world,
        get_task=get_task,
        download_http=_download_http(state) if options.download_dir is not None else None,
        environ=session.environ,
        exec_output=_stderr(),
    )
    _serve(state, listener, options.host, stopped, own_secret=own_secret)


def _download_http(state: State) -> DownloadHTTP:
    """The client for output files: the session's (it knows the sandbox's transport), or without
    an API key, a plain one (output files never need the key)."""
    from piapi_cli.api.errors import ConfigError

    session = state.session
    try:
        return session.download_http([session.world])
    except ConfigError:
        from piapi_cli.core.downloads.downloader import download_client

        return download_client([])


def _store(state: State, secret: str) -> EventStore:
    from piapi_cli.core.journal.events import EventStore
    from piapi_cli.core.journal.journal import Journal

    journal = state.session.journal or Journal(Path(":memory:"))
    return EventStore(journal, secret)


def _serve(state: State, listener: Listener, host: str, stopped: threading.Event, *, own_secret: bool) -> None:
    from piapi_cli.api.errors import UsageError
    from piapi_cli.cli.signals import graceful

    signalled: list[BaseException] = []  # Ctrl-C, SIGTERM, SIGHUP: a clean stop, then 130, 143, 129

    def stop(exc: BaseException) -> None:
        signalled.append(exc)
        stopped.set()

    with graceful(stop):  # from the start (a signal while it starts is a stop too); a second one ends it at once
        try:
            listener.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{listener.options.port}: {exc.strerror or exc}") from None
        _announce(state, listener, own_secret=own_secret)
        while not stopped.wait(0.5):
            pass
        state.output.info("piapi listen: stopping (finishing forwards)...")
        listener.stop()
    _summary(state, listener)
    if signalled:
        raise signalled[0]
    if listener.failure:
        from piapi_cli.api.errors import PiapiError

        raise PiapiError(f"listen stopped: its HTTP server failed ({listener.failure})")


def _announce(state: State, listener: Listener, *, own_secret: bool) -> None:
    output = state.output
    output.info(f"piapi listen: receiving deliveries at {listener.local_url} (Ctrl-C stops it)")
    queued, waiting = listener.resumed
    if queued:
        output.info(f"forwarding {queued} event(s) an earlier run stored but never forwarded, in order, first")
    if waiting:
        output.warn(f"{waiting} stored event(s) wait for a destination not given now: listen --replay failed")
    if own_secret:  # piapi made it: shown once, on stderr, so that it can be given to create
        output.info(f"give create or batch run: --webhook {listener.url} --webhook-secret {listener.options.secret}")
        output.info("(that secret is piapi listen's own, made once and kept; -q hides these lines)")
    else:  # the user's own: never printed
        output.info(f"give create or batch run: --webhook {listener.url} with the secret you gave (not shown)")
    if not listener.options.public_url:
        port = listener.server.server_address[1] if listener.server is not None else listener.options.port
        output.info(
            f"PiAPI must reach it from the internet: run a tunnel to port {port} and pass its address as "
            "--public-url (piapi sandbox serve reaches it as it is)"
        )


def _summary(state: State, listener: Listener) -> None:
    output = state.output
    stats = listener.stats
    summary = f"piapi listen: stopped; {stats['received']} events, {stats['duplicates']} duplicates dropped"
    if stats["refused"]:
        summary += f", {stats['refused']} refused"
    if listener.options.routes:
        summary += f", {stats['forwarded']} forwarded"
    output.info(summary)
    unsent = listener.store.counts()
    left = unsent.get("failed", 0) + unsent.get("pending", 0)
    if left:
        output.warn(f"{left} event(s) not forwarded; send them again with: {state.session.prog} listen --replay failed")


def _replay(state: State, store: EventStore, which: str, routes: list[Route]) -> None:
    from piapi_cli.core.listener.forwarding import raise_for_replay, replay

    if state.session.journal is None:
        from piapi_cli.api.errors import UsageError

        raise UsageError("--replay needs the journal (it is turned off)")

    def wait(seconds: float) -> bool:
        state.session.sleep(seconds)
        return False

    task_id = _replayed_task(state, store, which)
    results = replay(
        store, which, routes, wait=wait, on_log=lambda level, message: _log(state, level, message), task_id=task_id
    )
    for result in results:
        state.output.line(_json(result))
    raise_for_replay(results)


def _replayed_task(state: State, store: EventStore, which: str) -> str | None:
    """The task whose events ``--replay`` names, or None for ``failed`` and event IDs: a task
    is named as everywhere (a full ID, a unique prefix, #N); a number that names no task in the
    journal is an event ID."""
    from piapi_cli.cli.taskids import resolve

    text = which.strip()
    if text.lower() == "failed":
        return None
    found = resolve(state, text, journal=store.journal, any_world=True)
    if found.entry is None and text.isdigit():
        return None  # an event ID
    return found.task_id


def _print_event(state: State, line: str | None, stopped: threading.Event) -> None:
    """One event's line (``WebhookEvent.line``), flushed once for the events that came together
    (None: flush them now)."""
    try:
        if line is None:
            state.output.stdout.flush()
        else:
            state.output.line(line, flush=False)
    except BrokenPipeError:  # the reader went away (| head -1): stop listening
        stopped.set()


def _json(document: object) -> str:
    import json

    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _log(state: State, level: str, message: str) -> None:
    from piapi_cli.api.tasks import scrub
    from piapi_cli.cli.hints import noted

    message = scrub(noted(message, state.session), *state.session.secrets())
    if level == "error":
        state.output.error(message)
    elif level == "warning":
        state.output.warn(message)
    elif level == "info":
        state.output.info(message)


def _stderr() -> int | None:
    """Where --exec commands write: our stderr (stdout is for events), if it is a real file."""
    import sys

    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
