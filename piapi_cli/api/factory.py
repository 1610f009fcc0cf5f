"""The one place piapi's HTTP clients are made: the API's, downloads', forwarding's, trigger's,
the sandbox's webhook deliveries' and the listener's downloads'.

Every client made here carries the same user agent, trusts the same certificates (``api/trust.py``:
``SSL_CERT_FILE``/``SSL_CERT_DIR``, ``REQUESTS_CA_BUNDLE``, else the system's, else certifi's),
routes through the proxy set in the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
``NO_PROXY``), and takes its timeouts and redirect policy from what it is for (a ``Use``).
Nothing here imports httpx until a client of httpx is asked for: ``engine()`` hands out the
standard library's engine when no transport is given, no proxy is set and no redirect is
followed (see ``api/http.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache

from piapi_cli import __version__
from piapi_cli.api import http
from piapi_cli.api.records import field, record, replace

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    import ssl
    from typing import Any

    import httpx

__all__ = [
    "API", "DOWNLOAD", "FORWARD", "TRIGGER", "USER_AGENT", "WEBHOOK", "Timeouts", "Use", "engine",
    "http_client", "is_loopback", "tls_context", "verify_for",
]  # fmt: skip

#: what every request of piapi says it is
USER_AGENT = f"piapi-cli/{__version__}"


@record(frozen=True)
class Timeouts:
    """Seconds to connect, to wait for each read, and for a whole answer (None: no limit).

    ``total`` holds against a server that trickles its answer a byte at a time, each read in
    time: the request fails once it has run that long.
    """

    connect: float | None
    read: float | None
    total: float | None = None
    #: seconds in which a body must bring ``STALL_BYTES`` (a download trickling in stops, resumable)
    stall: float | None = None


@record(frozen=True)
class Use:
    """What a client is for: its timeouts, whether it follows redirects, the headers it adds."""

    name: str
    timeouts: Timeouts
    follow_redirects: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


#: the Unified API: small JSON answers, never a redirect (a create must not be sent elsewhere)
API = Use("api", Timeouts(connect=10.0, read=60.0), headers={"accept": "application/json"})
#: output files: as long as they take, each read in time; files as stored (lengths mean bytes)
DOWNLOAD = Use("download", Timeouts(connect=10.0, read=60.0, stall=60.0), True, {"accept-encoding": "identity"})
#: what a body must bring in each ``stall`` window not to be cut
STALL_BYTES = 64 * 1024
#: the listener forwarding an event to a receiver of the user's
FORWARD = Use("forward", Timeouts(connect=5.0, read=10.0, total=30.0))
#: `trigger` sending a test delivery
TRIGGER = Use("trigger", Timeouts(connect=5.0, read=15.0, total=30.0))
#: the sandbox delivering a webhook, as PiAPI would
WEBHOOK = Use("webhook", Timeouts(connect=5.0, read=5.0, total=15.0))


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for the process (``api/trust.py`` chooses what it trusts), made
    when the first https connection is: a CA bundle costs ~35 ms to load, so a second client
    shares the first one's."""
    return http.default_tls_context()


def verify_for(*origins: str) -> ssl.SSLContext:
    """The TLS context for a client that talks to these origins only.

    Plain-http origins on this machine (a local sandbox server) get a context that trusts no
    certificate at all: it costs nothing to make, and should a redirect still lead to an
    https host, the connection fails instead of going unverified.
    """
    if origins and all(origin.startswith("http://") and is_loopback(origin) for origin in origins):
        import ssl

        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with an empty trust store
    return tls_context()


def is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def _headers(use: Use, extra: Mapping[str, str] | None) -> dict[str, str]:
    return {"user-agent": USER_AGENT, **use.headers, **(extra or {})}


