"""Group commit: one thread commits the journal's writes for every thread of a run, as many
together as arrive while a commit is under way.

Each caller waits until its own write is committed, so a create's intent is on disk before the
create is sent, as one write at a time would have it, at a fraction of the cost (bench/README.md).
A commit that carries an intent is fsynced (it survives a power cut, not only a crash of piapi);
the others are not: a power cut that loses a task ID leaves its row reported as maybe created,
never sent twice.

It is an option of the journal (``Journal.group_commit()``), not a second writer: the writes
are the journal's own functions of its connection, run under its lock.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from piapi_cli.api.records import field, record
from piapi_cli.core.journal.sql import sqlite3

#: one write: a function of the open connection, inside a transaction
Write = Callable[[sqlite3.Connection], Any]


class Closed(Exception):
    """Group commit has ended: the caller writes on its own (a thread that outlived the run)."""


class Writer:
    """One thread committing everyone's writes, as many together as arrive (group commit).

    ``transaction(jobs, careful)`` runs the jobs in one transaction of the journal's
    connection (see ``Store._group``); ``on_busy(seconds, cpu_seconds)`` counts its work.
    """

    def __init__(
        self,
        commit: Callable[[list[tuple[Write, _Slot]]], None],
        on_busy: Callable[[float, float], None],
    ) -> None:
        self._commit = commit
        self._jobs: queue.SimpleQueue[tuple[Write, _Slot] | None] = queue.SimpleQueue()
        self._on_busy = on_busy
        self._closing = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="piapi-journal")
        self._thread.start()

    def run(self, write: Write, *, durable: bool = False) -> Any:
        """Commit ``write`` (with whatever else is waiting); ``durable``: on disk before this
        returns, a power cut included (a create's intent), not only a crash of this process."""
        slot = _Slot(durable=durable)
        with self._closing:  # every job is queued before the end, or not at all
            if self._closed:
                raise Closed
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
            try:
                self._commit(jobs)
            except BaseException as exc:  # the commit itself failed (disk full, locked): none is written
                for _, slot in jobs:
                    slot.error = slot.error or exc
            self._on_busy(time.perf_counter() - start, time.thread_time() - cpu)
            for _, slot in jobs:
                slot.done.set()

    def close(self) -> None:
        """Commit what was queued, then end the thread."""
        with self._closing:
            self._closed = True
            self._jobs.put(None)
        self._thread.join()


def commit_together(db: sqlite3.Connection, jobs: list[tuple[Write, _Slot]]) -> None:
    """The jobs in one transaction: the common case first, in as few calls as can be (each one
    waits for the GIL again); if a write fails, it all goes back and each write gets a savepoint
    (the failing one fails alone, the others commit)."""
    if not _transaction(db, jobs, careful=False):
        _transaction(db, jobs, careful=True)


def _transaction(db: sqlite3.Connection, jobs: list[tuple[Write, _Slot]], *, careful: bool) -> bool:
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


@record()
class _Slot:
    durable: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None
