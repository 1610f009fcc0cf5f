"""The batch's queries over the task journal: the rows of a run (each row's current create and
its earlier attempts) and the runs themselves. Everything is read and written through the
journal (``core.journal``); a run's threads write through its group commit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import Task
from piapi_cli.core.journal.runs import ATTEMPT_SEP, RunRecord

if TYPE_CHECKING:
    from piapi_cli.core.journal.entries import Entry
    from piapi_cli.core.journal.journal import Journal

__all__ = ["RunEntry", "RunRecord", "run_entries"]


@record()
class RunEntry:
    """One journaled create of a batch run."""

    id: int
    run_id: str
    row_key: str
    attempt: int
    task_id: str | None
    status: str
    message: str
    model: str
    task_type: str
    fingerprint: str | None
    credits: int | None
    urls: list[str]
    task: dict[str, Any] | None
    pid: int | None
    host: str | None
    created_at: float
    updated_at: float
    downloads: list[dict[str, Any]] = field(default_factory=list)

    def task_object(self) -> Task | None:
        return Task.from_api(self.task) if self.task else None

    @classmethod
    def refused(cls, entry_id: int, run_id: str, key: str) -> RunEntry:
        """A row's create the API refused (nothing created): set aside before the next try."""
        return cls(entry_id, run_id, key, 0, None, "refused", "", "", "", None, None, [], None, None, None, 0.0, 0.0)

    @classmethod
    def of(cls, entry: Entry) -> RunEntry:
        """A journal entry of a run, its row key split from its attempt number."""
        base, sep, attempt = (entry.row_key or "").partition(ATTEMPT_SEP)
        return cls(
            id=entry.id,
            run_id=entry.run_id or "",
            row_key=base,
            attempt=int(attempt) if sep and attempt.isdigit() else (1 if sep else 0),
            task_id=entry.task_id,
            status=entry.status,
            message=entry.message,
            model=entry.model,
            task_type=entry.task_type,
            fingerprint=entry.fingerprint,
            credits=entry.credits,
            urls=entry.urls,
            task=entry.task,
            pid=entry.pid,
            host=entry.host,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
            downloads=entry.downloads,
        )


def run_entries(journal: Journal, run_id: str) -> tuple[dict[str, RunEntry], list[RunEntry]]:
    """A run's current entry for each row key, and its superseded attempts."""
    current: dict[str, RunEntry] = {}
    history: list[RunEntry] = []
    for item in journal.run_rows(run_id):
        entry = RunEntry.of(item)
        if entry.attempt:
            history.append(entry)
        else:
            current[entry.row_key] = entry
    return current, history
