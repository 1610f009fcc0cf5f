"""The task journal: every task created through piapi, recorded in SQLite **before** the
create request is sent, then kept up to date (ID, status, outputs, cost, downloads).

A paid result is never lost to a closed terminal, a Ctrl-C or a deadline: ``piapi wait
--pending`` re-attaches to whatever is not finished. A create whose answer never arrived is
kept as ``unknown``, never resent. WAL mode and a busy timeout make it safe for several
piapi processes at once (a batch run, a CI matrix).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from piapi_cli.api.errors import ConfigError
from piapi_cli.api.tasks import TERMINAL, Task, redact

SENDING = "sending"  # journaled, the create request not yet answered
UNKNOWN = "unknown"  # sent, answer lost: the task may exist
REFUSED = "refused"  # the API answered with an error: no task
NOT_SENT = "not_sent"  # the connection failed before anything was sent
LOCAL_STATES = frozenset({SENDING, UNKNOWN, REFUSED, NOT_SENT})

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     TEXT UNIQUE,
    world       TEXT NOT NULL,
    model       TEXT NOT NULL,
    task_type   TEXT NOT NULL,
    input       TEXT NOT NULL,
    config      TEXT NOT NULL,
    status      TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    urls        TEXT NOT NULL DEFAULT '[]',
    usage_type  TEXT,
    credits     INTEGER,
    task_json   TEXT
);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE TABLE IF NOT EXISTS downloads (
    task_id     TEXT NOT NULL,
    url         TEXT NOT NULL,
    path        TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    at          REAL NOT NULL,
    PRIMARY KEY (task_id, url, path)
);
"""


@dataclass
class Entry:
    """One journaled task."""

    id: int
    task_id: str | None
    world: str
    model: str
    task_type: str
    input: dict[str, Any]
    status: str
    message: str
    created_at: float
    updated_at: float
    urls: list[str]
    usage_type: str | None
    credits: int | None
    task: dict[str, Any] | None
    downloads: list[dict[str, Any]]

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL or self.status in (REFUSED, NOT_SENT)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task_id": self.task_id,
            "world": self.world,
            "model": self.model,
            "task_type": self.task_type,
            "status": self.status,
            "message": self.message,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "input": self.input,
            "output_urls": self.urls,
            "usage_type": self.usage_type,
            "credits": self.credits,
            "downloads": self.downloads,
        }


