"""The little of HTTP/1.1 the listener speaks: a request's head read from bytes, an answer made.

``http.server`` reads headers through the ``email`` package, and its answers take several writes
and a formatted date each: most of the listener's CPU per delivery went there
(bench/README.md). This reads a head in one pass with the same limits (a line at most 64 KiB,
at most 100 headers) and makes each answer one buffer, sent in one write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus

from piapi_cli.api.records import record

#: as http.server: a longer line, or more header lines, and the request is refused (431)
MAX_LINE = 65536
MAX_HEADERS = 100
#: the most a head may be before its end is found
MAX_HEAD = MAX_LINE + MAX_HEADERS * 1024

_PHRASES = {status.value: status.phrase for status in HTTPStatus}


@record()
class Head:
    method: str
    target: str
    #: header names lower-cased; the first of repeated headers
    headers: dict[str, str]
    keep_alive: bool


class BadHead(Exception):
    """A head that is not HTTP/1.x: the status to answer, then the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def head_end(buffer: bytes | bytearray, start: int = 0) -> int:
    """Where the head in ``buffer`` ends (the index after its blank line), or -1 if not yet.

    ``start``: how much of ``buffer`` was searched already (a head dripped in byte by byte is
    searched once, not once per byte). A blank line is CRLF or a bare LF, after either."""
    start = max(0, start - 2)
    crlf = buffer.find(b"\n\r\n", start)
    lf = buffer.find(b"\n\n", start)
    ends = [end + size for end, size in ((crlf, 3), (lf, 2)) if end >= 0]
    return min(ends) if ends else -1


def content_length(value: str) -> int | None:
    """A Content-Length's value, or None: ASCII digits only (``str.isdigit`` takes a superscript 2,
    which ``int`` refuses)."""
    value = value.strip()
    if not value or len(value) > 18 or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def parse_head(raw: bytes) -> Head:
    """The request line and headers of one head (its blank line included)."""
    lines = raw.decode("latin-1").split("\n")
    request = lines[0].rstrip("\r")
    if len(request) > MAX_LINE:
        raise BadHead(414, "the request line is too long")
    words = request.split()
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        raise BadHead(400, "not an HTTP/1.x request")
    method, target, version = words
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadHead(505 if version[5:6].isdigit() else 400, f"{version} is not spoken here")
    headers: dict[str, str] = {}
    fields = [line.rstrip("\r") for line in lines[1:]]
    fields = [line for line in fields if line]
    if len(fields) > MAX_HEADERS:
        raise BadHead(431, "too many headers")
    for line in fields:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or len(line) > MAX_LINE:
            raise BadHead(431 if len(line) > MAX_LINE else 400, "a header line is not one")
        name, value = name.lower(), value.strip(" \t")
        if name == "content-length" and headers.get(name, value) != value:
            raise BadHead(400, "two different Content-Lengths")
        headers.setdefault(name, value)
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return Head(method, target, headers, keep_alive)


class Answers:
    """Answers as bytes: ``{"ok": ..., "message": ...}`` in JSON, with the date of this second."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._second = -1
        self._date = ""
        #: the answers made in this second without extra headers (most are one of two: a delivery
        #: received, or a repeat of one)
        self._made: dict[tuple[int, str, bool], bytes] = {}

    def make(self, status: int, message: str, *, close: bool = False, headers: dict[str, str] | None = None) -> bytes:
        now = int(self.clock())
        if now != self._second:
            self._second, self._date = now, formatdate(now, usegmt=True)
            self._made = {}
        if headers:
            return self._make(status, message, close, headers)
        made = self._made.get((status, message, close))
        if made is None:
            if len(self._made) >= 64:  # (messages name what was refused: they may vary)
                self._made.clear()
            made = self._made[status, message, close] = self._make(status, message, close, None)
        return made

    def _make(self, status: int, message: str, close: bool, headers: dict[str, str] | None) -> bytes:
        body = json.dumps({"ok": 200 <= status < 300, "message": message}).encode()
        lines = [
            f"HTTP/1.1 {status} {_PHRASES.get(status, '')}",
            f"date: {self._date}",
            "content-type: application/json",
            f"content-length: {len(body)}",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if close:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
FULL = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
