"""What ``listen --download`` fetches: the outputs a completed event names, which a forged event
could point at an internal service. By default only https URLs whose host resolves to public
addresses only are fetched, each redirect checked the same way; sizes are capped as every
download's are (``core.downloads``)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from piapi_cli.api.errors import DownloadError

if TYPE_CHECKING:
    from piapi_cli.api.tasks import Task
    from piapi_cli.core.downloads.downloader import DownloadHTTP, Report

Check = Callable[[str], "str | None"]


def refused_url(url: str) -> str | None:
    """Why ``url`` is not fetched (not https; a host that is, or resolves to, a loopback,
    private, link-local or other non-public address), or None."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        return "not an https URL"
    host = parts.hostname
    if not host:
        return "no host"
    try:
        found = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return f"{host} does not resolve"
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global:
            return f"{host} is a non-public address ({ip})"
    return None


def guard(http: DownloadHTTP, check: Check) -> None:
    """Make ``http`` refuse, before connecting, every URL (redirects included) ``check`` refuses."""
    from piapi_cli.core.downloads.wire import WireClient

    if isinstance(http, WireClient):
        http.allow = check
        return

    def hook(request: Any) -> None:
        why = check(str(request.url))
        if why is not None:
            raise DownloadError(f"not fetched: {request.url}: {why}", advice="download_any_url")

    http.event_hooks["request"] = [*http.event_hooks["request"], hook]


def download_outputs(http: DownloadHTTP, directory: Path, task: Task) -> Report:
    """Save a completed task's outputs (``.part`` files, resumed, never over an existing file)."""
    from piapi_cli.core.downloads.downloader import Downloader

    downloader = Downloader(http, directory, skip_existing=True)
    return downloader.run(downloader.plan([task]))
