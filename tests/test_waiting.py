"""Waiting: growing poll intervals, a deadline, many tasks at once, all on a fake clock."""

from __future__ import annotations

import math

import pytest

from piapi_cli.api.errors import ExitCode, NotFoundError, WaitTimeout, combine_exit_codes
from piapi_cli.api.tasks import Task
from piapi_cli.core.pace import Pace
from piapi_cli.core.waiting import PollPolicy, WaitOutcome, wait_for_tasks
from tests.conftest import FakeClock


def worst_exit_code(outcomes: list[WaitOutcome]) -> ExitCode:
    return combine_exit_codes(o.exit_code for o in outcomes)


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


def test_intervals_follow_the_tasks_age_from_one_second_to_the_cap() -> None:
    policy = PollPolicy(max_interval=4.0, jitter=0.0)
    assert [policy.interval(age) for age in (0, 5, 10, 20, 30, 40, 100)] == [1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0]


def test_jitter_only_ever_shortens_an_interval() -> None:
    policy = PollPolicy(jitter=0.1)
    assert policy.interval(50, rng=lambda: 0.0) == pytest.approx(5.0)
    assert policy.interval(50, rng=lambda: 1.0) == pytest.approx(4.5)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_a_policy_that_would_spin_or_never_poll_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        PollPolicy(max_interval=bad)


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
    assert clock.sleeps == [1.0, 1.0, 1.0]


def test_deadline_passes_while_the_task_runs(clock: FakeClock) -> None:
    fetch, _ = scripted({"a": ["processing"]})
    [outcome] = wait_for_tasks(fetch, ["a"], timeout=30, clock=clock, sleep=clock.sleep, rng=lambda: 0.5)
    assert isinstance(outcome.error, WaitTimeout) and outcome.exit_code == ExitCode.WAIT_TIMEOUT
    assert outcome.error.task_id == "a" and outcome.error.status == "processing"
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
    assert calls == ["a"] and clock.sleeps == [pytest.approx(0.95)]


def test_an_already_finished_known_task_needs_no_request(clock: FakeClock) -> None:
    fetch, calls = scripted({"a": ["completed"]})
    known = {"a": Task.from_api({"task_id": "a", "status": "completed"})}
    [outcome] = wait_for_tasks(fetch, ["a"], known=known, clock=clock, sleep=clock.sleep)
    assert calls == [] and outcome.exit_code == ExitCode.OK


def simulate(duration: float, policy: PollPolicy | None = None, pace: Pace | None = None) -> tuple[float, int]:
    """A task that completes ``duration`` seconds after the wait starts: (lag, GETs)."""
    clock = FakeClock()
    start = clock()
    gets = 0

    def fetch(task_id: str) -> Task:
        nonlocal gets
        gets += 1
        done = clock() - start >= duration
        return Task.from_api({"task_id": task_id, "status": "completed" if done else "processing"})

    paces = (lambda task: pace) if pace is not None else None
    wait_for_tasks(fetch, ["t"], timeout=0, policy=policy, clock=clock, sleep=clock.sleep, rng=lambda: 0.5, pace=paces)
    return clock() - start - duration, gets


@pytest.mark.parametrize("duration", [1, 2, 5, 9.5, 30, 61, 90, 300, 600, 1800])
def test_lag_stays_within_a_second_or_a_tenth_of_the_run_time(duration: float) -> None:
    lag, _ = simulate(duration)
    assert 0 <= lag <= max(1.0, 0.1 * duration) + 1e-9


def test_a_long_task_costs_fewer_gets_than_a_fixed_two_second_poll() -> None:
    _, gets = simulate(90)
    assert gets <= 36 and gets < 90 / 2
    _, gets = simulate(1800)
    assert gets < 1800 / 2 / 4


@pytest.mark.parametrize("duration", [1, 5, 30, 120])
def test_a_task_that_runs_as_its_kind_usually_does_is_seen_within_half_a_second(duration: float) -> None:
    pace = Pace.of([duration * 0.98, duration, duration * 1.02, duration])
    lag, gets = simulate(duration, pace=pace)
    assert 0 <= lag <= 0.5
    if duration >= 30:  # and costs fewer GETs than a fixed 2-second poll
        assert gets < duration / 2


@pytest.mark.parametrize("duration", [0.5, 3, 20, 70, 200, 900])
def test_a_task_that_ends_far_from_its_kinds_pace_is_still_seen(duration: float) -> None:
    lag, _ = simulate(duration, pace=Pace.of([60.0] * 10))
    if duration > 60:  # past the window: the age-based bound again
        assert 0 <= lag <= max(1.0, 0.1 * duration) + 1e-9
    else:  # before it: polls were sparse, one per doubling of the age at most
        assert 0 <= lag <= max(1.0, duration)


