"""An answer's status line and headers, read as ``http.client`` reads them, at a fraction of its cost.

``http.client.HTTPResponse.begin`` hands the header block to the email package's feed parser,
a generator machinery built for whole mail messages: over a tenth of piapi's CPU in a batch
run, where every create, poll and download reads one. ``LeanResponse.begin`` does what ``begin``
does, with the header block split and stored by the feed parser's own rules (its line breaks,
its header pattern, its unix-from and continuation cases, ``compat32``'s name and value), into
the same ``HTTPMessage``: what a header lookup answers is the same, whatever the server sent.
"""

from __future__ import annotations

import http.client
import io
from email import feedparser

#: the feed parser's own patterns: a header or continuation line, a line's end
HEADER_LINE = feedparser.headerRE  # type: ignore[attr-defined]
LINE_END = feedparser.NLCRE_eol  # type: ignore[attr-defined]

#: http.client's own limits on a header line and on the number of headers
MAX_LINE = 65536
MAX_HEADERS = 100


def read_head(fp: io.BufferedIOBase) -> http.client.HTTPMessage:
    """The headers at ``fp`` (up to and including the blank line that ends them)."""
    lines = []
    while True:
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    return parse_head(b"".join(lines).decode("iso-8859-1"))


def parse_head(text: str) -> http.client.HTTPMessage:
    """The headers of ``text`` as ``email.parser.Parser(_class=HTTPMessage).parsestr`` keeps them."""
    message = http.client.HTTPMessage()
    header: list[str] = []
    for number, line in enumerate(_header_lines(text)):
        if line[0] in " \t":
            if header:  # a continuation; one before any header is ignored
                header.append(line)
            continue
        if header:
            message.set_raw(*_name_and_value(header))
            header = []
        if line.startswith("From "):  # an envelope line: the sender of a mail, not a header
            if number == 0 and (end := LINE_END.search(line)) is not None:
                message.set_unixfrom(line[: -len(end.group(0))])
            elif number == 0:
                message.set_unixfrom(line)
            continue
        if line.find(":") > 0:  # a line starting with its colon names nothing: ignored
            header = [line]
    if header:
        message.set_raw(*_name_and_value(header))
    return message


def _header_lines(text: str) -> list[str]:
    """The lines of the header block: split at CR, LF or CRLF as the feed parser splits them, up
    to the first that is neither a header nor a continuation (a blank line ends the block; any
    other line starts the body), and without a "From " line that would close the block."""
    lines = []
    for line in io.StringIO(text, newline="").readlines():
        if not HEADER_LINE.match(line):
            break
        lines.append(line)
    if len(lines) > 1 and lines[-1].startswith("From "):
        lines.pop()  # taken as the body's first line
    return lines


def _name_and_value(lines: list[str]) -> tuple[str, str]:
    """``compat32.header_source_parse``: the name as written, the value's lines joined."""
    name, value = lines[0].split(":", 1)
    value = value.lstrip(" \t") + "".join(lines[1:])
    return name, value.rstrip("\r\n")


class LeanResponse(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` whose headers are read by ``read_head``."""

    def begin(self) -> None:
        if self.headers is not None:
            return  # already begun
        while True:  # skip any 100 Continue, with its headers
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            read_head(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = read_head(self.fp)
        encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(encoding and encoding.lower() == "chunked")
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:  # a negative length means nothing
                    self.length = None
        no_body = status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200
        if no_body or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # the body ends when the connection does
