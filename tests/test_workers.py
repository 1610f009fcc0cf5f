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


def test_a_ctrl_c_as_a_result_arrives_still_reports_that_result(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C lands in the collecting (main) thread just as it has taken a finished job's word
    # off the queue: the result (a saved file) must still be in the results and reported, not
    # listed as not saved
    real = queue.SimpleQueue
    main = threading.main_thread()
    struck = threading.Event()

    class CutOff(real):  # type: ignore[misc,valid-type]
        def get(self, block: bool = True, timeout: float | None = None) -> object:
            item = super().get(block, timeout)
            if threading.current_thread() is main and not struck.is_set():
                struck.set()
                raise KeyboardInterrupt
            return item

    monkeypatch.setattr(queue, "SimpleQueue", CutOff)
    cancel = threading.Event()
    reported: list[tuple[int, str]] = []
    finished = run_cancellable(
        1, lambda n: f"file-{n}", workers=1, cancel=cancel, on_result=lambda n, r: reported.append((n, r)),
        on_cancel=lambda: None, grace=10,
    )  # fmt: skip
    assert struck.is_set() and finished.keyboard_interrupt and cancel.is_set()
    assert finished.results == {0: "file-0"}
    assert reported == [(0, "file-0")]  # once, though its word was lost to the Ctrl-C


def test_every_result_is_reported_once_and_in_the_results() -> None:
    cancel = threading.Event()
    reported: list[int] = []
    finished = run_cancellable(
        200, lambda n: n, workers=8, cancel=cancel, on_result=lambda n, r: reported.append(n),
        on_cancel=lambda: None, grace=10,
    )  # fmt: skip
    assert sorted(reported) == list(range(200)) and finished.results == {n: n for n in range(200)}
    assert not finished.keyboard_interrupt
