"""The journal's batch runs: the ``runs`` table (one record per run) and the tasks of a run
(``run_id``, ``row_key``), a row's earlier attempts kept as history."""

from __future__ import annotations

import json

from piapi_cli.api.records import record
from piapi_cli.core.journal.entries import Entry
from piapi_cli.core.journal.reads import TaskReads
from piapi_cli.core.journal.sql import sqlite3

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

#: a superseded attempt's row key is ``KEY<SEP>N``: row keys never hold control characters
ATTEMPT_SEP = "\x1e"


@record()
class RunRecord:
    """What the journal keeps of a batch run: its first start, and its latest invocation's
    source and options (``options["last"]``: how that invocation ended)."""

    run_id: str
    created_at: float
    source: str | None
    options: dict[str, Any]
    world: str | None


class RunRecords(TaskReads):
    """The journal's batch runs."""

    def record_run(self, run_id: str, *, world: str, source: str | None, options: dict[str, Any]) -> None:
        """Note a run: its first time, and what this invocation of it was (source, options)."""
        args = (run_id, self.clock(), source, json.dumps(options), world)
        self.apply(
            lambda db: db.execute(
                "INSERT INTO runs (run_id, created_at, source, options, world) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id) DO UPDATE SET source = excluded.source, options = excluded.options",
                args,
            ),
            "recording a run",
        )

    def record_run_outcome(self, run_id: str, outcome: dict[str, Any]) -> None:
        """Keep how the run's latest invocation ended (``batch status`` shows it)."""
        args = (json.dumps(outcome), run_id)
        self.apply(
            lambda db: db.execute(
                "UPDATE runs SET options = json_set(options, '$.last', json(?)) WHERE run_id = ?", args
            ),
            "recording a run's outcome",
        )

    def supersede(self, run_id: str, row_key: str, entry_id: int) -> None:
        """Keep an earlier attempt of a row as history (``KEY<SEP>N``), so the row can be
        created again."""
        prefix = row_key + ATTEMPT_SEP

        def write(db: sqlite3.Connection) -> None:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM tasks WHERE run_id = ? AND substr(row_key, 1, length(?)) = ?",
                (run_id, prefix, prefix),
            ).fetchone()
            db.execute("UPDATE tasks SET row_key = ? WHERE id = ?", (f"{prefix}{int(count) + 1}", entry_id))

        self.apply(write, "setting an earlier attempt aside")

    def run_rows(self, run_id: str) -> list[Entry]:
        """Every journaled create of a run, superseded attempts included, oldest first."""
        return sorted(self._entries("run_id = ?", (run_id,)), key=lambda e: e.id)

    def run_row(self, run_id: str, row_key: str) -> Entry | None:
        """The current create of one row of a run (not its earlier attempts), or None."""
        found = self._entries("run_id = ? AND row_key = ?", (run_id, row_key))
        return found[0] if found else None

    def by_run(self, run_id: str) -> dict[str, Entry]:
        """The tasks of a batch run, keyed by row key."""
        return {e.row_key: e for e in self.run_rows(run_id) if e.row_key is not None}

    def runs(self, world: str | None = None) -> list[RunRecord]:
        """Batch runs, newest first; ``world`` None means every world."""
        scope, args = (" WHERE world = ?", (world,)) if world is not None else ("", ())
        return [_record(row) for row in self.read(f"SELECT * FROM runs{scope} ORDER BY created_at DESC", args)]

    def run(self, run_id: str) -> RunRecord | None:
        """What the journal keeps of this run, or None."""
        found = self.read("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return _record(found[0]) if found else None


def _record(row: sqlite3.Row) -> RunRecord:
    try:
        options = json.loads(row["options"] or "{}")
    except (TypeError, ValueError, RecursionError):
        options = {}
    try:
        created_at = float(row["created_at"])
    except (TypeError, ValueError):
        created_at = 0.0
    return RunRecord(str(row["run_id"]), created_at, row["source"],
                     options if isinstance(options, dict) else {}, row["world"])  # fmt: skip
