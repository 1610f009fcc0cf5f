"""The task pipeline: submit (journaled first, never resent), wait (many tasks at once),
download (each task's outputs as soon as it completes).

It prints nothing and knows no argv: it returns typed results and reports what happens to an
``on_event`` callback (the CLI draws its displays from them; batch runs and the webhook
listener drive the same runner). From Python::

    from piapi_cli import Client, Runner, build_request
    from piapi_cli.sandbox import Emulator, transport_for

    emulator = Emulator(speed=20)
    with Client("sandbox", emulator.base_url, transport=transport_for(emulator)) as client:
        runner = Runner(client)
        built = build_request("Qubico/flux1-dev", "txt2img", assignments=["prompt=a little cat"])
        task = runner.submit(built.request).task
        [result] = runner.wait([task.task_id], known={task.task_id: task}, download=DownloadPlan("out"))
        print(result.status, [f.path for f in result.files])
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial

from piapi_cli.api.errors import ConfigError, ConnectionFailed, CreateOutcomeUnknown, PiapiError
from piapi_cli.api.tasks import Task, TaskRequest
from piapi_cli.core.journal.paces import run_times
from piapi_cli.core.journal.store import journal_failure
from piapi_cli.core.pace import Paces
from piapi_cli.core.polling import PollPolicy, random_fraction
from piapi_cli.core.runs import (
    CREATE_FAILED,
    CREATED,
    DONE,
    DOWNLOAD_BYTES,
    DOWNLOAD_FAILED,
    DOWNLOAD_STARTED,
    INTERRUPTED,
    JOURNAL_ERROR,
    SAVED,
    SKIPPED,
    STATUS,
    SUBMITTING,
    DownloadPlan,
    RunEvent,
    Submitted,
    TaskResult,
)

__all__ = [  # what the runner's callers import from here
    "CREATED", "CREATE_FAILED", "DONE", "DOWNLOAD_BYTES", "DOWNLOAD_FAILED", "DOWNLOAD_STARTED", "INTERRUPTED", "SAVED",
    "JOURNAL_ERROR", "SKIPPED", "STATUS", "SUBMITTING", "DownloadPlan", "RunEvent", "Runner", "Submitted", "TaskResult",
]  # fmt: skip
TYPE_CHECKING = False  # (typing is a slow import; downloads and waiting: imported by the runs that need them)
if TYPE_CHECKING:
    import weakref
    from pathlib import Path
    from typing import Any

    from piapi_cli.api.client import Client
    from piapi_cli.core.downloads.downloader import Downloader, DownloadHTTP, Failure, LocalFile, Partial, Skipped
    from piapi_cli.core.downloads.results import Report
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.core.waiting import WaitOutcome


class Runner:
    """Drives tasks through create, wait and download with one client and one journal.

    ``concurrency`` bounds the requests in flight while waiting. ``download_http`` makes the
    HTTP client for output files (it must not carry the API key); by default one without it.
    ``created`` lists the IDs of tasks this runner created, for a caller that is interrupted.
    """

    def __init__(
        self,
        client: Client,
        *,
        journal: Journal | None = None,
        world: str = "",
        on_event: Callable[[RunEvent], None] | None = None,
        poll: PollPolicy | None = None,
        concurrency: int = 64,
        download_http: Callable[[list[str]], DownloadHTTP] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random_fraction,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.journal = journal
        self.world = world or client.base_url
        self.on_event = on_event
        self.poll = poll or PollPolicy()
        self.concurrency = max(1, concurrency)
        self._download_http = download_http
        self._own_http: DownloadHTTP | None = None
        self.clock, self.sleep, self.rng, self.wall = clock, sleep, rng, wall
        self.created: list[str] = []
        #: files saved by this runner, and tasks it saw finish, for a caller that is interrupted
        self.saved: list[LocalFile] = []
        self.finished: set[str] = set()
        #: set to stop downloads (Ctrl-C): workers stop between chunks and keep their .part files
        self.cancelled = threading.Event()
        self._downloaders: weakref.WeakValueDictionary[int, Downloader] | None = None  # (made by a download)
        #: while a create is in flight: its journal row (0 when not journaled), else None
        self.sending: int | None = None
        self._recorded: dict[str, str] = {}
        #: download directories made, proven writable and resolved by this runner: once, not for every row
        self._ready: dict[str, Path] = {}
        self._lock = threading.Lock()
        #: how long each kind of task usually runs, from the journal's completed tasks
        self.paces = Paces(partial(run_times, journal, self.world)) if journal is not None else None

    def cancel(self) -> None:
        """Stop downloads (Ctrl-C): each stops between chunks, or at once if waiting in a read."""
        self.cancelled.set()
        for downloader in list((self._downloaders or {}).values()):
            downloader.abort_reads()

    # --- events ---------------------------------------------------------------------

    def _emit(self, kind: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(RunEvent(kind, **fields))

    # --- submit ---------------------------------------------------------------------

    def submit(
        self,
        request: TaskRequest,
        *,
        run_id: str | None = None,
        row_key: str | None = None,
        fingerprint: str | None = None,
    ) -> Submitted:
        """Create a task, journaled before it is sent and never sent twice.

        ``run_id`` and ``row_key`` journal it as a row of a batch run, with ``fingerprint``
        (by default the request's own) telling later runs whether the row changed.

        Raises what the client raises: ``CreateOutcomeUnknown`` when the task may exist (it is
        journaled ``unknown``, never resent), other errors when it surely does not. Once the
        answer has arrived, no journal problem can lose the task: it is in ``journal_error``.
        """
        from piapi_cli.core.journal.journal import NOT_SENT, REFUSED, UNKNOWN

        request.check_size()  # files inlined as data: URIs are only now in the body
        self.client.prepare()  # (the TLS context: a trust store that cannot be used fails with nothing begun)
        row = None
        if self.journal is not None:
            # fails before anything is sent (exit 3: the journal cannot be written)
            row = self._begin(request, run_id, row_key, fingerprint)
        self._emit(SUBMITTING, message=f"{request.model} {request.task_type}")
        self.sending = row or 0
        try:
            task = self.client.create_task(request)
        except PiapiError as exc:  # the task may exist (unknown), surely was not sent, or was refused
            if isinstance(exc, CreateOutcomeUnknown):
                exc.journal_row = row
            unknown = isinstance(exc, CreateOutcomeUnknown)
            unsent = isinstance(exc, (ConnectionFailed, ConfigError))  # (a ConfigError: before anything was sent)
            self._settle_row(row, UNKNOWN if unknown else NOT_SENT if unsent else REFUSED, exc)
            self._emit(CREATE_FAILED, error=exc)
            raise
        except BaseException as exc:  # interrupted: it may have reached PiAPI, unless it stopped before the send
            unsent = getattr(exc, "nothing_sent", False)
            why = "before the create request was sent" if unsent else "while the create request was in flight"
            self._settle_row(row, NOT_SENT if unsent else UNKNOWN, PiapiError(f"interrupted {why}"))
            raise
        finally:
            stopped = sys.exc_info()[1]
            if not isinstance(stopped, KeyboardInterrupt) or getattr(stopped, "nothing_sent", False):
                self.sending = None
        with self._lock:
            self.created.append(task.task_id)
        submitted = Submitted(task, row)
        if self.journal is not None and row is not None:
            try:
                self.journal.created(row, task)
                self._recorded[task.task_id] = task.status
            except Exception as exc:  # noqa: BLE001 - whatever broke, the task must not be lost
                submitted.journal_error = journal_failure(self.journal.path, exc, task.task_id)
                self._emit(JOURNAL_ERROR, task_id=task.task_id, task=task, error=submitted.journal_error)
        self._emit(CREATED, task_id=task.task_id, task=task)
        return submitted

    def _begin(self, request: TaskRequest, run_id: str | None, row_key: str | None, fingerprint: str | None) -> int:
        assert self.journal is not None
        extra: dict[str, Any] = {}
        if run_id is not None:
            extra = {"run_id": run_id, "row_key": row_key, "fingerprint": fingerprint or request.fingerprint()}
        return self.journal.begin_create(
            self.world, request.model, request.task_type, request.input, request.config, **extra
        )

    def _settle_row(self, row: int | None, state: str, exc: PiapiError) -> None:
        if self.journal is None or row is None:
            return
        try:
            self.journal.create_failed(row, state, exc.message)
        except Exception as journal_exc:  # noqa: BLE001 - report the create's error, not this one
            self._emit(JOURNAL_ERROR, error=journal_failure(self.journal.path, journal_exc, None))

    # --- wait -----------------------------------------------------------------------

    def record(self, task: Task) -> None:
        """Keep the journal up to date: one write per status change, not one per poll."""
        if self.journal is None or self._recorded.get(task.task_id) == task.status:
            return
        try:
            self.journal.update(task)
            self._recorded[task.task_id] = task.status
        except Exception as exc:  # noqa: BLE001 - a journal problem never stops a wait
            self._emit(JOURNAL_ERROR, task_id=task.task_id, error=journal_failure(self.journal.path, exc, task.task_id))

    def wait(
        self,
        task_ids: Iterable[str],
        *,
        timeout: float | None = 1800.0,
        known: dict[str, Task] | None = None,
        download: DownloadPlan | None = None,
        on_result: Callable[[TaskResult], None] | None = None,
    ) -> list[TaskResult]:
        """Wait for tasks (concurrently); with ``download``, save each one's outputs as soon
        as it completes. ``on_result`` gets each task's result as soon as it is settled."""
        from piapi_cli.core.waiting import wait_for_tasks
        from piapi_cli.core.workers import join_all, join_saving

        ids = list(dict.fromkeys(task_ids))
        results = {tid: TaskResult(tid) for tid in ids}
        downloads: list[threading.Thread] = []
        saver = _Saver(self, download) if download is not None else None

        def finish(result: TaskResult) -> None:
            if on_result is not None:
                on_result(result)

        def fetched(task: Task) -> None:
            self.record(task)
            self._emit(STATUS, task_id=task.task_id, task=task)

        def done(outcome: WaitOutcome) -> None:
            result = results[outcome.task_id]
            result.task, result.error = outcome.task, outcome.error
            self._settled(outcome)
            if saver is not None and outcome.task is not None and outcome.task.succeeded:
                # a thread per finished task, not a pool: it only waits for its downloads, which
                # run on their own cancellable workers (core.workers.run_cancellable)
                thread = threading.Thread(target=saver.save, args=(result, finish), daemon=True)
                downloads.append(thread)
                thread.start()
            else:
                finish(result)

        try:
            wait_for_tasks(
                self.client.get_task, ids, timeout=timeout, policy=self.poll, clock=self.clock, sleep=self.sleep,
                rng=self.rng, wall=self.wall, on_update=fetched, on_done=done, known=known,
                concurrency=self.concurrency, pace=self.paces,
            )  # fmt: skip
        except BaseException:  # Ctrl-C or a signal: the downloads stop, and get a moment to journal
            self.cancel()  # what they saved and drop their empty .part files before the command exits
            join_all(list(downloads), 2.0)
            raise
        for thread in downloads:
            join_saving(thread, self.cancelled)
        return [results[tid] for tid in ids]

    def _settled(self, outcome: WaitOutcome) -> None:
        """A task's wait has ended: recorded, learnt from (its pace), reported."""
        if outcome.task is not None:
            self.record(outcome.task)
            if outcome.task.is_terminal:
                self.finished.add(outcome.task_id)
            if self.paces is not None:
                self.paces.learn(outcome.task)
        self._emit(DONE, task_id=outcome.task_id, task=outcome.task, error=outcome.error)

    # --- download -------------------------------------------------------------------

    def download(
        self, tasks: Iterable[Task], plan: DownloadPlan, on_result: Callable[[TaskResult], None] | None = None
    ) -> list[TaskResult]:
        """Save every output of completed tasks (others are returned untouched)."""
        saver = _Saver(self, plan)
        results = []
        for task in tasks:
            self.record(task)
            if task.is_terminal:
                self.finished.add(task.task_id)
            result = TaskResult(task.task_id, task)
            if task.succeeded:
                saver.save(result, on_result)
            elif on_result is not None:
                on_result(result)
            results.append(result)
        return results

    def _downloader(self, plan: DownloadPlan, urls: list[str]) -> Downloader:
        from pathlib import Path

        from piapi_cli.core.downloads.downloader import Downloader, LocalFile, Partial, Skipped

        def started(item: Any, name: str, total: int | None) -> None:
            self._emit(DOWNLOAD_STARTED, task_id=item.task.task_id, path=name, size=total, item=item)

        def chunk(item: Any, size: int) -> None:
            self._emit(DOWNLOAD_BYTES, task_id=item.task.task_id, size=size, item=item)

        def finished(item: Any, outcome: LocalFile | Failure | Skipped | Partial) -> None:
            if isinstance(outcome, LocalFile):
                with self._lock:
                    self.saved.append(outcome)
                self._emit(SAVED, task_id=item.task.task_id, path=outcome.path, size=outcome.bytes, item=item)
            elif isinstance(outcome, Skipped):
                self._emit(SKIPPED, task_id=item.task.task_id, path=outcome.path, item=item)
            elif isinstance(outcome, Partial):
                self._emit(INTERRUPTED, task_id=item.task.task_id, path=outcome.part, size=outcome.bytes, item=item)
            else:
                self._emit(DOWNLOAD_FAILED, task_id=item.task.task_id, message=outcome.message, item=item)

        downloader = Downloader(
            self._http(urls), Path(plan.directory), ready=self._ready.get(str(plan.directory)),
            template=plan.template, overwrite=plan.overwrite, skip_existing=plan.skip_existing, metadata=plan.metadata,
            sleep=self.sleep, rng=self.rng, cancel_event=self.cancelled,
            on_start=started, on_bytes=chunk, on_done=finished,
        )  # fmt: skip
        with self._lock:
            if self._downloaders is None:
                import weakref

                self._downloaders = weakref.WeakValueDictionary()
            self._downloaders[id(downloader)] = downloader
        return downloader

    def _save(self, downloader: Downloader, result: TaskResult, finish: Callable[[TaskResult], None] | None) -> None:
        from piapi_cli.core.downloads.results import DownloadInterrupted

        assert result.task is not None
        try:
            report = downloader.run(downloader.plan([result.task]))
        except DownloadInterrupted as exc:  # Ctrl-C: the files saved before it are journaled and shown all the same
            self._keep(downloader, result, exc.report, finish)
            raise
        self._keep(downloader, result, report, finish)

    def _keep(
        self, downloader: Downloader, result: TaskResult, report: Report, finish: Callable[[TaskResult], None] | None
    ) -> None:
        if downloader.ready is not None:  # made and proven: the next rows' downloaders skip that
            self._ready.setdefault(str(downloader.directory), downloader.ready)
        result.files, result.skipped, result.failures = report.files, report.skipped, report.failures
        result.partial = report.partial
        if self.journal is not None:
            for saved in report.files:
                try:
                    self.journal.record_download(saved.task_id, saved.url, saved.path, saved.bytes, saved.sha256)
                except Exception as exc:  # noqa: BLE001 - the file is saved; say the record failed
                    self._emit(
                        JOURNAL_ERROR, task_id=saved.task_id, error=journal_failure(self.journal.path, exc, None)
                    )
        if finish is not None:
            finish(result)

    def _http(self, urls: list[str]) -> DownloadHTTP:
        if self._download_http is not None:
            return self._download_http(urls)
        if self._own_http is None:
            from piapi_cli.core.downloads.downloader import download_client

            # a client with its own transport (the sandbox, a test) gets its files through it too
            self._own_http = download_client(urls, self.client.transport)
        return self._own_http

    def close(self) -> None:
        if self._own_http is not None:
            self._own_http.close()


class _Saver:
    """One downloader for a plan, made when the first task completes (its URLs settle the TLS
    set-up): names claimed by one task are known to the next."""

    def __init__(self, runner: Runner, plan: DownloadPlan) -> None:
        self.runner, self.plan = runner, plan
        self._downloader: Downloader | None = None
        self._lock = threading.Lock()

    def save(self, result: TaskResult, finish: Callable[[TaskResult], None] | None) -> None:
        assert result.task is not None
        with self._lock:
            if self._downloader is None:
                self._downloader = self.runner._downloader(self.plan, [u.url for u in result.task.urls])
        self.runner._save(self._downloader, result, finish)