def test_a_pace_is_learnt_from_run_times_and_outliers_do_not_widen_it() -> None:
    assert Pace.of([]) is None and Pace.of([0.0, -1.0, float("nan")]) is None
    steady = Pace.of([30.0, 30.5, 29.5, 30.0, 31.0])
    stray = Pace.of([30.0, 30.5, 29.5, 30.0, 31.0, 400.0])
    assert steady is not None and stray is not None
    assert steady.median == 30.0 and stray.median == 30.25
    assert stray.window()[1] - stray.window()[0] < 10
    lone = Pace.of([30.0])  # one run time says little: a wider window than five alike
    assert lone is not None and lone.window()[0] < steady.window()[0]


def test_without_history_the_schedule_follows_the_age() -> None:
    policy = PollPolicy(jitter=0.0)
    assert [policy.interval(age, pace=None) for age in (0, 20, 60)] == [1.0, 2.0, 6.0]


def test_the_interval_cap_bounds_the_lag_of_long_tasks() -> None:
    lag, _ = simulate(1800, PollPolicy(max_interval=2.0))
    assert lag <= 2.0


def test_polls_of_many_tasks_overlap(clock: FakeClock) -> None:
    import threading

    tasks = [f"t{i}" for i in range(8)]
    barrier = threading.Barrier(len(tasks), timeout=10)
    lock = threading.Lock()
    in_flight = peak = 0

    def fetch(task_id: str) -> Task:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        barrier.wait()  # only returns once all eight requests are in flight together
        with lock:
            in_flight -= 1
        return Task.from_api({"task_id": task_id, "status": "completed"})

    outcomes = wait_for_tasks(fetch, tasks, concurrency=16, clock=clock, sleep=clock.sleep)
    assert peak == len(tasks) and all(o.exit_code == ExitCode.OK for o in outcomes)


def test_each_task_is_reported_as_soon_as_it_settles(clock: FakeClock) -> None:
    start = clock()
    ends = {"quick": 2.0, "slow": 30.0}

    def fetch(task_id: str) -> Task:
        done = clock() - start >= ends[task_id]
        return Task.from_api({"task_id": task_id, "status": "completed" if done else "processing"})

    settled: list[tuple[str, float]] = []
    wait_for_tasks(
        fetch,
        ["slow", "quick"],
        clock=clock,
        sleep=clock.sleep,
        concurrency=4,
        on_done=lambda o: settled.append((o.task_id, clock() - start)),
    )
    assert [name for name, _ in settled] == ["quick", "slow"]
    assert settled[0][1] <= 3.0  # the quick one was reported long before the slow one ended


def test_a_hanging_request_does_not_stretch_the_deadline() -> None:
    import threading

    never, answered = threading.Event(), threading.Event()

    def fetch(task_id: str) -> Task:
        never.wait(60)  # a server that never answers
        answered.set()
        raise AssertionError("unreachable")

    [outcome] = wait_for_tasks(fetch, ["a"], timeout=0.3, concurrency=4)
    assert not answered.is_set()  # returned at the deadline, while the request still hung
    assert isinstance(outcome.error, WaitTimeout) and outcome.error.status == "unseen"
    never.set()


def test_a_failed_task_is_never_hidden_behind_a_deadline() -> None:
    from piapi_cli.core.waiting import WaitOutcome

    failed = WaitOutcome("a", Task.from_api({"task_id": "a", "status": "failed"}))
    late = WaitOutcome("b", Task.from_api({"task_id": "b", "status": "processing"}), WaitTimeout("late"))
    assert worst_exit_code([failed, late]) == ExitCode.TASK_FAILED
    assert worst_exit_code([late]) == ExitCode.WAIT_TIMEOUT


def test_the_dense_window_leans_late_where_a_poll_is_paid_for_by_fewer_tasks() -> None:
    history = [30.0 + 3.0 * z for z in (-1.5, -1.0, -0.6, -0.3, 0.0, 0.0, 0.3, 0.6, 1.0, 1.5)]
    pace = Pace.of(history)
    assert pace is not None
    opens, closes = pace.window()
    assert closes - pace.median > 1.5 * (pace.median - opens) > 0
    # a task that runs a spread and a half longer than its kind's median is still seen within half a second
    late, _ = simulate(pace.median + 1.5 * pace.spread, pace=pace)
    assert 0 <= late <= 0.5
    # one a spread early is before the dense polls: seen within the usual bound, not within half a second
    early, _ = simulate(pace.median - 1.0 * pace.spread, pace=pace)
    assert 0 <= early <= 0.1 * (pace.median - pace.spread) + 1e-9


