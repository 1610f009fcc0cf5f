"""The rows of a batch run as they end: each one's result reported (``on_row``) and counted in
the run's ``Summary``, and what the run's credits come to at its end."""

from __future__ import annotations

from collections.abc import Callable

from piapi_cli.api.errors import PiapiError
from piapi_cli.api.records import replace
from piapi_cli.core.batch.pacing import Budget
from piapi_cli.core.batch.results import LEFT, MAYBE_CREATED, RUNNING, RowResult, Summary, code_for
from piapi_cli.core.batch.work import Row
from piapi_cli.core.downloads.downloader import LocalFile


class Ledger:
    """Where each row of a run ended; ``open`` holds the rows not finished yet."""

    def __init__(self, summary: Summary, on_row: Callable[[RowResult], None] | None, emit: Callable[..., None]) -> None:
        self.summary, self.on_row, self._emit = summary, on_row, emit
        #: rows not finished yet, and the keys of those that completed
        self.open: dict[str, Row] = {}
        self.completed: set[str] = set()

    def finish(
        self,
        row: Row,
        status: str,
        *,
        error: str | None = None,
        files: list[LocalFile] | None = None,
        failures: list[tuple[str, str]] | None = None,
        code_error: PiapiError | None = None,
    ) -> None:
        model, task_type = row.row.kind
        if error is None and row.journal_error:
            error = f"the journal could not record it: {row.journal_error}"
        result = RowResult(
            row.key,
            status,
            model,
            task_type,
            row.task_id,
            row.task,
            files or [],
            failures or [],
            error,
            code_for(status, code_error, bool(failures)),
            row.entry_id,
            row.resumed,
        )
        summary = self.summary
        self.open.pop(row.key, None)
        if row.journal_error and row.task_id:
            summary.unrecorded.append((row.key, row.task_id))
        summary.codes.append(result.code)
        if status == LEFT:
            if row.key not in summary.elsewhere:
                summary.left.append(row.key)
            return
        if status == RUNNING:
            summary.running.append(row.key)
            if row.task_id:
                summary.running_tasks.append(row.task_id)
            journal_failed = row.journal_error or summary.unrecorded or summary.stopped == "journal"
            if journal_failed and row.task_id and self.on_row is not None:
                # the journal failed: a line is the one place this task's ID is sure to be kept
                self.on_row(replace(result, status=row.task.status if row.task is not None else RUNNING))
            return
        summary.counts[status] += 1
        if status == "completed":
            self.completed.add(row.key)
        elif status == MAYBE_CREATED:
            summary.maybe_created.append(result)
        elif result.code == code_for("failed"):
            summary.failed.append(row.key)
        self._emit("finished", row, status=status, message=error or "")
        if self.on_row is not None:
            self.on_row(result)

    def close(self, budget: Budget) -> None:
        """The run ends: rows a stop or a deadline left are not started (left) or still running;
        credits consumed (completed rows) and held (the others)."""
        for row in list(self.open.values()):
            self.finish(row, RUNNING if row.task_id is not None else LEFT)
        charges = budget.charges
        self.summary.consumed = budget.history + sum(charges.get(key, 0) for key in self.completed)
        self.summary.held = sum(credits for key, credits in charges.items() if key not in self.completed)


__all__ = ["Ledger"]
