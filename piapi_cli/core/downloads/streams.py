"""Reading a download's body: what the headers promise, a bounded decoder for encodings piapi
did not ask for, and the writer that overlaps disk writes and hashing with network reads."""

from __future__ import annotations

import os
import re
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from piapi_cli.api.errors import DownloadError
from piapi_cli.core.downloads.wire import WireResponse

CHUNK = 1024 * 1024
#: what an unasked-for compressed body may decode to at most, whatever its ratio
DECODED_LIMIT = 256 * 1024 * 1024
#: a compressed body decoding to more than this many times its size is a bomb, not a file
MAX_EXPANSION = 100
DECODABLE = frozenset({"gzip", "x-gzip", "deflate"})


class EncodingRefused(DownloadError):
    """The body's content encoding cannot be decoded, or decodes to far too much."""


class BodyCut(Exception):
    """A compressed body ended before its end marker: the connection broke."""


def content_encoding(headers: Mapping[str, str]) -> str:
    """The body's content encoding ("" for none); EncodingRefused for one piapi cannot decode."""
    value = headers.get("content-encoding", "").strip().lower()
    if value in ("", "identity"):
        return ""
    if value in DECODABLE:
        return value
    raise EncodingRefused(f"the server sent a {value!r}-encoded body, which piapi neither asked for nor decodes")


def content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() and len(value) < 20 else None


def content_range(headers: Mapping[str, str]) -> tuple[int, int, int | None] | None:
    """``(first, last, total)`` of a 206's ``Content-Range`` (total None for ``*``), or None."""
    match = re.fullmatch(r"bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)", headers.get("content-range", "").strip())
    if not match:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if last < first or (total is not None and last >= total):
        return None
    return first, last, total


def unsatisfied_total(headers: Mapping[str, str]) -> int | None:
    """The object's length from a 416's ``Content-Range: bytes */N``."""
    match = re.fullmatch(r"bytes \*/(\d{1,19})", headers.get("content-range", "").strip())
    return int(match.group(1)) if match else None


def is_chunked(headers: Mapping[str, str]) -> bool:
    """Chunked bodies end with a marker: a broken connection cannot pass for the end."""
    return "chunked" in headers.get("transfer-encoding", "").lower()


class Decoder:
    """Decodes a gzip or deflate body a bounded piece at a time.

    piapi asks for files unencoded; a server that compresses anyway gets its body decoded, but
    never more than ``limit`` bytes nor ``MAX_EXPANSION`` times what arrived, and never more
    than one chunk in memory: a 1 MB gzip bomb stops at a few MB instead of writing 1 GiB.
    """

    def __init__(self, encoding: str, limit: int = DECODED_LIMIT) -> None:
        self.encoding = encoding
        self.limit = limit
        self.produced = 0
        self.done = False  # set when the body arrived already decoded (in-process transports)
        self._raw_deflate_fallback = encoding == "deflate"  # "deflate" is often sent without its zlib header
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS)
        self._consumed = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._z.eof:
                raise EncodingRefused(f"data after the end of the {self.encoding} body")
            try:
                out = self._z.decompress(data, CHUNK)
            except zlib.error as exc:
                if self._raw_deflate_fallback and not self._consumed:
                    self._raw_deflate_fallback = False
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise EncodingRefused(f"the {self.encoding} body is corrupt ({exc})") from None
            self._raw_deflate_fallback = False
            self._consumed += len(data) - len(self._z.unconsumed_tail)
            data = self._z.unconsumed_tail
            if self._z.unused_data:
                raise EncodingRefused(f"data after the end of the {self.encoding} body")
            self.check(len(out))
            if out:
                yield out

    def check(self, size: int) -> None:
        self.produced += size
        bomb = not self.done and self.produced > CHUNK and self.produced > MAX_EXPANSION * self._consumed
        if self.produced > self.limit or bomb:
            how = f"expands over {MAX_EXPANSION}-fold" if bomb else f"decodes to over {self.limit:,} bytes"
            raise EncodingRefused(
                f"the server sent a {self.encoding}-encoded body (piapi asked for none) that {how}; refused"
            )

    def finish(self) -> None:
        if not self.done and not self._z.eof:
            raise BodyCut(f"the {self.encoding} body was cut short")


