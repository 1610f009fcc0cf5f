"""Ctrl-C where a run of the worker pool did not expect it: just before a result's report,
again during the grace, just after a worker looked at the cancel; and an interrupted download
as the CLI's runner keeps it (the files saved before the Ctrl-C journaled and shown)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli.api.client import Client
from piapi_cli.core import workers
from piapi_cli.core.downloads.results import DownloadInterrupted
from piapi_cli.core.journal.journal import Journal
from piapi_cli.core.requests import build_request
from piapi_cli.core.runner import DownloadPlan, RunEvent, Runner
from piapi_cli.core.runs import TaskResult
from piapi_cli.core.workers import run_cancellable
from piapi_cli.sandbox import Emulator, transport_for
from tests.conftest import TEST_KEY, FakeClock

# --- run_cancellable and Ctrl-C where the collecting thread did not expect it ---------------


def test_a_ctrl_c_just_as_a_result_is_marked_reported_still_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C lands in the collecting (main) thread right after it has noted a result as
    # reported and before on_result ran: the result is in the results, so it must be reported
    main = threading.main_thread()
    struck = threading.Event()

    class CutOff(set):  # type: ignore[type-arg]
        def add(self, item: object) -> None:
            super().add(item)
            if threading.current_thread() is main and not struck.is_set():
                struck.set()
                raise KeyboardInterrupt

    real_init = workers._Run.__init__

    def init(self: workers._Run[Any], *args: Any) -> None:
        real_init(self, *args)
        self.reported = CutOff()

    monkeypatch.setattr(workers._Run, "__init__", init)
    reported: list[tuple[int, str]] = []
    finished = run_cancellable(
        1, lambda n: f"file-{n}", workers=1, cancel=threading.Event(), on_result=lambda n, r: reported.append((n, r)),
        on_cancel=lambda: None, grace=10,
    )  # fmt: skip
    assert struck.is_set() and finished.keyboard_interrupt
    assert finished.results == {0: "file-0"}
    assert reported == [(0, "file-0")]


def test_a_second_ctrl_c_in_the_grace_still_returns_what_was_saved() -> None:
    # the first Ctrl-C as the first file is reported, the second while the run waits for the
    # one still going: the run ends at once, but with the saved file in its results, not a
    # bare KeyboardInterrupt that loses them (Downloader.run: no DownloadInterrupted, no report)
    import _thread

    release = threading.Event()
    reported: list[int] = []
    ctrl_c = iter([True, True])

    def job(n: int) -> str:
        if n == 1:
            release.wait(30)  # a download stuck where a cancel cannot reach it
        return f"file-{n}"

    def saved(n: int, result: str) -> None:
        reported.append(n)
        if next(ctrl_c, False):
            _thread.interrupt_main()

    def wake() -> None:
        if next(ctrl_c, False):
            _thread.interrupt_main()

    try:
        finished = run_cancellable(2, job, workers=2, cancel=threading.Event(), on_result=saved, on_cancel=wake,
                                   grace=30)  # fmt: skip
    except KeyboardInterrupt:
        pytest.fail("the second Ctrl-C went through run_cancellable: what was saved is not returned")
    finally:
        release.set()
    assert finished.keyboard_interrupt
    assert finished.results == {0: "file-0"} and reported == [0]


def test_a_cancel_just_after_a_worker_looked_never_leaves_a_job_running_past_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a worker sees no cancel; Ctrl-C lands before it notes its job as started. The grace must
    # still wait for that job, or the job must not start: never a job that starts after the
    # run has returned (a download beginning after the report was made)
    main = threading.main_thread()
    go = threading.Event()

    class Watched:
        """The run's lock; when the collecting thread cannot take it at once, the worker goes on."""

        def __init__(self) -> None:
            self._lock = threading.Lock()

        def __enter__(self) -> None:
            if not self._lock.acquire(blocking=False):
                if threading.current_thread() is main:
                    go.set()
                self._lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self._lock.release()

    real_init = workers._Run.__init__

    def init(self: workers._Run[Any], *args: Any) -> None:
        real_init(self, *args)
        self.lock = Watched()  # type: ignore[assignment]

    monkeypatch.setattr(workers._Run, "__init__", init)

    class LateCancel(threading.Event):
        def is_set(self) -> bool:
            was = super().is_set()
            if threading.current_thread() is not main and not was:
                self.set()  # Ctrl-C, just after this worker looked
                go.wait(30)  # the worker is slow to go on
            return was

    ran = threading.Event()

    def job(n: int) -> int:
        ran.set()
        return n

    finished = run_cancellable(1, job, workers=1, cancel=LateCancel(), on_result=lambda n, r: None,
                               on_cancel=lambda: None, grace=30)  # fmt: skip
    go.set()  # (a worker the run left behind goes on now)
    if 0 not in finished.results:
        assert not ran.wait(10), "the job started after the run had returned"


