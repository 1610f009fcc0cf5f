"""The events table: the webhook deliveries ``piapi listen`` received (journal schema v3)."""

from __future__ import annotations

#: the journal's schema version 3 (see journal_schema.MIGRATIONS): the webhook deliveries received
EVENTS_SCHEMA = (
    """CREATE TABLE events (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at   REAL NOT NULL,
        event         TEXT NOT NULL,
        task_id       TEXT NOT NULL,
        status        TEXT NOT NULL,
        timestamp     INTEGER,
        source        TEXT NOT NULL DEFAULT 'webhook',
        delivery_key  TEXT NOT NULL UNIQUE,
        body          BLOB NOT NULL,
        headers       TEXT NOT NULL DEFAULT '{}',
        forward_state TEXT NOT NULL DEFAULT 'none',
        forwards      TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX events_task ON events (task_id, id)",
    "CREATE INDEX events_forward ON events (forward_state)",
    "CREATE INDEX events_received ON events (received_at)",
)
