"""Webhook deliveries received by ``piapi listen``, kept in the journal's ``events`` table.

Every accepted delivery is a row: when it arrived, what it means (``task.completed``...), the
task, its status, the delivery's own timestamp, the body exactly as it came (for forwarding and
replay, byte for byte) and where it was forwarded. A delivery repeated by PiAPI's retries (same
task, status and timestamp) is recognised by its ``delivery_key`` and stored once.

The body carries the webhook secret (PiAPI echoes ``config.webhook_config``): it is sealed
before it is written (every occurrence replaced by a marker that cannot appear in JSON text)
and unsealed with the listener's secret when it is sent again, so the file never holds it.

One ``sqlite3`` connection is shared by the listener's threads: every call here holds one lock,
so two deliveries never interleave inside a transaction. The deliveries that arrive together
are recorded in one transaction (``batch``), each under a savepoint of its own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import TERMINAL, Task
from piapi_cli.core.journal.events_schema import EVENTS_SCHEMA  # noqa: E402,F401 - re-exported
from piapi_cli.core.journal.journal import Journal

_T = TypeVar("_T")

#: forward states: nothing to forward, not yet done, every destination took it, one did not
NONE, PENDING, OK, FAILED = "none", "pending", "ok", "failed"

_SEALED = b"\x00piapi:secret\x00"  # a NUL byte never appears in JSON text
_SEALED_ESCAPED = b"\x00piapi:secret:json\x00"


def delivery_key(task_id: str, status: str, timestamp: int | None, body: bytes) -> str:
    """What makes a delivery the same delivery: PiAPI's retries repeat task, status and timestamp.

    A delivery without a timestamp is keyed on its body's digest instead.
    """
    if timestamp is None:
        import hashlib

        return f"{task_id}:{status}:sha256={hashlib.sha256(body).hexdigest()[:32]}"
    return f"{task_id}:{status}:{timestamp}"


def backstop_key(task_id: str, status: str) -> str:
    """The key of a status the listener fetched itself: a late delivery of it is a duplicate."""
    return f"{task_id}:{status}:backstop"


def seal(body: bytes, secret: str) -> bytes:
    if not secret:
        return body
    sealed = body.replace(secret.encode(), _SEALED)
    escaped = json.dumps(secret)[1:-1].encode()
    if escaped != secret.encode():
        sealed = sealed.replace(escaped, _SEALED_ESCAPED)
    return sealed


def unseal(body: bytes, secret: str) -> bytes:
    return body.replace(_SEALED, secret.encode()).replace(_SEALED_ESCAPED, json.dumps(secret)[1:-1].encode())


def event_name(status: str, seen: Iterable[str]) -> str:
    """What a delivery means: ``task.created`` for a new pending task, ``task.<status>`` the first
    time a status is heard, ``task.updated`` for later news of a status already heard (progress,
    logs), so acting once per status is the natural thing for a consumer."""
    if status in seen:
        return "task.updated"
    if status == "pending":
        return "task.created"
    return f"task.{status}"


@record()
class StoredEvent:
    id: int
    received_at: float
    event: str
    task_id: str
    status: str
    timestamp: int | None
    source: str
    body: bytes  # as received (unsealed)
    headers: dict[str, str]
    forward_state: str = NONE
    forwards: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: True when an older delivery arrived after a newer one: the journal row was left alone
    stale: bool = False


class EventStore:
    """The events table of one journal (``Journal(":memory:")`` when the journal is off)."""

    def __init__(self, journal: Journal, secret: str) -> None:
        self.journal = journal
        self.secret = secret
        self._batch = threading.local()  # the transaction of this thread's batch, while one is open

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The deliveries this thread records in the block share one transaction, committed when
        the block ends (nothing of them is stored if it fails). Each is written under a savepoint:
        one that fails fails alone."""
        with self.journal.write("recording webhook deliveries") as db:
            self._batch.db = db
            try:
                yield
            finally:
                self._batch.db = None

    # --- receiving ------------------------------------------------------------------

    def record(
        self,
        *,
        task: Task,
        timestamp: int | None,
        body: bytes,
        headers: dict[str, str],
        received_at: float,
        source: str = "webhook",
        forward_to: Callable[[str], list[str]] = lambda name: [],
        on_stored: Callable[[], None] | None = None,
    ) -> StoredEvent | None:
        """Store one delivery and bring the task's journal row up to date.

        Returns None for a duplicate (nothing stored, nothing to act on). ``forward_to`` gives,
        from the event's name, the URLs it is to be forwarded to: each starts ``pending``.
        ``on_stored`` is called inside the transaction once the event is in it, in the order
        the deliveries are committed.
        """
        status = task.status
        key = backstop_key(task.task_id, status) if source == "backstop" else None
        key = key or delivery_key(task.task_id, status, timestamp, body)

        def store(db: sqlite3.Connection) -> StoredEvent | None:
            history = db.execute(
                "SELECT status, timestamp, delivery_key FROM events WHERE task_id = ?", (task.task_id,)
            ).fetchall()
            keys = {row[2] for row in history}
            if key in keys or backstop_key(task.task_id, status) in keys:
                return None
            name = event_name(status, {row[0] for row in history})
            newest = max((row[1] for row in history if row[1] is not None), default=None)
            # statuses only move forward: one behind what came already is kept, never acted on
            late = timestamp is not None and newest is not None and timestamp < newest
            late = late or _stage(status) < max((_stage(row[0]) for row in history), default=-1)
            forwards = {} if late else {url: {"state": PENDING} for url in forward_to(name)}
            event = StoredEvent(0, received_at, name, task.task_id, status, timestamp, source, body, headers,
                                PENDING if forwards else NONE, forwards)  # fmt: skip
            event.id = self._insert(db, event, key)
            if not event.id:  # another process stored it first
                return None
            if on_stored is not None:
                on_stored()
            row = db.execute("SELECT status FROM tasks WHERE task_id = ?", (task.task_id,)).fetchone()
            event.stale = late or (row is not None and row[0] in TERMINAL and not task.is_terminal)
            if row is not None and not event.stale:  # a task made elsewhere has no row to update
                self.journal._store(db, task)
            return event

        # one transaction: two listeners on one journal store a delivery once, and the task's
        # row is brought up to date in it; in a batch, the batch's transaction
        db = getattr(self._batch, "db", None)
        if db is None:
            return self.journal.apply(store, "recording a webhook delivery")
        with self.journal._guard("recording a webhook delivery"):
            return _in_savepoint(db, store)

    def _insert(self, db: sqlite3.Connection, event: StoredEvent, key: str) -> int:
        """Store the event (its body sealed); its ID, or 0 when that delivery is stored already."""
        cursor = db.execute(
            "INSERT OR IGNORE INTO events (received_at, event, task_id, status, timestamp, source,"
            " delivery_key, body, headers, forward_state, forwards) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event.received_at, event.event, event.task_id, event.status, event.timestamp, event.source, key,
             seal(event.body, self.secret), json.dumps(event.headers), event.forward_state,
             json.dumps(event.forwards)),
        )  # fmt: skip
        return int(cursor.lastrowid or 0) if cursor.rowcount else 0

    # --- forwarding -----------------------------------------------------------------

    def set_forward(self, event_id: int, url: str, result: dict[str, Any]) -> str:
        """Record one destination's outcome; returns the event's overall forward state."""
        with self.journal.write("recording a forward") as db:
            row = db.execute("SELECT forwards FROM events WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                return NONE
            forwards = json.loads(row[0])
            forwards[url] = result
            states = {entry.get("state") for entry in forwards.values()}
            state = FAILED if FAILED in states else PENDING if PENDING in states else OK
            db.execute(
                "UPDATE events SET forwards = ?, forward_state = ? WHERE id = ?",
                (json.dumps(forwards), state, event_id),
            )
            return state

    def clear_forwards(self, event_id: int) -> None:
        """Forget where an event went (it is being sent somewhere else now)."""
        with self.journal.write("forgetting a forward") as db:
            db.execute("UPDATE events SET forwards = '{}', forward_state = ? WHERE id = ?", (NONE, event_id))

    def get(self, event_id: int) -> StoredEvent | None:
        found = self._select("id = ?", (event_id,))
        return found[0] if found else None

    def of_task(self, task_id: str) -> list[StoredEvent]:
        """Every stored event of one task, oldest first."""
        return self._select("task_id = ?", (task_id,))

    def unforwarded(self) -> list[StoredEvent]:
        """Events a destination did not take, or that were never sent (the listener stopped first)."""
        return self._select("forward_state IN (?, ?)", (FAILED, PENDING))

    def pending(self) -> list[StoredEvent]:
        """Events stored for forwarding that were never sent (their listener stopped or died
        first), oldest first."""
        return self._select("forward_state = ?", (PENDING,))

    def _select(self, where: str, args: tuple[Any, ...]) -> list[StoredEvent]:
        rows = self.journal.read(
            "SELECT id, received_at, event, task_id, status, timestamp, source, body, headers, forward_state,"
            f" forwards FROM events WHERE {where} ORDER BY id",
            args,
        )
        return [
            StoredEvent(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                unseal(bytes(row[7]), self.secret),
                json.loads(row[8]),
                row[9],
                json.loads(row[10]),
            )
            for row in rows
        ]

    def silent_tasks(self, world: str, since: float) -> list[tuple[str, float, str, float | None, str | None]]:
        """Journaled tasks of ``world`` created since ``since`` that no stored event shows
        finished: (task ID, created at, its config as JSON text, when an event of it last
        arrived, the status it last brought). The backstop's question."""
        terminal = tuple(sorted(TERMINAL))
        marks = ", ".join("?" for _ in terminal)
        rows = self.journal.read(
            "SELECT t.task_id, t.created_at, t.config,"
            " (SELECT MAX(received_at) FROM events e WHERE e.task_id = t.task_id),"
            " (SELECT status FROM events e WHERE e.task_id = t.task_id ORDER BY id DESC LIMIT 1)"
            " FROM tasks t WHERE t.world = ? AND t.task_id IS NOT NULL AND t.created_at >= ?"
            f" AND NOT EXISTS (SELECT 1 FROM events e WHERE e.task_id = t.task_id AND e.status IN ({marks}))",
            (world, since, *terminal),
        )
        return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    def record_download(self, task_id: str, url: str, path: str, size: int, sha256: str) -> None:
        self.journal.record_download(task_id, url, path, size, sha256)

    def counts(self) -> dict[str, int]:
        rows = self.journal.read("SELECT forward_state, COUNT(*) FROM events GROUP BY forward_state")
        return {row[0]: row[1] for row in rows}

    def prune(self, before: float) -> int:
        """Forget events older than ``before`` that need nothing more (forwarded, or not to be)."""
        with self.journal.write("pruning webhook events") as db:
            cursor = db.execute(
                "DELETE FROM events WHERE received_at < ? AND forward_state IN (?, ?)", (before, NONE, OK)
            )
        return cursor.rowcount


# --- what a delivery says ------------------------------------------------------------


def parse_delivery(body: bytes) -> tuple[Task, int | None] | str:
    """The task and timestamp of ``{"timestamp": ..., "data": {task}}``, or why it is not one."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return "the body is not JSON"
    if not isinstance(document, dict):
        return "the body is not a JSON object"
    data = document.get("data")
    if not isinstance(data, dict):
        return "the body has no data object"
    task_id = data.get("task_id")
    if not isinstance(task_id, str) or not task_id.strip():
        return "data has no task_id"
    stamp = document.get("timestamp")
    timestamp: int | None = None
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and abs(stamp) < 1e13:
        timestamp = int(stamp)
    elif isinstance(stamp, str) and stamp.strip().isdigit() and len(stamp.strip()) < 14:
        timestamp = int(stamp.strip())
    return Task.from_api(data), timestamp


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@record()
class WebhookEvent:
    """One accepted delivery (or one the backstop found), as reported and acted on."""

    stored: StoredEvent
    task: Task
    _json: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.stored.event

    def to_json(self) -> dict[str, Any]:
        if self._json is None:
            self._json = self._document()
        return self._json

    def _document(self) -> dict[str, Any]:
        return {
            "id": self.stored.id,
            "received_at": rfc3339(self.stored.received_at),
            "event": self.stored.event,
            "task_id": self.task.task_id,
            "status": self.task.status,
            "model": self.task.model,
            "task_type": self.task.task_type,
            "timestamp": self.stored.timestamp,
            "source": self.stored.source,
            "task": self.task.to_json(),
        }


def _in_savepoint(db: sqlite3.Connection, write: Callable[[sqlite3.Connection], _T]) -> _T:
    """``write`` inside the open transaction; if it fails, what it wrote goes, and nothing else."""
    db.execute("SAVEPOINT delivery")
    try:
        result = write(db)
    except BaseException:
        db.execute("ROLLBACK TO delivery")
        db.execute("RELEASE delivery")
        raise
    db.execute("RELEASE delivery")
    return result


def _stage(status: str) -> int:
    """How far along a status is: waiting, running, ended (an unknown one: as far as any)."""
    if status in TERMINAL:
        return 2
    return {"pending": 0, "staged": 0, "processing": 1}.get(status, -1)
