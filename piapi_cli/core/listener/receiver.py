"""The listener's HTTP server: one thread serves every connection, with limits so no client can hold it.

- Only ``POST <path>`` is a delivery: another method gets 405, another path 404.
- The secret is checked (in constant time) before the body is read: 401, and the body is
  never looked at.
- A body must announce its length (411 otherwise) and stay under ``max_body`` (413).
- A connection that sends nothing for ``idle_timeout`` seconds is closed, and one request
  (from the moment the server waits for it to its last body byte) may take at most
  ``request_timeout`` seconds: a client dripping a byte at a time is cut off.
- At most ``max_connections`` at once: the next gets 503 and is closed.

Whatever is refused without reading its body closes the connection, so a keep-alive stream
never reads a stale body as the next request.

One thread and non-blocking sockets, not a thread per connection: the deliveries that arrive
together are taken together (``receive_many``: one transaction for them all), and no thread
waits for the interpreter's lock to hand a request on to another (bench/README.md).
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from piapi_cli.api.records import record
from piapi_cli.core.listener.http1 import CONTINUE, FULL, MAX_HEAD, Answers, BadHead, head_end, parse_head

log = logging.getLogger("piapi.listener")


@record(frozen=True)
class ServerLimits:
    max_body: int = 16 * 1024 * 1024
    idle_timeout: float = 15.0
    request_timeout: float = 30.0
    max_connections: int = 512


#: what the server asks of the listener: is this secret right, and take these deliveries
Authorise = Callable[[str | None], bool]
Receive = Callable[[Mapping[str, str], bytes], tuple[int, str]]
ReceiveMany = Callable[[list[tuple[Mapping[str, str], bytes]]], list[tuple[int, str]]]
Report = Callable[[str, str], None]


class _Connection:
    def __init__(self, sock: socket.socket, peer: str, now: float) -> None:
        self.sock = sock
        self.peer = peer
        self.buffer = bytearray()
        self.out = b""  # answer bytes the socket did not take yet
        self.writing = False  # waiting until the socket takes ``out``, not for a request
        self.headers: dict[str, str] | None = None  # the head of the request whose body is read
        self.length = 0
        self.keep_alive = True
        self.closing = False  # closed once ``out`` is sent
        self.active = now  # the last byte received
        self.began = now  # when the server began to wait for the current request


class DeliveryServer:
    def __init__(
        self,
        address: tuple[str, int],
        *,
        path: str,
        authorise: Authorise,
        receive: Receive,
        report: Report,
        limits: ServerLimits | None = None,
        receive_many: ReceiveMany | None = None,
    ) -> None:
        self.path = path
        self.authorise = authorise
        self.receive_many: ReceiveMany = receive_many or (lambda items: [receive(h, b) for h, b in items])
        self.report = report
        self.limits = limits or ServerLimits()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(256)
            self.socket.setblocking(False)
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._connections: dict[socket.socket, _Connection] = {}
        self._again: list[_Connection] = []  # connections with a next request buffered already
        self._answers = Answers()
        self._busy = 0  # deliveries being read or stored right now
        self._closing = False
        self._listening = True
        self._done = threading.Event()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def close_gracefully(self, timeout: float = 5.0) -> None:
        """Stop accepting, refuse new deliveries (503), and wait for those in progress."""
        self._closing = True
        self._wake()
        deadline = time.monotonic() + timeout
        while self._busy and time.monotonic() < deadline and not self._done.is_set():
            time.sleep(0.01)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:  # its buffer is full: the loop wakes all the same
            pass

    # --- the loop -------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        """Serve until stopped and every connection is gone (keep-alive ones get 503 meanwhile)."""
        self._selector.register(self.socket, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._wake_r)
        limits = self.limits
        tick = min(1.0, max(0.01, min(limits.idle_timeout, limits.request_timeout) / 4), poll_interval * 20)
        checked = time.monotonic()
        try:
            while self._listening or self._connections:
                wait = 0.0 if self._again else max(0.0, checked + tick - time.monotonic())
                ready = self._selector.select(wait)
                now = time.monotonic()
                complete = self._serve_ready(ready, now)
                if complete:
                    self._deliver(complete)
                if self._closing and self._listening:
                    self._stop_listening()
                if now - checked >= tick:
                    self._expire(now)
                    checked = now
        finally:
            self._shut()

    def _serve_ready(self, ready: list[tuple[selectors.SelectorKey, int]], now: float) -> list[_Connection]:
        """Read what came; the connections whose request is now whole."""
        complete: list[_Connection] = []
        again, self._again = self._again, []
        for conn in again:
            if conn.sock in self._connections:
                self._parse(conn, complete)
        for key, mask in ready:
            if key.data is None:
                self._accept(now)
            elif key.data is self._wake_r:
                try:
                    self._wake_r.recv(4096)
                except OSError:
                    pass
            else:
                conn = key.data
                if mask & selectors.EVENT_WRITE:
                    self._flush(conn)
                if mask & selectors.EVENT_READ and conn.sock in self._connections:
                    self._read(conn, now, complete)
        return complete

    def _accept(self, now: float) -> None:
        for _ in range(64):
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors, or the client gave up already
                return
            if len(self._connections) >= self.limits.max_connections:
                try:
                    sock.sendall(FULL)
                except OSError:
                    pass
                _close(sock)
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(sock, str(address[0]) if address else "?", now)
            self._connections[sock] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn: _Connection, now: float, complete: list[_Connection]) -> None:
        try:
            data = conn.sock.recv(65536)  # (a larger buffer is an mmap and munmap per read)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away (mid-request: there is nobody to answer)
            self._drop(conn)
            return
        conn.active = now
        if conn.closing:
            return  # answered and closing: what else it sends is not read
        conn.buffer += data
        self._parse(conn, complete)

    def _parse(self, conn: _Connection, complete: list[_Connection]) -> None:
        """Take the next request's head, then wait for its whole body."""
        if conn.headers is None and not self._take_head(conn):
            return
        if len(conn.buffer) >= conn.length:
            complete.append(conn)

    def _take_head(self, conn: _Connection) -> bool:
        """Read the head in the buffer, if whole; False while it is not, or when it is refused."""
        if conn.buffer.startswith((b"\r", b"\n")):  # blank lines before a request are passed over
            del conn.buffer[: len(conn.buffer) - len(conn.buffer.lstrip(b"\r\n"))]
        end = head_end(conn.buffer)
        if end < 0:
            if len(conn.buffer) > MAX_HEAD:
                self._answer(conn, 431, "the request's head is too long", close=True)
            return False
        raw = bytes(conn.buffer[:end])
        del conn.buffer[:end]
        try:
            head = parse_head(raw)
        except BadHead as bad:
            self._answer(conn, bad.status, bad.message, close=True)
            return False
        refused = self._refusal(conn, head.method, head.target, head.headers)
        if refused is not None:
            status, message, extra = refused
            self._answer(conn, status, message, close=True, headers=extra)
            return False
        if "100-continue" in head.headers.get("expect", "").lower():
            self._send(conn, CONTINUE)
        conn.headers, conn.keep_alive = head.headers, head.keep_alive
        self._busy += 1
        return True

    def _refusal(
        self, conn: _Connection, method: str, target: str, headers: dict[str, str]
    ) -> tuple[int, str, dict[str, str] | None] | None:
        """Why a request is refused before its body is read (status, message, headers), or None."""
        limits = self.limits
        if method != "POST":
            return 405, "deliveries are POSTed", {"allow": "POST"}
        if self._closing:  # stopping: the sender tries again later, as with any 5xx
            return 503, "the listener is stopping", None
        path = target.split("?", 1)[0].split("#", 1)[0] if target.startswith("/") else urlsplit(target).path
        if path != self.path:
            return 404, f"deliveries go to {self.path}", None
        if not self.authorise(headers.get("x-webhook-secret")):
            self.report("warning", f"refused a delivery from {conn.peer}: wrong or missing x-webhook-secret (401)")
            return 401, "wrong or missing x-webhook-secret", None
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return 411, "a delivery must have a Content-Length", None
        announced = headers.get("content-length", "").strip()
        if not announced.isdigit() or len(announced) > 18:
            return (411 if not announced else 400), "a delivery must have a valid Content-Length", None
        conn.length = int(announced)
        if conn.length > limits.max_body:
            self.report("warning", f"refused a {conn.length}-byte delivery from {conn.peer} (over {limits.max_body})")
            return 413, f"a delivery may be at most {limits.max_body} bytes", None
        return None

    # --- answering ------------------------------------------------------------------

    def _deliver(self, complete: list[_Connection]) -> None:
        """Hand the whole requests over together, then answer each."""
        items: list[tuple[Mapping[str, str], bytes]] = []
        for conn in complete:
            assert conn.headers is not None
            items.append((conn.headers, bytes(conn.buffer[: conn.length])))
            del conn.buffer[: conn.length]
        try:
            answers = self.receive_many(items)
        except Exception as exc:  # (the listener answers 500 itself; this is the last guard)
            log.exception("taking %d deliveries", len(items))
            answers = [(500, f"the delivery could not be taken ({type(exc).__name__}); send it again")] * len(items)
        now = time.monotonic()
        for conn, (status, message) in zip(complete, answers, strict=True):
            if status == 400:
                self.report("warning", f"refused a body from {conn.peer} that is not a delivery: {message}")
            self._busy -= 1
            conn.headers, conn.length, conn.began = None, 0, now
            self._answer(conn, status, message, close=not conn.keep_alive)
            if conn.buffer and not conn.closing:
                self._again.append(conn)  # the next request came with this one

    def _answer(
        self,
        conn: _Connection,
        status: int,
        message: str,
        *,
        close: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        if close:
            conn.closing = True
        self._send(conn, self._answers.make(status, message, close=close, headers=headers))

    def _send(self, conn: _Connection, data: bytes) -> None:
        conn.out += data
        self._flush(conn)

    def _flush(self, conn: _Connection) -> None:
        try:
            sent = conn.sock.send(conn.out) if conn.out else 0
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(conn)
            return
        conn.out = conn.out[sent:]
        if conn.out:  # the client is not reading: wait until it does, reading nothing more meanwhile
            self._selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
            conn.writing = True
        elif conn.closing:
            self._drop(conn)
        elif conn.writing:  # (a change of what is waited for is a system call: only when needed)
            self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
            conn.writing = False

    # --- ending ---------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        """Close connections silent for ``idle_timeout``, or whose request took over ``request_timeout``."""
        idle, whole = self.limits.idle_timeout, self.limits.request_timeout
        late = [c for c in self._connections.values() if now - c.active > idle or now - c.began > whole]
        for conn in late:
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        if self._connections.pop(conn.sock, None) is None:
            return
        if conn.headers is not None:  # a delivery cut off mid-body
            self._busy -= 1
            conn.headers = None
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        _close(conn.sock)

    def _stop_listening(self) -> None:
        self._listening = False
        self._selector.unregister(self.socket)
        self.socket.close()

    def _shut(self) -> None:
        for conn in list(self._connections.values()):
            self._drop(conn)
        if self._listening:
            self._listening = False
            self.socket.close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self._done.set()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()
