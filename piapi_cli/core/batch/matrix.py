"""Prompt matrices: every row of a batch file run once per combination of ``--matrix`` values.

``--matrix seed=1,2 --matrix style=ink,oil`` turns row ``7`` into four rows keyed
``7[seed=1,style=ink]`` ... ``7[seed=2,style=oil]``. The keys name the combination with the
matrix keys sorted, so the same combination has the same key whatever order the options are
given in: a run resumes (and ``--shard`` splits) on these keys exactly as on plain row IDs,
and nothing is paid twice for reordering the command line. A matrix value wins over the row's
own value and over ``-i``: it is the axis being varied.
"""

from __future__ import annotations

import itertools
import re

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import record, replace
from piapi_cli.core.batch.rows import SourceRow

#: the most tasks a matrix may make of one file: beyond it the command is most likely a slip
#: (a product of a few long lists grows fast), and each task costs money
MAX_MATRIX_TASKS = 10_000
#: the keys that choose the request rather than an input field
ROW_KEYS = ("model", "task_type")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")


@record(frozen=True)
class Axis:
    key: str
    values: tuple[str, ...]


def parse_matrix(specs: list[str]) -> list[Axis]:
    """``KEY=V1,V2,...`` options as axes; ``\\,`` is a literal comma. A usage error (nothing
    sent) for a malformed option, an empty or repeated value, or a key given twice."""
    axes: list[Axis] = []
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = key.strip()
        where = f"matrix {spec[:80]!r}"
        if not sep or not _KEY.fullmatch(key):
            raise UsageError(f"{where}: expected KEY=V1,V2,...", option="matrix", advice="matrix_form")
        if any(axis.key == key for axis in axes):
            raise UsageError(f"{where}: {key} is already a matrix key", option="matrix", advice="matrix_once")
        values = tuple(v.replace("\\,", ",") for v in re.split(r"(?<!\\),", text))
        if any(v == "" for v in values):
            raise UsageError(
                f"{where}: an empty value (values are separated by commas; \\, is a comma)", option="matrix"
            )
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise UsageError(
                f"{where}: {repeated[0]!r} is given twice (the same task would run twice)", option="matrix"
            )
        axes.append(Axis(key, values))
    return axes


def combinations(axes: list[Axis]) -> int:
    count = 1
    for axis in axes:
        count *= len(axis.values)
    return count


def expand(rows: list[SourceRow], axes: list[Axis]) -> list[SourceRow]:
    """Each row once per combination (rows in file order, combinations in the options' order),
    refused with nothing sent when that makes more than ``MAX_MATRIX_TASKS`` tasks."""
    if not axes:
        return rows
    count = combinations(axes)
    if count * max(len(rows), 1) > MAX_MATRIX_TASKS:
        raise UsageError(
            f"matrix: {len(rows):,} rows x {count:,} combinations = {count * len(rows):,} tasks, over the "
            f"limit of {MAX_MATRIX_TASKS:,} for one run; nothing was sent",
            hint="use fewer values, or split the file and run each part",
            option="matrix",
        )
    ordered = sorted(axes, key=lambda axis: axis.key)
    expanded = []
    for row in rows:
        for values in itertools.product(*(axis.values for axis in ordered)):
            chosen = dict(zip((axis.key for axis in ordered), values, strict=True))
            expanded.append(_variant(row, chosen))
    return expanded


def _variant(row: SourceRow, chosen: dict[str, str]) -> SourceRow:
    label = ",".join(f"{key}={value}" for key, value in chosen.items())
    inputs = {k: v for k, v in chosen.items() if k not in ROW_KEYS}
    return replace(
        row,
        id=f"{row.id}[{label}]",
        model=chosen.get("model", row.model),
        task_type=chosen.get("task_type", row.task_type),
        assignments=list(row.assignments),
        overrides=[*row.overrides, *(f"{k}={v}" for k, v in inputs.items())],
        fields={**row.fields, **chosen, "id": f"{row.id}[{label}]", "row": row.id},
    )
