"""Webhook deliveries of ``piapi sandbox serve``, as PiAPI makes them: ``POST {"timestamp",
"data"}`` with the task object and the ``x-webhook-secret`` header, when a task is created, on
each status change and at the end.

A scanning thread notices the changes (no I/O, so it never waits on a receiver) and queues
one delivery per change in the lane of its receiver (scheme, host and port). A small pool of
workers serves the lanes: one worker per lane at a time, so each receiver gets its deliveries
in order, and a slow or dead receiver holds up only its own lane. Failed deliveries are retried
with the shared backoff. Nothing a receiver or an endpoint does can stop the workers; the
queues are bounded, and what does not fit is dropped with a log line.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from piapi_cli.api.backoff import Backoff
from piapi_cli.api.records import record

if TYPE_CHECKING:
    from piapi_cli.api import http
    from piapi_cli.sandbox.emulator import Emulator

log = logging.getLogger("piapi.sandbox")

TERMINAL = ("completed", "failed", "canceled")
#: a receiver that answers 408, 429 or 5xx, or cannot be reached, may take it later; any other
#: answer (401 for a wrong secret, 404...) will not change by asking again
RETRIED_STATUSES = frozenset({408, 429})
#: the most of a receiver's answer read: only its status counts
MAX_ANSWER = 2**20

Post = Callable[[str, bytes, dict[str, str]], int]


@record(frozen=True)
class DeliveryAttempt:
    """One attempt to deliver one change, as logged."""

    task_id: str
    status: str
    endpoint: str
    attempt: int
    outcome: str  # "200", "ConnectionRefusedError: ...", ...
    at: float


@record(frozen=True)
class _Job:
    task_id: str
    status: str
    endpoint: str
    body: bytes
    headers: dict[str, str]
    at: float


def receiver_of(endpoint: str) -> str:
    """The lane a delivery waits in: the receiving server, not the path on it."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(endpoint)
        return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"
    except ValueError:
        return endpoint


