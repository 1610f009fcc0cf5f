"""Reading an answer's body whole, decoded as httpx would, never past a size: a small gzip
answer can inflate to gigabytes, so each stage makes at most what is still allowed."""

from __future__ import annotations

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.api.http11 import Response


class Undecodable(Exception):
    """An answer came, but it is over the size allowed or its encoding does not decode."""


class TooLarge(Undecodable):
    """An answer over the size allowed: asking again brings the same answer."""


def over(limit: int) -> Undecodable:
    return TooLarge(
        f"the answer is over {limit // 2**20} MiB" if limit >= 2**20 else f"the answer is over {limit} bytes"
    )


def read_capped(response: Response, limit: int) -> bytes:
    """The body, decoded as httpx would (gzip and deflate, in the order applied; other codings
    as they are), never more than ``limit`` bytes of it in memory. Transfer codings under the
    chunks (``Transfer-Encoding: gzip, chunked``) are undone first: they were applied last."""
    codings = [c.strip().lower() for c in (response.getheader("content-encoding") or "").split(",")]
    codings += response.transfer_codings  # (http11 lets through only gzip and deflate there)
    stages = [_Inflater(c) for c in reversed(codings) if c in ("gzip", "x-gzip", "deflate")]
    pieces: list[bytes] = []
    size = 0
    while True:
        chunk = response.read(65536)
        if not chunk:
            if response.length:  # read(n) takes an early close for the end: it is not
                raise ConnectionError(f"the answer ended {response.length} bytes short of its Content-Length")
            break
        for stage in stages:
            chunk = stage.feed(chunk, limit - size)
        size += len(chunk)
        if size > limit:
            raise over(limit)
        pieces.append(chunk)
    tail = b""
    for stage in stages:
        tail = stage.finish(tail, limit - size)
    if size + len(tail) > limit:
        raise over(limit)
    return b"".join(pieces) + tail


def parsed_json(content: bytes) -> Any:
    """The body as JSON, or None (empty, not JSON, or nested deeper than any real answer). A
    byte that is no UTF-8 (a gateway's Latin-1 message) is replaced: a task ID still counts."""
    import json

    if not content:
        return None
    try:
        try:
            return json.loads(content)
        except UnicodeDecodeError:
            return json.loads(content.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None


class _Inflater:
    """One gzip or deflate stage, producing at most ``room + 1`` bytes per call (enough to tell
    the answer is over its limit without inflating a bomb)."""

    def __init__(self, coding: str) -> None:
        import zlib

        self._zlib = zlib
        # "deflate" is often sent without its zlib header: the first error switches to raw (as httpx)
        self._raw_fallback = coding == "deflate"
        self._z = zlib.decompressobj(zlib.MAX_WBITS if coding == "deflate" else 16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> bytes:
        out: list[bytes] = []
        size = 0
        while data and size <= room:
            try:
                piece = self._z.decompress(data, room + 1 - size)
            except self._zlib.error as exc:
                if self._raw_fallback:
                    self._raw_fallback = False
                    self._z = self._zlib.decompressobj(-self._zlib.MAX_WBITS)
                    continue
                raise Undecodable(f"the answer's encoding does not decode ({exc})") from None
            self._raw_fallback = False
            out.append(piece)
            size += len(piece)
            data = self._z.unconsumed_tail
        return b"".join(out)

    def finish(self, data: bytes, room: int) -> bytes:
        try:
            return self.feed(data, room) + self._z.flush()
        except self._zlib.error as exc:
            raise Undecodable(f"the answer's encoding does not decode ({exc})") from None
