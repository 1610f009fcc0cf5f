"""What a file server's answer means for the partial file it was asked to extend: try again (a
transient status, a part that no longer fits), give up (any other failing status), or write the
body from a given byte. A ``206`` is appended only when it starts where asked and its validators
match the part's record; otherwise the part restarts from zero."""

from __future__ import annotations

from typing import Any

from piapi_cli.api.backoff import parse_retry_after
from piapi_cli.api.errors import DownloadError
from piapi_cli.core.downloads import streams
from piapi_cli.core.downloads.partfiles import PartFile, ResumeRecord

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class TryAgain(Exception):
    """A transient failure: try again (resuming where possible)."""

    def __init__(self, message: str, *, pause: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.pause = pause
        self.retry_after = retry_after


def check_status(status: int, headers: Any) -> None:
    """TryAgain after a transient status; DownloadError for any other but 200 and 206."""
    if status in TRANSIENT_STATUSES:
        raise TryAgain(f"HTTP {status}", retry_after=parse_retry_after(headers.get("retry-after")))
    if status not in (200, 206):
        raise DownloadError(f"HTTP {status}")


def whole_at(offset: int, headers: Any, record: ResumeRecord | None) -> bool:
    """Whether a 416 to a request from ``offset`` says the part, ``offset`` bytes, is the whole object."""
    return streams.unsatisfied_total(headers) == offset and (record is None or record.length in (None, offset))


def span(
    part: PartFile, url: str, status: int, headers: Any, offset: int, record: ResumeRecord | None, encoding: str
) -> tuple[int, int | None, int | None]:
    """Where a 200's or 206's body goes: ``(offset, total, whole)``, the byte it starts at, the
    length it completes the part to and the object's length (None: unknown). A 206 that does not
    fit the part empties it (TryAgain); a body from byte 0 first records what the part will hold."""
    if status == 206:
        ranged = streams.content_range(headers)
        if (ranged is None or ranged[0] != offset or encoding
                or (record is not None and (not same_object(record, headers)
                    or record.length not in (None, ranged[2])))):  # fmt: skip
            part.restart(None)
            raise TryAgain("the server sent another part of the file than asked for; restarting", pause=False)
        if not offset:
            part.restart(ResumeRecord.from_headers(url, headers, ranged[2], ""), deferred=True)
        return offset, ranged[1] + 1, ranged[2]
    total = None if encoding else streams.content_length(headers)
    # the record is written before any byte, so a kill leaves a part that says what it holds
    # (deferred: a small body read whole before any byte is written needs none)
    part.restart(ResumeRecord.from_headers(url, headers, total, encoding), deferred=True)
    return 0, total, total


def same_object(record: ResumeRecord, headers: Any) -> bool:
    """Whether an answer's validators match those recorded for a partial file."""
    etag, modified = headers.get("etag"), headers.get("last-modified")
    if record.etag and etag and record.etag != etag:
        return False
    return not (record.last_modified and modified and record.last_modified != modified)
