"""The partial file a download streams into, and the record of what it holds.

``NAME.part`` is opened without following a symbolic link planted there, and locked (``flock``)
by the one download writing it: a second process finds it busy instead of appending to it.
``NAME.part.json`` records the URL and the server's validators (ETag, Last-Modified, length), so
a leftover part is resumed only for the same object. Every file is written beside its final name
and renamed into place, never over a file that exists unless asked.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from piapi_cli.api.errors import DownloadError
from piapi_cli.api.records import asdict, record
from piapi_cli.core.downloads.naming import SAFE_OPEN, temp_name

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; a second process is not detected
    fcntl = None  # type: ignore[assignment]

CHUNK = 1024 * 1024
RECORD_LIMIT = 64 * 1024  # a resume record is a few hundred bytes; a planted huge file is ignored


@record(frozen=True)
class ResumeRecord:
    """What a partial file holds: the first bytes of this URL's object, as identified here."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    #: the whole object's length in bytes, when the server said
    length: int | None = None
    #: the content encoding the bytes were decoded from ("" for none): such a part is never resumed
    encoding: str = ""

    @classmethod
    def from_headers(cls, url: str, headers: Mapping[str, str], length: int | None, encoding: str) -> ResumeRecord:
        return cls(url, headers.get("etag"), headers.get("last-modified"), length, encoding)

    def if_range(self) -> str | None:
        """The validator for ``If-Range``: a strong ETag, else the Last-Modified date."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    @classmethod
    def from_json(cls, text: bytes) -> ResumeRecord | None:
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("url"), str):
            return None
        length = doc.get("length")
        return cls(
            doc["url"],
            doc["etag"] if isinstance(doc.get("etag"), str) else None,
            doc["last_modified"] if isinstance(doc.get("last_modified"), str) else None,
            length if isinstance(length, int) and not isinstance(length, bool) and length >= 0 else None,
            doc["encoding"] if isinstance(doc.get("encoding"), str) else "",
        )


class PartFile:
    """An open, locked ``NAME.part``: the only writer of that file while it is open."""

    def __init__(self, path: Path, fd: int, size: int | None = None) -> None:
        self.path = path
        self.record_path = path.with_name(path.name + ".json")
        self._fd = fd
        #: the part's size while nothing has written it since it was known (None: ask the disk)
        self._size = size
        #: whether a record is on the disk (None: not looked for); the part's lock keeps it so
        self._has_record: bool | None = None
        #: the record to write before the first byte (``restart(..., deferred=True)``)
        self._due: ResumeRecord | None = None

    @classmethod
    def open(cls, path: Path) -> PartFile:
        """Open (creating it if need be) and lock ``path``; a DownloadError if it is busy or not a
        plain file. A file renamed or removed by its previous writer while this one waited for
        it is opened afresh, so the lock always covers the file at ``path``."""
        for _ in range(5):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | SAFE_OPEN, 0o644)
            except OSError as exc:
                if os.path.islink(path):
                    raise DownloadError(f"{path} is a symbolic link; not followed") from None
                raise DownloadError(f"cannot write {path}: {exc.strerror or exc}") from None
            try:
                opened = os.fstat(fd)
                if not stat.S_ISREG(opened.st_mode):
                    raise DownloadError(f"{path} is not a regular file; not written")
                if getattr(os, "O_NONBLOCK", 0):
                    os.set_blocking(fd, True)  # non-blocking only so that a planted FIFO cannot hang the open
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        raise DownloadError(
                            f"{path} is being written by another process", hint="let that download finish"
                        ) from None
                    except OSError:
                        pass  # a file system without locks (some network mounts): download unlocked
                try:
                    current = os.lstat(path)
                except FileNotFoundError:
                    current = None
                if current is None or (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
                    os.close(fd)
                    continue  # its writer finished (or gave up) meanwhile: open what is there now
                if opened.st_nlink > 1:
                    # also reachable under another name (a crash between publishing and cleaning
                    # up, or a planted hard link): writing would change that file too
                    os.unlink(path)
                    os.close(fd)
                    continue
            except BaseException:
                os.close(fd)
                raise
            return cls(path, fd, current.st_size)  # (its size once locked: no writer changes it now)
        raise DownloadError(f"{path} keeps changing: another process is using it")

    @property
    def size(self) -> int:
        return self._size if self._size is not None else os.fstat(self._fd).st_size

    def record(self) -> ResumeRecord | None:
        """The record of what the part holds, or None (missing, unreadable, planted as a link)."""
        try:
            fd = os.open(self.record_path, os.O_RDONLY | SAFE_OPEN)
        except FileNotFoundError:
            self._has_record = False
            return None
        except OSError:
            self._has_record = True  # something is there: replaced or removed, never trusted
            return None
        self._has_record = True
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return ResumeRecord.from_json(os.read(fd, RECORD_LIMIT))
        finally:
            os.close(fd)

    def resumable(self, url: str) -> tuple[int, ResumeRecord | None]:
        """Where to resume for ``url``: the part's size and record, or 0 when it holds another
        object, was decoded from a compressed body, or is longer than the object."""
        size, record = self.size, self.record()
        if not size or record is None or record.url != url or record.encoding:
            return 0, None
        if record.length is not None and size > record.length:
            return 0, None
        return size, record

    def restart(self, record: ResumeRecord | None, *, deferred: bool = False) -> None:
        """Empty the part; the record says what it will hold, written before any byte is.
        ``deferred``: written by the first write of the part's writer, not now, so a body that
        came whole before any byte was written (``PartWriter.write_whole``) needs none: a part
        with no record is never resumed, only started again (when no record was found, else the
        one there is replaced now)."""
        if self._size != 0:  # (a part just made is empty already)
            os.ftruncate(self._fd, 0)
        self._size, self._due = 0, None
        if record is None:
            if self._has_record is not False:
                _remove(self.record_path)
            self._has_record = False
        elif deferred and self._has_record is False:
            self._due = record
        else:
            self._write_record(record)

    def _write_record(self, record: ResumeRecord) -> None:
        write_file(self.record_path, json.dumps(asdict(record)).encode(), overwrite=True)
        self._has_record = True

    def _write_due(self) -> None:
        due, self._due = self._due, None
        if due is not None:
            self._write_record(due)

    def _drop_due(self) -> None:
        self._due = None

    def writer(self, offset: int) -> PartWriter:
        """A writer of the part from ``offset`` on (the lock stays with this PartFile)."""
        if self._size != offset:  # (not when it is that long already: a part just emptied)
            os.ftruncate(self._fd, offset)
        self._size = None  # written from now on: its size is the disk's
        return PartWriter(self._fd, offset, self._write_due, self._drop_due)

    def hash_into(self, digest: Any, length: int) -> int:
        """Feed the part's first ``length`` bytes to ``digest`` (the bytes a resume appends to)."""
        done = 0
        while done < length:
            size = min(CHUNK, length - done)
            if hasattr(os, "pread"):
                chunk = os.pread(self._fd, size, done)
            else:  # pragma: no cover - Windows
                os.lseek(self._fd, done, os.SEEK_SET)
                chunk = os.read(self._fd, size)
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
        return done

    def publish(self, target: Path, *, overwrite: bool) -> None:
        """Give the complete part its final name: whole or not at all, never over an existing
        file unless ``overwrite`` (and then replacing a link planted there, not its target)."""
        if overwrite:
            os.replace(self.path, target)
        else:
            if _link_no_clobber(self.path, target):
                os.unlink(self.path)
        self._due = None
        if self._has_record is not False:
            _remove(self.record_path)

    def discard(self) -> None:
        """Remove the part and its record (its bytes can never be resumed)."""
        _remove(self.path)
        self._due = None
        if self._has_record is not False:
            _remove(self.record_path)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1


