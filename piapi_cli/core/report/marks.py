"""The selection a reader exports from a report's page (*Export marks*): one JSON object a line,
``{"task_id", "run_id", "row", "model"}``, read back by ``batch run --only FILE`` (the rows to
run) and ``download --ids-from FILE`` (the tasks to save).

A line may also be a bare task ID, so a list of IDs from anywhere (``piapi tasks --jq``) does
too. Blank lines and lines starting with ``#`` are skipped. Anything else is a usage error that
names the line: nothing is sent on a file half understood.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import record

#: a selection is a few thousand lines at most; a file this large is not one
MAX_BYTES = 16 * 1024 * 1024
_FIELDS = ("task_id", "run_id", "row")


@record(frozen=True)
class Mark:
    task_id: str | None = None
    run_id: str | None = None
    row: str | None = None


def _line(text: str, where: str) -> Mark:
    if not text.startswith("{"):
        if any(c.isspace() for c in text) or text.startswith(("[", '"')):
            raise UsageError(f"{where}: expected a JSON object or a task ID, got {text[:60]!r}")
        return Mark(task_id=text)
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):
        raise UsageError(f"{where}: not valid JSON") from None
    if not isinstance(found, dict):
        raise UsageError(f"{where}: expected a JSON object")
    values = {}
    for name in _FIELDS:
        value = found.get(name)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{where}: {name} must be text, not {type(value).__name__}")
        values[name] = value or None
    if values["task_id"] is None and values["row"] is None:
        raise UsageError(f"{where}: names neither a task_id nor a row")
    return Mark(**values)


def parse_marks(text: str, label: str) -> list[Mark]:
    """The marks in ``text`` (read from ``label``), in order, each once."""
    found: dict[Mark, None] = {}
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            found[_line(line, f"{label} line {number}")] = None
    return list(found)


def read_marks(path: str, read_stdin: Callable[[], str]) -> list[Mark]:
    """The marks in the file at ``path`` (``-``: standard input)."""
    if path == "-":
        return parse_marks(read_stdin(), "stdin")
    try:
        with open(Path(path), "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB; not a file of marks")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    return parse_marks(text, path)


def rows_of(marks: list[Mark]) -> list[str]:
    """The batch rows the marks name, in order, each once."""
    return list(dict.fromkeys(m.row for m in marks if m.row))


def task_ids_of(marks: list[Mark]) -> list[str]:
    """The tasks the marks name, in order, each once."""
    return list(dict.fromkeys(m.task_id for m in marks if m.task_id))
