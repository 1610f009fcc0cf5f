"""The built-in sandbox: PiAPI's Unified API emulated offline, in-process or as a server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from piapi_cli.sandbox.emulator import Emulator
from piapi_cli.sandbox.replies import CutStream, Faults, Reply
from piapi_cli.sandbox.store import FileStore, MemoryStore

if TYPE_CHECKING:
    import httpx

    from piapi_cli.api.client import Client

__all__ = [
    "Emulator",
    "Faults",
    "FileStore",
    "MemoryStore",
    "Reply",
    "CutStream",
    "local_emulator",
    "sandbox_client",
    "transport_for",
]

#: the address in-process sandbox URLs carry; ``.invalid`` can never reach a network
LOCAL_BASE_URL = "http://sandbox.piapi.invalid"


def transport_for(emulator: Emulator) -> httpx.BaseTransport:
    """An httpx transport that answers every request from the emulator, in-process."""
    import httpx

    def handle(request: httpx.Request) -> httpx.Response:
        reply = emulator.handle(request.method, request.url.raw_path.decode("ascii"), request.headers, request.read())
        if reply.drop:
            raise httpx.RemoteProtocolError("sandbox: connection closed mid-response", request=request)
        if reply.stream is None:
            return httpx.Response(reply.status, headers=reply.headers, content=reply.body)
        return httpx.Response(reply.status, headers=reply.headers, content=_cut_as_httpx(reply.stream, request))

    return httpx.MockTransport(handle)


def _cut_as_httpx(stream: Iterator[bytes], request: httpx.Request) -> Iterator[bytes]:
    """A stream the emulator cuts ends as a connection closed mid-answer would."""
    import httpx

    try:
        yield from stream
    except CutStream as exc:
        raise httpx.RemoteProtocolError(f"sandbox: {exc}", request=request) from None


def local_emulator(data_dir: Path, *, speed: float = 1.0) -> Emulator:
    """The emulator behind ``--sandbox``: tasks kept as files, shared by piapi processes."""
    store = FileStore(data_dir / "sandbox" / "tasks")
    return Emulator(store, base_url=LOCAL_BASE_URL, speed=speed)


def sandbox_client(*, speed: float = 1.0, emulator: Emulator | None = None) -> Client:
    """A ``Client`` of an in-memory sandbox: the whole library offline, no key, no network.

    ``speed`` makes tasks finish that many times sooner (a 5 s image in 0.5 s at 10).
    """
    from piapi_cli.api.client import Client

    emulator = emulator or Emulator(speed=speed)
    return Client("sandbox", emulator.base_url, transport=transport_for(emulator), upload_url=emulator.base_url)