def body_chunks(response: Any, decoder: Decoder | None) -> Iterator[bytes]:
    """The body as it arrives, decoded only when the server encoded it anyway."""
    import httpx

    try:
        for chunk in response.iter_raw():
            if decoder is None:
                yield chunk
            else:
                yield from decoder.feed(chunk)
        return
    except httpx.StreamConsumed:
        pass  # an in-process transport handed over the body already read (and decoded)
    content: bytes = response.content
    if decoder is not None:
        decoder.done = True
        decoder.check(len(content))
    for start in range(0, len(content), CHUNK):
        yield content[start : start + CHUNK]


class Pipeline:
    """Writes and hashes chunks on two threads while the caller reads the next one.

    hashlib and file writes release the GIL on large buffers, so reading, hashing and
    writing overlap; the bounded queues keep memory flat (at most 2 x 8 chunks in flight).
    """

    def __init__(self, handle: Any, digest: Any, depth: int = 8) -> None:
        import queue

        self._queues: list[queue.Queue[bytes | None]] = [queue.Queue(depth), queue.Queue(depth)]
        self._errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._drain, args=(self._queues[0], handle.write), daemon=True),
            threading.Thread(target=self._drain, args=(self._queues[1], digest.update), daemon=True),
        ]

    def _drain(self, source: Any, consume: Callable[[bytes], object]) -> None:
        while (chunk := source.get()) is not None:
            if not self._errors:
                try:
                    consume(chunk)
                except BaseException as exc:  # reported by close(); keep draining so put() never blocks
                    self._errors.append(exc)

    def __enter__(self) -> Pipeline:
        for thread in self._threads:
            thread.start()
        return self

    def put(self, chunk: bytes) -> None:
        if self._errors:
            raise self._errors[0]
        for target in self._queues:
            target.put(chunk)

    def __exit__(self, *exc: object) -> None:
        for target in self._queues:
            target.put(None)
        for thread in self._threads:
            thread.join()
        if self._errors and exc[0] is None:
            raise self._errors[0]


#: bytes written between two nudges to the kernel to start writing them to the disk
WRITEBACK_EVERY = 32 * 1024 * 1024


class Ring:
    """Reads a body into a ring of reused buffers while two threads take each filled one in
    turn: one hashes it, then the other writes it, then it is free for the next read.

    Reading, hashing and writing overlap (hashlib and file writes release the GIL), no byte is
    copied but by the socket's read and the write, and memory stays at ``buffers`` x ``size``.
    Every ``WRITEBACK_EVERY`` bytes the kernel is asked to start writing what came (as
    ``POSIX_FADV_DONTNEED`` does, without waiting), so the fsync at the end finds little left.
    """

    def __init__(self, handle: Any, digest: Any, *, buffers: int = 8, size: int = CHUNK) -> None:
        import queue

        self._handle, self._digest = handle, digest
        self._views = [memoryview(bytearray(size)) for _ in range(buffers)]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._to_hash: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self._to_write: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        for index in range(buffers):
            self._free.put(index)
        self._errors: list[BaseException] = []

    def pump(self, readinto: Callable[[memoryview], int], each: Callable[[int], None]) -> int:
        """Read until the body ends (``readinto`` gives 0); ``each(n)`` after every read (it may
        raise to stop). Whatever was read is hashed and written before this returns or raises."""
        threads = [threading.Thread(target=self._hash, daemon=True), threading.Thread(target=self._write, daemon=True)]
        for thread in threads:
            thread.start()
        total = 0
        try:
            while not self._errors:
                index = self._free.get()
                count = readinto(self._views[index])
                if not count:
                    break
                self._to_hash.put((index, count))
                total += count
                each(count)
        finally:
            self._to_hash.put(None)
            for thread in threads:
                thread.join()
        if self._errors:
            raise self._errors[0]
        return total

    def _hash(self) -> None:
        while (item := self._to_hash.get()) is not None:
            if not self._errors:
                try:
                    self._digest.update(self._views[item[0]][: item[1]])
                except BaseException as exc:  # reported by pump(); the buffers keep moving
                    self._errors.append(exc)
            self._to_write.put(item)
        self._to_write.put(None)

    def _write(self) -> None:
        fd, start, written = self._handle.fileno(), self._handle.tell(), 0
        while (item := self._to_write.get()) is not None:
            if not self._errors:
                try:
                    self._handle.write(self._views[item[0]][: item[1]])
                    written += item[1]
                    if written >= WRITEBACK_EVERY:
                        self._handle.flush()
                        _start_writeback(fd, start, written)
                        start, written = start + written, 0
                except BaseException as exc:  # reported by pump(); the buffers keep moving
                    self._errors.append(exc)
            self._free.put(item[0])


