"""The HTTP client output files are read with, and what a download needs to know of it.

Two engines read downloads: ``WireClient`` (``http.client`` into reused buffers, the fast one)
and, when a transport is handed in or a proxy is configured, an httpx client. ``download_client``
picks one; ``error_kinds`` says which of its errors are retried; ``shut_down`` ends a read blocked
on its socket (a cancel from another thread).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from piapi_cli.core.downloads import streams
from piapi_cli.core.downloads.wire import WireClient, WireError, WireResponse

if TYPE_CHECKING:
    import httpx

    from piapi_cli.api.errors import ConnectionFailed

    #: what downloads are read with: http.client's (``WireClient``), else an httpx client
    DownloadHTTP = httpx.Client | WireClient


def download_client(
    urls: list[str], transport: httpx.BaseTransport | None = None, *, stall: float | None = None
) -> DownloadHTTP:
    """The HTTP client for output files: follows redirects, never carries the API key, asks for
    files as stored (lengths and byte ranges then mean what they say). ``transport`` replaces the
    network (the sandbox serves its own files); otherwise TLS is set up for these URLs' hosts.
    ``stall``: seconds in which a body must bring 64 KiB (0: never cut; None: the default, 60)."""
    from piapi_cli.api import factory, http

    use = factory.DOWNLOAD if stall is None else factory.with_timeouts(factory.DOWNLOAD, stall=stall or None)
    if transport is None and not http.proxy_configured():
        return WireClient(
            {"user-agent": factory.USER_AGENT, **use.headers},
            tls=lambda: factory.verify_for(*urls),
            connect_timeout=use.timeouts.connect,
            read_timeout=use.timeouts.read,
            stall=use.timeouts.stall,
        )
    streams.tune_http_reads()
    return factory.http_client(use, urls, transport=transport)


def error_kinds(http: DownloadHTTP) -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """The errors of this client's requests that are retried, and those that end the file
    (httpx is imported only when it reads the files: it costs ~35 ms)."""
    if isinstance(http, WireClient):
        return (WireError, streams.BodyCut), ()
    import httpx

    return (httpx.TransportError, httpx.DecodingError, streams.BodyCut), (httpx.HTTPError, httpx.InvalidURL)


def untrusted(exc: BaseException) -> ConnectionFailed | None:
    """The error for a connection refused because the origin's certificate is not trusted (in
    ``exc`` or what it was raised from), as the API's calls report it: what was trusted, what
    to set (advice ``tls``), exit 5. None for any other failure, which is tried again."""
    from piapi_cli.api.errors import ConnectionFailed
    from piapi_cli.api.http import nothing_sent

    failed = nothing_sent(exc)
    return ConnectionFailed(str(failed), advice="tls") if failed.lasting else None


def shut_down(response: httpx.Response | WireResponse) -> None:
    """Wake a worker blocked reading ``response``: shutting its socket down ends the read at once."""
    if isinstance(response, WireResponse):
        sock = response.socket
    else:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
