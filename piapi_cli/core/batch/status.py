"""Where a run stands, from the journal alone: counts by state, credits, and the rows that need
someone's attention (failed, maybe created, refused), with what to do about each."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import SUCCEEDED, TERMINAL
from piapi_cli.core.batch.plan import MAYBE_STATES, NO_TASK
from piapi_cli.core.batch.queries import RunEntry, RunRecord, run_entries

if TYPE_CHECKING:
    from piapi_cli.core.journal.journal import Journal

#: the states a row of a run is counted in
STATES = ("completed", "failed", "running", "maybe_created", "sending", "refused", "not_started")


def state_of(entry: RunEntry, journal: Journal) -> str:
    if entry.task_id is not None:
        if entry.status in SUCCEEDED:
            return "completed"
        if entry.status in TERMINAL or entry.status == "canceled":
            return "failed"
        return "running"
    if entry.status in NO_TASK:
        return "refused" if entry.status == "refused" else "not_started"
    if entry.status == "sending" and not journal.sender_gone(entry):
        return "sending"
    return "maybe_created" if entry.status in MAYBE_STATES else "not_started"


#: the states of a row that need the user's attention (the CLI says what to do about each)
ATTENTION = ("failed", "maybe_created", "refused")


@record()
class RunStatus:
    record: RunRecord
    counts: Counter[str] = field(default_factory=Counter)
    consumed: int = 0
    held: int = 0
    attention: list[dict[str, Any]] = field(default_factory=list)
    #: rows in the file (and of this run's shard), as its last invocation saw them
    rows: int | None = None

    @property
    def done(self) -> int:
        return self.counts.get("completed", 0)

    def to_json(self) -> dict[str, Any]:
        options = self.record.options
        return {
            "run_id": self.record.run_id,
            "world": self.record.world,
            "source": self.record.source,
            "created_at": self.record.created_at,
            "rows": self.rows,
            "shard": options.get("shard"),
            "counts": {state: self.counts.get(state, 0) for state in STATES},
            "credits_consumed": self.consumed,
            "credits_held": self.held,
            "attention": self.attention,
            "resume": options.get("resume"),
            "last_invocation": options.get("last"),
        }


def run_status(journal: Journal, record: RunRecord, *, details: bool = True) -> RunStatus:
    current, history = run_entries(journal, record.run_id)
    status = RunStatus(record)
    selected = record.options.get("selected")
    status.rows = selected if isinstance(selected, int) else None
    for entry in current.values():
        state = state_of(entry, journal)
        status.counts[state] += 1
        if state == "completed":
            status.consumed += entry.credits or 0
        elif state in ("running", "maybe_created", "sending"):
            status.held += entry.credits or 0
        if details and state in ATTENTION:
            status.attention.append(
                {
                    "id": entry.row_key,
                    "task_id": entry.task_id,
                    "state": state,
                    "journal_row": entry.id,
                    "message": entry.message,
                }
            )
    status.consumed += sum(e.credits or 0 for e in history if e.task_id and e.status in SUCCEEDED)
    if status.rows is not None:
        started = sum(n for state, n in status.counts.items() if state != "not_started")
        status.counts["not_started"] = max(0, status.rows - started)
    return status


def list_runs(journal: Journal, world: str | None) -> list[RunStatus]:
    return [run_status(journal, record, details=False) for record in journal.runs(world)]
