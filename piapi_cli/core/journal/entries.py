"""What the journal holds, read back tolerantly: one ``Entry`` per journaled task.

A row another program (or a damaged disk) filled with something that is not what piapi
wrote (input that is not JSON, a timestamp that is text) still becomes an entry: the
unreadable field gets an empty value and the entry a note in ``problems``, so listing the
journal never fails on one bad row, and a task that may have cost money stays visible.
"""

from __future__ import annotations

import json
import math
import re

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import TERMINAL
from piapi_cli.core.journal.sql import sqlite3

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

SENDING = "sending"  # journaled, the create request not yet answered
UNKNOWN = "unknown"  # sent, answer lost: the task may exist
REFUSED = "refused"  # the API answered with an error: no task
NOT_SENT = "not_sent"  # the connection failed before anything was sent
LOCAL_STATES = frozenset({SENDING, UNKNOWN, REFUSED, NOT_SENT})


@record()
class Entry:
    """One journaled task."""

    id: int
    task_id: str | None
    world: str
    model: str
    task_type: str
    input: dict[str, Any]
    status: str
    message: str
    created_at: float
    updated_at: float
    urls: list[str]
    usage_type: str | None
    credits: int | None
    task: dict[str, Any] | None
    downloads: list[dict[str, Any]]
    run_id: str | None = None
    row_key: str | None = None
    fingerprint: str | None = None
    #: the process that sent the create (pid on host)
    pid: int | None = None
    host: str | None = None
    #: fields of the row that could not be read (shown empty instead)
    problems: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL or self.status in (REFUSED, NOT_SENT)

    def to_json(self) -> dict[str, Any]:
        doc = {
            "id": self.id,
            "task_id": self.task_id,
            "world": self.world,
            "model": self.model,
            "task_type": self.task_type,
            "status": self.status,
            "message": self.message,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "input": self.input,
            "output_urls": self.urls,
            "usage_type": self.usage_type,
            "credits": self.credits,
            "downloads": self.downloads,
            "run_id": self.run_id,
            "row_key": self.row_key,
        }
        if self.problems:
            doc["problems"] = self.problems
        return doc


class _Reader:
    """Reads one row's columns, noting each one it could not read."""

    def __init__(self, row: sqlite3.Row) -> None:
        self.row = row
        self.problems: list[str] = []

    def json(self, column: str, kind: type, default: Any) -> Any:
        raw = self.row[column]
        if raw is None:
            return default
        try:
            value = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        except (ValueError, RecursionError):
            self.problems.append(f"{column} is not valid JSON")
            return default
        if not isinstance(value, kind):
            self.problems.append(f"{column} is not a JSON {'object' if kind is dict else 'array'}")
            return default
        return value

    def text(self, column: str, default: str = "") -> str:
        raw = self.row[column]
        if raw is None:
            return default
        if isinstance(raw, bytes):
            return raw.decode("utf-8", "replace")
        return str(raw)

    def optional_text(self, column: str) -> str | None:
        return None if self.row[column] is None else self.text(column)

    def number(self, column: str) -> float:
        raw = self.row[column]
        try:
            value = float(raw)
        except (TypeError, ValueError):
            self.problems.append(f"{column} is not a number")
            return 0.0
        if not math.isfinite(value):
            self.problems.append(f"{column} is not a finite number")
            return 0.0
        return value

    def integer(self, column: str) -> int | None:
        raw = self.row[column]
        if raw is None:
            return None
        if isinstance(raw, int):
            return raw
        self.problems.append(f"{column} is not a whole number")
        return None


def entry_from_row(row: sqlite3.Row, downloads: list[dict[str, Any]]) -> Entry:
    read = _Reader(row)
    task_input = read.json("input", dict, {})
    urls = [u for u in read.json("urls", list, []) if isinstance(u, str)]
    task = read.json("task_json", dict, None)
    return Entry(
        id=int(row["id"]),
        task_id=read.optional_text("task_id"),
        world=read.text("world"),
        model=read.text("model"),
        task_type=read.text("task_type"),
        input=task_input,
        status=read.text("status", UNKNOWN),
        message=read.text("message"),
        created_at=read.number("created_at"),
        updated_at=read.number("updated_at"),
        urls=urls,
        usage_type=read.optional_text("usage_type"),
        credits=read.integer("credits"),
        task=task,
        downloads=downloads,
        run_id=read.optional_text("run_id"),
        row_key=read.optional_text("row_key"),
        fingerprint=read.optional_text("fingerprint"),
        pid=read.integer("pid"),
        host=read.optional_text("host"),
        problems=read.problems,
    )


class AmbiguousTaskId(UsageError):
    """A task ID prefix that starts several journaled task IDs (exit 2: nothing was sent)."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        shown = ", ".join(candidates[:8]) + (f" and {len(candidates) - 8} more" if len(candidates) > 8 else "")
        super().__init__(f"{prefix!r} starts {len(candidates)} journaled task IDs: {shown}")
        self.prefix = prefix
        self.candidates = candidates


_AGE = re.compile(r"(\d{1,12}(?:\.\d{1,6})?)([smhdw])", re.ASCII)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float) -> float:
    """``7d``, ``12h``, ``30m``, ``90s`` or ``2w`` ago, as a timestamp (never before 1970)."""
    match = _AGE.fullmatch(text.strip().lower())
    if match is None:
        raise UsageError(f"since {text!r}: expected a number and a unit, like 30m, 12h, 7d or 2w", option="since")
    return max(0.0, now - float(match.group(1)) * _UNITS[match.group(2)])
