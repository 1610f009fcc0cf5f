"""The sandbox as a real HTTP server: any client written for api.piapi.ai works against it
with only the base URL changed. The same ``Emulator`` answers as in-process.

Also delivers webhooks: a background thread watches tasks that carry
``config.webhook_config`` and POSTs ``{"timestamp", "data"}`` with the ``x-webhook-secret``
header on creation, on each status change and at the end, retrying failed deliveries.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from piapi_cli.sandbox.emulator import Emulator

log = logging.getLogger("piapi.sandbox")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
    # peer's delayed ACK stall every keep-alive answer by ~40 ms
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.emulator.handle(self.command, self.path, dict(self.headers.items()), body)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if "content-length" not in reply.headers:
            self.send_header("content-length", str(len(reply.body)))
        if reply.drop:
            # the fault: the headers announce the whole answer, part of it comes, then the close
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.stream is not None:
            for chunk in reply.stream:
                self.wfile.write(chunk)
        else:
            self.wfile.write(reply.body)
        self.wfile.flush()

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host = host if isinstance(host, str) else host.decode()
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"


@dataclass
class Delivery:
    task_id: str
    status: str
    endpoint: str
    attempt: int
    outcome: str  # "200", "connection refused", ...
    at: float


@dataclass
class WebhookDispatcher:
    """Watches tasks with a webhook endpoint and delivers their changes."""

    emulator: Emulator
    tick: float = 0.1
    retries: int = 3
    backoff: float = 0.5
    timeout: float = 5.0
    post: Callable[[str, bytes, dict[str, str]], int] | None = None
    #: how to pause between retries (tests pass a fake); default: wait unless stopped
    sleep: Callable[[float], object] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    _sent: dict[str, str] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="piapi-sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            self.scan()

    def scan(self) -> int:
        """Deliver every change since the last scan; returns how many deliveries were made."""
        made = 0
        now = self.emulator.clock()
        # only tasks created with an endpoint and not yet finished: not every task held
        for task_id in sorted(self.emulator.hooked - self._done):
            record = self.emulator.store.get(task_id)
            endpoint = ((record or {}).get("config") or {}).get("webhook_config", {}).get("endpoint")
            if record is None or not endpoint:
                continue
            status = self.emulator.status_at(record, now)
            if self._sent.get(record["task_id"]) == status:
                continue
            self._sent[record["task_id"]] = status
            if status in ("completed", "failed", "canceled"):
                self._done.add(record["task_id"])
            self._deliver(record, now, endpoint)
            made += 1
        return made

    def _deliver(self, record: dict[str, Any], now: float, endpoint: str) -> None:
        view = self.emulator.task_view(record, now)
        body = json.dumps({"timestamp": int(now), "data": view}).encode()
        secret = str(((record.get("config") or {}).get("webhook_config") or {}).get("secret") or "")
        headers = {"content-type": "application/json", "x-webhook-secret": secret, "user-agent": "piapi-sandbox"}
        post = self.post or _post
        for attempt in range(1, self.retries + 2):
            try:
                status = post(endpoint, body, headers)
                outcome = str(status)
                ok = 200 <= status < 300
            except OSError as exc:
                outcome, ok = f"{type(exc).__name__}: {exc}", False
            self.deliveries.append(Delivery(record["task_id"], view["status"], endpoint, attempt, outcome, now))
            log.info(
                "webhook %s %s -> %s (attempt %d): %s", record["task_id"], view["status"], endpoint, attempt, outcome
            )
            if ok or attempt > self.retries or self._stop.is_set():
                return
            (self.sleep or self._stop.wait)(self.backoff * 2 ** (attempt - 1))


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class SandboxServer:
    """The HTTP server, its webhook dispatcher, and a clean way to stop both."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 8787, *, webhooks: bool = True):
        self.emulator = emulator
        self.httpd = SandboxHTTPServer((host, port), emulator)
        emulator.base_url = self.httpd.base_url
        self.dispatcher = WebhookDispatcher(emulator) if webhooks else None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.httpd.base_url

    def start(self) -> SandboxServer:
        """Serve in a background thread (tests, benchmarks)."""
        if self.dispatcher is not None:
            self.dispatcher.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="piapi-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.start()
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.dispatcher is not None:
            self.dispatcher.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
