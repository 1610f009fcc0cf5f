"""Waiting: growing poll intervals, a deadline, many tasks at once, all on a fake clock."""

from __future__ import annotations

import pytest

from piapi_cli.api.errors import ExitCode, NotFoundError, WaitTimeout
from piapi_cli.api.tasks import Task
from piapi_cli.core.waiting import PollPolicy, wait_for_tasks, worst_exit_code
from tests.conftest import FakeClock


def scripted(statuses: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def fetch(task_id: str) -> Task:
        calls.append(task_id)
        script = statuses[task_id]
        if not script:
            raise NotFoundError(f"task {task_id} not found", status_code=404)
        status = script.pop(0) if len(script) > 1 else script[0]
        return Task.from_api({"task_id": task_id, "status": status})

    return fetch, calls


def test_intervals_grow_from_one_second_to_the_cap() -> None:
    policy = PollPolicy(initial=1.0, factor=1.5, max_interval=4.0, jitter=0.0)
    assert [policy.interval(n) for n in range(1, 7)] == [1.0, 1.5, 2.25, 3.375, 4.0, 4.0]


def test_jitter_stays_within_its_band() -> None:
    policy = PollPolicy(initial=2.0, jitter=0.1)
    assert policy.interval(1, rng=lambda: 0.0) == pytest.approx(1.8)
    assert policy.interval(1, rng=lambda: 1.0) == pytest.approx(2.2)


def test_waits_until_completed_polling_at_growing_intervals(clock: FakeClock) -> None:
    fetch, calls = scripted({"a": ["pending", "processing", "processing", "completed"]})
    seen: list[str] = []
    [outcome] = wait_for_tasks(
        fetch,
        ["a"],
        policy=PollPolicy(jitter=0),
        clock=clock,
        sleep=clock.sleep,
        on_update=lambda t: seen.append(t.status),
    )
    assert outcome.task is not None and outcome.task.succeeded and outcome.exit_code == ExitCode.OK
    assert seen == ["pending", "processing", "processing", "completed"]
    assert clock.sleeps == [1.0, 1.5, 2.25]


def test_deadline_passes_while_the_task_runs(clock: FakeClock) -> None:
    fetch, _ = scripted({"a": ["processing"]})
    [outcome] = wait_for_tasks(fetch, ["a"], timeout=30, clock=clock, sleep=clock.sleep, rng=lambda: 0.5)
    assert isinstance(outcome.error, WaitTimeout) and outcome.exit_code == ExitCode.WAIT_TIMEOUT
    assert "piapi wait a" in (outcome.error.hint or "")
    assert clock.now - 1_750_000_000.0 == pytest.approx(30)  # slept exactly up to the deadline, no further


def test_zero_timeout_waits_without_deadline(clock: FakeClock) -> None:
    fetch, calls = scripted({"a": ["processing"] * 500 + ["completed"]})
    [outcome] = wait_for_tasks(fetch, ["a"], timeout=0, clock=clock, sleep=clock.sleep)
    assert outcome.task is not None and outcome.task.succeeded and len(calls) == 501


def test_many_tasks_are_polled_together_and_the_worst_outcome_wins(clock: FakeClock) -> None:
    fetch, calls = scripted(
        {
            "ok": ["pending", "completed"],
            "bad": ["processing", "processing", "failed"],
            "gone": [],
        }
    )
    outcomes = wait_for_tasks(fetch, ["ok", "bad", "gone", "ok"], clock=clock, sleep=clock.sleep)
    assert [o.task_id for o in outcomes] == ["ok", "bad", "gone"]  # duplicates waited for once
    assert [o.exit_code for o in outcomes] == [ExitCode.OK, ExitCode.TASK_FAILED, ExitCode.API_REFUSED]
    assert worst_exit_code(outcomes) == ExitCode.TASK_FAILED
    assert calls[:3] == ["ok", "bad", "gone"]  # the first round polls each task before any sleep


def test_known_task_is_not_refetched_at_once(clock: FakeClock) -> None:
    fetch, calls = scripted({"a": ["completed"]})
    known = {"a": Task.from_api({"task_id": "a", "status": "pending"})}
    wait_for_tasks(fetch, ["a"], known=known, clock=clock, sleep=clock.sleep, rng=lambda: 0.5)
    assert calls == ["a"] and clock.sleeps == [1.0]


def test_an_already_finished_known_task_needs_no_request(clock: FakeClock) -> None:
    fetch, calls = scripted({"a": ["completed"]})
    known = {"a": Task.from_api({"task_id": "a", "status": "completed"})}
    [outcome] = wait_for_tasks(fetch, ["a"], known=known, clock=clock, sleep=clock.sleep)
    assert calls == [] and outcome.exit_code == ExitCode.OK
