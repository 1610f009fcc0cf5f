"""The journal's side of the account's history: tasks created elsewhere (the dashboard, another
machine, a lost journal) recorded as they are fetched, and which task IDs the journal holds."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from piapi_cli.api.tasks import Task, as_dict, redact

if TYPE_CHECKING:
    from piapi_cli.core.journal.journal import Journal

#: SQLite's limit on the values one statement binds is 999 in old builds
_CHUNK = 500


def adopt(journal: Journal, world: str, task: Task) -> tuple[int, bool]:
    """Record a task fetched from the API that no create of this journal made; returns its
    row and whether it was new (a task already journaled is left as it is)."""
    created = task.created_at.timestamp() if task.created_at is not None else journal.clock()
    with journal.write("recording a task found in the account's history") as db:
        found = db.execute("SELECT id FROM tasks WHERE task_id = ?", (task.task_id,)).fetchone()
        if found is not None:
            return int(found[0]), False
        cursor = db.execute(
            "INSERT INTO tasks (world, model, task_type, input, config, status, created_at, updated_at, task_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                world,
                task.model,
                task.task_type,
                json.dumps(journal.scrubbed(task.input)),
                json.dumps(journal.scrubbed(redact(as_dict(task.raw.get("config"))))),
                task.status,
                created,
                journal.clock(),
                task.task_id,
            ),
        )
        journal._store(db, task)  # the same columns a fetched task of our own fills
    return int(cursor.lastrowid or 0), True


def known_task_ids(journal: Journal, task_ids: list[str]) -> dict[str, int]:
    """Which of these task IDs the journal holds, with their rows."""
    found: dict[str, int] = {}
    for start in range(0, len(task_ids), _CHUNK):
        chunk = tuple(task_ids[start : start + _CHUNK])
        marks = ", ".join("?" for _ in chunk)
        for row in journal.read(f"SELECT id, task_id FROM tasks WHERE task_id IN ({marks})", chunk):
            found[str(row["task_id"])] = int(row["id"])
    return found
