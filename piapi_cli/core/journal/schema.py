"""The journal's schema, grown by numbered migrations recorded in ``PRAGMA user_version``.

Version N of the schema is what ``MIGRATIONS[:N]`` build, applied in order. Opening a
journal applies the ones it lacks in a single ``BEGIN IMMEDIATE`` transaction (SQLite's DDL
is transactional), so two processes opening an old journal at once migrate it once, and a
crash mid-migration leaves the previous version intact.

Version 1 is the first release's schema, kept exactly as that release wrote it (its
``CREATE ... IF NOT EXISTS`` let a journal written by that release, at ``user_version`` 0
with its tables present, pass through version 1 unchanged and go on to version 2).

To add version N+1, append one entry to ``MIGRATIONS`` below: SQL text (statements
separated by ``;``) or a function taking the open ``sqlite3.Connection``. The function may
live in its own module, but the entry is appended *here*, never as a side effect of
importing that module: every process that opens a journal must know every version, or it
would refuse a journal that another process migrated ("newer schema"). Never edit, reorder
or remove an entry that has been released.
"""

from __future__ import annotations

from piapi_cli.core.journal.events_schema import EVENTS_SCHEMA
from piapi_cli.core.journal.sql import sqlite3

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Union

    Migration = Union[str, Callable[[sqlite3.Connection], None]]

# The first release's schema, verbatim.
V1_FIRST_RELEASE = """
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

# Batch runs (a run ID and a row key per task, one create per row), the request's digest,
# and which process sent the create (to tell a create still in flight from one whose
# process died).
V2_RUNS_AND_SENDERS = """
ALTER TABLE tasks ADD COLUMN run_id TEXT;
ALTER TABLE tasks ADD COLUMN row_key TEXT;
ALTER TABLE tasks ADD COLUMN fingerprint TEXT;
ALTER TABLE tasks ADD COLUMN pid INTEGER;
ALTER TABLE tasks ADD COLUMN host TEXT;
CREATE UNIQUE INDEX tasks_run_row ON tasks (run_id, row_key) WHERE run_id IS NOT NULL;
CREATE INDEX tasks_world_created ON tasks (world, created_at);
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    created_at  REAL NOT NULL,
    source      TEXT,
    options     TEXT NOT NULL DEFAULT '{}',
    world       TEXT
);
"""

# The webhook deliveries piapi listen received (one row each; the unique key drops repeats).
V3_WEBHOOK_EVENTS = ";\n".join(EVENTS_SCHEMA)

# Conversations on the chat route (their messages, each answer's tokens) and the calls made
# on the image routes (journaled before they are sent, as creates are).
V4_CHATS_AND_IMAGE_CALLS = """
CREATE TABLE conversations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    world       TEXT NOT NULL,
    model       TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX conversations_world_updated ON conversations (world, updated_at);
CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id    INTEGER NOT NULL REFERENCES conversations (id),
    role               TEXT NOT NULL,
    content            TEXT NOT NULL,
    model              TEXT,
    state              TEXT NOT NULL DEFAULT 'complete',
    prompt_tokens      INTEGER,
    completion_tokens  INTEGER,
    total_tokens       INTEGER,
    at                 REAL NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);
CREATE TABLE image_calls (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     TEXT NOT NULL UNIQUE,
    world       TEXT NOT NULL,
    model       TEXT NOT NULL,
    route       TEXT NOT NULL,
    request     TEXT NOT NULL,
    status      TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    usage       TEXT,
    files       TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX image_calls_world_created ON image_calls (world, created_at);
"""

MIGRATIONS: list[Migration] = [V1_FIRST_RELEASE, V2_RUNS_AND_SENDERS, V3_WEBHOOK_EVENTS, V4_CHATS_AND_IMAGE_CALLS]


class SchemaTooNew(Exception):
    """The file was written by a newer piapi (its schema version is past ours)."""

    def __init__(self, version: int, known: int) -> None:
        super().__init__(f"schema version {version}, newer than this piapi knows ({known})")
        self.version = version
        self.known = known


def latest_version() -> int:
    return len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """SQL text cut into statements (``executescript`` would commit the open transaction)."""
    found: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip():
        found.append(pending.strip())
    return found


def version_of(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema to the latest version; returns the version it started from.

    ``db`` must be in autocommit mode (``isolation_level=None``); the whole upgrade is one
    transaction. Raises ``SchemaTooNew`` for a journal of a version we do not know.
    """
    known = latest_version()
    current = version_of(db)
    if current == known:
        return current  # the common case: no write lock taken
    if current > known:
        raise SchemaTooNew(current, known)
    db.execute("BEGIN IMMEDIATE")
    try:
        current = version_of(db)  # another process may have migrated while we waited
        if current > known:
            raise SchemaTooNew(current, known)
        for version in range(current + 1, known + 1):
            step = MIGRATIONS[version - 1]
            if isinstance(step, str):
                for statement in statements(step):
                    db.execute(statement)
            else:
                step(db)
        db.execute(f"PRAGMA user_version = {known:d}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return current
