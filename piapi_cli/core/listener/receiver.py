"""The listener's HTTP server: a thread per connection, with limits so no client can hold it.

- Only ``POST <path>`` is a delivery: another method gets 405, another path 404.
- The secret is checked (in constant time) before the body is read: 401, and the body is
  never looked at.
- A body must announce its length (411 otherwise) and stay under ``max_body`` (413).
- A connection that sends nothing for ``idle_timeout`` seconds is closed, and one request
  (from the moment the server waits for it to its last body byte) may take at most
  ``request_timeout`` seconds: a client dripping a byte at a time is cut off by a watchdog.
- At most ``max_connections`` at once: the next gets 503 and is closed.

Whatever is refused without reading its body closes the connection, so a keep-alive stream
never reads a stale body as the next request.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from piapi_cli.api.records import record

log = logging.getLogger("piapi.listener")


@record(frozen=True)
class ServerLimits:
    max_body: int = 16 * 1024 * 1024
    idle_timeout: float = 15.0
    request_timeout: float = 30.0
    max_connections: int = 512


#: what the server asks of the listener: is this secret right, and take this delivery
Authorise = Callable[[str | None], bool]
Receive = Callable[[Mapping[str, str], bytes], tuple[int, str]]
Report = Callable[[str, str], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: DeliveryServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.idle_timeout)  # a silent client is let go

    def handle_one_request(self) -> None:
        self.server.watchdog.arm(self.connection)
        super().handle_one_request()

    def finish(self) -> None:
        self.server.watchdog.disarm(self.connection)
        try:
            super().finish()
        except OSError:  # the client went away first
            pass

    def _answer(self, status: int, message: str, *, close: bool = False, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"ok": 200 <= status < 300, "message": message}).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if close:
                self.send_header("connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def do_POST(self) -> None:
        server = self.server
        if not server.enter():  # stopping: the sender tries again later, as with any 5xx
            self._answer(503, "the listener is stopping", close=True)
            return
        try:
            self._deliver()
        finally:
            server.leave()

    def _deliver(self) -> None:
        server = self.server
        peer = self.client_address[0] if self.client_address else "?"
        if urlsplit(self.path).path != server.path:
            self._answer(404, f"deliveries go to {server.path}", close=True)
            return
        if not server.authorise(self.headers.get("x-webhook-secret")):
            server.report("warning", f"refused a delivery from {peer}: wrong or missing x-webhook-secret (401)")
            self._answer(401, "wrong or missing x-webhook-secret", close=True)
            return
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            self._answer(411, "a delivery must have a Content-Length", close=True)
            return
        announced = (self.headers.get("content-length") or "").strip()
        if not announced.isdigit() or len(announced) > 18:
            status = 411 if not announced else 400
            self._answer(status, "a delivery must have a valid Content-Length", close=True)
            return
        length = int(announced)
        if length > server.limits.max_body:
            server.report("warning", f"refused a {length}-byte delivery from {peer} (over {server.limits.max_body})")
            self._answer(413, f"a delivery may be at most {server.limits.max_body} bytes", close=True)
            return
        try:
            body = self.rfile.read(length)
        except OSError:  # timed out, or cut off by the watchdog
            self.close_connection = True
            return
        if len(body) < length:  # the client stopped sending: there is nobody to answer
            self.close_connection = True
            return
        status, message = server.receive({k.lower(): v for k, v in self.headers.items()}, body)
        if status == 400:
            server.report("warning", f"refused a body from {peer} that is not a delivery: {message}")
        self._answer(status, message)

    def _not_allowed(self) -> None:
        self._answer(405, "deliveries are POSTed", close=True, headers={"allow": "POST"})

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _not_allowed

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class Watchdog:
    """Closes connections whose current request has taken longer than allowed."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="piapi-listen-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def arm(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines[connection] = time.monotonic() + self.limit

    def disarm(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(connection, None)

    def _run(self) -> None:
        tick = min(1.0, max(0.02, self.limit / 4))
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, deadline in self._deadlines.items() if deadline < now]
                for conn in late:
                    del self._deadlines[conn]
            for conn in late:
                try:
                    conn.shutdown(socket.SHUT_RDWR)  # the handler's blocked read returns at once
                except OSError:
                    pass


class DeliveryServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # finished handler threads are not kept in a list: memory stays flat
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        *,
        path: str,
        authorise: Authorise,
        receive: Receive,
        report: Report,
        limits: ServerLimits | None = None,
    ) -> None:
        self.path = path
        self.authorise = authorise
        self.receive = receive
        self.report = report
        self.limits = limits or ServerLimits()
        self.watchdog = Watchdog(self.limits.request_timeout)
        self._active = 0
        self._busy = 0  # deliveries being read or stored right now
        self._closing = False
        self._count_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host = host if isinstance(host, str) else host.decode()
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def enter(self) -> bool:
        with self._count_lock:
            if self._closing:
                return False
            self._busy += 1
            return True

    def leave(self) -> None:
        with self._count_lock:
            self._busy -= 1

    def close_gracefully(self, timeout: float = 5.0) -> None:
        """Stop accepting, refuse new deliveries (503), and wait for those in progress."""
        with self._count_lock:
            self._closing = True
        self.shutdown()
        deadline = time.monotonic() + timeout
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.01)
        self.server_close()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count_lock:
            full = self._active >= self.limits.max_connections
            if not full:
                self._active += 1
        if full:
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count_lock:
                self._active -= 1

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        self.watchdog.start()
        try:
            super().serve_forever(poll_interval)
        finally:
            self.watchdog.stop()
