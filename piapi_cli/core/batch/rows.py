"""Reading a batch file: JSONL (one object a line) or CSV (a header, one row a line).

Nothing here knows the catalog: a row is read into its ``id``, its model and task type (if it
names them), its input (an object from JSONL, ``column=value`` assignments from CSV, coerced
later exactly as ``-i`` is) and the plain fields a ``--template`` or ``--name`` may use. Every
problem is collected, with its line number, so a file is judged whole before anything is sent.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable
from typing import Any

from piapi_cli.api.records import field, record

#: the keys a JSONL row may have; any other top-level key is a field for --template / --name
JSONL_KEYS = ("id", "model", "task_type", "input", "config")
#: the columns of a CSV that are not input fields
CSV_META = ("id", "model", "task_type")
MAX_ID_LENGTH = 200


@record()
class Problem:
    """Why one row cannot be sent."""

    line: int
    row_id: str | None
    message: str
    field: str | None = None
    #: the option the message starts with (``name``), which the CLI shows as its flag
    option: str | None = None

    def describe(self) -> str:
        where = f"line {self.line}" + (f" (id {self.row_id})" if self.row_id is not None else "")
        return f"{where}: {self.message}"


@record()
class SourceRow:
    """One row as the file gives it, before the catalog has seen it."""

    line: int
    id: str
    model: str | None = None
    task_type: str | None = None
    #: JSONL: the row's input object
    input: dict[str, Any] | None = None
    #: CSV: one ``column=value`` assignment per non-empty cell, in column order
    assignments: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None
    #: values for --template and --name: CSV columns, JSONL extra keys, and the id
    fields: dict[str, str] = field(default_factory=dict)
    #: JSONL keys that are neither known keys nor used by a template (reported as unknown)
    extra: list[str] = field(default_factory=list)
    #: ``key=value`` assignments that win over the row's own values and the defaults (a matrix)
    overrides: list[str] = field(default_factory=list)


def detect_format(name: str, text: str) -> str:
    """``jsonl``, ``csv`` or ``text`` (one prompt a line): from the file name's extension, else
    from the first character (``{``: JSONL; anything else: CSV)."""
    lowered = name.lower()
    if lowered.endswith(".txt"):
        return "text"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith((".csv", ".tsv")):
        return "csv"
    return "jsonl" if text.lstrip()[:1] == "{" else "csv"


def read_rows(text: str, fmt: str) -> tuple[list[SourceRow], list[Problem], int]:
    """Every row of a file, every problem found reading it, and how many rows it has."""
    readers = {"jsonl": read_jsonl, "text": read_text}
    rows, problems = readers.get(fmt, read_csv)(text)
    unread = {p.line for p in problems} - {row.line for row in rows}
    problems += check_ids(rows)
    return rows, problems, len(rows) + len(unread)


def _row_id(value: Any) -> str | None:
    """A row id as text: a non-empty string or an integer (booleans are not ids)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def file_lines(text: str) -> list[str]:
    """The file's lines as editors and ``wc -l`` count them: split at LF only (a CR before it
    dropped). ``str.splitlines`` would also split at U+2028, U+0085 or a form feed, which JSON
    strings and prompts may hold, and shift every line number after them."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def read_text(text: str) -> tuple[list[SourceRow], list[Problem]]:
    """A plain text file of prompts: each non-blank line is a row whose ID is its line number
    and whose ``prompt`` field is the line (the row's prompt unless ``--template`` says else)."""
    rows: list[SourceRow] = []
    for number, raw in enumerate(file_lines(text), start=1):
        prompt = raw.strip()
        if prompt:
            rows.append(SourceRow(number, str(number), input=None, fields={"id": str(number), "prompt": prompt}))
    return rows, []


def read_jsonl(text: str) -> tuple[list[SourceRow], list[Problem]]:
    rows: list[SourceRow] = []
    problems: list[Problem] = []
    for number, raw in enumerate(file_lines(text), start=1):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            problems.append(Problem(number, None, f"not valid JSON ({reason})"))
            continue
        if not isinstance(doc, dict):
            problems.append(Problem(number, None, f"expected a JSON object, got {type(doc).__name__}"))
            continue
        row_id = _row_id(doc.get("id"))
        if row_id is None:
            problems.append(Problem(number, None, "id: missing (a non-empty string or an integer)", "id"))
            continue
        row = SourceRow(number, row_id)
        for key in ("model", "task_type"):
            value = doc.get(key)
            if value is not None and not (isinstance(value, str) and value.strip()):
                problems.append(Problem(number, row_id, f"{key}: expected a non-empty string", key))
            elif value is not None:
                setattr(row, key, value.strip())
        value = doc.get("input", {})
        if not isinstance(value, dict):
            problems.append(Problem(number, row_id, "input: expected a JSON object", "input"))
            continue
        row.input = value
        config = doc.get("config")
        if config is not None and not isinstance(config, dict):
            problems.append(Problem(number, row_id, "config: expected a JSON object", "config"))
            continue
        row.config = config
        row.fields = {"id": row_id}
        for key, item in value.items():
            text_value = _scalar(item)
            if text_value is not None:
                row.fields.setdefault(str(key), text_value)
        for key, item in doc.items():
            if key in JSONL_KEYS:
                continue
            row.extra.append(key)
            text_value = _scalar(item)
            if text_value is not None:
                row.fields[key] = text_value
        rows.append(row)
    return rows, problems


def read_csv(text: str) -> tuple[list[SourceRow], list[Problem]]:
    rows: list[SourceRow] = []
    problems: list[Problem] = []
    if text.startswith("\ufeff"):  # a byte order mark, as spreadsheets write
        text = text[1:]
    sample = text[:4096]
    dialect: Any = csv.excel_tab if "\t" in sample.split("\n", 1)[0] and "," not in sample.split("\n", 1)[0] else None
    reader = csv.reader(io.StringIO(text, newline=""), dialect or csv.excel)
    try:
        header = next(reader)
    except StopIteration:
        return rows, problems
    except csv.Error as exc:
        return rows, [Problem(1, None, f"not valid CSV ({exc})")]
    names = [name.strip() for name in header]
    seen: set[str] = set()
    for name in names:
        if not name:
            problems.append(Problem(1, None, "the header has an empty column name"))
        elif name in seen:
            problems.append(Problem(1, None, f"the header names column {name!r} twice"))
        seen.add(name)
    if "id" not in names:
        problems.append(Problem(1, None, "the header has no id column (every row needs a unique id)", "id"))
    if problems:
        return rows, problems
    line = reader.line_num
    try:
        for cells in reader:
            number, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                problems.append(Problem(number, None, f"{len(cells)} cells where the header has {len(names)}"))
                continue
            values = dict(zip(names, cells, strict=True))
            row_id = _row_id(values["id"])
            if row_id is None:
                problems.append(Problem(number, None, "id: empty", "id"))
                continue
            row = SourceRow(number, row_id, fields={**values, "id": row_id})
            row.model = values.get("model", "").strip() or None
            row.task_type = values.get("task_type", "").strip() or None
            # an empty cell sends nothing for that field (CSV cannot tell "" from absent)
            row.assignments = [f"{k}={v}" for k, v in values.items() if k not in CSV_META and v != ""]
            rows.append(row)
    except csv.Error as exc:
        problems.append(Problem(reader.line_num, None, f"not valid CSV ({exc})"))
    return rows, problems


def check_ids(rows: Iterable[SourceRow]) -> list[Problem]:
    """Ids are unique, printable and short: they key the journal and name the files."""
    problems = []
    first: dict[str, int] = {}
    for row in rows:
        if any(unicodedata.category(c)[0] == "C" for c in row.id):
            problems.append(Problem(row.line, repr(row.id), "id: contains control characters", "id"))
        elif len(row.id) > MAX_ID_LENGTH:
            problems.append(Problem(row.line, row.id[:40] + "...", f"id: over {MAX_ID_LENGTH} characters", "id"))
        elif row.id in first:
            problems.append(Problem(row.line, row.id, f"id: duplicate of line {first[row.id]}", "id"))
        else:
            first[row.id] = row.line
    return problems


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 <= K <= N) as a pair; ValueError otherwise."""
    index, sep, count = text.strip().partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or len(index) > 6 or len(count) > 6:
        raise ValueError(f"shard {text!r}: expected K/N, like 1/3")
    k, n = int(index), int(count)
    if not 1 <= k <= n:
        raise ValueError(f"shard {text!r}: K must be from 1 to N")
    return k, n


def in_shard(row_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether a row belongs to shard K of N: a stable hash of its id, the same on every
    machine and Python version, so N processes given the same file split it exactly."""
    if shard is None:
        return True
    import hashlib

    k, n = shard
    digest = hashlib.sha256(row_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1
