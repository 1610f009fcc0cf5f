"""Server-Sent Events, decoded incrementally from the bytes of a streamed answer.

The rules are the WHATWG ones that OpenAI-style servers follow: lines end with ``\\n``,
``\\r\\n`` or ``\\r``; a line starting with ``:`` is a comment (servers send them, or blank
lines, as keep-alives); ``field: value`` lines build an event; a blank line dispatches it.
Bytes may arrive cut anywhere (mid-line, mid-character): the decoder keeps the unfinished
part until the rest comes. A line longer than ``max_line`` is an error, not a memory leak.
"""

from __future__ import annotations

import codecs

from piapi_cli.api.records import record

#: the longest line kept waiting for its end (a chunk of an answer is a few kilobytes)
MAX_LINE = 4 * 2**20


class SSEError(Exception):
    """The bytes are not an event stream (a line over the limit)."""


@record(frozen=True)
class SSEEvent:
    """One dispatched event: its ``data`` lines joined with newlines."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed it bytes as they come; it returns the events they complete.

    ``keepalives`` counts comment lines and blank lines that dispatched nothing: what a
    server sends to keep a quiet stream open.
    """

    def __init__(self, *, max_line: int = MAX_LINE) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._skip_lf = False
        self._max_line = max_line
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._started = False
        self.keepalives = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        text = self._text.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")  # a byte order mark may open the stream
        return self._lines(text)

    def close(self) -> list[SSEEvent]:
        """The stream ended: a last unterminated line is taken as a line, but an event never
        dispatched by a blank line is dropped (as the standard says)."""
        events = self._lines(self._text.decode(b"", final=True))
        if self._pending:
            line, self._pending = self._pending, ""
            self._line(line)
        self._data, self._event = [], ""
        return events

    @property
    def unfinished(self) -> bool:
        """Whether part of an event has arrived without the blank line that ends it."""
        return bool(self._pending or self._data)

    def _lines(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = False
        start = 0
        length = len(text)
        while start < length:
            cr, lf = text.find("\r", start), text.find("\n", start)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = self._pending + text[start:end]
            self._pending = ""
            start = end + 1
            if text[end] == "\r":
                if start < length and text[start] == "\n":
                    start += 1
                elif start == length:
                    self._skip_lf = True  # a \r\n cut between two chunks
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._pending += text[start:]
        if len(self._pending) > self._max_line:
            raise SSEError(f"an event stream line is over {self._max_line // 2**20} MiB")
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.keepalives += 1
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            self.keepalives += 1
            return None
        event = SSEEvent("\n".join(self._data), self._event or "message", self._id, self._retry)
        self._data, self._event = [], ""
        return event
