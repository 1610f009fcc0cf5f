"""Where the sandbox keeps its tasks: in memory (the server), or one JSON file per task
(in-process ``--sandbox`` runs, so ``ID=$(piapi --sandbox create ...)`` then
``piapi --sandbox wait "$ID"`` works across processes)."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

Record = dict[str, Any]
_ID = re.compile(r"^[0-9a-f-]{36}$")
#: the file store forgets tasks this many seconds after they end, as PiAPI's result URLs expire
RETENTION = 3 * 24 * 3600


class TaskStore(Protocol):
    def put(self, record: Record) -> None: ...
    def get(self, task_id: str) -> Record | None: ...
    def all(self) -> Iterator[Record]: ...
    def active(self, now: float) -> list[Record]: ...
    def consumed(self, now: float) -> int: ...
    def put_upload(self, upload_id: str, content: bytes) -> None: ...
    def get_upload(self, upload_id: str) -> bytes | None: ...


class _Queries:
    def all(self) -> Iterator[Record]:
        raise NotImplementedError

    def active(self, now: float) -> list[Record]:
        return [r for r in self.all() if r["end"] > now and r.get("canceled_at") is None]

    def consumed(self, now: float) -> int:
        return sum(
            r["charge"] for r in self.all() if r["end"] <= now and not r.get("fail") and r.get("canceled_at") is None
        )


class MemoryStore(_Queries):
    def __init__(self) -> None:
        self._tasks: dict[str, Record] = {}
        self._uploads: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put_upload(self, upload_id: str, content: bytes) -> None:
        self._uploads[upload_id] = content

    def get_upload(self, upload_id: str) -> bytes | None:
        return self._uploads.get(upload_id)

    def put(self, record: Record) -> None:
        with self._lock:
            self._tasks[record["task_id"]] = dict(record)

    def get(self, task_id: str) -> Record | None:
        with self._lock:
            found = self._tasks.get(task_id)
            return dict(found) if found else None

    def all(self) -> Iterator[Record]:
        with self._lock:
            records = list(self._tasks.values())
        return iter(records)

    def __len__(self) -> int:
        return len(self._tasks)


class FileStore(_Queries):
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put_upload(self, upload_id: str, content: bytes) -> None:
        folder = self.directory.parent / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, folder / upload_id)

    def get_upload(self, upload_id: str) -> bytes | None:
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            return None
        try:
            return (self.directory.parent / "uploads" / upload_id).read_bytes()
        except OSError:
            return None

    def _path(self, task_id: str) -> Path | None:
        return self.directory / f"{task_id}.json" if _ID.match(task_id) else None

    def put(self, record: Record) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(record["task_id"])
        assert path is not None
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, task_id: str) -> Record | None:
        path = self._path(task_id)
        if path is None:
            return None
        try:
            record: Record = json.loads(path.read_text("utf-8"))
            return record
        except (OSError, ValueError):
            return None

    def all(self) -> Iterator[Record]:
        if not self.directory.is_dir():
            return
        for path in self.directory.glob("*.json"):
            found = self.get(path.stem)
            if found is not None:
                yield found

    def active(self, now: float) -> list[Record]:
        """Tasks still running; forgets, on the way, tasks that ended long ago."""
        found = []
        for record in self.all():
            if record["end"] + RETENTION < now:
                (self.directory / f"{record['task_id']}.json").unlink(missing_ok=True)
            elif record["end"] > now and record.get("canceled_at") is None:
                found.append(record)
        return found
