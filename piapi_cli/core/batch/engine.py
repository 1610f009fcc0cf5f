"""The run loop: creates and polls of many rows in one process, at most N requests in flight.

One scheduler (the calling thread) decides what happens next; a pool of N threads runs the
API requests (a create goes through ``Runner.submit``: journaled before it is sent, never
resent) and another pool saves the outputs of each completed task as soon as it completes.
Nothing here prints: rows are reported to ``on_row`` as they finish and progress to
``on_event``; the run ends with a ``Summary``.

``stop()`` (the CLI calls it on Ctrl-C, SIGTERM and SIGHUP) starts no new row, lets the
creates already in flight be answered and journaled, and ends the run: tasks created stay
journaled and the same command resumes them.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from piapi_cli.api.errors import (
    AuthenticationError,
    ConfigError,
    ConnectionFailed,
    CreateOutcomeUnknown,
    NotFoundError,
    PiapiError,
    RateLimitError,
    combine_exit_codes,
)
from piapi_cli.api.records import replace
from piapi_cli.api.tasks import Task
from piapi_cli.core.batch import plan as steps
from piapi_cli.core.batch.ledger import Ledger
from piapi_cli.core.batch.pacing import HOLD, WAIT, Budget, Pace, jitter
from piapi_cli.core.batch.plan import recorded_files
from piapi_cli.core.batch.queries import RunEntry
from piapi_cli.core.batch.results import LEFT, MAYBE_CREATED, REFUSED, RUNNING, RowResult, Summary
from piapi_cli.core.batch.work import BatchEvent, Options, Row, Saved, Worker
from piapi_cli.core.journal.journal import AlreadyJournaled
from piapi_cli.core.workers import Pool

if TYPE_CHECKING:
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.core.runner import Runner, Submitted

#: a 429-refused create is tried again this many times in one run, then reported
MAX_REQUEUES = 5
#: polls that fail (after the client's own retries) before a row is left for a later run
MAX_POLL_FAILURES = 5
#: how long a stopped run waits for downloads in flight (their .part files are kept)
DOWNLOAD_GRACE = 1.5


class BatchRun:
    def __init__(
        self,
        runner: Runner,
        journal: Journal,
        run_id: str,
        plan: steps.Plan,
        options: Options,
        *,
        history: list[RunEntry] | None = None,
        on_row: Callable[[RowResult], None] | None = None,
        on_event: Callable[[BatchEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.runner, self.journal, self.run_id, self.plan, self.options = runner, journal, run_id, plan, options
        runner.journal = journal  # the run's creates are journaled there, whatever the runner had
        self.on_row, self.on_event = on_row, on_event
        self.clock, self.sleep, self.wall = clock, sleep, wall
        self.summary = Summary(run_id, len(plan.steps))
        self.pace = Pace(max(1, options.concurrency))
        self.budget = Budget(options.max_credits, dict(plan.costs))
        self.budget.history = sum(e.credits or 0 for e in history or [] if e.task_id)
        self._results: queue.SimpleQueue[tuple[str, Row, Any]] = queue.SimpleQueue()
        self._pending: deque[Row] = deque()
        self._polls: list[tuple[float, int, Row]] = []
        self._seq = 0
        self._in_flight = 0
        self._creating = 0
        self._saving = 0
        self._stopping = threading.Event()
        self._stop_at: float | None = None
        self._held = False
        self._requests: Pool[tuple[str, Row], Any] | None = None
        self._savers: Pool[tuple[str, Row], Any] | None = None
        self._worker = Worker(runner, journal, run_id, options)
        self._busy = (0.0, 0.0)
        self.ledger = Ledger(self.summary, on_row, self._emit)

    # --- control ----------------------------------------------------------------------

    def stop(self, reason: str = "interrupted", interrupt: BaseException | None = None) -> None:
        """Start no new row; end once the creates in flight are answered. Safe from a signal
        handler (it only sets a flag and wakes the loop)."""
        if self._stopping.is_set():
            return
        self.summary.stopped = self.summary.stopped or reason
        self.summary.interrupt = self.summary.interrupt or interrupt
        self._stopping.set()
        self._results.put(("wake", None, None))  # type: ignore[arg-type]

    def _emit(self, kind: str, row: Row | None = None, **fields: Any) -> None:
        if self.on_event is not None:
            key = row.key if row is not None else None
            task_id = row.task_id if row is not None else None
            self.on_event(BatchEvent(kind, key=key, task_id=task_id, **fields))

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> Summary:
        started = self.clock()
        deadline = started + self.options.timeout if self.options.timeout else None
        size = max(1, self.options.concurrency)
        self._busy = (self.journal.busy, self.journal.busy_cpu)
        with self.journal.group_commit():  # the run's threads write together
            self._loop(deadline, size)
        self._end(started)
        return self.summary

    def _loop(self, deadline: float | None, size: int) -> None:
        self._requests = Pool(size, self._worker.request, self._results, "piapi-batch")
        if self.options.download is not None:
            self._savers = Pool(size, self._worker.save, self._results, "piapi-batch-save")
        try:
            self._begin()
            while True:
                now = self.clock()
                if deadline is not None and now >= deadline and not self._stopping.is_set():
                    self.stop("deadline")
                self._dispatch(now)
                if self._finished(now):
                    break
                self._wait(now, deadline)
        finally:
            self._requests.close()
            if self._savers is not None:
                self._savers.close()

    def _begin(self) -> None:
        """Rows the journal settles at once are reported; the others are queued."""
        now = self.clock()
        for step in self.plan.steps:
            row = Row(step, resumed=step.entry is not None and step.entry.task_id is not None)
            self.ledger.open[row.key] = row
            entry = step.entry
            if entry is not None and entry.task_id is not None:
                row.task_id, row.entry_id, row.task = entry.task_id, entry.id, entry.task_object()
                row.born = now - max(0.0, self.wall() - entry.created_at)
            action = step.action
            if action in steps.CREATES:
                self._pending.append(row)
                continue
            if action == steps.ELSEWHERE:
                self.summary.elsewhere.append(row.key)
                self.ledger.finish(row, LEFT)
                continue
            if action == steps.MAYBE:
                assert entry is not None
                row.entry_id = entry.id
                self.budget.charges[row.key] = self.budget.costs.get(row.row.kind, 0)  # it may hold credits
                how = "its answer was lost" if entry.status == "unknown" else "its process stopped while it was sent"
                self.ledger.finish(
                    row,
                    MAYBE_CREATED,
                    error=f"the create may have been carried out ({how}); journaled as #{entry.id}, not resent",
                )
                continue
            self.budget.charges[row.key] = entry.credits or 0 if entry is not None else 0
            if action == steps.WAIT:
                self._schedule(row, now)
            elif action == steps.DOWNLOAD and row.task is not None:
                self._start_saving(row)
            elif action == steps.DOWNLOAD:  # the journal kept no task object: fetch it first
                self._schedule(row, now)
            elif action == steps.DONE:
                self.ledger.finish(row, "completed", files=recorded_files(entry, self.options.download))
            else:  # FAILED
                assert entry is not None
                self.ledger.finish(row, entry.status, error=entry.message or f"task {entry.status}")

    def _dispatch(self, now: float) -> None:
        assert self._requests is not None
        limit = max(1, self.options.concurrency)
        stopping = self._stopping.is_set()
        while not stopping and self._polls and self._polls[0][0] <= now and self._in_flight < limit:
            _, _, row = heapq.heappop(self._polls)
            self._in_flight += 1
            self._requests.put(("poll", row))
        while not stopping and not self._held and self._pending and self._in_flight < limit:
            row = self._pending[0]
            verdict = self.budget.verdict(row.row.kind)
            if verdict == WAIT or not self.pace.allows(now, self._creating):
                break
            if verdict == HOLD:
                self._held = True
                self.summary.stopped = self.summary.stopped or "max_credits"
                self._emit(
                    "held",
                    message=f"the credit limit of {self.options.max_credits:,} is reached: "
                    f"{self.budget.total:,} credits held or consumed",
                )
                break
            self._pending.popleft()
            self.budget.starting(row.key, row.row.kind)
            self._in_flight += 1
            self._creating += 1
            self._requests.put(("create", row))

    def _finished(self, now: float) -> bool:
        if self._stopping.is_set():
            if self._creating:
                return False
            if self._saving:
                self._stop_at = self._stop_at if self._stop_at is not None else now
                return now - self._stop_at >= DOWNLOAD_GRACE
            return True
        waiting_to_start = bool(self._pending) and not self._held
        return not (waiting_to_start or self._in_flight or self._polls or self._saving)

    def _wait(self, now: float, deadline: float | None) -> None:
        wake = now + 1.0  # at least once a second: deadlines, the grace of a stop
        # with every slot taken, only an answer (which frees one) can start anything
        free = self._in_flight < max(1, self.options.concurrency)
        if free and self._polls and not self._stopping.is_set():
            wake = min(wake, self._polls[0][0])
        if free and self._pending and self.pace.resume_at > now:
            wake = min(wake, self.pace.resume_at)
        if deadline is not None:
            wake = min(wake, deadline)
        pause = max(0.0, wake - now)
        if not (self._in_flight or self._saving):
            self.sleep(pause)
            return
        try:
            item = self._results.get(timeout=pause)
        except queue.Empty:
            return
        while True:
            self._handle(*item)
            try:
                item = self._results.get_nowait()
            except queue.Empty:
                return

    # --- outcomes, handled by the scheduler ---------------------------------------------

    def _handle(self, kind: str, row: Row, outcome: Any) -> None:
        now = self.clock()
        if kind == "wake":
            return
        if kind == "saved":
            self._saving -= 1
            self._saved(row, outcome)
            return
        self._in_flight -= 1
        if kind == "polled":
            self._polled(row, outcome, now)
        elif kind == "poll_failed":
            self._poll_failed(row, outcome, now)
        elif kind == "created":
            self._creating -= 1
            self._created(row, outcome, now)
        else:
            self._creating -= 1
            self._create_failed(row, outcome, now)

    def _created(self, row: Row, submitted: Submitted, now: float) -> None:
        task = submitted.task
        row.task, row.task_id, row.entry_id, row.born = task, task.task_id, submitted.journal_row, now
        self.summary.created += 1
        self.pace.accepted()
        self.pace.seen(task)
        self.budget.settled(row.key, row.row.kind, task)
        if submitted.journal_error is not None:
            row.journal_error = submitted.journal_error.message
            self._emit("journal_error", row, message=submitted.journal_error.message)
        self._emit("created", row, status=task.status)
        self._progressed(row, task, now)

    def _create_failed(self, row: Row, error: PiapiError, now: float) -> None:
        kind = row.row.kind
        self.budget.settled(row.key, kind, None)
        if isinstance(error, AlreadyJournaled):
            self.summary.elsewhere.append(row.key)
            self.ledger.finish(row, LEFT)
        elif isinstance(error, CreateOutcomeUnknown):
            row.entry_id = error.journal_row
            self.budget.charges[row.key] = self.budget.costs.get(kind, 0)  # it may hold credits
            self.ledger.finish(row, MAYBE_CREATED, error=error.message)
        elif isinstance(error, RateLimitError) and row.requeues < MAX_REQUEUES:
            pause = self.pace.rate_limited(now, error.retry_after, rng=jitter(row.key, row.requeues))
            row.requeues += 1
            refused = self.journal.run_row(self.run_id, row.key)
            if refused is not None:  # refused: it created nothing; set aside, send again
                row.step = replace(row.step, entry=RunEntry.refused(refused.id, self.run_id, row.key), supersede=True)
            self._pending.appendleft(row)
            self._emit("paced", row, message=f"rate limited (429): fewer creates at once, none for {pause:.1f}s")
        elif isinstance(error, (ConnectionFailed, AuthenticationError, ConfigError)):
            # nothing was created, and every other row would meet the same: stop starting rows
            self.summary.stop_error = self.summary.stop_error or error
            reason = {ConnectionFailed: "unreachable", AuthenticationError: "auth"}.get(type(error), "journal")
            self.stop(reason)
            self.ledger.finish(row, LEFT)
        else:
            self.ledger.finish(row, REFUSED, error=error.message, code_error=error)

    def _polled(self, row: Row, task: Task, now: float) -> None:
        row.task, row.poll_failures = task, 0
        self.pace.seen(task)
        self.budget.settled(row.key, row.row.kind, task)
        self._emit("status", row, status=task.status)
        self._progressed(row, task, now)

    def _poll_failed(self, row: Row, error: PiapiError, now: float) -> None:
        row.poll_failures += 1
        if isinstance(error, NotFoundError):  # the API does not know the task (any more)
            self.ledger.finish(row, "error", error=error.message, code_error=error)
        elif row.poll_failures >= MAX_POLL_FAILURES:  # left running: the next run polls it again
            self.ledger.finish(row, RUNNING, error=error.message, code_error=error)
        else:
            self._schedule(row, now + 5.0 * row.poll_failures)

    def _progressed(self, row: Row, task: Task, now: float) -> None:
        paces = self.runner.paces  # how long tasks of this kind usually run, learnt as rows end
        if not task.is_terminal:
            self._schedule(row, now + self.options.poll.interval(now - row.born, pace=paces(task) if paces else None))
            return
        self.pace.forget(task.task_id)
        if paces is not None:
            paces.learn(task)
        if task.succeeded and self.options.download is not None and task.urls:
            self._start_saving(row)
        else:
            self.ledger.finish(row, task.status, error=None if task.succeeded else task.failure_message())

    def _schedule(self, row: Row, at: float) -> None:
        self._seq += 1
        heapq.heappush(self._polls, (at, self._seq, row))

    def _start_saving(self, row: Row) -> None:
        assert self._savers is not None
        self._saving += 1
        self._savers.put(("save", row))

    def _saved(self, row: Row, saved: Saved) -> None:
        if saved.journal_error is not None:
            self._emit("journal_error", row, message=saved.journal_error)
        result = saved.result
        failures = [(f.url, f.message) for f in result.failures] if result is not None else []
        if saved.error is not None:
            url = row.task.urls[0].url if row.task is not None and row.task.urls else ""
            failures.append((url, saved.error))
        files = [*(result.files if result is not None else []), *saved.adopted]
        # the error of the file that decides the row's exit code (a full disk: 10, not 9)
        ended = result.failures if result is not None else []
        code = combine_exit_codes(f.code for f in ended)
        error = next((f.error for f in ended if f.code == code), None)
        self.ledger.finish(row, "completed", files=files, failures=failures, code_error=error)

    def _end(self, started: float) -> None:
        """Rows a stop or a deadline left: not started (left), or with a task (running)."""
        self.ledger.close(self.budget)
        self.summary.wall = self.clock() - started
        self.summary.journal_seconds = self.journal.busy - self._busy[0]
        self.summary.journal_cpu_seconds = self.journal.busy_cpu - self._busy[1]

    @property
    def credits(self) -> int:
        """Credits held and consumed by the run so far."""
        return self.budget.total
