"""Waiting for tasks: one scheduler polls many tasks, each on its own interval, with a bounded
pool of requests in flight, so a sweep over N tasks costs about one round trip.

Without history the interval follows the task's age: every second at first, then a tenth of
the time the task has run so far, up to ``max_interval``. So the lag between a task's end and
piapi noticing it stays within max(1 s, 10% of its run time). With the ``Pace`` of its kind
(``core.pace``: the median and spread of its kind's run times) polls are sparse while the task is
young, age-based as the expected end draws near, and dense (0.25-0.5 s) through the window where
it is expected to end: most tasks seen within half a second, for fewer GETs than a fixed 2-second
poll from 30 s tasks up (``bench/poll_schedule.py``). Jitter only ever shortens an interval: it
never delays a poll past the bound, nor the first one; a paced task's polls go without it from
the approach to the window's end, where each is placed for what it is worth.

Clock, sleep and randomness are injected, so tests run a 30-minute wait in microseconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from piapi_cli.api.errors import ExitCode, PiapiError, WaitTimeout
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import Task
from piapi_cli.core.polling import PollPolicy, random_fraction

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:  # (queue and the pool are imported by a wait: a create's runner needs neither)
    import queue

    from piapi_cli.core.pace import Pace
    from piapi_cli.core.workers import Pool


@record()
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


@record()
class _Watch:
    task_id: str
    next_at: float = 0.0
    #: the clock reading at which the task started, as far as we know
    born: float = 0.0
    in_flight: bool = False
    #: how long tasks of its kind usually run, once its model is known
    pace: Pace | None = None
    outcome: WaitOutcome = field(init=False)

    def __post_init__(self) -> None:
        self.outcome = WaitOutcome(self.task_id)


def _polled(fetch: Callable[[str], Task]) -> Callable[[_Watch], tuple[_Watch, Task | PiapiError]]:
    """``fetch`` for the pool: any failure becomes this task's error, never lost."""

    def poll(watch: _Watch) -> tuple[_Watch, Task | PiapiError]:
        try:
            return watch, fetch(watch.task_id)
        except PiapiError as exc:
            return watch, exc
        except Exception as exc:  # noqa: BLE001 - reported as this task's error, never lost
            return watch, PiapiError(f"task {watch.task_id}: {type(exc).__name__}: {exc}")

    return poll


def wait_for_tasks(
    fetch: Callable[[str], Task],
    task_ids: Iterable[str],
    *,
    timeout: float | None = 1800.0,
    policy: PollPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random_fraction,
    on_update: Callable[[Task], None] | None = None,
    on_done: Callable[[WaitOutcome], None] | None = None,
    known: dict[str, Task] | None = None,
    concurrency: int = 1,
    wall: Callable[[], float] = time.time,
    pace: Callable[[Task], Pace | None] | None = None,
) -> list[WaitOutcome]:
    """Poll every task until each is terminal, failed to fetch, or the deadline passes.

    ``fetch`` is usually ``Client.get_task`` (which retries by itself). ``on_update`` is called
    with every fetched task, so a display can redraw; ``on_done`` with each task's outcome as
    soon as it is settled (results can be shown, and downloads started, before the others end).
    ``known`` holds tasks the caller already has (a fresh create): their first poll waits one
    interval. ``concurrency`` bounds the requests in flight (1: one at a time, in this thread).
    A ``timeout`` of ``None`` or 0 waits without a deadline; a request still in flight at the
    deadline is abandoned, not waited for. ``pace`` tells how long a task of its kind
    usually runs (``core.pace``), so its polls gather around the expected end.
    """
    from piapi_cli.core.workers import Pool

    waiter = _Waiter(fetch, policy or PollPolicy(), clock, rng, wall, pace, on_update, on_done)
    watches = waiter.start(task_ids, known or {})
    # a pool even for one task: the deadline then never waits on a hanging request
    pool = (
        Pool(min(concurrency, len(waiter.active)), _polled(fetch), waiter.results, "piapi-poll")
        if concurrency > 1 and waiter.active
        else None
    )
    deadline = waiter.started + timeout if timeout else None
    try:
        while waiter.active and not (deadline is not None and clock() >= deadline):
            waiter.poll_due(pool)
            if waiter.active:
                waiter.pause(pool, deadline, sleep)
    finally:
        if pool is not None:
            pool.close()
    waiter.time_out(timeout)
    return [w.outcome for w in watches]