class PartWriter:
    """Writes straight to the part's descriptor, each piece at the offset it belongs at: a
    buffered file object on it cost five system calls per file (its checks, its seeks) to set up
    and close, for a buffer that bodies read in pieces of up to 1 MiB hardly use."""

    def __init__(
        self, fd: int, offset: int, first: Callable[[], None] | None = None, whole: Callable[[], None] | None = None
    ) -> None:
        self._fd, self._at = fd, offset
        #: called before the first byte is written (the part's record, if it is due), or, by
        #: ``write_whole``, ``whole`` instead (a whole body needs no record of what it holds)
        self._first, self._whole = first, whole

    def write_whole(self, data: bytes | bytearray | memoryview) -> int:
        """Write a body that has come whole (read to its end before any byte of it was written)."""
        if self._first is not None:
            self._first = None
            if self._whole is not None:
                self._whole()
        return self.write(data)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._first is not None:
            first, self._first = self._first, None
            first()
        view = memoryview(data).cast("B")
        size = view.nbytes
        while view:
            if hasattr(os, "pwrite"):
                count = os.pwrite(self._fd, view, self._at)
            else:  # pragma: no cover - Windows
                os.lseek(self._fd, self._at, os.SEEK_SET)
                count = os.write(self._fd, view)
            self._at += count
            view = view[count:]
        return size

    def tell(self) -> int:
        return self._at

    def fileno(self) -> int:
        return self._fd

    def flush(self) -> None:
        """Nothing is held back: every write went to the descriptor."""

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def write_file(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``path`` atomically: a new file beside it, renamed into place. Without
    ``overwrite``, a file (or link) already at ``path`` is a DownloadError and stays as it was."""
    tmp = path.with_name(temp_name())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | SAFE_OPEN, 0o644)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
        if overwrite:
            os.replace(tmp, path)  # replaces a planted link itself, never what it points to
        else:
            _link_no_clobber(tmp, path)
    finally:
        _remove(tmp)


def publish_new(source: Path, target: Path) -> None:
    """Give the complete file ``source`` the name ``target``, never over anything already
    there (a DownloadError then, ``source`` left for the caller to remove)."""
    if _link_no_clobber(source, target):
        os.unlink(source)


def _link_no_clobber(source: Path, target: Path) -> bool:
    """Make ``source`` appear at ``target``: a hard link (True), or a rename where hard links
    are not supported (False); a DownloadError if anything is at ``target``."""
    try:
        os.link(source, target, follow_symlinks=False)  # fails, rather than clobbers, if target exists
    except FileExistsError:
        raise DownloadError(f"{target} exists; not overwritten") from None
    except (OSError, NotImplementedError):  # a file system without hard links
        if os.path.lexists(target):
            raise DownloadError(f"{target} exists; not overwritten") from None
        os.replace(source, target)
        return False
    return True


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
