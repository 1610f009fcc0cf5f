"""Each model's pace: how long its tasks usually run, learnt from the journal, so a wait can
poll sparsely while a task is young and densely around the moment it is expected to end.

``Pace.of`` takes the run times (the API's ``created_at`` to ``ended_at``) of a model and
task type's latest completed tasks: their median, and their spread as the standard deviation
of the runs within ``STRAY`` scaled median absolute deviations of the median (a few stray runs
do not widen it, and a short history's spread is missed by a sixth of it, not the quarter the
deviation itself misses by). ``PollPolicy.interval`` uses it; without one (no history) the
schedule is the age-based one of ``core.waiting``.

Where the dense polls start: a poll at age t is paid for by every task still running then and
sees within half a second the tasks ending in the half second before it, so per GET it is worth
the hazard rate, which rises with the age: the cheapest polls are late ones. The window opens
where ``SEEN`` of the tasks would still be seen within half a second if the median were
``MEDIAN_ERRORS`` standard errors early: those ending in the window, and the share of those
ending before it that the age-based polls happen to see that soon (``bench/poll_frontier.py``).
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
#: runs further from the median than this many scaled median absolute deviations are strays:
#: left out of the spread
STRAY = 4.0
#: the dense polls' step: a twentieth of the run time, between these (a lag of half a step)
DENSE_STEP_MIN, DENSE_STEP_MAX = 0.25, 0.5
#: the share of the tasks the schedule means to see within half a second (the lag median's
#: target is half of them; a bench of 300 tasks draws a share a few points either side)
SEEN = 0.55
#: the window closes this many spreads after the median
LATE = 2.0
#: the window is placed for a median this many standard errors (1.25 spreads over the square
#: root of the samples) earlier than the history's, and closes as many later: a history of 20
#: misses the median by up to half a spread
MEDIAN_ERRORS = 1.5
#: the age-based polls before the window: a tenth of the age, between these (the policy's
#: defaults), of which half a second is the share they see within half a second
AGE_GAP_MIN, AGE_GAP_MAX = 1.0, 10.0
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
        spread = _deviation(values, median, 1.4826 * _median(sorted(abs(v - median) for v in values)))
        if len(values) < TRUSTED_SAMPLES:
            spread = max(spread, 0.1 * median)
        if spread > MAX_SPREAD_SHARE * median:
            return None
        return cls(median, spread, len(values))

    def window(self) -> tuple[float, float]:
        """Ages (seconds since creation) polled densely: from where ``SEEN`` of the tasks would
        be seen within half a second with the median ``MEDIAN_ERRORS`` standard errors early,
        to ``LATE`` spreads (and as many errors) after the median."""
        core = self._core()
        margin = MEDIAN_ERRORS * 1.25 / math.sqrt(self.samples) * core
        early = self.median - margin
        caught = min(1.0, 0.5 / min(AGE_GAP_MAX, max(AGE_GAP_MIN, 0.1 * early)))  # ending before it
        after = min(0.999, max(0.001, (SEEN - caught) / (1 - caught)))  # the share to end in it
        return early + core * _normal_quantile(1 - after), self.median + LATE * core + margin

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


def _deviation(values: list[float], median: float, mad: float) -> float:
    """The standard deviation of the values within ``STRAY`` times ``mad`` of the median (all of
    them when ``mad`` is 0); 0 for fewer than two."""
    kept = [v for v in values if abs(v - median) <= STRAY * mad] if mad > 0 else values
    if len(kept) < 2:
        return 0.0
    mean = sum(kept) / len(kept)
    return math.sqrt(sum((v - mean) ** 2 for v in kept) / (len(kept) - 1))


def _normal_quantile(p: float) -> float:
    """The standard normal distribution's ``p`` quantile, by bisection (``statistics`` is a
    slow import for one number)."""
    low, high = -8.0, 8.0
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if 0.5 * math.erfc(-middle / math.sqrt(2)) < p else (low, middle)
    return (low + high) / 2


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
