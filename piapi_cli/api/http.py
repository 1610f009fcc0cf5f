"""The HTTP engines under the API client, behind one small interface.

The API's calls are small JSON requests, and most runs of piapi make one or two of them:
importing httpx and httpcore would cost more than the call. ``PlainEngine`` makes them with
the standard library's ``http.client`` (keep-alive, a pool shared by threads, TLS with the
same trust store as httpx). ``HttpxEngine`` is used where httpx is needed: a transport handed
in (tests, the in-process sandbox) or a proxy set in the environment.

Either engine raises only two errors, which is all the client's retry rules need to know:
``NothingSent`` (the connection failed before the request left: safe to send again, even a
create) and ``AnswerFailed`` (the request may have reached the server).
"""

from __future__ import annotations

import json as jsonlib
import os
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import http.client
    import ssl

    import httpx

Connect = Callable[..., "http.client.HTTPConnection"]
#: environment variables that route requests through a proxy: httpx knows how
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


class NothingSent(Exception):
    """The connection failed before any of the request was sent."""


class AnswerFailed(Exception):
    """The request may have been sent, but no whole answer came back."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Headers(Protocol):
    def get(self, name: str, default: Any = None) -> Any: ...


class Answer(Protocol):
    """What the client reads of a response (``httpx.Response`` has these too)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Headers: ...

    @property
    def content(self) -> bytes: ...


class Engine(Protocol):
    def request(self, method: str, url: str, *, json: Any = None) -> Answer: ...

    def close(self) -> None: ...


class PlainAnswer:
    def __init__(self, status_code: int, headers: http.client.HTTPMessage, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers  # case-insensitive get()
        self.content = content


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def default_tls_context() -> ssl.SSLContext:
    """A verifying context with httpx's trust store: SSL_CERT_FILE, SSL_CERT_DIR, or certifi."""
    import ssl

    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class PlainEngine:
    """HTTP/1.1 over ``http.client``: one pool of kept-alive connections per origin."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        tls: Callable[[], ssl.SSLContext],
        connect_timeout: float | None,
        read_timeout: float | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self._tls = tls  # made on the first https connection
        self._tls_context: ssl.SSLContext | None = None
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def request(self, method: str, url: str, *, json: Any = None) -> PlainAnswer:
        from urllib.parse import urlsplit

        parts = urlsplit(url if "://" in url else self.base_url + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NothingSent(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        origin = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = dict(self.headers)
        body = None
        if json is not None:  # as httpx encodes it; NaN is refused before anything is sent
            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers["content-type"] = "application/json"
        connection = self._checkout(origin)
        if connection.sock is None:
            try:
                connection.connect()
            except Exception as exc:
                connection.close()
                raise NothingSent(_reason(exc)) from exc
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        except Exception as exc:
            connection.close()
            raise AnswerFailed(_reason(exc), timed_out=isinstance(exc, TimeoutError)) from exc
        if response.will_close:
            connection.close()
        else:
            with self._lock:
                self._idle.setdefault(origin, []).append(connection)
        return PlainAnswer(response.status, response.headers, content)

    def _checkout(self, origin: tuple[str, str, int]) -> http.client.HTTPConnection:
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                connection = idle.pop()
                if _still_open(connection):
                    return connection
                connection.close()
        return self._connection(*origin)

    def _connection(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        plain, secure = _connection_classes()
        if scheme == "https":
            if self._tls_context is None:
                self._tls_context = self._tls()
            return secure(host, port, self._tls_context, self._connect_timeout, self._read_timeout)
        return plain(host, port, None, self._connect_timeout, self._read_timeout)

    def close(self) -> None:
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()


@lru_cache(maxsize=1)
def _connection_classes() -> tuple[
    Callable[..., http.client.HTTPConnection], Callable[..., http.client.HTTPConnection]
]:
    import http.client
    import socket

    class Plain(http.client.HTTPConnection):
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


def _still_open(connection: http.client.HTTPConnection) -> bool:
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
    """httpx, for a transport handed in or a proxy in the environment."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        transport: httpx.BaseTransport | None,
        verify: ssl.SSLContext | bool,
        timeout: httpx.Timeout,
    ) -> None:
        import httpx

        self._client = httpx.Client(
            base_url=base_url,
            transport=transport,
            verify=verify,
            timeout=timeout,
            headers=dict(headers),
            follow_redirects=False,
        )

    def request(self, method: str, url: str, *, json: Any = None) -> Answer:
        import httpx

        try:
            return self._client.request(method, url, json=json)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NothingSent(_reason(exc)) from exc
        except httpx.TransportError as exc:
            raise AnswerFailed(_reason(exc), timed_out=isinstance(exc, httpx.TimeoutException)) from exc

    def close(self) -> None:
        self._client.close()


def proxy_configured(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return any(environ.get(name) or environ.get(name.upper()) for name in PROXY_VARIABLES)


def open_engine(
    base_url: str,
    headers: Mapping[str, str],
    *,
    transport: httpx.BaseTransport | None,
    tls: Callable[[], ssl.SSLContext],
    timeout: Any,
) -> Engine:
    """``PlainEngine`` unless httpx is needed (a transport, a proxy, a timeout object of httpx's)."""
    if transport is None and not proxy_configured():
        if timeout is None:
            connect, read = 10.0, 60.0
        elif isinstance(timeout, (int, float)):
            connect = read = float(timeout)
        else:  # httpx.Timeout
            connect, read = timeout.connect, timeout.read
        return PlainEngine(base_url, headers, tls=tls, connect_timeout=connect, read_timeout=read)
    import httpx

    if timeout is None:
        timeout = httpx.Timeout(60.0, connect=10.0)
    return HttpxEngine(base_url, headers, transport=transport, verify=tls() if transport is None else True,
                       timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout))  # fmt: skip
