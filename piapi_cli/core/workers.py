"""piapi's worker pool, and the cancellable run over it that Downloader.run uses.

``Pool`` is the one pool of daemon threads: waiting (concurrent polls) and batch runs (requests
and saves) run on it. Daemon threads, not an executor: an interrupted run must not sit at exit
until a hanging request times out. Two pools differ on purpose and say why where they are: the
listener's ``ShardedPool`` (jobs of one key on one thread, in order: a receiver gets a task's
events in the order they came) and the sandbox's webhook lanes (one worker per receiver at a
time, bounded per receiver, so a dead receiver holds up only its own deliveries).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from piapi_cli.api.records import field, record

T = TypeVar("T")
J = TypeVar("J")

R = TypeVar("R")


class Pool(Generic[J, R]):
    """``size`` daemon threads running ``work(job)`` for each job put, in the order put; each
    result goes on ``out``. ``work`` reports its own failures in what it returns: an exception
    it lets through ends its thread (a bug)."""

    def __init__(self, size: int, work: Callable[[J], R], out: queue.SimpleQueue[R], name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[J] | None] = queue.SimpleQueue()
        self._work, self._out = work, out
        self._threads = [threading.Thread(target=self._loop, daemon=True, name=name) for _ in range(max(1, size))]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._out.put(self._work(job[0]))

    def put(self, job: J) -> None:
        self._jobs.put((job,))

    def close(self) -> None:
        """No more jobs: each thread ends once the jobs put before are done."""
        for _ in self._threads:
            self._jobs.put(None)


@record()
class Finished(Generic[T]):
    """What a run of the pool gave: results by job number, and whether Ctrl-C stopped it."""

    results: dict[int, T] = field(default_factory=dict)
    keyboard_interrupt: bool = False
    #: what stopped it: Ctrl-C's KeyboardInterrupt, or a signal's own subclass (SIGTERM, SIGHUP)
    interrupt: BaseException | None = None


class _Run(Generic[T]):
    """The state of one ``run_cancellable``. Each worker keeps its own job's result here, under
    the lock, before it says it is done: a Ctrl-C lands only in the collecting (main) thread, so
    it can cut that thread off between hearing of a result and reporting it, but it can no
    longer drop the result (a file on disk, whole and journaled, listed as not saved)."""

    def __init__(self, job: Callable[[int], T], cancel: threading.Event) -> None:
        self.job, self.cancel = job, cancel
        self.lock = threading.Lock()
        self.started: set[int] = set()
        self.kept: dict[int, T] = {}
        self.reported: set[int] = set()
        self.heard = 0  # jobs that said they are done (or never started)
        #: each job's number once it ends, with the exception it let through (a bug), if any
        self.done: queue.SimpleQueue[tuple[int, BaseException | None]] = queue.SimpleQueue()

    def work(self, number: int) -> None:
        # the cancel looked at and the job noted as started under the lock the grace's look at
        # what started takes: a job either never starts or is one the grace waits for
        with self.lock:
            cancelled = self.cancel.is_set()
            if not cancelled:
                self.started.add(number)
        if cancelled:
            self.done.put((number, None))  # never started
            return
        try:
            result = self.job(number)
        except BaseException as exc:  # noqa: BLE001 - a bug: handed to the collecting thread
            self.done.put((number, exc))
            return
        with self.lock:
            self.kept[number] = result
        self.done.put((number, None))

    def collect(self, timeout: float, on_result: Callable[[int, T], None], on_cancel: Callable[[], None]) -> None:
        number, error = self.done.get(timeout=timeout)
        self.heard += 1
        if error is not None:
            self.cancel.set()
            on_cancel()
            raise error
        self.report(on_result)

    def report(self, on_result: Callable[[int, T], None], results: dict[int, T] | None = None) -> None:
        """``on_result`` for each result (of ``results``, else of those kept) not reported yet,
        once each, in the order kept. A result counts as reported once its ``on_result`` began:
        a Ctrl-C landing just before the call leaves it to be reported later."""
        with self.lock:
            fresh = [(n, r) for n, r in (self.kept if results is None else results).items() if n not in self.reported]
        for number, result in fresh:
            try:
                on_result(number, result)
            finally:
                self.reported.add(number)

    def all_started_returned(self) -> bool:
        with self.lock:
            return self.started <= self.kept.keys()

    def results(self) -> dict[int, T]:
        """What was kept, as of now: a worker that returns later (past its grace) changes it no more."""
        with self.lock:
            return dict(self.kept)


def run_cancellable(
    count: int,
    job: Callable[[int], T],
    *,
    workers: int,
    cancel: threading.Event,
    on_result: Callable[[int, T], None],
    on_cancel: Callable[[], None],
    grace: float,
) -> Finished[T]:
    """Run ``job(n)`` for each n below ``count`` on at most ``workers`` threads, calling
    ``on_result(n, result)`` in this thread as each ends.

    Once ``cancel`` is set (Ctrl-C here sets it too), no job starts, ``on_cancel()`` is called
    to wake the running ones, and they get ``grace`` seconds to return; those that do not are
    left out of the results (Ctrl-C again ends the grace at once). Every result in the returned
    ``results`` has had its ``on_result``, and only those, Ctrl-C or not. Threads are daemons, so
    one stuck in a connect cannot keep the process alive. An exception a job did not catch is a
    bug: it is raised here.
    """
    run = _Run(job, cancel)
    pool: Pool[int, None] = Pool(min(workers, count), run.work, queue.SimpleQueue(), "piapi-download")
    for number in range(count):
        pool.put(number)
    pool.close()
    finished: Finished[T] = Finished()

    def collect(timeout: float) -> None:
        run.collect(timeout, on_result, on_cancel)

    _collect_all(collect, run, count, finished, cancel)
    try:
        if len(run.reported) < count:
            on_cancel()
            _wait_for_started(collect, run, grace)
    except KeyboardInterrupt as exc:  # Ctrl-C (again) in the grace: it ends the wait, not the report
        _interrupted(finished, exc, cancel)
    while True:  # what was kept by now, each reported (kept while a Ctrl-C cut the collecting short)
        try:
            finished.results = run.results()
            run.report(on_result, finished.results)
            return finished
        except KeyboardInterrupt as exc:
            _interrupted(finished, exc, cancel)


def _collect_all(
    collect: Callable[[float], None], run: _Run[T], count: int, finished: Finished[T], cancel: threading.Event
) -> None:
    """Collect results until every job gave one, a cancel, or Ctrl-C (which cancels)."""
    try:
        while run.heard < count:
            try:
                collect(0.1)
            except queue.Empty:
                if cancel.is_set():
                    return
    except KeyboardInterrupt as exc:
        _interrupted(finished, exc, cancel)


def _interrupted(finished: Finished[T], exc: KeyboardInterrupt, cancel: threading.Event) -> None:
    """Ctrl-C (or a signal's KeyboardInterrupt) landed: the run is cancelled; the first is kept."""
    cancel.set()
    if not finished.keyboard_interrupt:
        finished.keyboard_interrupt, finished.interrupt = True, exc


def _wait_for_started(collect: Callable[[float], None], run: _Run[T], grace: float) -> None:
    """Give the jobs that began ``grace`` seconds to return, collecting what they give."""
    deadline = time.monotonic() + grace
    while (left := deadline - time.monotonic()) > 0:
        if run.all_started_returned():
            return  # every job that began has returned; the rest never will
        try:
            collect(left)
        except queue.Empty:
            return


def join_all(threads: list[threading.Thread], seconds: float) -> None:
    """Give ``threads`` at most ``seconds`` in all to end."""
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def join_saving(thread: threading.Thread, cancelled: threading.Event) -> None:
    """Wait for a thread that saves files in short joins, so the main thread stays responsive to
    Ctrl-C; once ``cancelled`` is set, give it a last moment to keep its partial file."""
    while thread.is_alive():
        thread.join(0.2)
        if cancelled.is_set():
            thread.join(1.5)
            return
