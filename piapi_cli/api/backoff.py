"""One backoff for every retry piapi makes: API reads, a refused create, downloads, and the
sandbox's webhook deliveries.

Clock, sleep and randomness are injected, so tests retry without waiting. Full jitter keeps
many clients from retrying in step; a server's ``Retry-After`` is honoured up to a cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from piapi_cli.api.records import record


@record(frozen=True)
class Backoff:
    """How often and how long to retry. ``attempts`` counts the first try."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    #: the longest ``Retry-After`` honoured; a server asking for more gets this
    max_retry_after: float = 60.0

    def delay(self, retry: int, retry_after: float | None = None, rng: Callable[[], float] | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        if rng is None:
            import random  # only when a retry comes: most runs never need it

            rng = random.random
        # full jitter: anywhere between half and all of the exponential step
        step = min(self.max_delay, self.base_delay * (2 ** min(retry, 60)))
        return float(step * (0.5 + rng() / 2))

    def retries_left(self, attempt: int) -> bool:
        """Whether another try may follow try number ``attempt`` (1 for the first)."""
        return attempt < self.attempts


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    from email.utils import parsedate_to_datetime  # a date here is rare; email.utils costs ~2 ms to import

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class CallDeadline:
    """When an API call must be over: ``seconds`` spent on its requests (the pauses between its
    attempts not counted: a ``Retry-After`` is honoured), and never past ``until`` (the instant,
    on ``clock``, a command's ``--timeout`` ends). A server trickling its answer holds no call longer."""

    def __init__(self, seconds: float | None, until: float | None, clock: Callable[[], float]) -> None:
        self.seconds, self.until, self.clock = seconds, until, clock
        self.end = clock() + seconds if seconds else None

    def left(self) -> float | None:
        """Seconds the next attempt may take (None: no limit)."""
        ends = [t for t in (self.end, self.until) if t is not None]
        return min(ends) - self.clock() if ends else None

    def spent(self) -> bool:
        return (left := self.left()) is not None and left <= 0.01

    def why(self) -> str:
        if self.until is not None and self.clock() >= self.until:
            return "the command's deadline (its timeout) passed"
        return f"no whole answer within {self.seconds:g}s"

    def allows(self, pause: float) -> bool:
        """Whether a pause of ``pause`` seconds before the next attempt ends before ``until``."""
        if self.until is not None and self.clock() + pause >= self.until:
            return False
        if self.end is not None:
            self.end += pause
        return True
