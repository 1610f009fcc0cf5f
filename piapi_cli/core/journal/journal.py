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

Extending it (the schema versions live in ``journal_schema``; see its docstring):

- append a migration to ``journal_schema.MIGRATIONS`` (SQL text or a function of the
  connection) for new tables or columns;
- write with ``with journal.write("recording X") as db: db.execute(...)``: one
  ``BEGIN IMMEDIATE`` transaction, rolled back on any exception, errors as JournalError;
- read with ``journal.read(sql, args)``: a list of ``sqlite3.Row``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from piapi_cli.api.tasks import COMPLETED, TERMINAL, Task, redact
from piapi_cli.core.journal.entries import (
    LOCAL_STATES,
    NOT_SENT,
    REFUSED,
    SENDING,
    UNKNOWN,
    AmbiguousTaskId,
    Entry,
    entry_from_row,
    parse_since,
)
from piapi_cli.core.journal.store import JournalError, Store, process_alive, this_host

__all__ = [
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
    "parse_since",
]

#: a ``sending`` row older than this has no create in flight any more, whoever sent it
STALE_SENDING = 600.0


class AlreadyJournaled(JournalError):
    """This row of this run already has a create journaled: sending another would pay twice."""

    def __init__(self, path: Path, run_id: str, row_key: str, entry_id: int) -> None:
        super().__init__(
            path,
            "recording a create",
            f"row {row_key!r} of run {run_id} is already journaled as #{entry_id}",
            kind="conflict",
            hint=f"see it: piapi tasks show {entry_id}",
        )
        self.run_id = run_id
        self.row_key = row_key
        self.entry_id = entry_id


def _int64(value: int | None) -> int | None:
    """SQLite integers are 64-bit; a larger number from a server is not kept."""
    return value if value is not None and -(2**63) <= value < 2**63 else None


