"""The task journal: every task created through piapi, recorded in SQLite **before** the
create request is sent, then kept up to date (ID, status, outputs, cost, downloads).

A paid result is never lost to a closed terminal, a Ctrl-C or a deadline: ``piapi wait
--pending`` re-attaches to whatever is not finished. A create whose answer never arrived is
kept as ``unknown``, never resent; a ``sending`` row whose process is gone is reported the
same way (``maybe_created``).

Sharing: one connection per ``Journal``, each transaction under a lock, so any number of
threads may use one ``Journal`` (measured against a connection per thread, the lock is the
faster of the two: see ``bench/journal_threads.py``). WAL mode and a busy timeout (10 s)
let several processes write at once. The file is private: 0600 in a 0700 directory.

Failures are ``JournalError`` (a ``ConfigError``, exit 3) with the file and the operation:
a journal locked for longer than the busy timeout, read-only or immutable, damaged, or of
a newer schema. A row holding something unreadable is listed with a note, never fatal.

Many threads writing at once (a batch run) turn on group commit for a while: ``with
journal.group_commit(): ...`` (one thread commits everyone's writes together).

Extending it (every SQL statement on the file lives in this package; the schema versions in
``schema``, see its docstring):

- append a migration to ``schema.MIGRATIONS`` (SQL text or a function of the connection) for
  new tables or columns;
- write with ``journal.apply(function_of_the_connection, "recording X")`` (group commit when
  on) or ``with journal.write("recording X") as db: db.execute(...)``: one ``BEGIN IMMEDIATE``
  transaction, rolled back on any exception, errors as JournalError;
- read with ``journal.read(sql, args)``: a list of ``sqlite3.Row``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from json.encoder import encode_basestring  # a string as JSON, ensure_ascii=False
from pathlib import Path

from piapi_cli.api.tasks import Task, output_url_list, redact
from piapi_cli.core.journal.entries import (
    LOCAL_STATES,
    NOT_SENT,
    REFUSED,
    SENDING,
    UNKNOWN,
    AmbiguousTaskId,
    Entry,
    parse_since,
)
from piapi_cli.core.journal.runs import ATTEMPT_SEP, RunRecord, RunRecords
from piapi_cli.core.journal.sql import sqlite3
from piapi_cli.core.journal.store import JournalError, Store
from piapi_cli.core.processes import process_alive, this_host

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any, Protocol

    from piapi_cli.core.journal.deliveries import TaskJSON

    class Sender(Protocol):
        """What the journal knows of who sent a create: an ``Entry`` or a batch's row."""

        @property
        def updated_at(self) -> float: ...
        @property
        def pid(self) -> int | None: ...
        @property
        def host(self) -> str | None: ...


__all__ = [
    "ATTEMPT_SEP",
    "LOCAL_STATES",
    "NOT_SENT",
    "REFUSED",
    "SENDING",
    "UNKNOWN",
    "AlreadyJournaled",
    "AmbiguousTaskId",
    "Entry",
    "Journal",
    "JournalError",
    "RunRecord",
    "Sender",
    "parse_since",
]

#: a ``sending`` row older than this has no create in flight any more, whoever sent it
STALE_SENDING = 600.0

_SET_TASK = "status = ?, message = ?, urls = ?, usage_type = ?, credits = ?, task_json = ?, updated_at = ?"


class AlreadyJournaled(JournalError):
    """This row of this run already has a create journaled (another process was first):
    sending another would pay twice, so nothing was sent."""

    def __init__(self, path: Path, run_id: str, row_key: str, entry_id: int) -> None:
        super().__init__(
            path,
            "recording a create",
            f"row {row_key!r} of run {run_id} is already journaled as #{entry_id}",
            kind="conflict",
            advice="show_row",
            row=entry_id,
        )
        self.run_id = run_id
        self.row_key = row_key
        self.entry_id = entry_id


def _int64(value: int | None) -> int | None:
    """SQLite integers are 64-bit; a larger number from a server is not kept."""
    return value if value is not None and -(2**63) <= value < 2**63 else None


def _task_columns(
    task: Task, now: float, store: Store, document: dict[str, Any] | None = None, text: str | None = None
) -> tuple[Any, ...]:
    """What the journal keeps of a fetched task, in the order of ``_SET_TASK``. ``document``
    and ``text``: the task's JSON (``task.to_json()``) and its text, if the caller made them."""
    message = task.failure_message() if task.is_terminal and not task.succeeded else ""
    kind = task.usage.get("type")
    secrets, found = store.secrets(), output_url_list(task.output)
    urls = store.scrubbed_json(found, f"[{','.join(map(encode_basestring, found))}]", secrets)
    task_json = store.scrubbed_json(task.to_json() if document is None else document, text, secrets)
    return (task.status, store.scrubbed(message) if message else "", urls, None if kind is None else str(kind),
            _int64(task.credits), task_json, now)  # fmt: skip


