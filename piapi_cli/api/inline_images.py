"""An images answer read as it arrives, each ``b64_json`` image decoded straight to a sink.

A generated image comes inline as base64 in a JSON string, often megabytes of it. Parsing the
answer whole would hold it twice (the text, then the bytes); here the bytes of the answer
pass through a small scanner that copies the JSON around the images into a skeleton and
feeds each ``"b64_json": "..."`` value, a few kilobytes at a time, to a base64 decoder whose
output goes to the sink (a file). Memory stays flat whatever the size of the images.

The skeleton (everything but the images, each replaced by ``{"b64_json": null, "image":
N}``) is parsed as JSON at the end: the answer's shape is checked as it would be whole.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any, Protocol

#: the most JSON kept around the images (an answer's fields are a few kilobytes)
MAX_SKELETON = 4 * 2**20
_KEY = b"b64_json"
_STRUCTURE = re.compile(rb'["\\]')
_WHITESPACE = b" \t\r\n"


class NotBase64(ValueError):
    """An inline image is not valid base64, or the JSON around it is broken."""


class Sink(Protocol):
    """Where one image's bytes go."""

    def write(self, data: bytes) -> object: ...


class _Base64:
    """Base64 decoded in pieces of four characters; padding only at the very end."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.carry = b""
        self.padded = False
        self.size = 0

    def feed(self, text: bytes) -> None:
        if not text:
            return
        if self.padded:
            raise NotBase64("base64 goes on after its padding")
        text = self.carry + text
        whole = len(text) - len(text) % 4
        self.carry = text[whole:]
        if whole:
            self._decode(text[:whole])

    def _decode(self, text: bytes) -> None:
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NotBase64(f"not base64: {exc}") from None
        self.padded = text.endswith(b"=")
        self.size += len(data)
        self.sink.write(data)

    def finish(self) -> int:
        if len(self.carry) == 1:
            raise NotBase64("base64 of a length no encoder makes")
        if self.carry:  # unpadded base64: what some servers send
            self._decode(self.carry + b"=" * (4 - len(self.carry)))
            self.carry = b""
        if not self.size:
            raise NotBase64("an empty image")
        return self.size


class InlineImages:
    """Feed it the answer's bytes; ``open_sink(n)`` gives the sink of image ``n`` and
    ``close_sink(n, size)`` is called once it is whole. ``finish()`` returns the answer's
    JSON with each image replaced by ``{"b64_json": null, "image": n}``."""

    def __init__(
        self,
        open_sink: Callable[[int], Sink],
        close_sink: Callable[[int, int], None],
        *,
        max_skeleton: int = MAX_SKELETON,
    ) -> None:
        self._open, self._close = open_sink, close_sink
        self._skeleton = bytearray()
        self._max = max_skeleton
        self._in_string = False
        self._escape = False
        self._string = bytearray()  # the start of the string being read (keys are short)
        self._key = False  # the last string was "b64_json"
        self._colon = False  # ... and a colon followed it
        self._image: _Base64 | None = None
        self._images = 0

    @property
    def images(self) -> int:
        return self._images

    def feed(self, chunk: bytes) -> None:
        position = 0
        while position < len(chunk):
            if self._image is not None:
                position = self._in_image(chunk, position)
            elif self._in_string:
                position = self._in_text(chunk, position)
            else:
                position = self._between(chunk, position)
        if len(self._skeleton) > self._max:
            raise NotBase64(f"the answer's JSON around its images is over {self._max // 2**20} MiB")

    def _between(self, chunk: bytes, position: int) -> int:
        """Outside strings: structure, copied; a string starting is noted."""
        byte = chunk[position : position + 1]
        if byte == b'"':
            if self._key and self._colon:
                self._start_image()
                return position + 1
            self._in_string, self._string = True, bytearray()
        elif byte == b":" and self._key:
            self._colon = True
        elif byte not in _WHITESPACE:
            self._key = self._colon = False
        self._skeleton += byte
        return position + 1

    def _in_text(self, chunk: bytes, position: int) -> int:
        """Inside an ordinary string: copied as it is, up to its closing quote."""
        if self._escape:
            self._escape = False
            self._skeleton += chunk[position : position + 1]
            return position + 1
        found = _STRUCTURE.search(chunk, position)
        end = found.start() if found else len(chunk)
        self._skeleton += chunk[position:end]
        if len(self._string) <= len(_KEY):
            self._string += chunk[position : min(end, position + len(_KEY) + 1)]
        if found is None:
            return end
        self._skeleton += chunk[end : end + 1]
        if chunk[end : end + 1] == b"\\":
            self._escape = True
            self._string += b"\\"
        else:
            self._in_string = False
            self._key = bytes(self._string) == _KEY
        return end + 1

    def _start_image(self) -> None:
        self._skeleton += b'null, "image": %d' % self._images
        self._image = _Base64(self._open(self._images))
        self._key = self._colon = False

    def _in_image(self, chunk: bytes, position: int) -> int:
        """Inside an image's string: base64 to the decoder, JSON's escapes undone."""
        image = self._image
        assert image is not None
        if self._escape:
            self._escape = False
            escaped = chunk[position : position + 1]
            if escaped == b"/":
                image.feed(b"/")
            elif escaped not in (b"n", b"r", b"t"):  # line breaks some encoders put in base64
                raise NotBase64(f"an escape (\\{escaped.decode('latin-1')}) where base64 was expected")
            return position + 1
        found = _STRUCTURE.search(chunk, position)
        end = found.start() if found else len(chunk)
        image.feed(chunk[position:end])
        if found is None:
            return end
        if chunk[end : end + 1] == b"\\":
            self._escape = True
        else:
            self._close(self._images, image.finish())
            self._image = None
            self._images += 1
        return end + 1

    def finish(self) -> dict[str, Any]:
        if self._image is not None or self._in_string:
            raise NotBase64("the answer ended inside a string: it was cut")
        try:
            answer = json.loads(bytes(self._skeleton))
        except (ValueError, RecursionError) as exc:
            raise NotBase64(f"the answer is not JSON ({exc})") from None
        if not isinstance(answer, dict):
            raise NotBase64("the answer is not a JSON object")
        return answer
