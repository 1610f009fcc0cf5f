"""The figures at the top of a report: tasks by status, credits spent, the failure rate and the
median and 95th percentile run time, in total and per model."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from piapi_cli.api.tasks import SUCCEEDED, UNSUCCESSFUL
from piapi_cli.core.report.records import TaskRecord


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` 0.5 is the median); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _figures(records: Iterable[TaskRecord]) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    credits = 0
    runs: list[float] = []
    for record in records:
        statuses[record.entry.status] += 1
        credits += record.entry.credits or 0
        if record.running is not None:
            runs.append(record.running)
    succeeded = sum(n for s, n in statuses.items() if s in SUCCEEDED)
    failed = sum(n for s, n in statuses.items() if s in UNSUCCESSFUL)
    finished = succeeded + failed
    return {
        "tasks": sum(statuses.values()),
        "statuses": dict(statuses.most_common()),
        "completed": succeeded,
        "failed": failed,
        "credits": credits,
        "failure_rate": failed / finished if finished else None,
        "p50_seconds": percentile(runs, 0.5),
        "p95_seconds": percentile(runs, 0.95),
    }


def summarise(records: list[TaskRecord]) -> dict[str, Any]:
    """The totals, then one row per model (most tasks first)."""
    by_model: dict[str, list[TaskRecord]] = {}
    for record in records:
        by_model.setdefault(record.entry.model, []).append(record)
    models = [{"model": model, **_figures(rows)} for model, rows in by_model.items()]
    models.sort(key=lambda row: (-row["tasks"], row["model"]))
    return {"total": _figures(records), "models": models}