#: a body this small is read, hashed and written by the reading thread alone (threads cost
#: more than they overlap, and a batch of small images would start two per file)
SMALL_BODY = 4 * CHUNK


def pump_inline(
    readinto: Callable[[memoryview], int], handle: Any, digest: Any, each: Callable[[int], None], size: int = CHUNK
) -> int:
    """``Ring.pump`` without its threads, for a small body: read, hash, write, in turn, through a
    buffer of ``size`` bytes (a 7 kB image needs no 1 MiB buffer made and zeroed for it).

    A body that fits the buffer is read to its end before any byte is written, then written
    in one piece with ``handle.write_whole`` where there is one (a part's writer: a whole body
    needs no record of what the part holds, which took ten system calls to write and one to
    remove); should it fail or be cancelled on the way, what came is written first (the record
    before it), so it is resumed from there. A body longer than the buffer is written piece by
    piece as it comes."""
    view = memoryview(bytearray(size))
    total = 0
    try:
        while total < size and (count := readinto(view[total:])):
            total += count
            each(count)
    except BaseException:
        if total:
            digest.update(view[:total])
            handle.write(view[:total])
        raise
    digest.update(view[:total])
    if total < size:  # the end came: the whole body is in the buffer
        if total:
            getattr(handle, "write_whole", handle.write)(view[:total])
        return total
    handle.write(view)
    while count := readinto(view):
        digest.update(view[:count])
        handle.write(view[:count])
        total += count
        each(count)
    return total


def read_body(
    response: Any, decoder: Decoder | None, handle: Any, digest: Any, expected: int | None, each: Callable[[int], None]
) -> int:
    """Hash and write the body as it arrives (a cut keeps what came); the bytes written. ``each``
    is told every piece's size; ``expected``: the body's length, when it is known."""
    if decoder is None and isinstance(response, WireResponse):  # straight into reused buffers
        if expected is not None and expected <= SMALL_BODY:  # an image: no threads for it
            return pump_inline(response.readinto, handle, digest, each, min(CHUNK, max(expected + 1, 64 * 1024)))
        return Ring(handle, digest).pump(response.readinto, each)
    written = 0
    with Pipeline(handle, digest) as sink:
        for chunk in body_chunks(response, decoder):
            each(len(chunk))
            sink.put(chunk)
            written += len(chunk)
    return written


def _start_writeback(fd: int, offset: int, length: int) -> None:
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        try:
            advise(fd, offset, length, os.POSIX_FADV_DONTNEED)
        except OSError:  # pragma: no cover - a file system that takes no advice
            pass


def tune_http_reads() -> None:
    """Read response bodies 1 MiB at a time instead of httpcore's 64 KiB.

    Per-read overhead in httpcore/h11 capped downloads near 450 MB/s on loopback; 1 MiB reads
    reach about 1.9 GB/s (bench/README.md). The attribute is httpcore's own; if a release
    renames it, downloads keep working at the default speed.
    """
    try:
        from httpcore._sync.http11 import HTTP11Connection
    except ImportError:  # pragma: no cover
        return
    if getattr(HTTP11Connection, "READ_NUM_BYTES", 0) < CHUNK:
        HTTP11Connection.READ_NUM_BYTES = CHUNK
