"""The HTTP engines under the API client, behind one small interface.

The API's calls are small JSON requests, and most runs of piapi make one or two of them: importing httpx and
httpcore, or even ``http.client`` (which imports ``email`` and ``ssl``), would cost more than the call.
``PlainEngine`` makes them over ``http11``, a small HTTP/1.1 connection on ``socket`` (keep-alive, a pool shared by
threads, TLS trusting what ``trust`` chooses, ``ssl`` imported for an https connection only). ``HttpxEngine`` is
used where httpx is needed: a transport handed in (tests, the in-process sandbox) or a proxy set in the environment.
``connection()`` makes ``http.client`` connections for the downloads, which stream their answers.

Either engine reads an answer whole but never past the size it is given (decoded: a small gzip answer can inflate
to gigabytes), and raises only three errors, which is all the client's retry rules need to know: ``NothingSent``
(the connection failed before the request left: safe to send again, even a create), ``AnswerFailed`` (the request
may have reached the server, no whole answer came back) and ``Undecodable`` (an answer came, but over the size or
in an encoding that does not decode).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from functools import lru_cache

from piapi_cli.api.inflate import TooLarge as TooLarge  # raised from here too
from piapi_cli.api.inflate import Undecodable as Undecodable
from piapi_cli.api.inflate import over, read_capped

TYPE_CHECKING = False  # typing is a slow import, and every API call comes through here
if TYPE_CHECKING:
    import http.client
    import ssl
    from typing import Any, Protocol

    import httpx

    from piapi_cli.api import http11
    from piapi_cli.api.watchdog import RequestDeadline

    # the engine contract (types only)
    class Headers(Protocol):
        def get(self, name: str, default: Any = None) -> Any: ...

    class Answer(Protocol):
        """What the client reads of a response besides its body (``httpx.Response`` has these too)."""

        @property
        def status_code(self) -> int: ...

        @property
        def headers(self) -> Headers: ...

    class Engine(Protocol):
        def request(
            self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str] | None, max_answer: int,
            total: float | None = None,
        ) -> tuple[Answer, bytes]:  # fmt: skip
            """One request; its answer and body (decoded, at most ``max_answer`` bytes; ``total``: seconds)."""

        def ready(self) -> None:
            """Make what an https connection to the base URL needs (its TLS context) now."""

        def close(self) -> None: ...


#: environment variables that route requests through a proxy: httpx knows how
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
#: seconds an idle connection is kept for reuse (httpx's default)
KEEPALIVE_EXPIRY = 5.0


class NothingSent(Exception):
    """The connection failed before any of the request was sent; ``lasting``: for a reason
    trying again will not change (the server's certificate is not trusted)."""

    def __init__(self, message: str, *, lasting: bool = False) -> None:
        super().__init__(message)
        self.lasting = lasting


class AnswerFailed(Exception):
    """The request may have been sent, but no whole answer came back."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class PlainAnswer:
    def __init__(self, status_code: int, headers: http11.Headers) -> None:
        self.status_code = status_code
        self.headers = headers  # case-insensitive get()


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def nothing_sent(exc: BaseException) -> NothingSent:
    """The error for a connection that failed before the request left: ``lasting`` when the
    server's certificate was refused (in ``exc`` or what it was raised from), saying what was trusted."""
    ssl = sys.modules.get("ssl")  # (imported if the connection was https)
    seen: BaseException | None = exc
    for _ in range(8):  # (httpx's error is raised from httpcore's, raised from ssl's)
        if ssl is None or seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            from piapi_cli.api.trust import choose

            return NothingSent(f"{_reason(seen)}; trusted: {choose().said}", lasting=True)
        seen = seen.__cause__ or seen.__context__
    return NothingSent(_reason(exc))


def default_tls_context() -> ssl.SSLContext:
    """A verifying context trusting what ``api/trust.py`` chooses (the variables, else the system's)."""
    from piapi_cli.api import trust

    return trust.context()


class PlainEngine:
    """HTTP/1.1 over ``http11`` (not ``http.client``, whose imports cost more than a call):
    one pool of kept-alive connections per origin."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        tls: Callable[[], ssl.SSLContext],
        connect_timeout: float | None,
        read_timeout: float | None,
        total_timeout: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self._tls = tls  # made on the first https connection
        self._tls_context: ssl.SSLContext | None = None
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        #: seconds a whole request may take: a watchdog cuts the connection when they are up
        self._total_timeout = total_timeout
        #: kept-alive connections of each origin, with the time each went idle
        self._idle: dict[tuple[str, str, int], list[tuple[http11.Connection, float]]] = {}
        self._lock = threading.Lock()

    def request(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str] | None, max_answer: int,
        total: float | None = None,
    ) -> tuple[PlainAnswer, bytes]:  # fmt: skip
        from piapi_cli.api.http11 import split_url

        try:
            scheme, host, port, target = split_url(url if "://" in url else self.base_url + url)
        except ValueError as exc:
            raise NothingSent(str(exc)) from None
        origin = (scheme, host, port)
        sent = {**self.headers, **(headers or {})}
        connection = self._checkout(origin)
        seconds = min((t for t in (self._total_timeout, total) if t is not None), default=None)
        watchdog = None
        if seconds is not None:
            from piapi_cli.api.watchdog import RequestDeadline

            watchdog = RequestDeadline(connection, seconds)
        try:
            response, body = self._exchange(connection, method, target, content, sent, max_answer, watchdog)
        finally:
            if watchdog is not None:
                watchdog.cancel()
        if response.will_close or (watchdog is not None and watchdog.fired) or connection.overran():
            connection.close()
        else:
            with self._lock:
                self._idle.setdefault(origin, []).append((connection, time.monotonic()))
        return PlainAnswer(response.status, response.headers), body

    def _exchange(
        self, connection: http11.Connection, method: str, target: str, content: bytes | None,
        headers: dict[str, str], max_answer: int, watchdog: RequestDeadline | None,
    ) -> tuple[http11.Response, bytes]:  # fmt: skip
        if connection.sock is None:
            try:
                connection.connect(within=None if watchdog is None else watchdog.seconds)
            except Exception as exc:
                connection.close()
                raise nothing_sent(exc) from exc
            except KeyboardInterrupt as exc:  # (before the request: nothing of it was sent)
                connection.close()
                exc.nothing_sent = True  # type: ignore[attr-defined]
                raise
        # a watchdog that cuts the request before any read could time out: no socket timeout
        watched = watchdog is not None and (self._read_timeout is None or watchdog.seconds <= self._read_timeout)
        connection.watched(watched)
        try:
            try:
                connection.request(method, target, content, headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a server refusing a body unread (413) answers, then closes: that answer is read
            response = connection.getresponse()
            return response, read_capped(response, max_answer)
        except Undecodable:
            connection.close()  # the rest of the body was left unread
            raise
        except Exception as exc:
            connection.close()
            from piapi_cli.api.http11 import UnreadableCoding

            if isinstance(exc, UnreadableCoding):  # an answer came, in a coding not read
                raise Undecodable(str(exc)) from exc
            if watchdog is not None and watchdog.fired:
                raise AnswerFailed(f"no whole answer within {watchdog.seconds:g} s", timed_out=True) from exc
            raise AnswerFailed(_reason(exc), timed_out=isinstance(exc, TimeoutError)) from exc

    def _checkout(self, origin: tuple[str, str, int]) -> http11.Connection:
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                connection, since = idle.pop()
                # as httpx: not idle for longer than servers commonly keep a connection open
                if time.monotonic() - since < KEEPALIVE_EXPIRY and _still_open(connection):
                    return connection
                connection.close()
        return self._connection(*origin)

    def _connection(self, scheme: str, host: str, port: int) -> http11.Connection:
        from piapi_cli.api.http11 import Connection

        if scheme == "https" and self._tls_context is None:
            self._tls_context = self._tls()  # (imports ssl: an https connection only)
        tls = self._tls_context if scheme == "https" else None
        return Connection(host, port, tls, self._connect_timeout, self._read_timeout)

    def ready(self) -> None:
        if self.base_url.startswith("https://") and self._tls_context is None:
            self._tls_context = self._tls()

    def close(self) -> None:
        with self._lock:
            connections = [c for idle in self._idle.values() for c, _ in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()


@lru_cache(maxsize=1)
def _connection_classes() -> tuple[
    Callable[..., http.client.HTTPConnection], Callable[..., http.client.HTTPConnection]
]:
    import http.client
    import socket

    from piapi_cli.api.answer_head import LeanResponse

    class Plain(http.client.HTTPConnection):
        response_class = LeanResponse  # http.client's own, its headers read without the email package

        def __init__(
            self, host: str, port: int, tls: ssl.SSLContext | None, connect_timeout: float | None, timeout: float | None
        ) -> None:
            super().__init__(host, port, timeout=timeout)
            self.tls = tls
            self.connect_timeout = connect_timeout

        def open_socket(self) -> socket.socket:
            # a str host goes through the idna codec (a slow import); an ASCII one need not
            host = self.host.encode("ascii") if self.host.isascii() else self.host
            sock = socket.create_connection((host, self.port), self.connect_timeout)  # type: ignore[arg-type]
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.timeout)
            return sock

        def connect(self) -> None:
            self.sock = self.open_socket()

    class Secure(Plain):
        default_port = 443

        def connect(self) -> None:
            assert self.tls is not None
            self.sock = self.tls.wrap_socket(self.open_socket(), server_hostname=self.host)

    return Plain, Secure


def connection(
    scheme: str,
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
    connect_timeout: float | None,
    read_timeout: float | None,
) -> http.client.HTTPConnection:
    """A connection as this engine makes them (no Nagle delay, a connect and a read timeout,
    ASCII host names spared the idna codec), for a caller that streams its answers (downloads)."""
    plain, secure = _connection_classes()
    return (secure if scheme == "https" else plain)(host, port, tls, connect_timeout, read_timeout)


def still_open(connection: http.client.HTTPConnection) -> bool:
    """An idle kept-alive connection the server has not closed meanwhile."""
    return _still_open(connection)


def _still_open(connection: http11.Connection | http.client.HTTPConnection) -> bool:
    """An idle connection the server has not closed: nothing to read yet (as httpcore checks)."""
    import select

    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class HttpxEngine:
    """httpx, for a transport handed in, a proxy in the environment or redirects to follow."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, client: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self._client = client

    def request(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str] | None, max_answer: int,
        total: float | None = None,
    ) -> tuple[Answer, bytes]:  # fmt: skip
        import httpx

        end = None if total is None else time.monotonic() + total
        try:
            absolute = url if "://" in url else self.base_url + url
            request = self._client.build_request(method, absolute, content=content, headers=headers)
            response = self._client.send(request, stream=True)
            try:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_answer:
                        raise over(max_answer)
                    chunks.append(chunk)
                    if end is not None and time.monotonic() > end:
                        raise httpx.ReadTimeout(f"no whole answer within {total:g} s", request=request)
            finally:
                response.close()
        except httpx.DecodingError as exc:
            raise Undecodable(_reason(exc)) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise nothing_sent(exc) from exc
        except httpx.TransportError as exc:
            raise AnswerFailed(_reason(exc), timed_out=isinstance(exc, httpx.TimeoutException)) from exc
        return response, b"".join(chunks)

    def ready(self) -> None:
        """Nothing to make: httpx's client holds its TLS context from the start."""

    def close(self) -> None:
        self._client.close()


def proxy_configured(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return any(environ.get(name) or environ.get(name.upper()) for name in PROXY_VARIABLES)
