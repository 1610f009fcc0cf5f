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


class _NotStarted:
    """What a job of ``run_cancellable`` gives when a cancel came before it started."""


@record()
class Finished(Generic[T]):
    """What a run of the pool gave: results by job number, and whether Ctrl-C stopped it."""

    results: dict[int, T] = field(default_factory=dict)
    keyboard_interrupt: bool = False
    #: what stopped it: Ctrl-C's KeyboardInterrupt, or a signal's own subclass (SIGTERM, SIGHUP)
    interrupt: BaseException | None = None


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
    left out of the results. Threads are daemons, so one stuck in a connect cannot keep the
    process alive. An exception a job did not catch is a bug: it is raised here.
    """
    done: queue.SimpleQueue[tuple[int, T | BaseException | _NotStarted]] = queue.SimpleQueue()
    started: set[int] = set()
    lock = threading.Lock()

    def work(number: int) -> tuple[int, T | BaseException | _NotStarted]:
        if cancel.is_set():
            return number, _NotStarted()
        with lock:
            started.add(number)
        try:
            return number, job(number)
        except BaseException as exc:
            return number, exc

    pool = Pool(min(workers, count), work, done, "piapi-download")
    for number in range(count):
        pool.put(number)
    pool.close()
    finished: Finished[T] = Finished()

    def collect(timeout: float) -> None:
        number, result = done.get(timeout=timeout)
        if isinstance(result, _NotStarted):
            return
        if isinstance(result, BaseException):
            cancel.set()
            on_cancel()
            raise result
        finished.results[number] = result
        on_result(number, result)

    _collect_all(collect, count, finished, cancel)
    if len(finished.results) < count:
        on_cancel()
        _wait_for_started(collect, started, lock, finished, grace)
    return finished


def _collect_all(collect: Callable[[float], None], count: int, finished: Finished[T], cancel: threading.Event) -> None:
    """Collect results until every job gave one, a cancel, or Ctrl-C (which cancels)."""
    try:
        while len(finished.results) < count:
            try:
                collect(0.1)
            except queue.Empty:
                if cancel.is_set():
                    return
    except KeyboardInterrupt as exc:
        finished.keyboard_interrupt, finished.interrupt = True, exc
        cancel.set()


def _wait_for_started(
    collect: Callable[[float], None], started: set[int], lock: threading.Lock, finished: Finished[T], grace: float
) -> None:
    """Give the jobs that began ``grace`` seconds to return, collecting what they give."""
    deadline = time.monotonic() + grace
    while (left := deadline - time.monotonic()) > 0:
        with lock:
            if started <= finished.results.keys():
                return  # every job that began has returned; the rest never will
        try:
            collect(left)
        except queue.Empty:
            return


def join_saving(thread: threading.Thread, cancelled: threading.Event) -> None:
    """Wait for a thread that saves files in short joins, so the main thread stays responsive to
    Ctrl-C; once ``cancelled`` is set, give it a last moment to keep its partial file."""
    while thread.is_alive():
        thread.join(0.2)
        if cancelled.is_set():
            thread.join(1.5)
            return
