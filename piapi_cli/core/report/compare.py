"""The same inputs side by side: ``--compare-by FIELD`` lays the tasks out in a table whose
columns are FIELD's values (models, seeds...) and whose rows are everything else they share.

FIELD is ``model``, ``task_type`` or an input field (dotted for a nested one: ``a.b``). By model
or task type, a row is the prompt: a comparison across models sends each model only the
inputs it takes, so the rest of the inputs differ by column and cannot key a row. By an input,
a row is the model, the task type and every other input.
"""

from __future__ import annotations

import json
from typing import Any

from piapi_cli.core.report.records import TaskRecord

TASK_FIELDS = ("model", "task_type")
#: how a task without the field is shown in the column heading
ABSENT = "(not set)"


def _lookup(value: Any, dotted: str) -> tuple[bool, Any]:
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _without(value: dict[str, Any], dotted: str) -> dict[str, Any]:
    head, _, rest = dotted.partition(".")
    if head not in value:
        return value
    copy = dict(value)
    if rest and isinstance(copy[head], dict):
        copy[head] = _without(copy[head], rest)
    else:
        del copy[head]
    return copy


def column_of(record: TaskRecord, field: str) -> str:
    """The heading of the column ``record`` goes in."""
    if field in TASK_FIELDS:
        return str(getattr(record.entry, field))
    found, value = _lookup(record.entry.input, field)
    if not found:
        return ABSENT
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def row_of(record: TaskRecord, field: str) -> dict[str, Any]:
    """What the tasks of one row share: the label shown at the row's start."""
    if field in TASK_FIELDS:
        label: dict[str, Any] = {"prompt": record.prompt}
        if field == "task_type":
            label = {"model": record.entry.model, **label}
        return label
    return {"model": record.entry.model, "task_type": record.entry.task_type, **_without(record.entry.input, field)}


def _column_order(heading: str) -> tuple[int, float, str]:
    """Numbers in numeric order, before text; the absent column last."""
    if heading == ABSENT:
        return (2, 0.0, "")
    try:
        return (0, float(heading), heading)
    except ValueError:
        return (1, 0.0, heading)


def compare_table(records: list[TaskRecord], field: str) -> dict[str, Any]:
    """``{"field", "columns", "rows": [{"label", "cells": [[task index...] per column]}]}``:
    task indexes point into ``records`` (the report's task list), oldest task first in a cell."""
    columns: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    for index in sorted(range(len(records)), key=lambda i: records[i].entry.created_at):
        record = records[index]
        heading = column_of(record, field)
        if heading not in columns:
            columns.append(heading)
        label = row_of(record, field)
        key = json.dumps(label, sort_keys=True, ensure_ascii=False, default=str)
        row = rows.setdefault(key, {"label": label, "cells": {}})
        row["cells"].setdefault(heading, []).append(index)
    columns.sort(key=_column_order)
    return {
        "field": field,
        "columns": columns,
        "rows": [
            {"label": row["label"], "cells": [row["cells"].get(heading, []) for heading in columns]}
            for row in rows.values()
        ],
    }
