"""The sandbox as a real HTTP server: any client written for api.piapi.ai works against it
with only the base URL changed. The same ``Emulator`` answers as in-process.

It is meant to stay up while clients misbehave: a body larger than ``max_body`` is refused
with 413 before a byte of it is read, a ``Content-Length`` that is not one number gets 400, a
connection idle or stalled (mid-request or mid-answer) for ``timeout`` seconds is closed, and
a client that goes away costs one log line. Every error answer is the API's JSON envelope.
Webhooks are delivered by ``piapi_cli.sandbox.webhooks``.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from piapi_cli.sandbox import heads
from piapi_cli.sandbox.access_log import AccessLog
from piapi_cli.sandbox.emulator import Emulator
from piapi_cli.sandbox.replies import CutStream, Reply
from piapi_cli.sandbox.webhooks import DeliveryAttempt, WebhookDispatcher

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_TIMEOUT", "DeliveryAttempt", "SandboxServer", "WebhookDispatcher", "parse_size"]

log = logging.getLogger("piapi.sandbox")

#: room for the largest upload (10 MB of file, 13.4 MB as base64 in JSON) and nothing silly
DEFAULT_MAX_BODY = 16 * 1024 * 1024
#: seconds a connection may sit idle or stalled; above httpx's 5 s keep-alive expiry, so a
#: client never reuses a connection the server is closing at that moment
DEFAULT_TIMEOUT = 10.0
_DIGITS = re.compile(r"[0-9]+")
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)
#: after refusing a body, read (and throw away) this much of it at most, for this long at most,
#: so that closing does not reset the connection before the client has read the refusal
_LINGER_BYTES, _LINGER_SECONDS = 1 << 20, 1.0


def parse_size(text: str) -> int:
    """Bytes from ``16777216``, ``16M``, ``16MiB``, ``512k``, ``1.5G`` (K, M, G are powers of 1024)."""
    found = _SIZE.fullmatch(text.strip())
    if not found:
        raise ValueError(f"not a size: {text!r} (examples: 16M, 512K, 1000000)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[found.group(2).lower()]
    return int(float(found.group(1)) * scale)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    # headers and a small body leave in one write (one send, one wait for the socket), flushed
    # at the end of each answer; large bodies pass the buffer straight through
    wbufsize = 64 * 1024
    # a streamed answer still takes several writes: without TCP_NODELAY, Nagle's algorithm and
    # the peer's delayed ACK would stall keep-alive answers by ~40 ms
    disable_nagle_algorithm = True
    server: SandboxHTTPServer
    raw_requestline: bytes
    _quiet_status = False  # the status line is logged once the answer is sent (or cut, or lost)
    _linger = False  # a refused body may still be arriving: drain a little before closing

    def setup(self) -> None:
        super().setup()
        # every read and write on this connection waits this long at most
        self.connection.settimeout(self.server.io_timeout)

    def parse_request(self) -> bool:
        """http.server's reading of the request line and headers, the headers read without the
        email package (``heads``); the same limits, refusals and keep-alive rules."""
        self.command = None  # type: ignore[assignment]  # (as http.server: an error on the first line)
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        try:
            command, path, version, keep_alive = heads.request_line(self.requestline, self.protocol_version)
            if command is None:
                return False
            self.close_connection = not keep_alive
            if version != "HTTP/0.9":
                self.request_version = version
            self.command, self.path = command, path
            self.headers = heads.read_headers(self.rfile)  # type: ignore[assignment]
        except heads.Refused as refused:
            self.send_error(refused.status, refused.message, refused.explain)
            return False
        connection = (self.headers.get("connection") or "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = (self.headers.get("expect") or "").lower()
        if expect == "100-continue" and self.protocol_version >= "HTTP/1.1" and self.request_version >= "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def date_time_string(self, timestamp: float | None = None) -> str:
        return heads.date_now() if timestamp is None else super().date_time_string(timestamp)

    # --- the request ----------------------------------------------------------------------

    def _serve(self) -> None:
        length = self._body_length()
        if length is None:
            return
        try:
            body = self.rfile.read(length) if length else b""
        except TimeoutError:
            self._refuse(408, f"request timed out: the body stopped arriving (Content-Length {length})")
            return
        except ConnectionError as exc:
            return self._gone(f"closed the connection mid-request ({type(exc).__name__})")
        if len(body) < length:
            return self._gone(f"closed the connection mid-request ({len(body)} of {length} bytes of body sent)")
        try:
            reply = self.server.emulator.handle(self.command, self.path, dict(self.headers.items()), body)
        except Exception as exc:  # a fault of the emulator is an answer, not a dead connection
            log.error("%s %s: internal error: %s: %s", self.command, self.path, type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))  # fmt: skip
            reply = Reply.error(500, "internal server error (sandbox)")
        self._answer(reply)

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = do_PATCH = _serve

    def _body_length(self) -> int | None:
        """The length of the body that follows, or None once an error has been answered."""
        if self.headers.get("transfer-encoding"):
            self._refuse(411, "a request body must come with a Content-Length (chunked bodies are not accepted)")
            return None
        values = [part.strip() for value in self.headers.get_all("content-length") or [] for part in value.split(",")]
        if not values:
            return 0
        if len(set(values)) != 1 or not _DIGITS.fullmatch(values[0]):
            self._refuse(400, "invalid Content-Length: it must be one number of bytes")
            return None
        # 19 digits or more is far over any limit: not worth converting
        length = int(values[0]) if len(values[0]) < 19 else 1 << 63
        if length > self.server.max_body:
            self._refuse(413, f"request body too large: {values[0][:30]} bytes, the limit is {self.server.max_body}")
            return None
        return length

    def handle_expect_100(self) -> bool:
        # check the length before inviting the body: a client told to continue sends it all
        if self._body_length() is None:
            return False
        invited = super().handle_expect_100()
        self.wfile.flush()  # the client waits for this before it sends the body
        return invited

    # --- answers --------------------------------------------------------------------------

    def _answer(self, reply: Reply) -> None:
        # one log line per answer, written once it is known how the answer went
        self._quiet_status = True
        self.send_response(reply.status)
        self._quiet_status = False
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.stream is not None and "content-length" not in reply.headers:
            return self._answer_chunked(reply)
        announced = int(reply.headers.get("content-length", len(reply.body)))
        if "content-length" not in reply.headers:
            self.send_header("content-length", str(announced))
        if reply.drop:
            # the fault: the headers announce the whole answer, part of it comes, then the close
            self.send_header("connection", "close")
            self.close_connection = True
        sent = 0
        try:
            self.end_headers()
            if self.command != "HEAD":
                for chunk in reply.stream if reply.stream is not None else (reply.body,):
                    self.wfile.write(chunk)
                    sent += len(chunk)
                self.wfile.flush()
        except (ConnectionError, TimeoutError) as exc:
            what = "stopped reading" if isinstance(exc, TimeoutError) else "went away"
            return self._gone(f"{what} mid-answer: {reply.status}, {sent} of {announced} bytes sent")
        if reply.drop:
            self.log_message('"%s" dropped: a %d answer cut after %d of %d bytes (fault injection)',
                             self.requestline, reply.status, sent, announced)  # fmt: skip
        else:
            self.log_message('"%s" %d %d', self.requestline, reply.status, sent)

    def _answer_chunked(self, reply: Reply) -> None:
        """An answer of unknown length (an event stream): each piece sent as it is made."""
        assert reply.stream is not None
        self.send_header("transfer-encoding", "chunked")
        sent = 0
        try:
            self.end_headers()
            for chunk in reply.stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()  # a streamed answer is read as it comes
                    sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except CutStream as exc:
            self.close_connection = True
            self.wfile.flush()
            self.log_message('"%s" cut after %d bytes: %s', self.requestline, sent, exc)
            return
        except (ConnectionError, TimeoutError) as exc:
            what = "stopped reading" if isinstance(exc, TimeoutError) else "went away"
            return self._gone(f"{what} mid-stream: {reply.status}, {sent} bytes sent")
        self.log_message('"%s" %d %d (streamed)', self.requestline, reply.status, sent)

    def _refuse(self, status: int, message: str) -> None:
        """Answer an error and close: the body (if any) is not read."""
        self._linger = True
        self.close_connection = True
        try:
            self._send_envelope(status, message, close=True)
        except (ConnectionError, TimeoutError):
            self._gone(f"went away before the {status} answer")

    def _send_envelope(self, status: int, message: str, *, close: bool) -> None:
        body = json.dumps({"code": status, "message": message}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        if close:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a bad request line, headers too long...) in the API's envelope."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the request line could not be read: answer in HTTP/1.1
            self.request_version = "HTTP/1.1"
        text = message or self.responses.get(code, ("error",))[0]
        try:
            self._send_envelope(code, text, close=True)
        except (ConnectionError, TimeoutError):
            pass

    def _gone(self, what: str) -> None:
        self.close_connection = True
        self.log_message('"%s": the client %s', self.requestline or "-", what)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        if self._linger:
            _linger(self.connection)

    # --- logging ------------------------------------------------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not self._quiet_status:
            super().log_request(code, size)

    def log_message(self, format: str, *args: Any) -> None:
        access = self.server.access_log
        if access is not None:
            access(f"{self.address_string()} {format % args}")
        else:
            log.info("%s %s", self.address_string(), format % args)


def _linger(connection: socket.socket) -> None:
    """Half-close, then read what the client is still sending for a moment: closing a socket
    with unread data resets the connection, and the client would lose the answer just sent."""
    try:
        connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _LINGER_SECONDS
        drained = 0
        while drained < _LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
            connection.settimeout(left)
            chunk = connection.recv(65536)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        emulator: Emulator,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator
        self.max_body = max_body
        self.io_timeout = timeout
        #: where the line per answer goes; None: the ``piapi.sandbox`` logger, at level INFO
        self.access_log: AccessLog | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host = host if isinstance(host, str) else host.decode()
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line per connection that ended in an error; the traceback only at debug level."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.info("%s: connection ended: %s", client_address[0], type(exc).__name__)
        else:
            log.error(
                "%s: %s: %s", client_address[0], type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG)
            )


class SandboxServer:
    """The HTTP server, its webhook dispatcher, and a clean way to stop both."""

    def __init__(
        self,
        emulator: Emulator,
        host: str = "127.0.0.1",
        port: int = 8787,
        *,
        webhooks: bool = True,
        max_body: int = DEFAULT_MAX_BODY,
        timeout: float = DEFAULT_TIMEOUT,
        access_log: AccessLog | None = None,
    ) -> None:
        self.emulator = emulator
        self.httpd = SandboxHTTPServer((host, port), emulator, max_body=max_body, timeout=timeout)
        self.httpd.access_log = access_log
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
        # a short poll: stop() returns within 0.1 s (tests start and stop many servers)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="piapi-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.start()
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:  # serving in the background: end that loop first
            self.httpd.shutdown()
        # (serving in this thread, the loop has ended, or never began: Ctrl-C just before it
        # did; shutdown() would wait forever for a loop that never runs)
        self.httpd.server_close()
        if self.dispatcher is not None:
            self.dispatcher.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
