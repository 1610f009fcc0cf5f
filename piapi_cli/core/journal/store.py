"""The journal's SQLite file: opening it privately, one transaction or query at a time under
a lock, and every failure in words (``JournalError``, exit 3), never a traceback."""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from piapi_cli.api.errors import ConfigError, PiapiError
from piapi_cli.api.scoped import contextmanager
from piapi_cli.api.tasks import scrub_value, shows_secret
from piapi_cli.core.journal.sql import sqlite3
from piapi_cli.core.processes import process_alive, this_host

__all__ = ["JournalError", "Store", "describe_failure", "journal_failure", "make_private", "process_alive", "this_host"]

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from piapi_cli.core.journal.groupcommit import Write, Writer, _Slot

#: seconds a write waits for another process's write lock before giving up
BUSY_TIMEOUT = 10.0


class JournalError(ConfigError):
    """The journal could not be opened, read or written (exit 3).

    ``operation`` says what was being done, ``kind`` what went wrong (``locked``,
    ``read_only``, ``damaged``, ``disk_full``, ``too_new``, ``cannot_open``, ``conflict``,
    ``other``). A caller that already holds a task (its create was answered) reports it with
    this error: the task exists even if its row does not say so.
    """

    def __init__(
        self,
        path: Path,
        operation: str,
        reason: str,
        *,
        kind: str = "other",
        action: str | None = None,
        hint: str | None = None,
        task_id: str | None = None,
        advice: str = "no_journal",
        row: int | None = None,
    ) -> None:
        message = f"task journal {path}: {reason} (while {operation})"
        # what to do is the action, or else running without the journal (the CLI's advice)
        super().__init__(message, hint=hint or action, task_id=task_id, path=str(path), advice=advice)
        #: the journal's row it is about, if one
        self.row = row
        self.operation = operation
        self.reason = reason
        self.kind = kind


def journal_failure(path: Path, exc: BaseException, task_id: str | None) -> PiapiError:
    """What to report when recording something in the journal failed: a piapi error as it is
    (naming the task), anything else as a ``JournalError``. The task exists all the same."""
    if isinstance(exc, PiapiError):
        exc.task_id = exc.task_id or task_id
        return exc
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return JournalError(path, "recording a task", reason, task_id=task_id)


if TYPE_CHECKING:
    _S = TypeVar("_S", bound="Store")
    _T = TypeVar("_T")


