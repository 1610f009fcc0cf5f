"""The journal shared by many threads: one connection under a lock, or a connection per thread?

    python bench/journal_threads.py [--tasks 1000] [--threads 64] [--runs 5]

Each task is what a create costs the journal: ``begin_create`` (an INSERT) then ``created``
(the UPDATEs), each its own ``BEGIN IMMEDIATE`` transaction, spread over the threads. Both
designs run against a fresh journal file in a temporary directory; the median wall time of
the runs is printed with the rate. ``Journal`` uses the first design; the second is built
here by giving each thread its own connection and no lock (SQLite's busy handler then
serialises the writers through the file lock).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from piapi_cli.api.tasks import Task
from piapi_cli.core.journal.journal import Journal


class ConnectionPerThread(Journal):
    """The alternative: a connection per thread, no lock in the process."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._local = threading.local()

    def _own(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), timeout=self.busy_timeout, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def write(self, operation: str = "writing") -> Iterator[sqlite3.Connection]:
        db = self._own()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def read(self, sql: str, args: tuple[Any, ...] = (), *, operation: str = "reading") -> list[sqlite3.Row]:
        return self._own().execute(sql, args).fetchall()


def run(kind: type[Journal], tasks: int, threads: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        journal = kind(Path(tmp) / "journal.sqlite3")

        def one(n: int) -> None:
            row = journal.begin_create("bench", "m", "t", {"n": n}, None)
            journal.created(row, Task.from_api({"task_id": f"task-{n}", "status": "pending"}))

        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(tasks)))
        elapsed = time.perf_counter() - start
        assert len(journal.entries()) == tasks
        journal.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for label, kind in (("one connection + lock", Journal), ("connection per thread", ConnectionPerThread)):
        times = [run(kind, args.tasks, args.threads) for _ in range(args.runs)]
        median = statistics.median(times)
        print(
            f"{label:24} median {median * 1000:7.0f} ms  ({args.tasks / median:6.0f} creates/s;"
            f" runs {', '.join(f'{t * 1000:.0f}' for t in times)} ms)"
        )


if __name__ == "__main__":
    main()
