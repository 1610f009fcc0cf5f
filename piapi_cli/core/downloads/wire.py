"""Output files over the standard library's ``http.client``, read into reused buffers.

httpx reads a body through h11, which copies each piece twice more (into its receive buffer,
then out of it); ``http.client``'s ``readinto`` fills a buffer of the caller's straight from the
socket, which read 1 GiB from the loopback sandbox in a third of the time (bench/README.md).
This client serves downloads when nothing needs httpx: no transport handed in (tests, the
in-process sandbox) and no proxy in the environment (``download_client`` decides). It follows
redirects as httpx's download client did (GET, at most ``MAX_REDIRECTS``) and keeps the idle
connections of each origin (at most ``MAX_IDLE``) for the next files: the threads of a batch
downloading at once each find one, instead of a new connection for most files.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from piapi_cli.api import http as engines
from piapi_cli.api.errors import DownloadError
from piapi_cli.api.factory import STALL_BYTES

if TYPE_CHECKING:
    import ssl
    from http.client import HTTPConnection, HTTPResponse

MAX_REDIRECTS = 20
#: idle connections kept per origin (more threads than this download at once only in a big --concurrency)
MAX_IDLE = 64
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class WireError(Exception):
    """The connection failed, broke or timed out: retried as a transport error is."""


class WireResponse:
    """One answer: ``status_code``, ``headers`` (names in any case), and its body."""

    def __init__(self, response: HTTPResponse, sock: socket.socket | None, stall: float | None = None) -> None:
        self._response = response
        #: a body must bring STALL_BYTES in each window of ``stall`` seconds (a trickle is cut)
        self._stall, self._window, self._got = stall, time.monotonic(), 0
        self.status_code = response.status
        #: the answer's headers by lower-case name (a repeated one: its last value)
        self.headers = {name.lower(): value for name, value in response.getheaders()}
        self.url = ""
        #: the connection's socket: shutting it down wakes a blocked read (a cancel)
        self.socket = sock

    def readinto(self, buffer: memoryview) -> int:
        """Put the next bytes of the body into ``buffer``: as many as have arrived (one read of
        the socket, so progress shows as bytes come), 0 at its end. A body cut short of its
        length or chunked end marker is a WireError, never an end."""
        try:
            count = self._read(buffer)
        except (OSError, ValueError, _client().HTTPException) as exc:  # ValueError: read after a shutdown
            raise WireError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        if self._stall is not None:
            self._got += count
            if self._got >= STALL_BYTES:
                self._window, self._got = time.monotonic(), 0
            elif count and time.monotonic() - self._window > self._stall:
                raise WireError(f"stalled: under {STALL_BYTES // 1024} KiB in {self._stall:g}s")
        return count

    def _read(self, buffer: memoryview) -> int:
        response = self._response
        if response.chunked:  # http.client checks each chunk's size and the end marker
            return response.readinto(buffer)
        if response.fp is None:
            return 0
        left = response.length  # what Content-Length still promises (None: until the server closes)
        if left is not None:
            if left <= 0:
                response.close()
                return 0
            buffer = buffer[:left]
        count = response.fp.readinto1(buffer)  # whatever is buffered, else one read of the socket
        if left is None:
            if not count:
                response.close()
            return count
        if not count:
            raise _client().IncompleteRead(b"", left)
        response.length = left - count
        if not response.length:
            response.close()  # the body is whole: the connection may serve the next file
        return count

    def iter_raw(self, size: int = 1024 * 1024) -> Iterator[bytes]:
        buffer = bytearray(size)
        view = memoryview(buffer)
        while count := self.readinto(view):
            yield bytes(view[:count])

    @property
    def complete(self) -> bool:
        return self._response.isclosed() and not self._response.will_close


class WireClient:
    """A download client over ``http.client`` (see the module's note)."""

    def __init__(
        self,
        headers: Mapping[str, str],
        *,
        tls: Callable[[], ssl.SSLContext],
        connect_timeout: float | None,
        read_timeout: float | None,
        stall: float | None = None,
    ) -> None:
        self.headers = dict(headers)
        self._stall = stall
        #: why a URL (each redirect too) is not fetched, or None: ``listen --download``'s guard
        self.allow: Callable[[str], str | None] | None = None
        self._tls = tls
        self._tls_context: ssl.SSLContext | None = None
        self._timeouts = (connect_timeout, read_timeout)
        self._idle: dict[tuple[str, str, int], list[HTTPConnection]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def stream(self, method: str, url: str, *, headers: Mapping[str, str] | None = None) -> Iterator[WireResponse]:
        """The answer to ``method url`` once redirects are followed; its body is read inside."""
        sent = {**self.headers, **(headers or {})}
        for _ in range(MAX_REDIRECTS + 1):
            if self.allow is not None and (why := self.allow(url)) is not None:
                raise DownloadError(f"not fetched: {url}: {why}", advice="download_any_url")
            origin, target = _split(url)
            connection = self._checkout(origin)
            answer = self._send(connection, method, target, sent)
            location = answer.headers.get("location")
            if answer.status_code in REDIRECTS and location:
                connection.close()  # the body of a redirect is not worth reading
                url = urljoin(url, location.strip())
                continue
            answer.url = url
            try:
                yield answer
            finally:
                self._checkin(origin, connection, answer)
            return
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects")

    def _send(self, connection: HTTPConnection, method: str, target: str, headers: Mapping[str, str]) -> WireResponse:
        try:
            if connection.sock is None:
                connection.connect()
            connection.request(method, target, headers=dict(headers))
            response = connection.getresponse()
        except (OSError, _client().HTTPException) as exc:
            connection.close()
            raise WireError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        coding = response.getheader("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            # http.client undoes only a plain "chunked": it would read the chunks' framing and
            # the coding as the file's bytes (httpx's h11 refuses these answers alike)
            connection.close()
            raise DownloadError(f"the answer's Transfer-Encoding {coding[:40]!r} is not one downloads read")
        return WireResponse(response, connection.sock, self._stall)

    def _checkout(self, origin: tuple[str, str, int]) -> HTTPConnection:
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                break
            if engines.still_open(connection):
                return connection
            connection.close()
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            with self._lock:
                if self._tls_context is None:
                    self._tls_context = self._tls()
                tls = self._tls_context
        return engines.connection(scheme, host, port, tls, *self._timeouts)

    def _checkin(self, origin: tuple[str, str, int], connection: HTTPConnection, answer: Any) -> None:
        if not answer.complete:  # a body left unread (or cut): the connection cannot be reused
            connection.close()
            return
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            old = idle.pop(0) if len(idle) >= MAX_IDLE else None  # the one idle the longest
            idle.append(connection)
        if old is not None:
            old.close()

    def close(self) -> None:
        with self._lock:
            connections = [connection for idle in self._idle.values() for connection in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()


def _split(url: str) -> tuple[tuple[str, str, int], str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"not an http(s) URL: {url[:200]}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DownloadError(f"not a valid URL: {url[:200]}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname, port), target


def _client() -> Any:
    import http.client

    return http.client
