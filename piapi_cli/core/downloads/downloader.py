"""Safe, resumable, interruptible downloads of a task's outputs.

Every file streams to ``NAME.part``, locked by the one process writing it, and is renamed when
complete and of the announced length. A leftover part is resumed with ``Range`` and ``If-Range``
only when its record (``NAME.part.json``) shows it holds the same object, and a ``206`` is appended
only when it starts where asked; otherwise the download restarts from zero. Transient errors are
retried with the shared Backoff; an origin whose certificate is not trusted is not (a
ConnectionFailed saying what was trusted, exit 5, as the API's calls report it). ``cancel()``
stops every worker within about a second, keeping the parts. Memory stays flat whatever the
size. Names: see ``naming``; files: ``partfiles``; what an answer means for the part:
``answers``; the HTTP client: ``client``; bodies: ``streams``.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from piapi_cli.api.backoff import Backoff
from piapi_cli.api.errors import ConnectionFailed, DownloadError, LocalWriteError
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import Task
from piapi_cli.core.downloads import answers, client, streams
from piapi_cli.core.downloads.answers import TryAgain
from piapi_cli.core.downloads.client import download_client
from piapi_cli.core.downloads.metadata import sidecar, write_sidecar
from piapi_cli.core.downloads.naming import (
    DEFAULT_TEMPLATE,
    DownloadSetupError,
    check_template,
    disposition_name,
    ext_from_type,
    ext_from_url,
    output_path,
    preflight,
    prepare_directory,
    template_fields,
)
from piapi_cli.core.downloads.partfiles import PartFile, ResumeRecord
from piapi_cli.core.downloads.results import (
    DownloadInterrupted,
    Failure,
    LocalFile,
    Partial,
    Planned,
    Report,
    Result,
    Skipped,
)
from piapi_cli.core.downloads.streams import Decoder, EncodingRefused, tune_http_reads
from piapi_cli.core.outfile import why_not_written
from piapi_cli.core.workers import Finished, run_cancellable

if TYPE_CHECKING:
    import httpx

    from piapi_cli.core.downloads.client import DownloadHTTP as DownloadHTTP
    from piapi_cli.core.downloads.wire import WireResponse

__all__ = [
    "DownloadInterrupted", "DownloadSetupError", "Downloader", "Failure", "LocalFile", "Partial", "Planned", "Report",
    "Skipped", "check_template", "download_client", "preflight", "tune_http_reads",
]  # fmt: skip

#: how long run() waits, after a cancel, for workers to stop and report
CANCEL_GRACE = 1.0


class _Cancelled(Exception):
    pass


class _Skipped(Exception):
    def __init__(self, target: Path) -> None:
        self.target = target


@record()
class _Job:
    """One output's download: its final name and locked part, once known."""

    index: int
    item: Planned
    target: Path | None = None
    part: PartFile | None = None
    published: bool = False