def engine(
    use: Use,
    origins: list[str],
    *,
    base_url: str = "",
    transport: httpx.BaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
    timeouts: Timeouts | None = None,
) -> http.Engine:
    """An engine (``api/http.py``) for small requests whose answers are read whole.

    The standard library's unless httpx is needed: a transport handed in, a proxy in the
    environment, or a use that follows redirects. TLS is made on the first https connection.
    """
    timeouts = timeouts or use.timeouts
    sent = _headers(use, headers)
    if transport is None and not http.proxy_configured() and not use.follow_redirects:
        return http.PlainEngine(
            base_url, sent, tls=lambda: verify_for(*origins),
            connect_timeout=timeouts.connect, read_timeout=timeouts.read, total_timeout=timeouts.total,
        )  # fmt: skip
    return http.HttpxEngine(
        base_url, sent, client=http_client(use, origins, transport=transport, headers=headers, timeouts=timeouts)
    )


def http_client(
    use: Use,
    origins: list[str],
    *,
    transport: httpx.BaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
    timeouts: Timeouts | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` for ``use``, talking to ``origins`` (TLS is set up for their hosts).

    ``transport`` replaces the network (tests, the in-process sandbox).
    """
    import httpx

    timeouts = timeouts or use.timeouts
    hooks: dict[str, list[Any]] = {}
    if timeouts.total is not None:
        hooks = {"request": [_stamp(timeouts.total)], "response": [_hold_to_deadline]}
    if timeouts.stall is not None:
        hooks.setdefault("response", []).append(_guard_stall(timeouts.stall))
    return httpx.Client(
        transport=transport,
        verify=verify_for(*origins) if transport is None else True,
        follow_redirects=use.follow_redirects,
        timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect),
        headers=_headers(use, headers),
        event_hooks=hooks,
    )


def with_timeouts(use: Use, **changes: float | None) -> Use:
    """``use`` with some of its timeouts changed (``connect=``, ``read=``, ``total=``)."""
    return replace(use, timeouts=replace(use.timeouts, **changes))


_DEADLINE = "piapi_deadline"


def _stamp(total: float) -> Any:
    def stamp(request: httpx.Request) -> None:
        import time

        request.extensions = {**request.extensions, _DEADLINE: time.monotonic() + total}

    return stamp


def _hold_to_deadline(response: httpx.Response) -> None:
    """Check the whole-answer deadline at every piece of the body as it arrives."""
    deadline = response.request.extensions.get(_DEADLINE)
    if deadline is not None:
        response.stream = _deadline_stream()(response.stream, deadline, response.request)


@lru_cache(maxsize=1)
def _deadline_stream() -> Any:
    import time

    import httpx

    class DeadlineStream(httpx.SyncByteStream):
        def __init__(self, stream: Any, deadline: float, request: httpx.Request) -> None:
            self._stream = stream
            self._deadline = deadline
            self._request = request

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._stream:
                if time.monotonic() > self._deadline:
                    raise httpx.ReadTimeout("no whole answer in time", request=self._request)
                yield chunk

        def close(self) -> None:
            self._stream.close()

    return DeadlineStream


def _guard_stall(seconds: float) -> Any:
    """A response hook: the body is cut (a read timeout) once a window of ``seconds`` brings
    under ``STALL_BYTES``; each read may come in time while the whole never does."""

    def guard(response: httpx.Response) -> None:
        response.stream = _stall_stream()(response.stream, seconds, response.request)

    return guard


@lru_cache(maxsize=1)
def _stall_stream() -> Any:
    import time

    import httpx

    class StallStream(httpx.SyncByteStream):
        def __init__(self, stream: Any, seconds: float, request: httpx.Request) -> None:
            self._stream, self._seconds, self._request = stream, seconds, request

        def __iter__(self) -> Iterator[bytes]:
            window, got = time.monotonic(), 0
            for chunk in self._stream:
                got += len(chunk)
                if got >= STALL_BYTES:
                    window, got = time.monotonic(), 0
                elif time.monotonic() - window > self._seconds:
                    raise httpx.ReadTimeout(
                        f"stalled: under {STALL_BYTES // 1024} KiB in {self._seconds:g}s", request=self._request
                    )
                yield chunk

        def close(self) -> None:
            self._stream.close()

    return StallStream
