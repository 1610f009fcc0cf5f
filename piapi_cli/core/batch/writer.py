"""The batch's writes to the journal: one thread commits them for all, as many together as
arrive while a commit is under way (group commit). And the journal's schema for batch runs.

Each caller waits until its own write is committed, so a create's intent is on disk before the
create is sent, as one write at a time would have it, at a fraction of the cost (bench/README.md).
A commit that carries an intent is fsynced (it survives a power cut, not only a crash of piapi);
the others are not, as in the journal: a power cut that loses a task ID leaves its row reported
as maybe created, never sent twice.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --- schema ------------------------------------------------------------------------
# Version 2 of the journal's schema (batch runs), applied here only where missing. The
# journal's numbered migrations carry the same statements as their version 2; this helper
# brings a journal to exactly that state and records it, so the migrations skip it.

_V2_COLUMNS = (("run_id", "TEXT"), ("row_key", "TEXT"), ("fingerprint", "TEXT"), ("pid", "INTEGER"), ("host", "TEXT"))
_V2_STATEMENTS = (
    "CREATE UNIQUE INDEX IF NOT EXISTS tasks_run_row ON tasks (run_id, row_key) WHERE run_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS tasks_world_created ON tasks (world, created_at)",
    "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, created_at REAL NOT NULL, source TEXT,"
    " options TEXT NOT NULL DEFAULT '{}', world TEXT)",
)


def ensure_batch_schema(db: sqlite3.Connection) -> None:
    """Add the batch columns, index and runs table where missing (one transaction)."""
    if int(db.execute("PRAGMA user_version").fetchone()[0]) >= 2:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
        for name, kind in _V2_COLUMNS:
            if name not in columns:
                db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {kind}")
        for statement in _V2_STATEMENTS:
            db.execute(statement)
        db.execute("PRAGMA user_version = 2")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("PRAGMA synchronous=NORMAL")  # as the journal: with WAL, a crash loses nothing committed
    db.row_factory = sqlite3.Row
    return db


Write = Callable[[sqlite3.Connection], Any]


class Writer:
    """One thread committing everyone's writes, as many together as arrive (group commit)."""

    def __init__(self, path: Path, on_busy: Callable[[float, float], None]) -> None:
        self._db = connect(path)
        self._jobs: queue.SimpleQueue[tuple[Write, _Slot] | None] = queue.SimpleQueue()
        self._on_busy = on_busy
        self._synced = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="piapi-journal")
        self._thread.start()

    def run(self, write: Write, *, durable: bool = False) -> Any:
        """Commit ``write`` (with whatever else is waiting); ``durable``: on disk before this
        returns, a power cut included (a create's intent), not only a crash of this process."""
        slot = _Slot(durable=durable)
        self._jobs.put((write, slot))
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.value

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            jobs = [job]
            while True:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                jobs.append(more)
            start, cpu = time.perf_counter(), time.thread_time()
            self._commit(jobs)
            self._on_busy(time.perf_counter() - start, time.thread_time() - cpu)
            for _, slot in jobs:
                slot.done.set()

    def _commit(self, jobs: list[tuple[Write, _Slot]]) -> None:
        try:
            synced = any(slot.durable for _, slot in jobs)
            if synced != self._synced:  # FULL: the WAL is fsynced at this commit
                self._db.execute(f"PRAGMA synchronous={'FULL' if synced else 'NORMAL'}")
                self._synced = synced
            # the common case first, in as few calls as can be (each one waits for the GIL
            # again); if a write fails, it all goes back and each write gets a savepoint
            if not self._transaction(jobs, careful=False):
                self._transaction(jobs, careful=True)
        except BaseException as exc:  # the commit itself failed (disk full, locked): none is written
            for _, slot in jobs:
                slot.error = slot.error or exc

    def _transaction(self, jobs: list[tuple[Write, _Slot]], *, careful: bool) -> bool:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            for write, slot in jobs:
                if not careful:
                    slot.value = write(db)
                    continue
                db.execute("SAVEPOINT one")
                try:
                    slot.value, slot.error = write(db), None
                    db.execute("RELEASE one")
                except Exception as exc:  # this write fails alone; the others commit
                    db.execute("ROLLBACK TO one")
                    db.execute("RELEASE one")
                    slot.error = exc
            db.execute("COMMIT")
            return True
        except Exception:
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if careful:
                raise
            return False

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._db.close()


@dataclass
class _Slot:
    durable: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None
