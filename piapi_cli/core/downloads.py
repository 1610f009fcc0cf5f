"""Safe, resumable downloads of a task's outputs.

Every file streams to ``NAME.part`` and is renamed when complete and of the announced length;
an interrupted download resumes with ``Range`` where the server allows it, else restarts;
transient errors are retried. Memory stays flat whatever the size. Names come from a template,
and nothing from the server (URL paths, Content-Disposition) can write outside the target
directory or over an existing file unless asked.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import random
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from piapi_cli.api.errors import DownloadError, UsageError
from piapi_cli.api.tasks import OutputURL, Task

if TYPE_CHECKING:
    import httpx

DEFAULT_TEMPLATE = "{task_id}-{index}.{ext}"
TEMPLATE_FIELDS = frozenset({"task_id", "index", "key", "model", "task_type", "ext", "name"})
CHUNK = 1024 * 1024
EXTENSIONS = {
    "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif", "video/mp4": "mp4",
    "video/webm": "webm", "video/quicktime": "mov", "audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3",
    "audio/mp4": "m4a", "audio/flac": "flac", "model/gltf-binary": "glb", "application/json": "json",
    "text/plain": "txt", "application/zip": "zip",
}  # fmt: skip
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def check_template(template: str) -> None:
    """A usage error for a template naming unknown fields or unbalanced braces."""
    try:
        names = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise UsageError(f"--name {template!r}: {exc}") from None
    unknown = names - TEMPLATE_FIELDS
    if unknown or "" in names:
        raise UsageError(
            f"--name {template!r}: unknown field {', '.join(sorted(unknown)) or '{}'}; "
            f"fields: {', '.join('{' + f + '}' for f in sorted(TEMPLATE_FIELDS))}"
        )


def preflight(directory: Path | str, template: str) -> None:
    """Checks that can fail, run before a create is sent: the template formats, and the
    directory is (or can be made) a writable directory."""
    check_template(template)
    sample = {name: "x" for name in TEMPLATE_FIELDS} | {"index": 0}
    try:
        name = template.format(**sample)
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, MemoryError) as exc:
        raise UsageError(f"--name {template!r}: {exc}") from None
    if len(name.encode()) > 1024:
        raise UsageError(f"--name {template!r} makes a name of {len(name.encode())} bytes") from None
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} is not a directory", path=str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".piapi-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write into {path}: {exc.strerror or exc}", path=str(path)) from None


def safe_component(text: str, fallback: str = "file") -> str:
    """One path component that cannot climb out, hide, or carry control characters."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    text = re.sub(r"[\\/:*?\"<>|]+", "_", text)
    text = re.sub(r"\.{2,}", ".", text).strip(" .")
    return text[:180] or fallback


def ext_from_url(url: str) -> str | None:
    suffix = Path(unquote(urlsplit(url).path)).suffix.lower().lstrip(".")
    return suffix if re.fullmatch(r"[a-z0-9]{1,5}", suffix) else None


def ext_from_type(content_type: str | None) -> str | None:
    kind = (content_type or "").split(";")[0].strip().lower()
    if not kind or kind == "application/octet-stream":
        return None
    found = EXTENSIONS.get(kind) or (mimetypes.guess_extension(kind) or "").lstrip(".")
    return found or None


def disposition_name(header: str | None) -> str | None:
    """The filename of a Content-Disposition header (RFC 6266, ``filename*`` first)."""
    if not header:
        return None
    star = re.search(r"filename\*\s*=\s*[^']*'[^']*'([^;]+)", header, re.IGNORECASE)
    if star:
        return unquote(star.group(1).strip().strip('"'))
    plain = re.search(r'filename\s*=\s*"([^"]*)"|filename\s*=\s*([^;]+)', header, re.IGNORECASE)
    if plain:
        return (plain.group(1) or plain.group(2) or "").strip()
    return None


@dataclass(frozen=True)
class Planned:
    task: Task
    index: int
    output: OutputURL

    @property
    def url(self) -> str:
        return self.output.url


@dataclass
class LocalFile:
    url: str
    path: str
    bytes: int
    sha256: str
    task_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "path": self.path, "bytes": self.bytes, "sha256": self.sha256}


@dataclass
class Failure:
    url: str
    message: str


@dataclass
class Skipped:
    """The file exists and ``--skip-existing`` was given."""

    url: str
    path: str


@dataclass
class Report:
    files: list[LocalFile] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def raise_for_failures(self) -> None:
        if self.failures:
            names = "; ".join(f"{f.url}: {f.message}" for f in self.failures)
            raise DownloadError(
                f"{len(self.failures)} output(s) could not be downloaded: {names}",
                hint="complete files were kept; run the same download again to resume",
            )


class _Retry(Exception):
    """A transient failure: try again (resuming where possible)."""