@record()
class Downloader:
    """Downloads task outputs into ``directory``.

    ``http`` must not carry the API key: output files live on other hosts. Progress is
    reported through ``on_start(planned, name, total)``, ``on_bytes(planned, n)`` (from the
    worker threads) and ``on_done(planned, result)`` (from the thread in run(), as each ends).
    Retries wait ``backoff`` delays through ``sleep`` (tests pass a fake; with the real
    ``time.sleep`` the wait ends early on a cancel). ``cancel()`` (or setting ``cancel_event``)
    stops every download within about a second, keeping partial files; a cancelled
    Downloader stays cancelled. ``decoded_limit`` caps a compressed body piapi did not ask for.
    """

    http: DownloadHTTP
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
    on_done: Callable[[Planned, Result], None] | None = None
    backoff: Backoff | None = None
    rng: Callable[[], float] = random.random
    cancel_event: threading.Event = field(default_factory=threading.Event)
    decoded_limit: int = streams.DECODED_LIMIT
    #: ``directory`` resolved, once made and proven writable (by a first run, or an earlier row's): not again
    ready: Path | None = None
    _claimed: set[Path] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _streams: dict[int, httpx.Response | WireResponse] = field(default_factory=dict)
    _parts: dict[int, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_template(self.template)

    def plan(self, tasks: list[Task]) -> list[Planned]:
        return [Planned(task, index, item) for task in tasks for index, item in enumerate(task.urls)]

    def cancel(self) -> None:
        self.cancel_event.set()
        self.abort_reads()

    def run(self, planned: list[Planned]) -> Report:
        """Download ``planned`` outputs; a Report of what was saved, skipped, failed and (after a
        cancel) left partial. Ctrl-C here cancels the workers and raises DownloadInterrupted."""
        if not planned:
            return Report()
        if self.ready is None:
            prepare_directory(self.directory, self.template)
            self.ready = self.directory.resolve()

        def done(index: int, result: Result) -> None:
            if self.on_done is not None:
                self.on_done(planned[index], result)

        if len(planned) == 1 and threading.current_thread() is not threading.main_thread():
            # one file on a worker thread already (a batch row, a wait's download): no pool, so
            # a run of a thousand files starts no thread per file; a cancel still ends the read
            finished = Finished[Result]()
            if not self.cancel_event.is_set():
                finished.results[0] = self._one(0, planned[0])
                done(0, finished.results[0])
        else:
            finished = run_cancellable(
                len(planned),
                lambda index: self._one(index, planned[index]),
                workers=self.workers,
                cancel=self.cancel_event,
                on_result=done,
                on_cancel=self.abort_reads,
                grace=CANCEL_GRACE,
            )
        with self._lock:
            # only those of outputs that gave no result count (Report.of): no lstat per saved file
            ended = finished.results
            parts = {i: str(path) for i, path in self._parts.items() if i not in ended and _holds_bytes(path)}
        report = Report.of(planned, finished.results, parts)
        if finished.keyboard_interrupt:
            raise DownloadInterrupted(report, finished.interrupt)
        return report

    def abort_reads(self) -> None:
        """Wake workers blocked in a read: shutting the socket down ends it at once (a cancel
        from another thread: set ``cancel_event`` first)."""
        with self._lock:
            responses = list(self._streams.values())
        for response in responses:
            client.shut_down(response)

    # --- one file -------------------------------------------------------------------

    def target_for(self, item: Planned, ext: str | None, server_name: str | None) -> Path:
        base = self.ready or self.directory  # resolved once, not for every file
        return output_path(base, self.template, item, ext, server_name, resolved=self.ready is not None)

    def _one(self, index: int, item: Planned) -> Result:
        job = _Job(index, item)
        try:
            return self._download(job)
        except _Skipped as exc:
            return Skipped(item.url, str(exc.target))
        except _Cancelled:
            size = job.part.size if job.part is not None else 0
            kept = str(job.part.path) if job.part is not None and size else None
            return Partial(item.url, kept, size, item.task.task_id)
        except TryAgain as exc:
            return Failure(item.url, str(exc), item.task.task_id)
        except (DownloadError, ConnectionFailed) as exc:
            return Failure(item.url, exc.message, item.task.task_id, advice=exc.advice, error=exc)
        except OSError as exc:  # a local write: the disk is full, the directory went read-only...
            where = job.part.path if job.part is not None else self.directory
            why = why_not_written(where, exc)
            return Failure(item.url, why, item.task.task_id, error=LocalWriteError(why))
        finally:
            if job.part is not None:
                if not job.published and job.part.size == 0:
                    job.part.discard()  # nothing worth resuming: leave no litter
                job.part.close()

    def _download(self, job: _Job) -> LocalFile:
        retried, refused = client.error_kinds(self.http)
        url_ext = ext_from_url(job.item.url)
        if url_ext and "name" not in template_fields(self.template):
            self._open(job, url_ext, None)  # the name is known before asking: resume at once
        backoff = self.backoff or Backoff(attempts=self.attempts)
        last, retries, wait = "no attempt made", 0, None
        for _ in range(backoff.attempts):
            if wait is not None:
                self._pause(wait)
            if self.cancel_event.is_set():
                raise _Cancelled
            offset, record = job.part.resumable(job.item.url) if job.part is not None else (0, None)
            headers = {}
            if offset:
                headers["range"] = f"bytes={offset}-"
                if record is not None and (validator := record.if_range()):
                    headers["if-range"] = validator
            try:
                with self.http.stream("GET", job.item.url, headers=headers) as response:
                    with self._lock:
                        self._streams[threading.get_ident()] = response
                    try:
                        return self._receive(job, response, offset, record)
                    finally:
                        with self._lock:
                            self._streams.pop(threading.get_ident(), None)
            except TryAgain as exc:
                last = str(exc)
                wait = backoff.delay(retries, exc.retry_after, rng=self.rng) if exc.pause else None
                retries += exc.pause
            except retried as exc:
                if self.cancel_event.is_set():
                    raise _Cancelled from None
                if (untrusted := client.untrusted(exc)) is not None:
                    raise untrusted from None  # trying again would meet the same certificate
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                wait = backoff.delay(retries, rng=self.rng)
                retries += 1
            except refused as exc:
                raise DownloadError(f"{type(exc).__name__}: {exc}") from None
        raise TryAgain(f"failed after {backoff.attempts} attempts ({last})")

    def _receive(
        self, job: _Job, response: httpx.Response | WireResponse, offset: int, record: ResumeRecord | None
    ) -> LocalFile:
        """Check one answer to the request for ``job``'s file from byte ``offset`` on, and save its body."""
        status, headers, url = response.status_code, response.headers, job.item.url
        if status == 416 and offset and job.part is not None:
            if answers.whole_at(offset, headers, record):
                return self._complete_part(job, offset)  # the part was already whole
            job.part.restart(None)
            raise TryAgain("the partial file does not match the server's; restarting from zero", pause=False)
        answers.check_status(status, headers)
        encoding = streams.content_encoding(headers)
        if job.part is None:
            ext = ext_from_url(url) or ext_from_type(headers.get("content-type"))
            self._open(job, ext, disposition_name(headers.get("content-disposition")))
            assert job.part is not None
            offset, record = 0, None
            kept, kept_record = job.part.resumable(url)
            if kept and kept_record and status == 200 and not encoding and answers.same_object(kept_record, headers):
                raise TryAgain("resuming the partial file", pause=False)  # ask again, for the rest only
        offset, total, whole = answers.span(job.part, url, status, headers, offset, record, encoding)
        return self._save(job, response, offset, total, whole, encoding)

    def _save(
        self, job: _Job, response: Any, offset: int, total: int | None, whole: int | None, encoding: str
    ) -> LocalFile:
        """Write the body into the part from ``offset`` on, check it all came, and publish the file.
        ``total``: the length the body completes the part to; ``whole``: the object's (None: unknown)."""
        part, target = job.part, job.target
        assert part is not None and target is not None
        if self.on_start is not None:
            self.on_start(job.item, target.name, whole if whole is not None else total)
        digest = hashlib.sha256()
        written = part.hash_into(digest, offset) if offset else 0
        if written and self.on_bytes is not None:
            self.on_bytes(job.item, written)
        decoder = Decoder(encoding, self.decoded_limit) if encoding else None

        def each(count: int) -> None:
            if self.cancel_event.is_set():
                raise _Cancelled
            if self.on_bytes is not None:
                self.on_bytes(job.item, count)

        try:
            with part.writer(offset) as handle:
                expected = total - offset if total is not None else None
                written += streams.read_body(response, decoder, handle, digest, expected, each)
                handle.flush()
                os.fsync(handle.fileno())  # the whole file is on the disk before it gets its name
        except EncodingRefused:
            part.restart(None)  # decoded bytes of a refused body are worth nothing
            raise
        if self.cancel_event.is_set():
            raise _Cancelled  # the body may have ended only because its socket was shut down
        if decoder is not None:
            decoder.finish()
        if total is not None and written != total:
            raise TryAgain(f"got {written} of {total} bytes")
        if whole is not None and written < whole:
            raise TryAgain(f"got {written} of {whole} bytes; asking for the rest", pause=False)
        if total is None and not encoding and not streams.is_chunked(response.headers):
            # no length and no end marker: the end of the body looks the same as a broken
            # connection. Ask for what follows: "416, the object is exactly this long" confirms.
            raise TryAgain("the server sent no length; the file could not be confirmed complete", pause=False)
        return self._finish(job, written, digest.hexdigest())

    def _open(self, job: _Job, ext: str | None, server_name: str | None) -> None:
        """Claim the output's name and open (and lock) its partial file."""
        job.target = target = self._claim(job.item, ext, server_name)
        job.part = PartFile.open(target.with_name(target.name + ".part"))
        with self._lock:
            self._parts[job.index] = job.part.path
        if not self.overwrite and os.path.lexists(target):  # another process finished it meanwhile
            if self.skip_existing:
                raise _Skipped(target)
            raise DownloadError(f"{target} exists; not overwritten", path=str(target), advice="overwrite")

    def _claim(self, item: Planned, ext: str | None, server_name: str | None) -> Path:
        """The file name for this output (raises _Skipped if it exists and --skip-existing)."""
        target = self.target_for(item, ext, server_name)
        metadata = sidecar(target)
        with self._lock:
            for path in (target, metadata) if self.metadata else (target,):
                if path in self._claimed:
                    raise DownloadError(
                        f"two outputs would both be named {path.name}", path=str(path), advice="index_in_name"
                    )
            if os.path.lexists(target) and not self.overwrite:  # a link counts, even a dangling one
                if self.skip_existing:
                    raise _Skipped(target)
                raise DownloadError(f"{target} exists; not overwritten", path=str(target), advice="overwrite")
            if self.metadata and os.path.lexists(metadata) and not (self.overwrite or self.skip_existing):
                raise DownloadError(f"{metadata} exists; not overwritten", path=str(metadata), advice="overwrite")
            self._claimed.update((target, metadata) if self.metadata else (target,))
        return target

    def _complete_part(self, job: _Job, size: int) -> LocalFile:
        assert job.part is not None and job.target is not None
        if self.on_start is not None:
            self.on_start(job.item, job.target.name, size)
        digest = hashlib.sha256()
        job.part.hash_into(digest, size)
        if self.on_bytes is not None:
            self.on_bytes(job.item, size)
        return self._finish(job, size, digest.hexdigest())

    def _finish(self, job: _Job, size: int, sha256: str) -> LocalFile:
        # renaming makes the file appear whole or not at all; its bytes were fsynced as the
        # body ended (_save), the kernel nudged to write them back as they came (streams.Ring)
        item, part, target = job.item, job.part, job.target
        assert part is not None and target is not None
        part.publish(target, overwrite=self.overwrite)
        job.published = True
        if self.metadata and (self.overwrite or not os.path.lexists(sidecar(target))):
            write_sidecar(item, target, size, sha256, overwrite=self.overwrite)
        return LocalFile(item.url, str(target), size, sha256, item.task.task_id)

    def _pause(self, seconds: float) -> None:
        if self.sleep is time.sleep:
            self.cancel_event.wait(seconds)  # a cancel ends the wait
        else:
            self.sleep(seconds)


def _holds_bytes(path: Path) -> bool:
    try:
        return path.lstat().st_size > 0
    except OSError:
        return False