class Store:
    """One connection to the journal file; each transaction or query holds a lock, so threads
    may share it. WAL mode and a busy timeout let several processes write at once."""

    def __init__(
        self, path: Path, *, clock: Callable[[], float] = time.time, busy_timeout: float | None = None
    ) -> None:
        self.path = path
        self.clock = clock
        self.busy_timeout = BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._writer: Writer | None = None
        self._synchronous_full = False
        #: seconds spent committing under group commit (a batch run's share of the journal),
        #: and the CPU seconds of those
        self.busy = 0.0
        self.busy_cpu = 0.0
        #: values never kept nor read back (the API key, webhook secrets): set by whoever knows them
        self.secrets: Callable[[], list[str]] = list
        try:
            with self._guard("opening it"):
                make_private(path)
                db = sqlite3.connect(
                    str(path), timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
                )
                self._db = db
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                self._migrate(db)
        except BaseException:
            self.close()
            raise

    def scrubbed(self, value: _T) -> _T:
        """``value`` (a JSON value) with every one of ``secrets`` scrubbed from its strings: what
        is written to the file, or read back from a row written before, never holds one."""
        secrets = self.secrets()
        return scrub_value(value, *secrets) if secrets else value

    def scrubbed_json(self, value: Any, text: str | None = None, secrets: list[str] | None = None) -> str:
        """``json.dumps(self.scrubbed(value))`` with one encoding instead of three where nothing
        is to be scrubbed: ``text`` is ``value`` as JSON made with ``ensure_ascii=False`` (any
        separators), if the caller made it already; ``secrets``, ``self.secrets()`` if the caller
        has them. Clean ASCII text is kept as it is."""
        if text is None:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        secrets = self.secrets() if secrets is None else secrets
        if secrets and shows_secret(text, secrets):
            return json.dumps(scrub_value(value, *secrets))
        return text if text.isascii() else json.dumps(value)  # (a lone surrogate cannot be stored as UTF-8)

    def _migrate(self, db: sqlite3.Connection) -> None:
        from piapi_cli.core.journal.schema import SchemaTooNew, migrate

        try:
            migrate(db)
        except SchemaTooNew as exc:
            raise JournalError(
                self.path,
                "opening it",
                f"it has schema version {exc.version}, written by a newer piapi (this one knows up to {exc.known})",
                kind="too_new",
                action="upgrade piapi",
            ) from None

    def close(self) -> None:
        self._stop_group_commit()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        try:
            yield
        except JournalError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise self._failure(operation, exc) from None

    def _failure(self, operation: str, exc: sqlite3.Error | OSError) -> JournalError:
        """``exc`` in words, naming ``operation`` (what ``_guard`` raises)."""
        kind, reason, action = describe_failure(exc, self.busy_timeout)
        return JournalError(self.path, operation, reason, kind=kind, action=action)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise JournalError(self.path, "using it", "it is closed")
        return self._db

    @contextmanager
    def write(self, operation: str = "writing", *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed at the end, rolled back on
        any exception; SQLite's errors come out as ``JournalError`` naming ``operation``
        (a gerund phrase: "recording a create"). ``durable``: fsynced at the commit (it
        survives a power cut, not only a crash): a create's intent."""
        with self._lock, self._guard(operation):
            db = self._connection()
            self._durability(db, durable)
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the original error says more
                raise
            db.execute("COMMIT")

    def apply(self, write: Callable[[sqlite3.Connection], _T], operation: str, *, durable: bool = False) -> _T:
        """Run ``write`` (a function of the connection) in a write transaction, as ``write()``
        does; under group commit, together with the writes of the other threads."""
        writer = self._writer
        if writer is not None:
            from piapi_cli.core.journal.groupcommit import Closed

            try:
                with self._guard(operation):
                    done: _T = writer.run(write, durable=durable)
                    return done
            except Closed:
                pass  # it ended meanwhile: this thread outlived the run
        with self.write(operation, durable=durable) as db:
            return write(db)

    @contextmanager
    def group_commit(self) -> Iterator[None]:
        """While the block runs, the writes of ``apply`` from every thread are committed
        together by one thread (many threads writing at once: a batch run). ``busy`` and
        ``busy_cpu`` count the time it spends."""
        from piapi_cli.core.journal.groupcommit import Writer

        with self._lock:
            self._connection()
            started = self._writer is None
            if started:
                self._writer = Writer(self._group, self._counted)
        try:
            yield
        finally:
            if started:
                self._stop_group_commit()

    def _stop_group_commit(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def _group(self, jobs: list[tuple[Write, _Slot]]) -> None:
        from piapi_cli.core.journal.groupcommit import commit_together

        with self._lock:
            db = self._connection()
            self._durability(db, any(slot.durable for _, slot in jobs))
            commit_together(db, jobs)

    def _counted(self, seconds: float, cpu: float) -> None:
        self.busy += seconds
        self.busy_cpu += cpu

    def _durability(self, db: sqlite3.Connection, durable: bool) -> None:
        # FULL: the WAL is fsynced at each commit; NORMAL (WAL mode): a crash of piapi loses
        # nothing committed, a power cut may lose the last commits
        if durable != self._synchronous_full:
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._synchronous_full = durable

    def read(self, sql: str, args: tuple[Any, ...] = (), *, operation: str = "reading") -> list[sqlite3.Row]:
        """The rows of one query (``sqlite3.Row``: by name or index)."""
        with self._lock, self._guard(operation):
            return self._connection().execute(sql, args).fetchall()


def listing_where(
    status: str | None, model: str | None, since: float | None, world: str | None
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its arguments) of a listing's filters, as ``piapi tasks`` and
    ``piapi tasks images`` take them: a status (any case), a model (any case), created since,
    a world (None: every one)."""
    clauses, args = ["1 = 1"], []
    for clause, value in (
        ("status = ?", status.lower() if status else None),
        ("lower(model) = lower(?)", model or None),
        ("created_at >= ?", since),
        ("world = ?", world),
    ):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    return " AND ".join(clauses), args


#: the path of a journal kept in memory (``piapi listen --no-journal``)
IN_MEMORY = ":memory:"


def make_private(path: Path) -> None:
    """Create the journal's directory (0700) and file (0600), and tighten them if an older
    release left them readable by others; SQLite gives its ``-wal`` and ``-shm`` files the
    database file's mode. An in-memory journal (``:memory:``) has no file at all."""
    if str(path) == IN_MEMORY:
        return
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(directory, 0o700)
    if not path.exists():
        try:
            # created here, not by SQLite, so it is never readable by others, even for a moment
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass  # another process was first
    for member in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        _tighten(member, 0o600)


def _tighten(path: Path, mode: int) -> None:
    if os.name != "posix":
        return  # permission bits mean little there; the user's profile directory is private
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    if info.st_uid != os.getuid() or not info.st_mode & 0o077:
        return
    if stat.S_ISDIR(info.st_mode) and (info.st_mode & stat.S_ISVTX or path == Path.home()):
        return  # a shared directory such as /tmp, or the home directory: not ours to close
    try:
        os.chmod(path, mode)
    except OSError:
        pass  # an immutable file: opening it reports the problem in words


def describe_failure(exc: sqlite3.Error | OSError, busy_timeout: float) -> tuple[str, str, str | None]:
    """What went wrong with the journal, in words: (kind, reason, what to do about it)."""
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    lowered = text.lower()
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    read_only = ("read_only", "it cannot be written (a read-only or immutable file or directory)", "make it writable")
    disk_full = ("disk_full", "the disk is full", "free some space")
    if isinstance(exc, OSError):
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return read_only
        if exc.errno == errno.ENOSPC:
            return disk_full
        return "other", exc.strerror or text, None
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in lowered:
        reason = f"another process holds its write lock (waited {busy_timeout:g} s)"
        return "locked", reason, "try again when that process is done"
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")) or "readonly" in lowered:
        return read_only
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in lowered or "malformed" in lowered:
        return "damaged", f"it is damaged ({text})", "move it aside (piapi then starts a new one)"
    if name.startswith("SQLITE_FULL") or "disk is full" in lowered:
        return disk_full
    if name.startswith("SQLITE_CANTOPEN"):
        return "cannot_open", f"it cannot be opened ({text})", "check the file and its directory"
    return "other", text, None
