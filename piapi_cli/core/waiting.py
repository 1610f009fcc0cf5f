"""Waiting for tasks: one loop polls many tasks, each on its own growing interval.

Clock, sleep and randomness are injected, so tests run a 30-minute wait in microseconds.
Later features (batch runs, re-attaching to journaled tasks) reuse ``wait_for_tasks``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from piapi_cli.api.errors import ExitCode, PiapiError, WaitTimeout
from piapi_cli.api.tasks import Task


@dataclass(frozen=True)
class PollPolicy:
    """Poll after ``initial`` seconds, then grow by ``factor`` up to ``max_interval``."""

    initial: float = 1.0
    factor: float = 1.5
    max_interval: float = 10.0
    jitter: float = 0.1

    def interval(self, polls: int, rng: Callable[[], float] = random.random) -> float:
        base = min(self.max_interval, self.initial * (self.factor ** max(polls - 1, 0)))
        base = max(base, 0.0)
        return base * (1 - self.jitter + 2 * self.jitter * rng())


@dataclass
class WaitOutcome:
    """How waiting for one task ended: with its last known state, or an error."""

    task_id: str
    task: Task | None = None
    error: PiapiError | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            return self.error.exit_code
        if self.task is None or not self.task.is_terminal:
            return ExitCode.WAIT_TIMEOUT
        return ExitCode.OK if self.task.succeeded else ExitCode.TASK_FAILED


@dataclass
class _Watch:
    task_id: str
    polls: int = 0
    next_at: float = 0.0
    outcome: WaitOutcome = field(init=False)

    def __post_init__(self) -> None:
        self.outcome = WaitOutcome(self.task_id)


def wait_for_tasks(
    fetch: Callable[[str], Task],
    task_ids: Iterable[str],
    *,
    timeout: float | None = 1800.0,
    policy: PollPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    on_update: Callable[[Task], None] | None = None,
    known: dict[str, Task] | None = None,
) -> list[WaitOutcome]:
    """Poll every task until each is terminal, failed to fetch, or the deadline passes.

    ``fetch`` is usually ``Client.get_task`` (which retries by itself). ``on_update`` is
    called with every fetched task, so a display can redraw. ``known`` holds tasks the
    caller already has (a fresh create): their first poll waits one interval.
    A ``timeout`` of ``None`` or 0 waits without a deadline.
    """
    policy = policy or PollPolicy()
    start = clock()
    deadline = start + timeout if timeout else None
    watches = [_Watch(tid) for tid in dict.fromkeys(task_ids)]
    for watch in watches:
        seed = (known or {}).get(watch.task_id)
        if seed is not None:
            watch.outcome.task = seed
            watch.polls = 1
            watch.next_at = start + policy.interval(1, rng)
    active = [w for w in watches if not (w.outcome.task and w.outcome.task.is_terminal)]

    while active:
        now = clock()
        for watch in [w for w in active if w.next_at <= now]:
            try:
                task = fetch(watch.task_id)
            except PiapiError as exc:
                watch.outcome.error = exc
                active.remove(watch)
                continue
            watch.outcome.task = task
            if on_update is not None:
                on_update(task)
            if task.is_terminal:
                active.remove(watch)
                continue
            watch.polls += 1
            watch.next_at = clock() + policy.interval(watch.polls, rng)
        if not active:
            break
        now = clock()
        if deadline is not None and now >= deadline:
            for watch in active:
                watch.outcome.error = WaitTimeout(
                    f"task {watch.task_id} still {_status(watch)} after {timeout:g}s; it was not cancelled",
                    hint=f"resume with: piapi wait {watch.task_id}",
                )
            break
        wake = min(w.next_at for w in active)
        if deadline is not None:
            wake = min(wake, deadline)
        sleep(max(0.0, wake - now))
    return [w.outcome for w in watches]


def _status(watch: _Watch) -> str:
    return watch.outcome.task.status if watch.outcome.task else "unseen"


def worst_exit_code(outcomes: Iterable[WaitOutcome]) -> ExitCode:
    codes = [o.exit_code for o in outcomes]
    return max(codes, default=ExitCode.OK)