def parse_since(text: str, now: float) -> float:
    """``7d``, ``12h``, ``30m``, ``90s`` or ``2w`` ago, as a timestamp."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].replace(".", "", 1).isdigit():
        from piapi_cli.api.errors import UsageError

        raise UsageError(f"--since {text!r}: expected a number and a unit, like 30m, 12h, 7d or 2w")
    return now - float(text[:-1]) * units[text[-1]]


class Journal:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            hint = "or turn it off: --no-journal"
            raise ConfigError(f"cannot open the task journal {path}: {exc}", hint=hint) from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    # --- writing ------------------------------------------------------------------

    def begin_create(
        self,
        world: str,
        model: str,
        task_type: str,
        task_input: dict[str, Any],
        config: dict[str, Any] | None,
        **batch: Any,
    ) -> int:
        """Record a create about to be sent; returns the row to complete afterwards."""
        now = self.clock()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO tasks (world, model, task_type, input, config, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (world, model, task_type, json.dumps(task_input), json.dumps(redact(config or {})), SENDING, now, now),
            )
        return int(cursor.lastrowid or 0)

    def created(self, row: int, task: Task) -> None:
        with self._write() as db:
            db.execute("UPDATE tasks SET task_id = ? WHERE id = ?", (task.task_id, row))
        self.update(task)

    def create_failed(self, row: int, state: str, message: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE tasks SET status = ?, message = ?, updated_at = ? WHERE id = ?",
                (state, message, self.clock(), row),
            )

    def update(self, task: Task) -> None:
        """Store what a fetched task says now; unknown tasks (made elsewhere) are left alone."""
        urls = json.dumps([u.url for u in task.urls])
        message = task.failure_message() if task.is_terminal and not task.succeeded else ""
        with self._write() as db:
            db.execute(
                "UPDATE tasks SET status = ?, message = ?, urls = ?, usage_type = ?, credits = ?, task_json = ?,"
                " updated_at = ? WHERE task_id = ?",
                (
                    task.status,
                    message,
                    urls,
                    task.usage.get("type"),
                    task.credits,
                    json.dumps(task.to_json()),
                    self.clock(),
                    task.task_id,
                ),
            )

    def record_download(self, task_id: str, url: str, path: str, size: int, sha256: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO downloads (task_id, url, path, bytes, sha256, at) VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, url, path, size, sha256, self.clock()),
            )

    # --- reading ------------------------------------------------------------------

    def _entries(self, where: str, args: tuple[Any, ...], limit: int | None = None) -> list[Entry]:
        sql = f"SELECT * FROM tasks WHERE {where} ORDER BY created_at DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        self._db.row_factory = sqlite3.Row
        rows = self._db.execute(sql, args).fetchall()
        found = []
        for row in rows:
            downloads = [
                dict(d)
                for d in self._db.execute(
                    "SELECT url, path, bytes, sha256 FROM downloads WHERE task_id = ? ORDER BY at", (row["task_id"],)
                ).fetchall()
            ]
            found.append(
                Entry(
                    id=row["id"],
                    task_id=row["task_id"],
                    world=row["world"],
                    model=row["model"],
                    task_type=row["task_type"],
                    input=json.loads(row["input"]),
                    status=row["status"],
                    message=row["message"],
                    created_at=row["created_at"],
                    updated_at=row["updated_at"],
                    urls=json.loads(row["urls"]),
                    usage_type=row["usage_type"],
                    credits=row["credits"],
                    task=json.loads(row["task_json"]) if row["task_json"] else None,
                    downloads=downloads,
                )
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
        if world:
            clauses.append("world = ?")
            args.append(world)
        return self._entries(" AND ".join(clauses), tuple(args), limit)

    def find(self, ident: str) -> Entry | None:
        """A task by its ID (or a unique prefix of it), or by the journal's row number."""
        if ident.isdigit():
            found = self._entries("id = ?", (int(ident),))
            if found:
                return found[0]
        matches = self._entries("task_id LIKE ?", (ident.replace("%", "") + "%",))
        return matches[0] if len(matches) == 1 else None

    def unfinished(self, world: str) -> list[Entry]:
        """Tasks of this world with an ID that have not reached a terminal status."""
        terminal = tuple(TERMINAL | {"canceled"})
        marks = ", ".join("?" for _ in terminal)
        return self._entries(f"world = ? AND task_id IS NOT NULL AND status NOT IN ({marks})", (world, *terminal))

    def maybe_created(self, world: str) -> list[Entry]:
        """Creates of this world that may have been carried out but left no task ID: answers
        lost (``unknown``) and requests whose process died in flight (``sending``)."""
        return self._entries("world = ? AND task_id IS NULL AND status IN (?, ?)", (world, UNKNOWN, SENDING))

    def completed_without_downloads(self, world: str, directory: str) -> list[Entry]:
        """Completed tasks with outputs none of whose files is recorded as saved."""
        found = self._entries("world = ? AND status = 'completed' AND urls != '[]'", (world,))
        return [e for e in found if not e.downloads]

    def usage(self, *, since: float | None = None, by: str | None = None) -> list[dict[str, Any]]:
        """Credits consumed by completed tasks, in total or grouped by model / task_type / day."""
        groups = {
            None: "'all'",
            "model": "model",
            "task_type": "model || ' ' || task_type",
            "day": "date(created_at, 'unixepoch')",
            "status": "status",
        }
        if by not in groups:
            from piapi_cli.api.errors import UsageError

            raise UsageError(f"--by {by!r}: expected one of model, task_type, day, status")
        key = groups[by]
        sql = (
            f"SELECT {key} AS grp, COUNT(*) AS tasks, SUM(CASE WHEN status = 'completed' THEN credits ELSE 0 END)"
            " AS credits FROM tasks WHERE task_id IS NOT NULL"
        )
        args: tuple[Any, ...] = ()
        if since is not None:
            sql += " AND created_at >= ?"
            args = (since,)
        sql += " GROUP BY grp ORDER BY credits DESC, grp"
        self._db.row_factory = None
        return [{"group": g, "tasks": n, "credits": c or 0} for g, n, c in self._db.execute(sql, args).fetchall()]


def journaled_create(
    journal: Journal | None,
    world: str,
    create: Callable[[], Task],
    model: str,
    task_type: str,
    task_input: dict[str, Any],
    config: dict[str, Any] | None,
) -> Task:
    """Run ``create`` with the task journaled first, and the outcome recorded whatever it is."""
    from piapi_cli.api.errors import ConnectionFailed, CreateOutcomeUnknown, PiapiError

    if journal is None:
        return create()
    row = journal.begin_create(world, model, task_type, task_input, config)
    try:
        task = create()
    except CreateOutcomeUnknown as exc:
        journal.create_failed(row, UNKNOWN, exc.message)
        exc.hint = (
            f"it is journaled as unknown (piapi tasks show {row}); check your PiAPI dashboard before creating it again"
        )
        raise
    except ConnectionFailed as exc:
        journal.create_failed(row, NOT_SENT, exc.message)
        raise
    except PiapiError as exc:
        journal.create_failed(row, REFUSED, exc.message)
        raise
    except BaseException:
        # interrupted mid-request: it may or may not have reached PiAPI
        journal.create_failed(row, UNKNOWN, "interrupted while the create request was in flight")
        raise
    journal.created(row, task)
    return task