class _Lanes:
    """Jobs queued per receiver; a lane is handed to one worker at a time."""

    def __init__(self, per_lane: int, total: int) -> None:
        self.per_lane, self.total = per_lane, total
        self._cond = threading.Condition()
        self._queues: dict[str, deque[_Job]] = {}
        self._ready: deque[str] = deque()  # lanes with work and no worker, each listed once
        self._busy: set[str] = set()
        self._queued = 0
        self._closed = False

    def put(self, lane: str, job: _Job) -> _Job | None:
        """Queue ``job``; returns the job dropped to make room, if any (the oldest of its lane,
        or ``job`` itself when every lane together is full)."""
        with self._cond:
            queue = self._queues.setdefault(lane, deque())
            dropped = None
            if len(queue) >= self.per_lane:
                dropped = queue.popleft()
                self._queued -= 1
            elif self._queued >= self.total:
                if not queue:
                    del self._queues[lane]
                return job
            queue.append(job)
            self._queued += 1
            if lane not in self._busy and lane not in self._ready:
                self._ready.append(lane)
                self._cond.notify()
            return dropped

    def take(self) -> tuple[str, _Job] | None:
        """The next job of a lane no other worker holds; blocks; None once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._ready or self._closed)
            if self._closed:
                return None
            lane = self._ready.popleft()
            self._busy.add(lane)
            self._queued -= 1
            return lane, self._queues[lane].popleft()

    def release(self, lane: str) -> None:
        with self._cond:
            self._busy.discard(lane)
            if self._queues.get(lane):
                self._ready.append(lane)
            else:
                self._queues.pop(lane, None)
            self._cond.notify_all()

    def idle(self) -> bool:
        return self._queued == 0 and not self._busy

    def wait_idle(self, timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(self.idle, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


# The workers are not core.workers.Pool: a shared queue would let one dead receiver take every
# worker in turn. Lanes give each receiver one worker at a time and a bound of its own.


class WebhookDispatcher:
    """Watches tasks created with a webhook endpoint and delivers their changes."""

    def __init__(
        self,
        emulator: Emulator,
        *,
        workers: int = 4,
        tick: float = 0.1,
        backoff: Backoff | None = None,
        timeout: float = 5.0,
        post: Post | None = None,
        sleep: Callable[[float], object] | None = None,
        rng: Callable[[], float] | None = None,
        per_receiver: int = 1000,
        queued: int = 10_000,
    ) -> None:
        import random

        self.emulator = emulator
        self.workers = max(1, workers)
        self.tick = tick
        self.backoff = backoff or Backoff(attempts=4, base_delay=0.5, max_delay=8.0)
        self.timeout = timeout
        self._engine: http.Engine | None = None
        self.post: Post = post or self._post
        self._stop = threading.Event()
        #: how to pause between retries (tests pass a fake); default: wait unless stopped
        self.sleep: Callable[[float], object] = sleep or self._stop.wait
        self.rng = rng or random.Random().random
        #: the latest attempts, for tests and debugging; bounded
        self.deliveries: deque[DeliveryAttempt] = deque(maxlen=1000)
        self.dropped = 0
        self._lanes = _Lanes(per_receiver, queued)
        self._sent: dict[str, str] = {}
        self._workers: list[threading.Thread] = []
        self._scanner: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # --- threads ------------------------------------------------------------------

    def start(self) -> None:
        """Scan every ``tick`` seconds in a thread of its own, and start the workers."""
        self._start_workers()
        self._scanner = threading.Thread(target=self._run, name="piapi-sandbox-webhooks", daemon=True)
        self._scanner.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scanning and delivering; a delivery under way ends at its next retry."""
        import time

        self._stop.set()
        self._lanes.close()
        deadline = time.monotonic() + timeout  # one wait for all: a worker may be mid-POST
        for thread in [self._scanner, *self._workers]:
            if thread is not None and thread.ident is not None:  # (Ctrl-C can land before a start)
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._engine is not None:
            self._engine.close()  # the kept-alive connections to receivers

    def drain(self, timeout: float | None = 10.0) -> bool:
        """Wait until every queued delivery has been made (or given up); False on timeout."""
        return self._lanes.wait_idle(timeout)

    def _start_workers(self) -> None:
        with self._start_lock:
            while len(self._workers) < self.workers and not self._stop.is_set():
                name = f"piapi-sandbox-webhook-{len(self._workers)}"
                worker = threading.Thread(target=self._work, name=name, daemon=True)
                self._workers.append(worker)
                worker.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.scan()
            except Exception as exc:  # a scan that failed is tried again at the next tick
                log.warning("webhooks: scan failed: %s: %s", type(exc).__name__, exc)

    def _work(self) -> None:
        while True:
            taken = self._lanes.take()
            if taken is None:
                return
            lane, job = taken
            try:
                self._deliver(job)
            except Exception as exc:  # never the end of a worker
                log.warning(
                    "webhook %s %s -> %s: %s: %s", job.task_id, job.status, job.endpoint, type(exc).__name__, exc
                )
            finally:
                self._lanes.release(lane)

    # --- noticing changes -------------------------------------------------------------

    def scan(self) -> int:
        """Queue a delivery for every change since the last scan; returns how many were queued."""
        self._start_workers()
        emulator = self.emulator
        now = emulator.clock()
        queued = 0
        # only tasks created with an endpoint and not yet finished: not every task held
        for task_id in sorted(emulator.hooked.copy()):
            record = emulator.store.get(task_id)
            webhook = ((record or {}).get("config") or {}).get("webhook_config") or {}
            endpoint = webhook.get("endpoint") if isinstance(webhook, dict) else None
            if record is None or not isinstance(endpoint, str) or not endpoint:
                emulator.hooked.discard(task_id)
                continue
            status = emulator.status_at(record, now)
            if self._sent.get(task_id) == status:
                continue
            self._sent[task_id] = status
            if status in TERMINAL:  # the last change of this task: stop watching it
                emulator.hooked.discard(task_id)
                del self._sent[task_id]
            view = emulator.task_view(record, now)
            body = json.dumps({"timestamp": int(now), "data": view}, separators=(",", ":")).encode()
            headers = {
                "content-type": "application/json",
                "x-webhook-secret": str(webhook.get("secret") or ""),
            }
            self._queue(_Job(task_id, status, endpoint, body, headers, now))
            queued += 1
        return queued

    def _queue(self, job: _Job) -> None:
        lane = receiver_of(job.endpoint)
        dropped = self._lanes.put(lane, job)
        if dropped is not None:
            self.dropped += 1
            log.warning(
                "webhook %s %s -> %s: dropped, too many deliveries waiting for %s",
                dropped.task_id, dropped.status, dropped.endpoint, lane,
            )  # fmt: skip

    # --- delivering ---------------------------------------------------------------------

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` to ``url``; the status of the answer (no redirects followed)."""
        from urllib.parse import urlsplit

        from piapi_cli.api import factory

        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise ValueError(f"not an http or https URL: {url!r}")
        with self._start_lock:
            if self._engine is None:
                use = factory.with_timeouts(factory.WEBHOOK, connect=self.timeout, read=self.timeout)
                self._engine = factory.engine(use, [])
            engine = self._engine
        answer, _ = engine.request("POST", url, content=body, headers=headers, max_answer=MAX_ANSWER)
        return answer.status_code

    def _deliver(self, job: _Job) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                status = self.post(job.endpoint, job.body, job.headers)
                outcome, ok, again = str(status), 200 <= status < 300, status >= 500 or status in RETRIED_STATUSES
            except Exception as exc:  # unreachable, timed out, refused, not HTTP...: all worth another try
                seen = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc  # what the engine wrapped
                outcome, ok, again = f"{type(seen).__name__}: {seen}", False, True
            self.deliveries.append(DeliveryAttempt(job.task_id, job.status, job.endpoint, attempt, outcome, job.at))
            log.info("webhook %s %s -> %s (attempt %d): %s", job.task_id, job.status, job.endpoint, attempt, outcome)
            if ok:
                return
            if not again or not self.backoff.retries_left(attempt) or self._stop.is_set():
                why = "an answer that asking again will not change" if not again else f"{attempt} attempts"
                log.warning("webhook %s %s -> %s: given up after %s", job.task_id, job.status, job.endpoint, why)
                return
            self.sleep(self.backoff.delay(attempt - 1, rng=self.rng))