class _Waiter:
    """The state of one ``wait_for_tasks``: the tasks still watched, and what settles each."""

    def __init__(
        self,
        fetch: Callable[[str], Task],
        policy: PollPolicy,
        clock: Callable[[], float],
        rng: Callable[[], float],
        wall: Callable[[], float],
        pace: Callable[[Task], Pace | None] | None,
        on_update: Callable[[Task], None] | None,
        on_done: Callable[[WaitOutcome], None] | None,
    ) -> None:
        import queue

        self.fetch, self.policy, self.clock, self.rng, self.wall, self.pace = fetch, policy, clock, rng, wall, pace
        self.on_update, self.on_done = on_update, on_done
        self.started = clock()
        self.active: list[_Watch] = []
        self.results: queue.SimpleQueue[tuple[_Watch, Task | PiapiError]] = queue.SimpleQueue()

    def start(self, task_ids: Iterable[str], known: dict[str, Task]) -> list[_Watch]:
        """Every task to watch; those the caller knows (a fresh create) wait one interval first,
        and those already finished are settled at once."""
        start = self.started
        watches = [_Watch(tid, born=start) for tid in dict.fromkeys(task_ids)]
        for watch in watches:
            seed = known.get(watch.task_id)
            if seed is not None:
                _seen(watch, seed, start, self.wall, self.pace)
                if seed.is_terminal:
                    self._done(watch)
                    continue
                watch.next_at = start + self.policy.interval(start - watch.born, self.rng, watch.pace)
            self.active.append(watch)
        return watches

    def poll_due(self, pool: Pool[_Watch, tuple[_Watch, Task | PiapiError]] | None) -> None:
        """Send every poll that is due: to the pool, or here, one at a time."""
        now = self.clock()
        for watch in [w for w in self.active if not w.in_flight and w.next_at <= now]:
            if pool is not None:
                watch.in_flight = True
                pool.put(watch)
                continue
            try:
                result: Task | PiapiError = self.fetch(watch.task_id)
            except PiapiError as exc:
                result = exc
            self.settle(watch, result)

    def pause(
        self,
        pool: Pool[_Watch, tuple[_Watch, Task | PiapiError]] | None,
        deadline: float | None,
        sleep: Callable[[float], None],
    ) -> None:
        """Until the next poll is due, the deadline, or (with requests in flight) an answer."""
        now = self.clock()
        waiting = [w.next_at for w in self.active if not w.in_flight]
        wake = min(waiting) if waiting else math.inf
        if deadline is not None:
            wake = min(wake, deadline)
        if pool is None or not any(w.in_flight for w in self.active):
            if wake > now:
                sleep(wake - now)
            return
        import queue

        try:
            self.settle(*self.results.get(timeout=None if wake == math.inf else max(0.0, wake - now)))
        except queue.Empty:
            return
        while True:  # everything else that has arrived meanwhile
            try:
                self.settle(*self.results.get_nowait())
            except queue.Empty:
                return

    def settle(self, watch: _Watch, result: Task | PiapiError) -> None:
        """One poll's answer: the task's next poll, or its outcome."""
        now = self.clock()
        watch.in_flight = False
        if isinstance(result, PiapiError):
            watch.outcome.error = result
        else:
            _seen(watch, result, now, self.wall, self.pace)
            if self.on_update is not None:
                self.on_update(result)
            if not result.is_terminal:
                watch.next_at = now + self.policy.interval(now - watch.born, self.rng, watch.pace)
                return
        self.active.remove(watch)
        self._done(watch)

    def time_out(self, timeout: float | None) -> None:
        """The deadline passed: every task still watched ends with ``WaitTimeout``."""
        for watch in self.active:
            status = watch.outcome.task.status if watch.outcome.task else "unseen"
            watch.outcome.error = WaitTimeout(
                f"task {watch.task_id} still {status} after {timeout or 0:g}s; it was not cancelled",
                task_id=watch.task_id,
                status=status,
            )
            self._done(watch)

    def _done(self, watch: _Watch) -> None:
        if self.on_done is not None:
            self.on_done(watch.outcome)


def _seen(
    watch: _Watch, task: Task, now: float, wall: Callable[[], float], pace: Callable[[Task], Pace | None] | None
) -> None:
    """Record a fetched state; the task's own creation time (when given) dates its age, and
    its model and task type tell its pace."""
    if watch.outcome.task is None and task.created_at is not None:
        age = wall() - task.created_at.timestamp()
        if 0 < age < 86400 * 30:
            watch.born = min(watch.born, now - age)
    if pace is not None:  # each time: a create's answer may not name the model, and paces learn
        watch.pace = pace(task)
    watch.outcome.task = task