class Journal(RunRecords):
    """The journal of one file; any number of threads may share one (see the module's notes)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float | None = None,
        alive: Callable[[int], bool] = process_alive,
        stale_after: float = STALE_SENDING,
    ) -> None:
        super().__init__(path, clock=clock, busy_timeout=busy_timeout)
        self.alive = alive
        self.stale_after = stale_after
        self.host = this_host()

    # --- writing ------------------------------------------------------------------

    def begin_create(
        self,
        world: str,
        model: str,
        task_type: str,
        task_input: dict[str, Any],
        config: dict[str, Any] | None,
        *,
        run_id: str | None = None,
        row_key: str | None = None,
        fingerprint: str | None = None,
    ) -> int:
        """Record a create about to be sent (on disk, a power cut included, when this returns);
        returns the row to complete afterwards. ``AlreadyJournaled`` when this row of this run
        already has a create (another process was first): nothing may be sent then."""
        now = self.clock()
        stored_input, stored_config = self.scrubbed(task_input), self.scrubbed(redact(config or {}))
        values = (world, model, task_type, json.dumps(stored_input), json.dumps(stored_config), SENDING, now,
                  now, run_id, row_key, fingerprint, os.getpid(), self.host)  # fmt: skip

        def write(db: sqlite3.Connection) -> int:
            if run_id is not None and row_key is not None:
                taken = db.execute(
                    "SELECT id FROM tasks WHERE run_id = ? AND row_key = ?", (run_id, row_key)
                ).fetchone()
                if taken is not None:
                    raise AlreadyJournaled(self.path, run_id, row_key, int(taken[0]))
            cursor = db.execute(
                "INSERT INTO tasks (world, model, task_type, input, config, status, created_at, updated_at,"
                " run_id, row_key, fingerprint, pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return int(cursor.lastrowid or 0)

        return self.apply(write, "recording a create", durable=True)

    def created(self, row: int, task: Task) -> None:
        """The create of ``row`` was answered with ``task``: its ID and state in one write."""
        operation = "recording a created task"
        columns = _task_columns(task, self.clock(), self)

        def write(db: sqlite3.Connection) -> int | None:
            other = db.execute("SELECT id FROM tasks WHERE task_id = ? AND id != ?", (task.task_id, row)).fetchone()
            if other is None:
                db.execute(f"UPDATE tasks SET task_id = ?, {_SET_TASK} WHERE id = ?", (task.task_id, *columns, row))
                return None
            # the server reused an ID: the create was carried out, but this row cannot hold it
            message = f"the API answered with task ID {task.task_id}, which the journal already has as #{other[0]}"
            db.execute(
                "UPDATE tasks SET status = ?, message = ?, updated_at = ? WHERE id = ?",
                (UNKNOWN, message, columns[-1], row),
            )
            return int(other[0])

        clash = self.apply(write, operation)
        if clash is not None:
            reason = f"the API answered with task ID {task.task_id}, already journaled as #{clash}"
            raise JournalError(
                self.path, operation, reason, kind="conflict", advice="kept_row", row=row, task_id=task.task_id
            )

    def create_failed(self, row: int, state: str, message: str) -> None:
        now = self.clock()
        self.apply(
            lambda db: db.execute(
                "UPDATE tasks SET status = ?, message = ?, updated_at = ? WHERE id = ?",
                (state, self.scrubbed(message), now, row),
            ),
            "recording a create's outcome",
        )

    def update(self, task: Task) -> None:
        """Store what a fetched task says now; unknown tasks (made elsewhere) are left alone."""
        columns = _task_columns(task, self.clock(), self)
        self.apply(
            lambda db: db.execute(f"UPDATE tasks SET {_SET_TASK} WHERE task_id = ?", (*columns, task.task_id)),
            "updating a task",
        )

    def _store(self, db: sqlite3.Connection, task: Task) -> None:
        """``update`` inside a transaction this package's modules already hold."""
        columns = _task_columns(task, self.clock(), self)
        db.execute(f"UPDATE tasks SET {_SET_TASK} WHERE task_id = ?", (*columns, task.task_id))

    def _update(self, task: Task, row: int, made: TaskJSON) -> tuple[str, tuple[Any, ...]]:
        """The statement that brings journal row ``row`` up to date with ``task``, whose JSON
        ``made`` has (``_store``'s, made before any write: for the listener's deliveries)."""
        columns = _task_columns(task, self.clock(), self, made.document, made.text)
        return f"UPDATE tasks SET {_SET_TASK} WHERE id = ?", (*columns, row)

    def record_download(self, task_id: str, url: str, path: str, size: int, sha256: str) -> None:
        now = self.clock()
        self.apply(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO downloads (task_id, url, path, bytes, sha256, at) VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, url, path, size, sha256, now),
            ),
            "recording a download",
        )

    # --- creates whose sender is gone ---------------------------------------------

    def maybe_created(self, world: str) -> list[Entry]:
        """Creates of this world that may have been carried out but have no task ID: those
        whose answer was lost (``unknown``), and ``sending`` ones whose process is gone (a
        ``sending`` row of a live process is a create still in flight, not reported)."""
        rows = self._entries("world = ? AND task_id IS NULL AND status IN (?, ?)", (world, UNKNOWN, SENDING))
        return [e for e in rows if e.status == UNKNOWN or self.sender_gone(e)]

    def sender_gone(self, entry: Sender) -> bool:
        """The one rule for a ``sending`` row: is the process that sent its create gone (the
        create may have been carried out), or may it still be in flight?

        Gone: the row is older than ``stale_after`` (no create request lasts that long), or
        its process, on this machine, no longer runs. Anything else (a live process, another
        machine's, a recent row with no process recorded) may still be in flight."""
        if self.clock() - entry.updated_at > self.stale_after:
            return True
        if entry.pid and entry.host == self.host:
            return not self.alive(entry.pid)
        return False