@dataclass
class Downloader:
    """Downloads task outputs into ``directory``.

    ``http`` must not carry the API key: output files live on other hosts. Progress is
    reported through ``on_start(planned, name, total)``, ``on_bytes(planned, n)`` and
    ``on_done(planned, result)``; ``sleep`` paces retries (tests pass a fake).
    """

    http: httpx.Client
    directory: Path
    template: str = DEFAULT_TEMPLATE
    overwrite: bool = False
    skip_existing: bool = False
    metadata: bool = False
    attempts: int = 4
    workers: int = 4
    sleep: Callable[[float], None] = time.sleep
    on_start: Callable[[Planned, str, int | None], None] | None = None
    on_bytes: Callable[[Planned, int], None] | None = None
    on_done: Callable[[Planned, LocalFile | Failure | Skipped], None] | None = None
    _claimed: set[Path] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        check_template(self.template)

    def plan(self, tasks: list[Task]) -> list[Planned]:
        return [Planned(task, index, item) for task in tasks for index, item in enumerate(task.urls)]

    def run(self, planned: list[Planned]) -> Report:
        self.directory.mkdir(parents=True, exist_ok=True)
        report = Report()
        if not planned:
            return report
        from concurrent.futures import ThreadPoolExecutor  # only when there is something to download

        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(planned)))) as pool:
            results = list(pool.map(self._one, planned))
        for item, result in zip(planned, results, strict=True):
            if isinstance(result, LocalFile):
                report.files.append(result)
            elif isinstance(result, Skipped):
                report.skipped.append(result)
            else:
                report.failures.append(result)
            if self.on_done is not None:
                self.on_done(item, result)
        return report

    # --- one file -------------------------------------------------------------------

    def target_for(self, item: Planned, ext: str | None, server_name: str | None) -> Path:
        name_source = server_name or Path(unquote(urlsplit(item.url).path)).name
        fields = {
            "task_id": safe_component(item.task.task_id, "task"),
            "index": str(item.index),
            "key": safe_component(item.output.path, "output"),
            "model": safe_component(item.task.model, "model"),
            "task_type": safe_component(item.task.task_type, "type"),
            "ext": safe_component(ext or "bin", "bin"),
            "name": safe_component(Path(name_source).stem or "file"),
        }
        name = safe_component(self.template.format(**fields))
        target = (self.directory / name).resolve()
        root = self.directory.resolve()
        if target.parent != root:  # belt and braces: a name is one component inside DIR
            raise UsageError(f"refusing to write {name!r} outside {root}")
        return target

    def _one(self, item: Planned) -> LocalFile | Failure | Skipped:
        try:
            return self._download(item)
        except _Skipped as exc:
            return Skipped(item.url, str(exc.target))
        except _Retry as exc:
            return Failure(item.url, str(exc))
        except DownloadError as exc:
            return Failure(item.url, exc.message)
        except OSError as exc:
            return Failure(item.url, f"cannot write: {exc.strerror or exc}")

    def _download(self, item: Planned) -> LocalFile:
        import httpx

        url_ext = ext_from_url(item.url)
        target: Path | None = None
        if url_ext and "{name}" not in self.template:
            target = self._claim(item, url_ext, None)  # known before asking: resume at once
        last = "no attempt made"
        pause = False
        for attempt in range(1, self.attempts + 1):
            if pause:
                self.sleep(min(8.0, 0.5 * 2 ** (attempt - 2)) * (0.5 + random.random() / 2))
            pause = True
            part = Path(str(target) + ".part") if target is not None else None
            offset = part.stat().st_size if part is not None and part.exists() else 0
            headers = {"range": f"bytes={offset}-"} if offset else {}
            try:
                with self.http.stream("GET", item.url, headers=headers) as response:
                    if response.status_code == 416 and offset:
                        part.unlink(missing_ok=True)  # type: ignore[union-attr]
                        raise _Retry("the partial file no longer matches the server's; restarting")
                    if response.status_code in TRANSIENT_STATUSES:
                        raise _Retry(f"HTTP {response.status_code}")
                    if response.status_code >= 400:
                        raise DownloadError(f"HTTP {response.status_code}")
                    if target is None:
                        ext = url_ext or ext_from_type(response.headers.get("content-type"))
                        server_name = disposition_name(response.headers.get("content-disposition"))
                        target = self._claim(item, ext, server_name)
                        part = Path(str(target) + ".part")
                        if part.exists() and part.stat().st_size and response.status_code == 200:
                            # a previous run left part of it: ask again for the rest, now
                            pause = False
                            raise _Retry("resuming")
                    assert part is not None
                    resumed = response.status_code == 206 and offset > 0
                    # a compressed answer's Content-Length counts compressed bytes: not checkable
                    encoded = response.headers.get("content-encoding", "identity").lower() not in ("identity", "")
                    total = None if encoded else _total(response, offset if resumed else 0)
                    if self.on_start is not None:
                        self.on_start(item, target.name, total)
                    digest = hashlib.sha256()
                    written = 0
                    if resumed:
                        written = _hash_file(part, digest)
                        if self.on_bytes is not None:
                            self.on_bytes(item, written)
                    with open(part, "ab" if resumed else "wb") as handle, _Pipeline(handle, digest) as sink:
                        for chunk in _chunks(response):  # as they arrive: a cut keeps what came
                            sink.put(chunk)
                            written += len(chunk)
                            if self.on_bytes is not None:
                                self.on_bytes(item, len(chunk))
                    if total is not None and written != total:
                        raise _Retry(f"got {written} of {total} bytes")
                    return self._finish(item, part, target, written, digest.hexdigest())
            except _Retry as exc:
                last = str(exc)
                continue
            except (httpx.TransportError, httpx.DecodingError) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
        raise _Retry(f"failed after {self.attempts} attempts ({last})")

    def _claim(self, item: Planned, ext: str | None, server_name: str | None) -> Path:
        """The file name for this output (raises _Skipped if it exists and --skip-existing)."""
        target = self.target_for(item, ext, server_name)
        with self._lock:
            if target in self._claimed:
                raise DownloadError(f"two outputs would both be named {target.name}: add {{index}} to --name")
            if target.exists() and not self.overwrite:
                if self.skip_existing:
                    raise _Skipped(target)
                raise DownloadError(f"{target} exists; not overwritten (use --overwrite or --skip-existing)")
            self._claimed.add(target)
        return target

    def _finish(self, item: Planned, part: Path, target: Path, size: int, sha256: str) -> LocalFile:
        # renaming makes the file appear whole or not at all; no fsync: like curl and wget,
        # durability across a power cut is left to the OS (it halved large-file throughput)
        if self.overwrite:
            os.replace(part, target)
        else:
            try:
                os.link(part, target)  # fails, rather than clobbers, if the name appeared meanwhile
            except FileExistsError:
                raise DownloadError(f"{target} appeared meanwhile; not overwritten") from None
            except OSError:
                if target.exists():
                    raise DownloadError(f"{target} exists; not overwritten") from None
                os.replace(part, target)
            else:
                part.unlink()
        if self.metadata:
            sidecar = {
                "task_id": item.task.task_id,
                "model": item.task.model,
                "task_type": item.task.task_type,
                "input": item.task.input,
                "source_url": item.url,
                "output_path": item.output.path,
                "bytes": size,
                "sha256": sha256,
            }
            _write_atomic(target.with_name(target.name + ".json"), json.dumps(sidecar, indent=2) + "\n")
        return LocalFile(item.url, str(target), size, sha256, item.task.task_id)


