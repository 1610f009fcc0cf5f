"""A request's head as the sandbox server reads it: http.server's rules (the request line's
checks, at most 100 header lines of at most 64 KiB, keep-alive and ``Expect``), without the
email package's parser, which was a fifth of the server's time per get-task (bench/README.md).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from email.utils import formatdate
from http import HTTPStatus
from typing import Protocol

#: as http.client: a header line longer than this, or more header lines, is refused (431)
_MAX_LINE, _MAX_HEADERS = 65536, 100
#: a line the email parser http.server uses takes for one of the head's (its ``headerRE``): a
#: mailbox's ``From`` line, a field's first line (a name of printable ASCII but the colon, even
#: none, then the colon) or a fold. The first line that is none of these ends the fields.
_HEAD_LINE = re.compile(r"From |[!-9;-~]*:|[ \t]")


class RequestHeaders:
    """A request's header fields, as http.server's ``email.message.Message`` gives them to the
    handler (``get`` and ``get_all`` by any case, ``items`` in order, values without their
    leading blanks and line end), read without the email package's parser: that parser was a
    fifth of the server's time per get-task (bench/README.md)."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields

    @classmethod
    def read(cls, lines: list[bytes]) -> RequestHeaders:
        """The fields of a head's lines (its blank line excluded), as the email parser reads them:
        a CR alone ends a line too; a line that folds (begins with a blank) continues the field
        before, and its line ends are kept; a ``From`` line, a field without a name and the folds
        that follow either are skipped; the first line of none of these kinds ends the fields."""
        fields: list[tuple[str, list[str]]] = []  # each value in its lines (folds joined at the end)
        value: list[str] | None = None  # the field a fold continues, if any
        # (split as the email parser splits: at a CR alone too, not only at LF)
        for line in io.StringIO(b"".join(lines).decode("iso-8859-1"), newline="").readlines():
            if not _HEAD_LINE.match(line):
                break
            if line[0] in " \t":
                if value is not None:
                    value.append(line)
                continue
            value = None
            if line.startswith("From "):
                continue
            name, _, first = line.partition(":")
            if name:
                value = [first.lstrip(" \t")]
                fields.append((name, value))
        return cls([(name, "".join(parts).rstrip("\r\n")) for name, parts in fields])

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        return next((value for key, value in self._fields if key.lower() == name), default)

    def get_all(self, name: str, failobj: list[str] | None = None) -> list[str] | None:
        name = name.lower()
        found = [value for key, value in self._fields if key.lower() == name]
        return found or failobj

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._fields)

    def __len__(self) -> int:
        return len(self._fields)


class Refused(Exception):
    """A head http.server would refuse: the status and message to answer with."""

    def __init__(self, status: HTTPStatus, message: str, explain: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.explain = status, message, explain


def request_line(line: str, protocol: str) -> tuple[str | None, str, str, bool]:
    """(command, path, version, keep alive) of a request line, as http.server reads it; a
    command of None: an empty line (nothing to answer). Raises ``Refused``."""
    words = line.split()
    version, keep_alive = "HTTP/0.9", False
    if not words:
        return None, "", version, False
    if len(words) >= 3:  # enough to tell the protocol's version
        version = words[-1]
        number = version_of(version)
        if number is None:
            raise Refused(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
        keep_alive = number >= (1, 1) and protocol >= "HTTP/1.1"
        if number >= (2, 0):
            raise Refused(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({version[5:]})")
    if not 2 <= len(words) <= 3:
        raise Refused(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({line!r})")
    command, path = words[:2]
    if len(words) == 2:
        keep_alive = False
        if command != "GET":
            raise Refused(HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({command!r})")
    if path.startswith("//"):  # (as http.server: never taken for a scheme-relative URL)
        path = "/" + path.lstrip("/")
    return command, path, version, keep_alive


def version_of(text: str) -> tuple[int, int] | None:
    """(major, minor) of ``HTTP/major.minor``, or None where http.server refuses it."""
    if not text.startswith("HTTP/"):
        return None
    parts = text[5:].split(".")
    if len(parts) != 2 or not all(p.isdigit() and p.isascii() and len(p) <= 10 for p in parts):
        return None
    return int(parts[0]), int(parts[1])


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def read_headers(rfile: _Lines) -> RequestHeaders:
    """The header lines up to the blank one, with http.client's limits. Raises ``Refused``."""
    lines: list[bytes] = []
    while True:
        line = rfile.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", "header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:  # (as http.client, the blank line that ends them counts)
            raise Refused(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", f"got more than {_MAX_HEADERS}"
            )
        if line in (b"\r\n", b"\n", b""):
            lines.pop()
            return RequestHeaders.read(lines)


#: the second last formatted for a Date header, and how it reads (one tuple: threads swap it whole)
_date: tuple[int, str] = (-1, "")


def date_now() -> str:
    """The Date header's value: formatted once a second, not for every answer."""
    global _date
    now, cached = int(time.time()), _date
    if cached[0] != now:
        cached = _date = (now, formatdate(now, usegmt=True))
    return cached[1]
