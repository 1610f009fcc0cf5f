"""The deadline of a whole request: its connection is cut once the request has taken too long.

Each read of an answer may come in time while the whole answer never does (a server trickling a
byte at a time): ``RequestDeadline`` cuts the connection when the request's seconds are up. One
thread watches every request of the process, where a ``threading.Timer`` per request started,
woke and ended a thread on every call (2,561 in a batch run of 1,000 rows, bench/README.md).
"""

from __future__ import annotations

import os
import threading
import time

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    import http.client

    from piapi_cli.api import http11


class RequestDeadline:
    """Cuts ``connection`` once ``seconds`` have passed, unless ``cancel()`` came first."""

    __slots__ = ("seconds", "deadline", "fired", "cancelled", "_connection")

    def __init__(self, connection: http11.Connection | http.client.HTTPConnection, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.fired = self.cancelled = False
        self._connection: http11.Connection | http.client.HTTPConnection | None = connection
        _WATCHER.watch(self)

    def cut(self) -> None:
        import socket

        connection = self._connection
        if self.cancelled or connection is None:
            return
        self.fired = True
        sock = connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # a blocked read returns at once
            except OSError:
                pass

    def cancel(self) -> None:
        self.cancelled = True
        self._connection = None  # a finished request's connection is not held until its deadline


class _Watcher:
    """The one thread that cuts requests past their deadline. It sleeps until the earliest
    deadline of a request still running; those that ended meanwhile are dropped as it wakes, so
    it wakes about once per timeout, not once per request."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """No request watched and no thread (a forked child has none: it starts its own)."""
        self._due: list[tuple[float, int, RequestDeadline]] = []
        self._woken = threading.Condition(threading.Lock())
        self._count = 0
        self._thread: threading.Thread | None = None

    def watch(self, watchdog: RequestDeadline) -> None:
        import heapq  # (here: a run of one call has no need of it)

        with self._woken:
            self._count += 1
            heapq.heappush(self._due, (watchdog.deadline, self._count, watchdog))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="piapi-watchdog", daemon=True)
                self._thread.start()
            elif self._due[0][2] is watchdog:  # earlier than the one the thread sleeps until
                self._woken.notify()

    def _run(self) -> None:
        import heapq

        with self._woken:
            while True:
                due = self._due
                while due and due[0][2].cancelled:
                    heapq.heappop(due)
                if not due:
                    self._woken.wait()
                    continue
                left = due[0][0] - time.monotonic()
                if left > 0:
                    self._woken.wait(left)
                    continue
                heapq.heappop(due)[2].cut()


_WATCHER = _Watcher()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WATCHER.reset)
