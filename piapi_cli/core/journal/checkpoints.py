"""WAL checkpoints on a thread of their own, so that a writer that must answer fast never runs one.

SQLite copies the write-ahead log back into the database file (a checkpoint, with an fsync) in
the connection whose commit takes the log past 1,000 pages. ``piapi listen`` commits the
deliveries of one moment on the thread that serves every connection: a checkpoint there held
all of them for up to 200 ms (bench/README.md). While ``background_checkpoints`` runs, that
connection checkpoints only past ``ceiling`` pages (a last resort), and this thread, on a
connection of its own, checkpoints after each ``nudge`` (a commit), at most every ``every``
seconds. PASSIVE checkpoints never wait for a writer or a reader, nor make one wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from piapi_cli.core.journal.journal import Journal
from piapi_cli.core.journal.sql import sqlite3
from piapi_cli.core.journal.store import IN_MEMORY


class Checkpointer:
    def __init__(self, journal: Journal, every: float) -> None:
        self.every = every
        self._db = sqlite3.connect(str(journal.path), timeout=journal.busy_timeout, check_same_thread=False)
        self._nudged = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="piapi-checkpoints", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Something was committed: checkpoint soon."""
        self._nudged.set()

    def _loop(self) -> None:
        while not self._stop:
            self._nudged.wait()
            self._nudged.clear()
            if self._stop:
                break
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:  # (the writers' own checkpoints past the ceiling still run)
                pass
            time.sleep(self.every)

    def close(self) -> None:
        self._stop = True
        self._nudged.set()
        self._thread.join()
        self._db.close()


@contextmanager
def background_checkpoints(
    journal: Journal, *, every: float = 0.1, ceiling: int = 4096
) -> Iterator[Checkpointer | None]:
    """While the block runs, the journal's own connection checkpoints only past ``ceiling``
    pages, and a ``Checkpointer`` does it otherwise (None for a journal in memory)."""
    if str(journal.path) == IN_MEMORY:
        yield None
        return
    journal.read(f"PRAGMA wal_autocheckpoint={ceiling:d}", operation="setting checkpoints apart")
    checkpointer = Checkpointer(journal, every)
    try:
        yield checkpointer
    finally:
        checkpointer.close()
        try:
            journal.read("PRAGMA wal_autocheckpoint=1000", operation="setting checkpoints back")
        except Exception:  # (closed meanwhile: a new connection starts at the default)
            pass
