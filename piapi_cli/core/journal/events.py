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
are recorded in one transaction (``batch``); one that fails is taken back alone. A delivery
costs three statements (its history and journal row read in one, the event inserted, the row
updated), the task's JSON is redacted and encoded once for the row and the event's line.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from piapi_cli.api.tasks import TERMINAL, Task
from piapi_cli.core.journal.deliveries import FAILED as FAILED  # (re-exported: what a delivery says)
from piapi_cli.core.journal.deliveries import NONE as NONE
from piapi_cli.core.journal.deliveries import OK as OK
from piapi_cli.core.journal.deliveries import PENDING as PENDING
from piapi_cli.core.journal.deliveries import StoredEvent as StoredEvent
from piapi_cli.core.journal.deliveries import TaskJSON as TaskJSON
from piapi_cli.core.journal.deliveries import WebhookEvent as WebhookEvent
from piapi_cli.core.journal.deliveries import parse_delivery as parse_delivery
from piapi_cli.core.journal.deliveries import rfc3339 as rfc3339
from piapi_cli.core.journal.events_schema import EVENTS_SCHEMA  # noqa: E402,F401 - re-exported
from piapi_cli.core.journal.journal import Journal
from piapi_cli.core.journal.sql import sqlite3
from piapi_cli.core.journal.store import JournalError

_SEALED = b"\x00piapi:secret\x00"  # a NUL byte never appears in JSON text
_SEALED_ESCAPED = b"\x00piapi:secret:json\x00"

#: a task's stored events (no last column) and its journal row (its ID last), in one statement
_HISTORY = (
    "SELECT status, timestamp, delivery_key, NULL FROM events WHERE task_id = ?"
    " UNION ALL SELECT status, NULL, NULL, id FROM tasks WHERE task_id = ?"
)


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
    plain, escaped = _secret_bytes(secret)
    sealed = body.replace(plain, _SEALED)
    if escaped != plain:
        sealed = sealed.replace(escaped, _SEALED_ESCAPED)
    return sealed


@lru_cache(maxsize=8)
def _secret_bytes(secret: str) -> tuple[bytes, bytes]:
    """The secret as written and JSON-escaped (made once: every delivery is sealed)."""
    return secret.encode(), json.dumps(secret)[1:-1].encode()


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


