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
from collections.abc import Mapping

from piapi_cli.core.listener import http1
from piapi_cli.core.listener.connections import (
    NO_ROOM,
    Authorise,
    Receive,
    ReceiveMany,
    Report,
    ServerConnection,
    ServerLimits,
    close_socket,
    connection_room,
    refusal,
)

log = logging.getLogger("piapi.listener")
__all__ = ["DeliveryServer", "ServerLimits"]


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
        self._connections: dict[socket.socket, ServerConnection] = {}
        self._again: list[ServerConnection] = []  # connections with a next request buffered already
        self._answers = http1.Answers()
        self._busy = 0  # deliveries being read or stored right now
        self._max_connections, room_note = connection_room(self.limits.max_connections)  # (ulimit -n)
        if room_note:  # said before the server is said to listen
            report("warning", room_note)
        self._paused_until = 0.0  # out of descriptors: new connections wait in the backlog until then
        self._told_out_of_descriptors = -3600.0
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
                complete = self._serve_ready(ready, now, [])
                if complete and limits.gather > 0:
                    self._gather(complete, now + limits.gather)
                if complete:
                    self._deliver(complete)
                if self._closing and self._listening:
                    self._stop_listening()
                if now - checked >= tick:
                    self._expire(now)
                    checked = now
                if self._paused_until and now >= self._paused_until:
                    self._resume_accepting()
        finally:
            self._shut()

    def _gather(self, complete: list[ServerConnection], deadline: float) -> None:
        """Let the requests of the next moments join ``complete`` until ``deadline``, while more
        keep coming (none within half the wait: no more waiting). A batch of many takes one
        transaction, one write of the pages they share and one wake of the thread that reports
        them: at 1,000 deliveries a second, 2–8% less CPU per delivery on an idle machine and a fifth
        less on a loaded one (bench/README.md)."""
        step = self.limits.gather / 2
        while len(complete) < self.limits.gather_max:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready = self._selector.select(min(left, step))
            if not ready or all(getattr(key.data, "eof", False) for key, _ in ready):
                return  # (a client's end of sending stays readable: waiting on it would spin)
            self._serve_ready(ready, time.monotonic(), complete)

    def _serve_ready(
        self, ready: list[tuple[selectors.SelectorKey, int]], now: float, complete: list[ServerConnection]
    ) -> list[ServerConnection]:
        """Read what came; ``complete`` with the connections whose request is now whole added."""
        again, self._again = self._again, []
        for conn in again:
            if conn.sock in self._connections:
                self._step(conn, 0, now, complete)
        for key, mask in ready:
            if key.data is None:
                self._accept(now)
            elif key.data is self._wake_r:
                try:
                    self._wake_r.recv(4096)
                except OSError:
                    pass
            else:
                self._step(key.data, mask, now, complete)
        return complete

    def _step(self, conn: ServerConnection, mask: int, now: float, complete: list[ServerConnection]) -> None:
        """Serve one connection (``mask`` 0: its buffer); a failure closes it alone, not the server."""
        try:
            if mask & selectors.EVENT_WRITE:
                self._flush(conn)
            if not mask:
                self._parse(conn, complete)
            elif mask & selectors.EVENT_READ and conn.sock in self._connections:
                self._read(conn, now, complete)
        except Exception as exc:
            log.exception("serving %s", conn.peer)
            self.report("error", f"closed a connection from {conn.peer}: {type(exc).__name__}: {exc}")
            if conn.whole:
                complete.remove(conn)
                conn.whole = False
            self._drop(conn)

    def _accept(self, now: float) -> None:
        for _ in range(64):
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in NO_ROOM:
                    self._pause_accepting(now)
                return  # (else the client gave up already)
            if len(self._connections) >= self._max_connections:
                try:
                    sock.sendall(http1.FULL)
                except OSError:
                    pass
                close_socket(sock)
                continue
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # reset before it was taken
                close_socket(sock)
                continue
            conn = ServerConnection(sock, str(address[0]) if address else "?", now)
            self._connections[sock] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _pause_accepting(self, now: float) -> None:
        """Out of descriptors: the listening socket would be ready at once, again and again (a loop
        at full CPU); it is left alone for a while, its connections waiting in the backlog."""
        if self._listening and not self._paused_until:
            self._selector.unregister(self.socket)
        self._paused_until = now + 0.25
        if now - self._told_out_of_descriptors >= 60:
            self._told_out_of_descriptors = now
            many = len(self._connections)
            self.report("error", f"out of file descriptors ({many} connections open): raise ulimit -n")

    def _resume_accepting(self) -> None:
        self._paused_until = 0.0
        if self._listening:
            self._selector.register(self.socket, selectors.EVENT_READ, None)

    def _read(self, conn: ServerConnection, now: float, complete: list[ServerConnection]) -> None:
        try:
            data = conn.sock.recv(65536)  # (a larger buffer is an mmap and munmap per read)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset: there is nobody to answer
            conn.closing = True
            data = b""
        if not data:  # the client sent all it will: what it sent whole is answered, then closed
            conn.eof = True
            if conn.closing:
                self._drop(conn)
            elif not conn.whole:
                self._parse(conn, complete)  # (requests it pipelined before the end)
            return
        conn.active = now
        if conn.closing:
            return  # answered and closing: what else it sends is not read
        conn.buffer += data
        self._parse(conn, complete)

    def _parse(self, conn: ServerConnection, complete: list[ServerConnection]) -> None:
        """Take the next request's head, then wait for its whole body."""
        if conn.whole:  # whole already (read again before it was handed over): once is enough
            return
        if (conn.headers is not None or self._take_head(conn)) and len(conn.buffer) >= conn.length:
            conn.whole = True
            complete.append(conn)
        elif conn.eof:  # the rest will never come (mid-request: there is nobody to answer)
            self._drop(conn)

    def _take_head(self, conn: ServerConnection) -> bool:
        """Read the head in the buffer, if whole; False while it is not, or when it is refused."""
        if conn.buffer.startswith((b"\r", b"\n")):  # blank lines before a request are passed over
            del conn.buffer[: len(conn.buffer) - len(conn.buffer.lstrip(b"\r\n"))]
            conn.scanned = 0
        end = http1.head_end(conn.buffer, conn.scanned)
        if end < 0:
            conn.scanned = len(conn.buffer)
            if len(conn.buffer) > http1.MAX_HEAD:
                self._answer(conn, 431, "the request's head is too long", close=True)
            return False
        raw = bytes(conn.buffer[:end])
        del conn.buffer[:end]
        conn.scanned = 0
        try:
            head = http1.parse_head(raw)
        except http1.BadHead as bad:
            self._answer(conn, bad.status, bad.message, close=True)
            return False
        refused = refusal(conn, head.method, head.target, head.headers, path=self.path, limits=self.limits,
                          closing=self._closing, authorise=self.authorise, report=self.report)  # fmt: skip
        if refused is not None:
            status, message, extra = refused
            self._answer(conn, status, message, close=True, headers=extra)
            return False
        if "100-continue" in head.headers.get("expect", "").lower():
            self._send(conn, http1.CONTINUE)
        conn.headers, conn.keep_alive = head.headers, head.keep_alive
        self._busy += 1
        return True

    # --- answering ------------------------------------------------------------------

    def _deliver(self, complete: list[ServerConnection]) -> None:
        """Hand the whole requests over together, then answer each."""
        items: list[tuple[Mapping[str, str], bytes]] = []
        complete = [c for c in complete if c.sock in self._connections]  # (the gone: nobody to answer)
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
            conn.headers, conn.length, conn.began, conn.whole = None, 0, now, False
            self._answer(conn, status, message, close=not conn.keep_alive or (conn.eof and not conn.buffer))
            if conn.buffer and not conn.closing:
                self._again.append(conn)  # the next request came with this one

    def _answer(
        self,
        conn: ServerConnection,
        status: int,
        message: str,
        *,
        close: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        if close:
            conn.closing = True
        self._send(conn, self._answers.make(status, message, close=close, headers=headers))

    def _send(self, conn: ServerConnection, data: bytes) -> None:
        conn.out += data
        self._flush(conn)

    def _flush(self, conn: ServerConnection) -> None:
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

    def _drop(self, conn: ServerConnection) -> None:
        if self._connections.pop(conn.sock, None) is None:
            return
        if self._paused_until:  # a descriptor is free again
            self._resume_accepting()
        if conn.headers is not None:  # a delivery cut off mid-body
            self._busy -= 1
            conn.headers = None
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        close_socket(conn.sock)

    def _stop_listening(self) -> None:
        self._listening = False
        if not self._paused_until:
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
