"""Worker threads that a cancel stops promptly: what Downloader.run runs its downloads on."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Finished(Generic[T]):
    """What a run of the pool gave: results by job number, and whether Ctrl-C stopped it."""

    results: dict[int, T] = field(default_factory=dict)
    keyboard_interrupt: bool = False


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
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for number in range(count):
        todo.put(number)
    done: queue.SimpleQueue[tuple[int, T | BaseException]] = queue.SimpleQueue()
    started: set[int] = set()
    lock = threading.Lock()

    def work() -> None:
        while not cancel.is_set():
            try:
                number = todo.get_nowait()
            except queue.Empty:
                return
            with lock:
                started.add(number)
            try:
                done.put((number, job(number)))
            except BaseException as exc:
                done.put((number, exc))
                return

    for _ in range(max(1, min(workers, count))):
        threading.Thread(target=work, daemon=True).start()
    finished: Finished[T] = Finished()

    def collect(timeout: float) -> None:
        number, result = done.get(timeout=timeout)
        if isinstance(result, BaseException):
            cancel.set()
            on_cancel()
            raise result
        finished.results[number] = result
        on_result(number, result)

    try:
        while len(finished.results) < count:
            try:
                collect(0.1)
            except queue.Empty:
                if cancel.is_set():
                    break
    except KeyboardInterrupt:
        finished.keyboard_interrupt = True
        cancel.set()
    if len(finished.results) < count:
        on_cancel()
        deadline = time.monotonic() + grace
        while (left := deadline - time.monotonic()) > 0:
            with lock:
                if started <= finished.results.keys():
                    break  # every job that began has returned; the rest never will
            try:
                collect(left)
            except queue.Empty:
                break
    return finished