class EventStore:
    """The events table of one journal (``Journal(":memory:")`` when the journal is off)."""

    def __init__(self, journal: Journal, secret: str) -> None:
        self.journal = journal
        self.secret = secret
        self._batch = threading.local()  # the transaction of this thread's batch, while one is open
        self._headers: tuple[dict[str, str] | None, str] = (None, "{}")  # the last headers stored, as JSON

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The deliveries this thread records in the block share one transaction, committed when
        the block ends (nothing of them is stored if it fails). A delivery whose writes fail is
        taken back alone (no savepoint: its writes come last, and an event is deleted again):
        one that fails fails alone, and one whose failure cannot be taken back alone (SQLite
        rolled the transaction back) fails them all."""
        with self.journal.write("recording webhook deliveries") as db:
            self._batch.db, self._batch.broken = db, False
            try:
                yield
                if self._batch.broken:
                    raise JournalError(self.journal.path, "recording webhook deliveries", "a delivery's write failed")
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
        task_json: TaskJSON | None = None,
    ) -> StoredEvent | None:
        """Store one delivery and bring the task's journal row up to date.

        Returns None for a duplicate (nothing stored, nothing to act on). ``forward_to`` gives,
        from the event's name, the URLs it is to be forwarded to: each starts ``pending``.
        ``on_stored`` is called inside the transaction once the event is in it, in the order
        the deliveries are committed. ``task_json``: the task's JSON, if the caller has it made
        (its event reuses it).
        """
        status = task.status
        key = backstop_key(task.task_id, status) if source == "backstop" else None
        key = key or delivery_key(task.task_id, status, timestamp, body)
        made = task_json or TaskJSON(task)

        def store(db: sqlite3.Connection) -> StoredEvent | None:
            rows = db.execute(_HISTORY, (task.task_id, task.task_id)).fetchall()
            history = [r for r in rows if r[3] is None]
            row = next((r for r in rows if r[3] is not None), None)  # the task's journal row
            keys = {r[2] for r in history}
            if key in keys or backstop_key(task.task_id, status) in keys:
                return None
            name, late = event_name(status, {r[0] for r in history}), _late(status, timestamp, history)
            forwards = {} if late else {url: {"state": PENDING} for url in forward_to(name)}
            stale = late or (row is not None and row[0] in TERMINAL and not task.is_terminal)
            event = StoredEvent(0, received_at, name, task.task_id, status, timestamp, source, body, headers,
                                PENDING if forwards else NONE, forwards, stale)  # fmt: skip
            # what may fail in Python is done before the first write (a task made elsewhere has no row)
            values = self._values(event, key)
            update = None if row is None or event.stale else self.journal._update(task, row[3], made)
            return self._write(db, event, values, update, on_stored)

        # one transaction: two listeners on one journal store a delivery once, and the task's
        # row is brought up to date in it; in a batch, the batch's transaction
        db = getattr(self._batch, "db", None)
        if db is None:
            return self.journal.apply(store, "recording a webhook delivery")
        operation = "recording a webhook delivery"
        if self._batch.broken:
            raise JournalError(self.journal.path, operation, "the batch failed before it")
        try:
            return store(db)
        except BaseException as exc:
            if not db.in_transaction:  # SQLite rolled it all back (a full disk...): nothing of the batch holds
                self._batch.broken = True
            if isinstance(exc, (sqlite3.Error, OSError)):
                raise self.journal._failure(operation, exc) from None  # (what journal._guard would raise)
            raise

    def _write(
        self,
        db: sqlite3.Connection,
        event: StoredEvent,
        values: tuple[Any, ...],
        update: tuple[str, tuple[Any, ...]] | None,
        on_stored: Callable[[], None] | None,
    ) -> StoredEvent | None:
        """Insert the event, then update the task's row (``update``); if that fails, the event
        is taken back (no savepoint: they are the delivery's only writes)."""
        event.id = self._insert(db, values)
        if not event.id:  # another process stored it first
            return None
        if on_stored is not None:
            on_stored()
        if update is not None:
            try:
                db.execute(*update)
            except BaseException:
                self._undo(db, event.id)
                raise
        return event

    def _values(self, event: StoredEvent, key: str) -> tuple[Any, ...]:
        """The events row of ``event`` (its body sealed)."""
        last_headers, headers = self._headers, event.headers  # (those of one sender: the same every time)
        if last_headers[0] != headers:
            last_headers = self._headers = (dict(headers), json.dumps(headers))
        return (event.received_at, event.event, event.task_id, event.status, event.timestamp, event.source, key,
                seal(event.body, self.secret), last_headers[1],
                event.forward_state, json.dumps(event.forwards) if event.forwards else "{}")  # fmt: skip

    def _insert(self, db: sqlite3.Connection, values: tuple[Any, ...]) -> int:
        """Store the event; its ID, or 0 when that delivery is stored already."""
        cursor = db.execute(
            "INSERT OR IGNORE INTO events (received_at, event, task_id, status, timestamp, source,"
            " delivery_key, body, headers, forward_state, forwards) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        return int(cursor.lastrowid or 0) if cursor.rowcount else 0

    def _undo(self, db: sqlite3.Connection, event_id: int) -> None:
        """Take back an event whose task's row could not be written (the delivery fails alone);
        if that fails too, the batch fails whole (none of it is answered 200)."""
        try:
            if db.in_transaction:
                db.execute("DELETE FROM events WHERE id = ?", (event_id,))
                return
        except BaseException:
            pass
        if getattr(self._batch, "db", None) is not None:
            self._batch.broken = True

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


def _late(status: str, timestamp: int | None, history: list[sqlite3.Row]) -> bool:
    """Statuses only move forward: one behind what came already (by its timestamp, or by how
    far along it is) is kept, never acted on."""
    newest = max((r[1] for r in history if r[1] is not None), default=None)
    late = timestamp is not None and newest is not None and timestamp < newest
    return late or _stage(status) < max((_stage(r[0]) for r in history), default=-1)


def _stage(status: str) -> int:
    """How far along a status is: waiting, running, ended (an unknown one: as far as any)."""
    if status in TERMINAL:
        return 2
    return {"pending": 0, "staged": 0, "processing": 1}.get(status, -1)
