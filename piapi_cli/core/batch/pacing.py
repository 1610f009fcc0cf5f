"""When the next row may start: the pace (429s and staged tasks) and the credit limit.

The pace is additive-increase, multiplicative-decrease, as TCP's: a create refused with 429
halves the number of creates allowed in flight and pauses new ones for the ``Retry-After``;
each create answered without one adds one back. Tasks the API holds as ``staged`` (the
account's concurrency is full) pause new creates while as many are staged as requests may be
in flight: more would only wait in PiAPI's queue, and a crash would leave more to re-attach.

The credit limit counts what the run's tasks hold and consumed (``meta.usage``) plus the
expected cost of what is in flight, and lets a row start only if its own expected cost fits.
A model and task type of unknown cost start one row at a time until a task reports its cost.
"""

from __future__ import annotations

from piapi_cli.api.backoff import Backoff
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import STAGED, Task

START, WAIT, HOLD = "start", "wait", "hold"


@record()
class Pace:
    limit: int
    window: int = 0
    resume_at: float = 0.0
    staged: set[str] = field(default_factory=set)
    refusals: int = 0
    backoff: Backoff = field(default_factory=lambda: Backoff(base_delay=1.0, max_delay=30.0))

    def __post_init__(self) -> None:
        self.window = self.window or self.limit

    def allows(self, now: float, creating: int) -> bool:
        return now >= self.resume_at and creating < self.window and len(self.staged) < self.limit

    def rate_limited(self, now: float, retry_after: float | None, rng: float = 0.5) -> float:
        """A 429: fewer creates at once, none for a while. Returns the pause."""
        self.window = max(1, self.window // 2)
        pause = self.backoff.delay(self.refusals, retry_after, lambda: rng)
        self.refusals += 1
        self.resume_at = max(self.resume_at, now + pause)
        return pause

    def accepted(self) -> None:
        self.refusals = 0
        self.window = min(self.limit, self.window + 1)

    def seen(self, task: Task) -> None:
        if task.status == STAGED:
            self.staged.add(task.task_id)
        else:
            self.staged.discard(task.task_id)

    def forget(self, task_id: str) -> None:
        self.staged.discard(task_id)


@record()
class Budget:
    """Credits of a run against ``--max-credits`` (None: no limit)."""

    limit: int | None
    #: the latest known cost of one task of each model and task type
    costs: dict[tuple[str, str], int] = field(default_factory=dict)
    #: what each row counts for now (its task's credits, or the expected cost meanwhile)
    charges: dict[str, int] = field(default_factory=dict)
    #: credits of earlier attempts of rows (kept: they were paid)
    history: int = 0
    #: rows whose kind's cost is being learnt: a create in flight, or a task not reporting it yet
    learning: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.history + sum(self.charges.values())

    def verdict(self, kind: tuple[str, str]) -> str:
        """START the next row of this kind, WAIT (its cost is being learnt), or HOLD (over)."""
        if self.limit is None:
            return START
        each = self.costs.get(kind)
        if each is None:
            if self.learning.get(kind):
                return WAIT
            each = 0
        return START if self.total + each <= self.limit else HOLD

    def starting(self, key: str, kind: tuple[str, str]) -> None:
        each = self.costs.get(kind)
        self.charges[key] = each or 0
        if each is None:
            self.learning.setdefault(kind, set()).add(key)

    def settled(self, key: str, kind: tuple[str, str], task: Task | None) -> None:
        """A row's create or poll answered: count what its task says (nothing, without a task)."""
        if task is None:
            self.charges.pop(key, None)
        elif task.credits is not None:
            self.costs[kind] = task.credits
            self.charges[key] = task.credits
        elif task.is_terminal:
            self.charges[key] = 0  # nothing held or consumed (a failed task's credits return)
        if task is None or task.credits is not None or task.is_terminal:
            waiting = self.learning.get(kind)
            if waiting is not None:
                waiting.discard(key)
                if not waiting:
                    del self.learning[kind]


def jitter(key: str, attempt: int) -> float:
    """A number from 0 to 1 that differs from row to row and attempt to attempt (so rows
    refused together do not all come back at once), the same on every run."""
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{key}:{attempt}".encode()).digest()[:2], "big") / 65535