# --- an interrupted download, as the CLI's runner keeps it ----------------------------------


def _interrupted_at_first_save(clock: FakeClock, emulator: Emulator, tmp_path: Path) -> tuple[Client, Journal, Runner]:
    """A runner on the sandbox with a journal, whose first saved file brings a Ctrl-C."""
    import _thread

    client = Client(TEST_KEY, emulator.base_url, transport=transport_for(emulator), sleep=clock.sleep)
    journal = Journal(tmp_path / "journal.sqlite3", clock=clock)
    runner = Runner(client, journal=journal, clock=clock, sleep=clock.sleep, wall=clock,
                    download_http=lambda urls: httpx.Client(transport=transport_for(emulator)))  # fmt: skip

    def on_event(event: RunEvent) -> None:
        if event.kind == "saved" and not runner.cancelled.is_set():
            _thread.interrupt_main()  # Ctrl-C

    runner.on_event = on_event
    return client, journal, runner


def test_files_saved_before_ctrl_c_are_journaled_and_shown(
    clock: FakeClock, emulator: Emulator, tmp_path: Path
) -> None:
    # `piapi download`: Ctrl-C as a task's first file is saved. The run's report has that file;
    # the journal must record it and the caller's on_result (stdout: the saved paths) see it
    client, journal, runner = _interrupted_at_first_save(clock, emulator, tmp_path)
    task = runner.submit(build_request("midjourney", "imagine", assignments=["prompt=x"]).request).task
    clock.sleep(600)
    task = client.get_task(task.task_id)
    assert task.succeeded and len(task.urls) > 1

    shown: list[TaskResult] = []
    with pytest.raises(DownloadInterrupted) as caught:
        runner.download([task], DownloadPlan(tmp_path / "out"), on_result=shown.append)
    saved = sorted(f.path for f in caught.value.report.files)
    assert saved and saved == sorted(str(p) for p in (tmp_path / "out").iterdir() if p.suffix == ".png")
    [entry] = journal.entries()
    assert sorted(str(d["path"]) for d in entry.downloads) == saved
    assert [sorted(f.path for f in r.files) for r in shown] == [saved]


def test_a_wait_interrupted_while_it_downloads_journals_what_was_saved_and_leaves_no_empty_parts(
    clock: FakeClock, emulator: Emulator, tmp_path: Path
) -> None:
    # `piapi wait A B --download DIR`: A has finished and its files are being saved when Ctrl-C
    # lands in the wait for B. What A's downloads saved must be journaled, and no empty .part
    # file left behind, before the command reports and exits (its threads die with it)
    client, journal, runner = _interrupted_at_first_save(clock, emulator, tmp_path)
    done = runner.submit(build_request("midjourney", "imagine", assignments=["prompt=x"]).request).task
    clock.sleep(600)
    slow = runner.submit(
        build_request("midjourney", "imagine", assignments=["prompt=y [sandbox:seconds=1000000000]"]).request
    ).task

    with pytest.raises(KeyboardInterrupt):
        runner.wait([done.task_id, slow.task_id], timeout=None, download=DownloadPlan(tmp_path / "out"))
    on_disk = sorted(str(p) for p in (tmp_path / "out").iterdir() if p.suffix == ".png")
    assert on_disk and sorted(f.path for f in runner.saved) == on_disk
    entry = next(e for e in journal.entries() if e.task_id == done.task_id)
    assert sorted(str(d["path"]) for d in entry.downloads) == on_disk
    parts = list((tmp_path / "out").glob("*.part"))
    assert all(p.stat().st_size > 0 for p in parts)  # unfinished ones kept to resume; no empty litter
