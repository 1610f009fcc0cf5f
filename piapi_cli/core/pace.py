"""Each model's pace: how long its tasks usually run, learnt from the journal, so a wait can
poll sparsely while a task is young and densely around the moment it is expected to end.

``Pace.of`` takes the run times (the API's ``created_at`` to ``ended_at``) of a model and
task type's latest completed tasks: their median, and their spread as the scaled median
absolute deviation (a few outliers do not widen it). ``PollPolicy.interval`` uses it; without
one (no history) the schedule is the age-based one of ``core.waiting``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from piapi_cli.api.records import record

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from piapi_cli.api.tasks import Task

#: the fewest run times that make a spread worth trusting; below it the window is widened
TRUSTED_SAMPLES = 3
#: the spread at least: seconds, and a share of the expected run time (a kind whose tasks all
#: took the same time still varies a little)
MIN_HALF_WINDOW = 0.25
HALF_WINDOW_SHARE = 0.03
#: the dense polls' step: a twentieth of the run time, between these (a lag of half a step)
DENSE_STEP_MIN, DENSE_STEP_MAX = 0.25, 0.5
#: the window of dense polls, in spreads before and after the median. It leans late: a poll
#: after the median is paid only by the tasks still running then, one before it by nearly all.
#: Between them about two thirds of the tasks end, so most are seen within half a step.
EARLY, LATE = 0.6, 1.8
#: the window widens on both sides by this many standard errors of the median (1.25 spreads
#: over the square root of the samples): a history of 20 misses the median by up to a third of
#: a spread, and its spread itself by up to a third
MEDIAN_ERRORS = 1.5
#: the polls keep the age-based bound from this many spreads before the median
APPROACH = 4.0
#: run times spread wider than this share of their median say too little of when the next
#: will end: the age-based schedule is used, as with no history
MAX_SPREAD_SHARE = 0.25
#: the most polls the window holds: a long task's wide window is polled less densely
DENSE_POLLS_MAX = 80


@record(frozen=True)
class Pace:
    """The expected run time of a kind of task: ``median`` and ``spread`` in seconds."""

    median: float
    spread: float
    samples: int

    @classmethod
    def of(cls, durations: Iterable[float]) -> Pace | None:
        """The pace of these run times; None when there are none to learn from, or when they
        vary too widely to tell when the next will end (over ``MAX_SPREAD_SHARE`` of the median)."""
        values = sorted(d for d in durations if math.isfinite(d) and d > 0)
        if not values:
            return None
        median = _median(values)
        spread = 1.4826 * _median(sorted(abs(v - median) for v in values))
        if len(values) < TRUSTED_SAMPLES:
            spread = max(spread, 0.1 * median)
        if spread > MAX_SPREAD_SHARE * median:
            return None
        return cls(median, spread, len(values))

    def window(self) -> tuple[float, float]:
        """Ages (seconds since creation) between which the end is expected: polled densely."""
        core = self._core()
        margin = MEDIAN_ERRORS * 1.25 / math.sqrt(self.samples)
        return self.median - (EARLY + margin) * core, self.median + (LATE + margin) * core

    def approach(self) -> float:
        """The age from which polls keep the age-based bound, as the window draws near: a
        task that ends early, before the window, is still seen within max(1 s, 10%)."""
        return self.median - APPROACH * self._core()

    def step(self) -> float:
        """Seconds between polls inside the window: a twentieth of the run time, from
        ``DENSE_STEP_MIN`` to ``DENSE_STEP_MAX``, or wider if the window would hold more than
        ``DENSE_POLLS_MAX`` polls."""
        opens, closes = self.window()
        return max(min(DENSE_STEP_MAX, max(DENSE_STEP_MIN, self.median / 20)), (closes - opens) / DENSE_POLLS_MAX)

    def _core(self) -> float:
        return max(MIN_HALF_WINDOW, HALF_WINDOW_SHARE * self.median, self.spread)


def _median(values: list[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


class Paces:
    """The pace of each kind of task (model and task type): learnt from ``run_times(model,
    task_type)`` (the journal's) when a kind is first seen, then from every task of that kind
    seen to complete meanwhile (``learn``). A lookup that fails leaves the kind without history."""

    def __init__(self, run_times: Callable[[str, str], list[float]], keep: int = 50) -> None:
        self._run_times = run_times
        self._keep = keep
        self._runs: dict[tuple[str, str], list[float]] = {}
        self._paces: dict[tuple[str, str], Pace | None] = {}
        #: kinds whose runs changed since their pace was worked out (it is, when next asked for)
        self._stale: set[tuple[str, str]] = set()

    def __call__(self, task: Task) -> Pace | None:
        kind = (task.model, task.task_type)
        if not all(kind):
            return None
        if kind not in self._runs:
            try:
                self._runs[kind] = list(reversed(self._run_times(*kind)))[-self._keep :]
            except Exception:  # noqa: BLE001 - a journal that cannot be read: the age-based schedule
                self._runs[kind] = []
            self._paces[kind] = Pace.of(self._runs[kind])
        elif kind in self._stale:
            self._stale.discard(kind)
            self._paces[kind] = Pace.of(self._runs[kind])
        return self._paces[kind]

    def learn(self, task: Task) -> None:
        """Count the run time of a task seen to complete."""
        if not task.succeeded or task.created_at is None or task.ended_at is None:
            return
        kind = (task.model, task.task_type)
        if kind in self._runs:
            runs = self._runs[kind]
            runs.append((task.ended_at - task.created_at).total_seconds())
            del runs[: -self._keep]
            self._stale.add(kind)  # (a batch learns from every row and asks for a few)
