"""The one worker pool: every job put runs once and hands its result back; its threads never
keep the process alive; a cancelled run starts nothing more and waits only for what began."""

from __future__ import annotations

import queue
import threading

import pytest

from piapi_cli.core.workers import Pool, run_cancellable


def test_every_job_runs_once_and_its_result_comes_back() -> None:
    out: queue.SimpleQueue[int] = queue.SimpleQueue()
    pool = Pool(3, lambda n: n * n, out, "test-pool")
    for n in range(50):
        pool.put(n)
    pool.close()
    assert sorted(out.get(timeout=10) for _ in range(50)) == [n * n for n in range(50)]
    assert out.empty()


def test_a_hanging_job_cannot_keep_the_process_alive() -> None:
    release = threading.Event()
    out: queue.SimpleQueue[bool] = queue.SimpleQueue()
    pool = Pool(1, lambda _: release.wait(), out, "test-hang")
    pool.put(None)
    hanging = [t for t in threading.enumerate() if t.name == "test-hang"]
    assert hanging and all(t.daemon for t in hanging)  # the interpreter exits without waiting for it
    release.set()
    pool.close()
    assert out.get(timeout=10) is True


def test_a_cancel_starts_nothing_more_and_keeps_what_finished() -> None:
    cancel = threading.Event()
    ran: list[int] = []

    def job(n: int) -> int:
        ran.append(n)
        if n == 0:
            cancel.set()  # as Ctrl-C would, while the first job runs
        return n

    finished = run_cancellable(
        100, job, workers=1, cancel=cancel, on_result=lambda n, r: None, on_cancel=lambda: None, grace=10
    )
    assert ran == [0]  # one worker: nothing after the cancel started
    assert finished.results == {0: 0}


def test_a_job_that_raises_is_a_bug_raised_to_the_caller() -> None:
    cancel = threading.Event()
    woken: list[bool] = []

    def job(n: int) -> int:
        if n == 3:
            raise RuntimeError("bug")
        return n

    with pytest.raises(RuntimeError, match="bug"):
        run_cancellable(
            10, job, workers=2, cancel=cancel, on_result=lambda n, r: None, on_cancel=lambda: woken.append(True),
            grace=10,
        )  # fmt: skip
    assert cancel.is_set() and woken  # the rest were told to stop