def test_a_short_history_widens_the_window_it_may_have_misplaced() -> None:
    few, many = Pace(30.0, 3.0, 4), Pace(30.0, 3.0, 40)  # the same median and spread
    assert few.window()[0] < many.window()[0] and few.window()[1] > many.window()[1]


def _usual_runs(count: int, median: float = 30.0, spread: float = 3.0) -> list[float]:
    """``count`` run times spread as a kind's usually are: its normal distribution's quantiles."""
    from statistics import NormalDist

    return [NormalDist(median, spread).inv_cdf((i + 0.5) / count) for i in range(count)]


def test_a_kind_whose_runs_vary_by_a_tenth_costs_about_a_fixed_2_s_poll_and_is_seen_sooner() -> None:
    # 30 s tasks varying by 10%, a history of 20 of them: over their usual run times, more than
    # half are seen within half a second, none past max(1 s, 10%), for no more GETs than a fixed
    # 2-second poll (give or take 1%; the window of before cost 13% more)
    pace = Pace.of(_usual_runs(20))
    assert pace is not None
    ends = _usual_runs(200)
    seen = [simulate(end, pace=pace) for end in ends]
    assert sum(lag < 0.5 for lag, _ in seen) > 0.55 * len(ends)
    assert all(0 <= lag <= max(1.0, 0.1 * end) for (lag, _), end in zip(seen, ends, strict=True))
    fixed = sum(math.ceil(end / 2) for end in ends)
    assert sum(gets for _, gets in seen) < 1.01 * fixed


def test_the_spread_is_the_runs_deviation_and_strays_do_not_widen_it() -> None:
    runs = _usual_runs(20)
    pace, strayed = Pace.of(runs), Pace.of(runs + [400.0, 2.0])
    assert pace is not None and strayed is not None
    assert pace.spread == pytest.approx(3.0, rel=0.03) and strayed.spread == pytest.approx(pace.spread, rel=0.1)


def test_dense_polls_are_a_step_apart_whatever_the_jitter() -> None:
    # jitter would only shorten them: more GETs for a lag already within half a step
    pace = Pace.of(_usual_runs(20))
    assert pace is not None
    opens, closes = pace.window()
    for age in (opens, pace.median, closes - 0.1):
        assert PollPolicy(jitter=0.1).interval(age, rng=lambda: 1.0, pace=pace) == pace.step()


def test_the_pace_of_a_kind_follows_every_run_learnt_and_is_worked_out_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from piapi_cli.core import pace as pacing

    def ran(seconds: float) -> Task:
        return Task.from_api({"task_id": "t", "status": "completed", "model": "m", "task_type": "k",
                              "meta": {"created_at": "2026-01-01T00:00:00Z",
                                       "ended_at": f"2026-01-01T00:00:{seconds:02.0f}Z"}})  # fmt: skip

    paces = pacing.Paces(lambda model, kind: [10.0])
    asked = ran(10)
    first = paces(asked)
    assert first is not None and first.median == 10.0
    worked: list[int] = []
    original = pacing.Pace.of

    def counted(durations: list[float]) -> Pace | None:
        worked.append(len(durations))
        return original(durations)

    monkeypatch.setattr(pacing.Pace, "of", counted)
    for seconds in (20, 20, 20, 20):  # a batch's rows ending: learnt, not yet asked for
        paces.learn(ran(seconds))
    assert worked == []
    now = paces(asked)
    assert now is not None and now.median == 20.0 and worked == [5]
    assert paces(asked) is now and worked == [5]  # nothing new learnt: the same pace


@pytest.mark.parametrize("history", [[5.0, 300.0, 600.0], [1.0, 100_000.0, 200_000.0], [1.0, 1_000_000.0]])
def test_run_times_too_scattered_to_tell_anything_are_no_history(history: list[float]) -> None:
    # a window reaching from before the start to past 1500 s, polled every half second, cost
    # 253 GETs on a 120 s task where no history costs 39
    assert Pace.of(history) is None
    _, gets = simulate(120, pace=Pace.of(history))
    assert gets == simulate(120)[1]


def test_a_long_kinds_window_holds_at_most_80_polls() -> None:
    pace = Pace.of([600.0 + 60.0 * z for z in (-1.5, -1.0, -0.6, -0.3, 0.0, 0.0, 0.3, 0.6, 1.0, 1.5)])
    assert pace is not None
    opens, closes = pace.window()
    assert (closes - opens) / pace.step() <= 80
    _, paced = simulate(pace.median + pace.spread, pace=pace)
    _, none = simulate(pace.median + pace.spread)
    assert paced < 1.5 * none
