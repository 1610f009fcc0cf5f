"""What the sandbox answers: a ``Reply`` (status, headers, a body or a stream), in the API's
envelope for JSON and errors; the API's time format; request bodies read as the API reads them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from piapi_cli.api.records import field, record


class CutStream(Exception):
    """Raised by a reply's ``stream`` to cut the connection mid-answer (fault injection)."""


@record()
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: close the connection after sending what is here: the answer is cut (fault injection)
    drop: bool = False
    #: a large body, produced as it is sent (``body`` is then empty)
    stream: Iterator[bytes] | None = None

    @classmethod
    def json(cls, status: int, document: Any, headers: Mapping[str, str] | None = None) -> Reply:
        body = json.dumps(document, separators=(",", ":")).encode()
        return cls(status, body, {"content-type": "application/json", **(headers or {})})

    @classmethod
    def error(cls, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        return cls.json(status, {"code": status, "message": message}, headers)


def rfc3339(moment: float) -> str:
    """A moment as PiAPI writes it: UTC with 9 fraction digits (``2025-12-31T01:03:36.642788022Z``)."""
    seconds = int(moment // 1)
    nanos = min(999_999_999, round((moment - seconds) * 1e9))
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def json_object(body: bytes) -> dict[str, Any] | Reply:
    """A request body as a JSON object, or the 400 the API answers for anything else."""
    try:
        request = json.loads(body or b"null")
    except ValueError:
        return Reply.error(400, "invalid request body: not JSON")
    if not isinstance(request, dict):
        return Reply.error(400, "invalid request body: expected a JSON object")
    return request


def openai_error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> Reply:
    """An error in OpenAI's shape (the OpenAI-compatible routes answer these)."""
    return Reply.json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


@record()
class Faults:
    """Server-wide fault injection; every rate is a probability from 0 to 1."""

    fail_rate: float = 0.0
    rate_limit_rate: float = 0.0
    drop_rate: float = 0.0
    latency: float = 0.0
    truncate_downloads: bool = False
    retry_after: int = 1


def cut_after(stream: Iterator[bytes], pieces: int = 6) -> Iterator[bytes]:
    """The first ``pieces`` pieces of a stream, then the cut (an event stream cut mid-answer)."""
    for number, piece in enumerate(stream):
        if number >= pieces:
            raise CutStream("connection dropped mid-stream (sandbox fault injection)")
        yield piece