class Journal(Store):
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
        """Record a create about to be sent; returns the row to complete afterwards."""
        now = self.clock()
        with self.write("recording a create") as db:
            if run_id is not None and row_key is not None:
                taken = db.execute(
                    "SELECT id FROM tasks WHERE run_id = ? AND row_key = ?", (run_id, row_key)
                ).fetchone()
                if taken is not None:
                    raise AlreadyJournaled(self.path, run_id, row_key, int(taken[0]))
            cursor = db.execute(
                "INSERT INTO tasks (world, model, task_type, input, config, status, created_at, updated_at,"
                " run_id, row_key, fingerprint, pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    world,
                    model,
                    task_type,
                    json.dumps(task_input),
                    json.dumps(redact(config or {})),
                    SENDING,
                    now,
                    now,
                    run_id,
                    row_key,
                    fingerprint,
                    os.getpid(),
                    self.host,
                ),
            )
        return int(cursor.lastrowid or 0)

    def created(self, row: int, task: Task) -> None:
        """The create of ``row`` was answered with ``task``: one transaction records both."""
        operation = "recording a created task"
        clash = None
        with self.write(operation) as db:
            other = db.execute("SELECT id FROM tasks WHERE task_id = ? AND id != ?", (task.task_id, row)).fetchone()
            if other is None:
                db.execute("UPDATE tasks SET task_id = ? WHERE id = ?", (task.task_id, row))
                self._store(db, task)
            else:
                # the server reused an ID: the create was carried out, but this row cannot hold it
                clash = int(other[0])
                message = f"the API answered with task ID {task.task_id}, which the journal already has as #{clash}"
                db.execute(
                    "UPDATE tasks SET status = ?, message = ?, updated_at = ? WHERE id = ?",
                    (UNKNOWN, message, self.clock(), row),
                )
        if clash is not None:
            reason = f"the API answered with task ID {task.task_id}, already journaled as #{clash}"
            hint = f"the create is kept as #{row} (status unknown): piapi tasks show {row}"
            raise JournalError(self.path, operation, reason, kind="conflict", hint=hint, task_id=task.task_id)

    def create_failed(self, row: int, state: str, message: str) -> None:
        with self.write("recording a create's outcome") as db:
            db.execute(
                "UPDATE tasks SET status = ?, message = ?, updated_at = ? WHERE id = ?",
                (state, message, self.clock(), row),
            )

    def update(self, task: Task) -> None:
        """Store what a fetched task says now; unknown tasks (made elsewhere) are left alone."""
        with self.write("updating a task") as db:
            self._store(db, task)

    def _store(self, db: sqlite3.Connection, task: Task) -> None:
        message = task.failure_message() if task.is_terminal and not task.succeeded else ""
        db.execute(
            "UPDATE tasks SET status = ?, message = ?, urls = ?, usage_type = ?, credits = ?, task_json = ?,"
            " updated_at = ? WHERE task_id = ?",
            (
                task.status,
                message,
                json.dumps([u.url for u in task.urls]),
                str(task.usage.get("type")) if task.usage.get("type") is not None else None,
                _int64(task.credits),
                json.dumps(task.to_json()),
                self.clock(),
                task.task_id,
            ),
        )

    def record_download(self, task_id: str, url: str, path: str, size: int, sha256: str) -> None:
        with self.write("recording a download") as db:
            db.execute(
                "INSERT OR REPLACE INTO downloads (task_id, url, path, bytes, sha256, at) VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, url, path, size, sha256, self.clock()),
            )

    def record_run(self, run_id: str, *, world: str, source: str | None, options: dict[str, Any]) -> None:
        """Note a batch run (once: recording the same run again keeps the first record)."""
        with self.write("recording a run") as db:
            db.execute(
                "INSERT OR IGNORE INTO runs (run_id, created_at, source, options, world) VALUES (?, ?, ?, ?, ?)",
                (run_id, self.clock(), source, json.dumps(options), world),
            )

    # --- reading ------------------------------------------------------------------

    def _entries(self, where: str, args: tuple[Any, ...], limit: int | None = None) -> list[Entry]:
        sql = f"SELECT * FROM tasks WHERE {where} ORDER BY created_at DESC, id DESC"
        if limit:
            sql += " LIMIT ?"
            args = (*args, min(int(limit), 2**63 - 1))
        with self._lock:
            rows = self.read(sql, args)
            ids = [str(row["task_id"]) for row in rows if row["task_id"] is not None]
            downloads = self._downloads(ids)
        return [entry_from_row(row, downloads.get(str(row["task_id"]), [])) for row in rows]

    def _downloads(self, task_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(task_ids), 500):
            chunk = task_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT task_id, url, path, bytes, sha256 FROM downloads WHERE task_id IN ({marks}) ORDER BY at"
            for row in self.read(sql, tuple(chunk)):
                found.setdefault(str(row["task_id"]), []).append(
                    {"url": row["url"], "path": row["path"], "bytes": row["bytes"], "sha256": row["sha256"]}
                )
        return found

    def entries(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        world: str | None = None,
    ) -> list[Entry]:
        """Journaled tasks, newest first; ``world`` None means every world."""
        clauses: list[str] = ["1 = 1"]
        args: list[Any] = []
        if status:
            clauses.append("status = ?")
            args.append(status.lower())
        if model:
            clauses.append("lower(model) = lower(?)")
            args.append(model)
        if since is not None:
            clauses.append("created_at >= ?")
            args.append(since)
        if world is not None:
            clauses.append("world = ?")
            args.append(world)
        return self._entries(" AND ".join(clauses), tuple(args), limit)

    def lookup(self, ident: str, *, world: str | None = None, row_numbers: bool = True) -> list[Entry]:
        """Entries ``ident`` names: the journal's row number (with ``row_numbers``), an exact
        task ID, else every task ID it is a prefix of (several: the prefix is ambiguous)."""
        ident = ident.strip()
        if not ident:
            return []
        scope, scope_args = ("", ()) if world is None else (" AND world = ?", (world,))
        # a row number fits SQLite's 64 bits; a longer run of digits can only be a prefix
        if row_numbers and ident.isascii() and ident.isdigit() and len(ident) <= 18:
            found = self._entries("id = ?" + scope, (int(ident), *scope_args))
            if found:
                return found
        exact = self._entries("task_id = ?" + scope, (ident, *scope_args))
        if exact:
            return exact
        # a range over the unique index: every text that starts with ``ident``
        return self._entries("task_id >= ? AND task_id < ?" + scope, (ident, ident + "\U0010ffff", *scope_args))

    def find(self, ident: str) -> Entry | None:
        """A task by its ID (or a unique prefix of it), or by the journal's row number."""
        matches = self.lookup(ident)
        return matches[0] if len(matches) == 1 else None

    def resolve(self, ident: str, *, world: str | None = None, row_numbers: bool = True) -> Entry | None:
        """As ``lookup``, for one task: None when nothing matches, ``AmbiguousTaskId`` (a
        usage error listing the candidates) when a prefix starts several task IDs."""
        matches = self.lookup(ident, world=world, row_numbers=row_numbers)
        if len(matches) > 1:
            raise AmbiguousTaskId(ident.strip(), [str(m.task_id) for m in matches])
        return matches[0] if matches else None

    def unfinished(self, world: str) -> list[Entry]:
        """Tasks of this world with an ID that have not reached a terminal status."""
        terminal = tuple(TERMINAL | {"canceled"})
        marks = ", ".join("?" for _ in terminal)
        return self._entries(f"world = ? AND task_id IS NOT NULL AND status NOT IN ({marks})", (world, *terminal))

    def maybe_created(self, world: str) -> list[Entry]:
        """Creates of this world that may have been carried out but have no task ID: those
        whose answer was lost (``unknown``), and ``sending`` ones whose process is gone (a
        ``sending`` row of a live process is a create still in flight, not reported)."""
        rows = self._entries("world = ? AND task_id IS NULL AND status IN (?, ?)", (world, UNKNOWN, SENDING))
        now = self.clock()
        return [e for e in rows if e.status == UNKNOWN or self._sender_gone(e, now)]

    def _sender_gone(self, entry: Entry, now: float) -> bool:
        if now - entry.updated_at > self.stale_after:
            return True  # no create request lasts this long
        if entry.host == self.host and entry.pid:
            return not self.alive(entry.pid)
        return False  # another machine's (or an old release's) create, recent: maybe in flight

    def by_run(self, run_id: str) -> dict[str, Entry]:
        """The tasks of a batch run, keyed by row key."""
        entries = self._entries("run_id = ?", (run_id,))
        return {e.row_key: e for e in reversed(entries) if e.row_key is not None}

    def run(self, run_id: str) -> dict[str, Any] | None:
        """What ``record_run`` stored for this run, or None."""
        rows = self.read("SELECT run_id, created_at, source, options, world FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            return None
        found = dict(rows[0])
        try:
            found["options"] = json.loads(found["options"])
        except (TypeError, ValueError, RecursionError):
            found["options"] = {}
        return found

    def completed_without_downloads(self, world: str, directory: str | Path) -> list[Entry]:
        """Completed tasks of this world with outputs not all recorded as saved in
        ``directory`` (relative paths in the journal are read from the current directory)."""
        root = Path(os.path.abspath(directory))
        found = []
        for entry in self._entries("world = ? AND status = ? AND task_id IS NOT NULL", (world, COMPLETED)):
            saved = {d["url"] for d in entry.downloads if _inside(str(d["path"]), root)}
            if any(url not in saved for url in entry.urls):
                found.append(entry)
        return found

    def usage(
        self, *, since: float | None = None, by: str | None = None, world: str | None = None
    ) -> list[dict[str, Any]]:
        """Credits consumed by completed tasks, in total or grouped by model / task_type / day /
        status / world; ``world`` None counts every world."""
        groups = {
            None: "'all'",
            "model": "model",
            "task_type": "model || ' ' || task_type",
            "day": "date(created_at, 'unixepoch')",
            "status": "status",
            "world": "world",
        }
        if by not in groups:
            from piapi_cli.api.errors import UsageError

            raise UsageError(f"--by {by!r}: expected one of model, task_type, day, status, world")
        sql = (
            f"SELECT {groups[by]} AS grp, COUNT(*) AS tasks,"
            " SUM(CASE WHEN status = 'completed' AND typeof(credits) = 'integer' THEN credits ELSE 0 END) AS credits"
            " FROM tasks WHERE task_id IS NOT NULL"
        )
        args: list[Any] = []
        if since is not None:
            sql += " AND created_at >= ?"
            args.append(since)
        if world is not None:
            sql += " AND world = ?"
            args.append(world)
        sql += " GROUP BY grp ORDER BY credits DESC, grp"
        return [
            {"group": str(row["grp"]), "tasks": row["tasks"], "credits": row["credits"] or 0}
            for row in self.read(sql, tuple(args))
        ]


def _inside(path: str, root: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(root)
