"""A file a command writes as it goes and puts in place at its end (``batch run --output FILE``),
without ever touching what is not its own.

- Nothing, or a regular file, at FILE: the lines go to ``FILE.part``, created with
  ``O_CREAT | O_EXCL | O_NOFOLLOW`` (a link planted there is refused, never followed) and locked,
  so a second run given the same FILE is refused before it sends anything; ``commit`` renames the
  part over FILE, so FILE always holds complete results.
- A FIFO or a character device (``/dev/null``, ``/dev/stdout``, a terminal): written into, never
  replaced. A directory, a socket, a block device, or a symbolic link to a regular file: refused.
- FILE naming one of the command's inputs: refused (it would be replaced by the results).

A write that fails (a full disk) is a ``LocalWriteError``; ``written`` gives back what the part
holds, so the caller can put those lines somewhere else.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from piapi_cli.api.errors import LocalWriteError, UsageError
from piapi_cli.core.downloads.naming import SAFE_OPEN

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]


def why_not_written(path: Path | str, exc: OSError) -> str:
    """What a failed local write says: a full disk is named as such."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what = "the disk is full" if exc.errno != errno.EFBIG else "the file size limit was reached"
        return f"cannot write {path}: {what} ({exc.strerror})"
    return f"cannot write {path}: {exc.strerror or exc}"


def check_not_input(path: Path, inputs: Iterable[Path], option: str) -> None:
    """A usage error if ``path`` is one of ``inputs`` (the file the command reads, a file it sends)."""
    for source in inputs:
        try:
            same = os.path.samefile(path, source)
        except OSError:  # one of them does not exist (yet)
            same = os.path.abspath(path) == os.path.abspath(source)
        if same:
            raise UsageError(
                f"{option} {path} is the input file {source}: it would be replaced; give another file", option=option
            )


class OutFile:
    """FILE being written: ``write`` bytes, then ``commit`` (or ``abandon``)."""

    def __init__(self, path: Path, fd: int, part: Path | None) -> None:
        self.path, self._fd, self.part = path, fd, part
        #: bytes written whole so far
        self.size = 0

    @classmethod
    def open(cls, path: Path, *, inputs: Iterable[Path] = (), option: str = "output") -> OutFile:
        """Check what is at ``path`` and open it for writing; a UsageError (nothing sent yet) if
        it cannot or must not be written."""
        check_not_input(path, inputs, option)
        try:
            found = os.lstat(path)
        except FileNotFoundError:
            found = None
        except OSError as exc:
            raise UsageError(f"{option} {path}: {exc.strerror or exc}", path=str(path), option=option) from None
        if found is not None and stat.S_ISLNK(found.st_mode):
            try:
                target = os.stat(path)
            except OSError:
                raise UsageError(
                    f"{option} {path} is a symbolic link to nothing; not replaced", path=str(path), option=option
                ) from None
            if stat.S_ISREG(target.st_mode):
                raise UsageError(
                    f"{option} {path} is a symbolic link; not replaced: give the file it points to",
                    path=str(path),
                    option=option,
                )
            found = target
        if found is not None and not stat.S_ISREG(found.st_mode):
            return cls._into(path, found.st_mode, option)
        return cls(path, _open_part(path.with_name(path.name + ".part"), option), path.with_name(path.name + ".part"))

    @classmethod
    def _into(cls, path: Path, mode: int, option: str) -> OutFile:
        """FILE is not a regular file: written into when it takes a stream, refused otherwise."""
        if stat.S_ISDIR(mode):
            raise UsageError(f"{option} {path}: is a directory", path=str(path), option=option)
        if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
            kind = "a socket" if stat.S_ISSOCK(mode) else "a block device" if stat.S_ISBLK(mode) else "not a file"
            raise UsageError(f"{option} {path} is {kind}; not written", path=str(path), option=option)
        try:  # no O_CREAT, no O_TRUNC: what is there stays what it is (a FIFO waits for its reader)
            fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise UsageError(f"{option} {path}: {exc.strerror or exc}", path=str(path), option=option) from None
        return cls(path, fd, None)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                done = os.write(self._fd, view)
                view = view[done:]
        except OSError as exc:
            raise LocalWriteError(why_not_written(self.part or self.path, exc), path=str(self.path)) from None
        self.size += len(data)

    def written(self) -> bytes:
        """What the part holds whole (b"" when FILE is written into directly: that reached it)."""
        if self.part is None or self._fd < 0:
            return b""
        chunks, offset = [], 0
        while offset < self.size:
            chunk = os.pread(self._fd, min(1 << 20, self.size - offset), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)

    def commit(self) -> None:
        """Put the part in place as FILE (whole), and let go of it."""
        if self.part is not None and self._fd >= 0:
            os.replace(self.part, self.path)
        self._close()

    def abandon(self) -> None:
        """Remove the part (its lines went elsewhere); FILE keeps what it held."""
        if self.part is not None and self._fd >= 0:
            try:
                if _same(os.lstat(self.part), os.fstat(self._fd)):
                    os.unlink(self.part)
            except OSError:
                pass
        self._close()

    def keep(self) -> None:
        """Let go of FILE.part as it is (a run that broke off: its lines so far stay there)."""
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1


def _open_part(part: Path, option: str) -> int:
    """``FILE.part``, new or left by a crash, opened without following a link and locked."""
    for _ in range(5):
        try:
            fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_EXCL | SAFE_OPEN, 0o644)
        except FileExistsError:
            try:
                fd = os.open(part, os.O_RDWR | SAFE_OPEN)
            except FileNotFoundError:
                continue  # its writer just renamed it into place: create it afresh
            except OSError as exc:
                if os.path.islink(part):
                    raise UsageError(f"{part} is a symbolic link; not followed", path=str(part)) from None
                raise UsageError(
                    f"{option}: cannot write {part}: {exc.strerror or exc}", path=str(part), option=option
                ) from None
        except OSError as exc:
            raise UsageError(
                f"{option}: cannot write {part}: {exc.strerror or exc}", path=str(part), option=option
            ) from None
        try:
            if _claim(part, fd, option):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise UsageError(f"{part} keeps changing: another process is using it", path=str(part))


def _claim(part: Path, fd: int, option: str) -> bool:
    """Lock the opened part and empty it; False when the file at ``part`` is no longer this one."""
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode):
        raise UsageError(f"{part} is not a regular file; not written", path=str(part))
    os.set_blocking(fd, True)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"{option} {part.name[: -len('.part')]} is being written by another run ({part} is locked)",
                advice="another_output",
                path=str(part),
                option=option,
            ) from None
        except OSError:
            pass  # a file system without locks
    try:
        current = os.lstat(part)
    except FileNotFoundError:
        return False
    if not _same(current, opened):
        return False
    if opened.st_nlink > 1:  # also reachable under another name: writing would change that file
        os.unlink(part)
        return False
    os.ftruncate(fd, 0)
    return True


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
