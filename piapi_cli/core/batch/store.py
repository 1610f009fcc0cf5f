"""The batch's access to the task journal: a run's rows, its runs table, and its writes.

A run's writes come from many threads at once (N requests in flight, each create journaled
before it is sent, each answer and status change and saved file after); they are committed
together by ``writer.Writer`` (group commit), the intents fsynced before the create is sent.

``RunStore`` offers the runner the journal's write methods (``begin_create``, ``created``,
``create_failed``, ``update``, ``record_download``) over the same ``tasks`` and ``downloads``
tables, with the batch columns: run ID, row key, fingerprint and the sending process.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from piapi_cli.api.errors import ConfigError, PiapiError
from piapi_cli.api.tasks import Task, redact
from piapi_cli.core.batch.writer import Write, Writer, connect, ensure_batch_schema

#: a superseded attempt's row key is ``KEY<SEP>N``: ids never hold control characters
ATTEMPT_SEP = "\x1e"
#: a ``sending`` row older than this has no create in flight any more, whoever sent it
STALE_SENDING = 600.0


# --- what a run's rows hold --------------------------------------------------------


@dataclass
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


@dataclass
class RunRecord:
    run_id: str
    created_at: float
    source: str | None
    options: dict[str, Any]
    world: str | None


class RowTaken(PiapiError):
    """Another process journaled a create for this row first (nothing was sent here)."""

    def __init__(self, run_id: str, row_key: str) -> None:
        super().__init__(f"row {row_key!r} of run {run_id} is already journaled by another process")
        self.run_id, self.row_key = run_id, row_key


def this_host() -> str:
    try:
        return socket.gethostname()
    except OSError:  # pragma: no cover
        return ""


def process_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def _task_columns(task: Task, now: float) -> tuple[Any, ...]:
    """What the journal keeps of a fetched task (as the journal's own ``update`` does)."""
    message = task.failure_message() if task.is_terminal and not task.succeeded else ""
    credits = task.credits if task.credits is not None and -(2**63) <= task.credits < 2**63 else None
    kind = task.usage.get("type")
    return (task.status, message, json.dumps([u.url for u in task.urls]), None if kind is None else str(kind),
            credits, json.dumps(task.to_json()), now)  # fmt: skip


_SET_TASK = "status = ?, message = ?, urls = ?, usage_type = ?, credits = ?, task_json = ?, updated_at = ?"


class RunStore:
    """Batch access to the journal file at ``path``; any number of threads may use one."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        alive: Callable[[int], bool] = process_alive,
    ) -> None:
        self.path = path
        self.clock, self.alive = clock, alive
        self.host = this_host()
        #: seconds the journal spent committing the run's writes (its share of a run's time),
        #: and the CPU seconds of those
        self.busy = 0.0
        self.busy_cpu = 0.0
        #: the journal row of each row key's latest create journaled through this store
        self.begun: dict[str, int] = {}
        self._lock = threading.Lock()
        try:
            self._db = connect(path)
            ensure_batch_schema(self._db)
            self._writer: Writer | None = None
        except sqlite3.Error as exc:
            raise self._failed(exc, "use it for a batch run") from None

    def _failed(self, exc: BaseException, what: str) -> ConfigError:
        return ConfigError(f"the task journal {self.path} could not {what}: {exc}", path=str(self.path))

    def _counted(self, seconds: float, cpu: float) -> None:
        self.busy += seconds
        self.busy_cpu += cpu

    def _write(self, write: Write, what: str, *, durable: bool = False) -> Any:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = Writer(self.path, self._counted)
        try:
            return self._writer.run(write, durable=durable)
        except sqlite3.Error as exc:
            raise self._failed(exc, what) from None

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise self._failed(exc, "be read") from None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._db.close()

    # --- the journal's write methods, for the runner ------------------------------------

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
        """Record a create about to be sent; returns its journal row. ``RowTaken`` when the row
        of this run already has one (another process): nothing may be sent then."""
        now = self.clock()
        values = (world, model, task_type, json.dumps(task_input), json.dumps(redact(config or {})), now, now,
                  run_id, row_key, fingerprint, os.getpid(), self.host)  # fmt: skip

        def write(db: sqlite3.Connection) -> int:
            try:
                cursor = db.execute(
                    "INSERT INTO tasks (world, model, task_type, input, config, status, created_at, updated_at,"
                    " run_id, row_key, fingerprint, pid, host) VALUES (?, ?, ?, ?, ?, 'sending', ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
            except sqlite3.IntegrityError:
                if run_id is None or row_key is None:
                    raise
                raise RowTaken(run_id, row_key) from None
            return int(cursor.lastrowid or 0)

        row = int(self._write(write, "record a create", durable=True))
        if row_key is not None:
            self.begun[row_key] = row
        return row

    def created(self, row: int, task: Task) -> None:
        """The create of ``row`` was answered with ``task``: its ID and state in one write."""
        columns = _task_columns(task, self.clock())

        def write(db: sqlite3.Connection) -> int | None:
            other = db.execute("SELECT id FROM tasks WHERE task_id = ? AND id != ?", (task.task_id, row)).fetchone()
            if other is None:
                db.execute(f"UPDATE tasks SET task_id = ?, {_SET_TASK} WHERE id = ?", (task.task_id, *columns, row))
                return None
            # the server reused an ID: the create was carried out, but this row cannot hold it
            db.execute(
                "UPDATE tasks SET status = 'unknown', message = ?, updated_at = ? WHERE id = ?",
                (f"the API answered with task ID {task.task_id}, already journaled as #{other[0]}", columns[-1], row),
            )
            return int(other[0])

        clash = self._write(write, "record a created task")
        if clash is not None:
            raise ConfigError(
                f"the task journal {self.path} could not record task {task.task_id}: "
                f"the API answered with an ID it already has as #{clash}",
                task_id=task.task_id,
                path=str(self.path),
            )

    def create_failed(self, row: int, state: str, message: str) -> None:
        now = self.clock()
        self._write(
            lambda db: db.execute(
                "UPDATE tasks SET status = ?, message = ?, updated_at = ? WHERE id = ?", (state, message, now, row)
            ),
            "record a create's outcome",
        )

    def update(self, task: Task) -> None:
        columns = _task_columns(task, self.clock())
        self._write(
            lambda db: db.execute(f"UPDATE tasks SET {_SET_TASK} WHERE task_id = ?", (*columns, task.task_id)),
            "update a task",
        )

    def record_download(self, task_id: str, url: str, path: str, size: int, sha256: str) -> None:
        now = self.clock()
        self._write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO downloads (task_id, url, path, bytes, sha256, at) VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, url, path, size, sha256, now),
            ),
            "record a download",
        )

    # --- a run's own records --------------------------------------------------------

    def record_run(self, run_id: str, *, world: str, source: str | None, options: dict[str, Any]) -> None:
        """Note the run (its first time) and what this invocation of it was."""
        args = (run_id, self.clock(), source, json.dumps(options), world)
        self._write(
            lambda db: db.execute(
                "INSERT INTO runs (run_id, created_at, source, options, world) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id) DO UPDATE SET source = excluded.source, options = excluded.options",
                args,
            ),
            "record the run",
        )

    def record_outcome(self, run_id: str, outcome: dict[str, Any]) -> None:
        """Keep how the run's latest invocation ended (``batch status`` shows it)."""
        args = (json.dumps(outcome), run_id)
        self._write(
            lambda db: db.execute(
                "UPDATE runs SET options = json_set(options, '$.last', json(?)) WHERE run_id = ?", args
            ),
            "record the run's outcome",
        )

    def supersede(self, run_id: str, row_key: str, entry_id: int) -> None:
        """Keep an earlier attempt of a row as history, so the row can be created again."""
        prefix = row_key + ATTEMPT_SEP

        def write(db: sqlite3.Connection) -> None:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM tasks WHERE run_id = ? AND substr(row_key, 1, length(?)) = ?",
                (run_id, prefix, prefix),
            ).fetchone()
            db.execute("UPDATE tasks SET row_key = ? WHERE id = ?", (f"{prefix}{int(count) + 1}", entry_id))

        self._write(write, "set an earlier attempt aside")

    def attach(self, entry: RunEntry, task: Task) -> None:
        """Record the task a maybe-created row turned out to have (found on the dashboard)."""
        self.created(entry.id, task)

    # --- reading --------------------------------------------------------------------

    def entries(self, run_id: str) -> tuple[dict[str, RunEntry], list[RunEntry]]:
        """A run's current entry for each row key, and its superseded attempts."""
        rows = self._read("SELECT * FROM tasks WHERE run_id = ? ORDER BY id", (run_id,))
        downloads: dict[str, list[dict[str, Any]]] = {}
        for item in self._read(
            "SELECT d.task_id, d.url, d.path, d.bytes, d.sha256 FROM downloads d JOIN tasks t ON t.task_id = d.task_id"
            " WHERE t.run_id = ? ORDER BY d.at",
            (run_id,),
        ):
            downloads.setdefault(item["task_id"], []).append(
                {"url": item["url"], "path": item["path"], "bytes": item["bytes"], "sha256": item["sha256"]}
            )
        current: dict[str, RunEntry] = {}
        history: list[RunEntry] = []
        for row in rows:
            entry = _entry(row, downloads.get(row["task_id"] or "", []))
            if entry.attempt:
                history.append(entry)
            else:
                current[entry.row_key] = entry
        return current, history

    def runs(self, world: str | None = None) -> list[RunRecord]:
        sql = "SELECT * FROM runs" + (" WHERE world = ?" if world is not None else "") + " ORDER BY created_at DESC"
        return [_record(row) for row in self._read(sql, (world,) if world is not None else ())]

    def run(self, run_id: str) -> RunRecord | None:
        found = self._read("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return _record(found[0]) if found else None

    def known_costs(self, world: str) -> dict[tuple[str, str], int]:
        """Credits of the latest task of each model and task type in this world (any run)."""
        found: dict[tuple[str, str], int] = {}
        for row in self._read(
            "SELECT model, task_type, credits FROM tasks WHERE world = ? AND credits > 0 ORDER BY updated_at",
            (world,),
        ):
            found[(row["model"], row["task_type"])] = int(row["credits"])
        return found

    def sender_gone(self, entry: RunEntry) -> bool:
        """Whether a ``sending`` row's process is gone (its create may have been carried
        out) rather than still sending it (a process running the same run right now)."""
        if self.clock() - entry.updated_at > STALE_SENDING:
            return True
        if entry.pid and entry.host == self.host:
            return entry.pid != os.getpid() and not self.alive(entry.pid)
        return not entry.pid  # no sender recorded: not one of this release's processes


def _entry(row: sqlite3.Row, downloads: list[dict[str, Any]]) -> RunEntry:
    key = str(row["row_key"])
    base, sep, attempt = key.partition(ATTEMPT_SEP)

    def loads(text: Any, default: Any) -> Any:
        try:
            return json.loads(text) if text else default
        except (TypeError, ValueError, RecursionError):
            return default

    credits = row["credits"]
    return RunEntry(
        id=int(row["id"]),
        run_id=str(row["run_id"]),
        row_key=base,
        attempt=int(attempt) if sep and attempt.isdigit() else (1 if sep else 0),
        task_id=row["task_id"],
        status=str(row["status"]),
        message=str(row["message"] or ""),
        model=str(row["model"]),
        task_type=str(row["task_type"]),
        fingerprint=row["fingerprint"],
        credits=int(credits) if isinstance(credits, int) else None,
        urls=[u for u in loads(row["urls"], []) if isinstance(u, str)],
        task=loads(row["task_json"], None),
        pid=row["pid"],
        host=row["host"],
        created_at=float(row["created_at"] or 0),
        updated_at=float(row["updated_at"] or 0),
        downloads=downloads,
    )


def _record(row: sqlite3.Row) -> RunRecord:
    try:
        options = json.loads(row["options"] or "{}")
    except (TypeError, ValueError, RecursionError):
        options = {}
    return RunRecord(row["run_id"], float(row["created_at"]), row["source"],
                     options if isinstance(options, dict) else {}, row["world"])  # fmt: skip
