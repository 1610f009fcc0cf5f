"""The runner used from Python, without the CLI: submit, wait, download, events, journal."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest

from piapi_cli.api.client import Client
from piapi_cli.api.errors import CreateOutcomeUnknown, ExitCode
from piapi_cli.api.tasks import TaskRequest
from piapi_cli.core.journal.journal import Journal
from piapi_cli.core.requests import build_request
from piapi_cli.core.runner import DownloadPlan, RunEvent, Runner
from piapi_cli.sandbox import Emulator, MemoryStore, transport_for
from tests.conftest import TEST_KEY, FakeClock

README = Path(__file__).resolve().parent.parent / "README.md"


def make(clock: FakeClock, emulator: Emulator, **kwargs: object) -> tuple[Runner, list[RunEvent]]:
    client = Client(TEST_KEY, emulator.base_url, transport=transport_for(emulator), sleep=clock.sleep)
    events: list[RunEvent] = []

    def download_http(urls: list[str]) -> httpx.Client:
        return httpx.Client(transport=transport_for(emulator))

    runner = Runner(
        client,
        on_event=events.append,
        clock=clock,
        sleep=clock.sleep,
        wall=clock,
        download_http=download_http,
        **kwargs,  # type: ignore[arg-type]
    )
    return runner, events


def test_submit_wait_download_without_the_cli(clock: FakeClock, emulator: Emulator, tmp_path: Path) -> None:
    runner, events = make(clock, emulator)
    built = build_request("Qubico/flux1-dev", "txt2img", assignments=["prompt=a little cat"])
    task = runner.submit(built.request).task
    [result] = runner.wait([task.task_id], known={task.task_id: task}, download=DownloadPlan(tmp_path))
    assert result.exit_code == ExitCode.OK and result.status == "completed"
    [saved] = result.files
    assert Path(saved.path).parent == tmp_path
    assert hashlib.sha256(Path(saved.path).read_bytes()).hexdigest() == saved.sha256
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["submitting", "created"] and "saved" in kinds
    assert kinds.index("done") < kinds.index("saved")
    assert runner.created == [task.task_id]


def test_the_journal_holds_the_request_before_it_is_sent(clock: FakeClock, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    seen: list[list[str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append([e.status for e in journal.entries()])
        return httpx.Response(200, json={"code": 200, "data": {"task_id": "t-1", "status": "pending"}})

    client = Client(TEST_KEY, "https://api.example.test", transport=httpx.MockTransport(handle), sleep=clock.sleep)
    runner = Runner(client, journal=journal, clock=clock, sleep=clock.sleep)
    runner.submit(TaskRequest("m", "t", {"prompt": "x"}))
    assert seen == [["sending"]]
    assert [(e.task_id, e.status) for e in journal.entries()] == [("t-1", "pending")]


def test_a_lost_answer_is_journaled_unknown_and_not_resent(clock: FakeClock, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    sent = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.ReadTimeout("no answer")

    client = Client(TEST_KEY, "https://api.example.test", transport=httpx.MockTransport(handle), sleep=clock.sleep)
    runner = Runner(client, journal=journal, clock=clock, sleep=clock.sleep)
    with pytest.raises(CreateOutcomeUnknown) as caught:
        runner.submit(TaskRequest("m", "t", {"prompt": "x"}))
    assert len(sent) == 1 and caught.value.journal_row == 1
    assert [e.status for e in journal.entries()] == ["unknown"]


def test_a_journal_that_breaks_after_the_answer_never_loses_the_task(clock: FakeClock, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 200, "data": {"task_id": "same-id", "status": "pending"}})

    client = Client(TEST_KEY, "https://api.example.test", transport=httpx.MockTransport(handle), sleep=clock.sleep)
    events: list[RunEvent] = []
    runner = Runner(client, journal=journal, clock=clock, sleep=clock.sleep, on_event=events.append)
    first = runner.submit(TaskRequest("m", "t", {"prompt": "x"}))
    second = runner.submit(TaskRequest("m", "t", {"prompt": "y"}))  # the server reuses the ID
    assert first.journal_error is None
    assert second.task.task_id == "same-id" and second.journal_error is not None
    assert second.journal_error.task_id == "same-id"
    assert "journal_error" in [e.kind for e in events]


def test_many_tasks_finish_in_about_one_round_of_polls(clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, sleep=clock.sleep, concurrency=100)
    runner, _ = make(clock, emulator)
    ids = [
        runner.submit(TaskRequest("Qubico/flux1-schnell", "txt2img", {"prompt": str(i)})).task.task_id
        for i in range(30)
    ]
    start = clock()
    results = runner.wait(ids)
    assert all(r.exit_code == ExitCode.OK for r in results)
    assert clock() - start < 20  # the whole set, not thirty waits one after another


def test_the_readme_python_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = re.search(r"## Using it from Python.*?```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    monkeypatch.chdir(tmp_path)
    printed: list[str] = []
    exec(compile(code.group(1), "README.md", "exec"), {"print": lambda *a: printed.append(" ".join(map(str, a)))})
    assert printed[-1].startswith("completed ['") and "/out/" in printed[-1]
    assert len(list((tmp_path / "out").iterdir())) == 1
    assert any(line.startswith("created ") for line in printed)


def test_waits_learn_each_kinds_run_time_from_the_journal(clock: FakeClock, emulator: Emulator, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3", clock=clock)
    runner, events = make(clock, emulator, journal=journal)
    built = build_request("Qubico/flux1-dev", "txt2img", assignments=["prompt=a cat [sandbox:seconds=30]"])

    def run_one() -> tuple[int, float]:
        """GETs of one create --wait, and the lag between the task's end and the wait's."""
        task = runner.submit(built.request).task
        before = sum(e.kind == "status" for e in events)
        [result] = runner.wait([task.task_id], known={task.task_id: task})
        assert result.task is not None and result.task.ended_at is not None
        return sum(e.kind == "status" for e in events) - before, clock() - result.task.ended_at.timestamp()

    first_gets, first_lag = run_one()  # no history: polls follow the task's age
    for _ in range(3):
        run_one()
    gets, lag = run_one()  # four 30 s runs in the journal: polls gather around the 30th second
    assert 0 <= lag <= 0.5 and gets < first_gets and gets < 30 / 2
