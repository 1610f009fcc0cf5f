"""How often a task is polled: ``PollPolicy``, the schedule ``core.waiting`` follows (its
docstring says why), kept apart from the scheduler so that a runner that only creates, and the
session that makes it, need not import the scheduler."""

from __future__ import annotations

import math

from piapi_cli.api.records import record

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from collections.abc import Callable

    from piapi_cli.core.pace import Pace


def random_fraction() -> float:
    """``random.random()``, imported at the first call (a run that never polls spares the import)."""
    import random

    return random.random()


@record(frozen=True)
class PollPolicy:
    """Poll every ``min_interval`` seconds, then every ``fraction`` of the task's age, at most
    every ``max_interval`` seconds; jitter takes up to ``jitter`` of an interval off (not from a
    paced task's approach to its window's end)."""

    min_interval: float = 1.0
    fraction: float = 0.1
    max_interval: float = 10.0
    jitter: float = 0.1
    #: before the window where a task's end is expected (see ``core.pace``): this share of its age
    sparse_fraction: float = 1.0

    def __post_init__(self) -> None:
        for name in ("min_interval", "max_interval"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")

    def interval(self, age: float, rng: Callable[[], float] = random_fraction, pace: Pace | None = None) -> float:
        """Seconds until the next poll of a task that has run ``age`` seconds; with the
        ``pace`` of its kind, sparse polls until the window where its end is expected, then
        one every ``pace.step`` through the window; past the window, the age-based schedule."""
        age = max(age, 0.0)
        if pace is not None:  # (no jitter from the approach to the window's end: those polls
            # land where they are worth most, and tasks of a kind started apart poll apart anyway)
            opens, closes = pace.window()
            if opens - 0.01 <= age < closes:  # (a hundredth early: a clock's rounding never stalls it)
                return min(self.max_interval, pace.step())
            if age < pace.approach():
                sparse = min(self.max_interval, max(self.min_interval, self.sparse_fraction * age))
                return min(sparse * (1 - self.jitter * rng()), pace.approach() - age + 0.01)
            if age < opens:
                return min(self.max_interval, max(self.min_interval, self.fraction * age), opens - age)
        base = min(self.max_interval, max(self.min_interval, self.fraction * age))
        return base * (1 - self.jitter * rng())