class _Pipeline:
    """Writes and hashes chunks on two threads while the caller reads the next one.

    hashlib and file writes release the GIL on large buffers, so reading, hashing and
    writing overlap; the bounded queues keep memory flat (at most 2 x 8 chunks in flight).
    """

    def __init__(self, handle: Any, digest: Any, depth: int = 8) -> None:
        import queue

        self._queues: list[queue.Queue[bytes | None]] = [queue.Queue(depth), queue.Queue(depth)]
        self._errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._drain, args=(self._queues[0], handle.write), daemon=True),
            threading.Thread(target=self._drain, args=(self._queues[1], digest.update), daemon=True),
        ]

    def _drain(self, source: Any, consume: Callable[[bytes], object]) -> None:
        while (chunk := source.get()) is not None:
            if not self._errors:
                try:
                    consume(chunk)
                except BaseException as exc:  # reported by close(); keep draining so put() never blocks
                    self._errors.append(exc)

    def __enter__(self) -> _Pipeline:
        for thread in self._threads:
            thread.start()
        return self

    def put(self, chunk: bytes) -> None:
        if self._errors:
            raise self._errors[0]
        for target in self._queues:
            target.put(chunk)

    def __exit__(self, *exc: object) -> None:
        for target in self._queues:
            target.put(None)
        for thread in self._threads:
            thread.join()
        if self._errors and exc[0] is None:
            raise self._errors[0]


def tune_http_reads() -> None:
    """Read response bodies 1 MiB at a time instead of httpcore's 64 KiB.

    Per-read overhead in httpcore/h11 capped downloads near 450 MB/s on loopback; 1 MiB reads
    reach about 1.9 GB/s (bench/README.md). The attribute is httpcore's own; if a release
    renames it, downloads keep working at the default speed.
    """
    try:
        from httpcore._sync.http11 import HTTP11Connection
    except ImportError:  # pragma: no cover
        return
    if getattr(HTTP11Connection, "READ_NUM_BYTES", 0) < CHUNK:
        HTTP11Connection.READ_NUM_BYTES = CHUNK


class _Skipped(Exception):
    def __init__(self, target: Path) -> None:
        self.target = target


def _chunks(response: httpx.Response) -> Iterator[bytes]:
    """The body as it arrives; undecoded when nothing needs decoding (saves a copy a chunk)."""
    import httpx

    if response.headers.get("content-encoding", "identity").lower() in ("identity", ""):
        try:
            yield from response.iter_raw()
            return
        except httpx.StreamConsumed:
            pass  # the body is already in memory (an in-process transport read it)
    yield from response.iter_bytes()


def _total(response: httpx.Response, offset: int) -> int | None:
    length = response.headers.get("content-length")
    if length is None or not length.isdigit():
        return None
    return offset + int(length)


def _hash_file(path: Path, digest: Any) -> int:
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
