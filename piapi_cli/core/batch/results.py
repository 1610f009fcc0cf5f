"""What a batch run reports: one result per finished row, and the run's summary."""

from __future__ import annotations

from collections import Counter
from typing import Any

from piapi_cli.api.errors import ExitCode, PiapiError, combine_exit_codes
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import Task, as_dict
from piapi_cli.core.downloads.downloader import LocalFile

#: a row's status when it has no task: its create may have been carried out (never resent)
MAYBE_CREATED = "unknown"
#: the API refused the create: no task
REFUSED = "refused"
#: statuses of rows this run did not finish (not printed as results; the summary counts them)
LEFT = "left"  # not started: --max-credits, a stop, or another process sending it
RUNNING = "running"  # its task still runs (a deadline, a stop, polls that kept failing)


@record()
class RowResult:
    """How one row ended: ``{id, task_id, status, model, task_type, outputs, files, usage, error}``."""

    key: str
    status: str
    model: str
    task_type: str
    task_id: str | None = None
    task: Task | None = None
    files: list[LocalFile] = field(default_factory=list)
    #: outputs that could not be saved (url, why)
    failures: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    code: ExitCode = ExitCode.OK
    #: the journal's entry for the row, for the commands that deal with it
    entry_id: int | None = None
    #: the row existed in the journal before this invocation
    resumed: bool = False

    @property
    def outputs(self) -> list[str]:
        return [u.url for u in self.task.urls] if self.task is not None else []

    @property
    def problem(self) -> str | None:
        """What went wrong, in words: the row's error, else the outputs not saved."""
        if self.error is None and self.failures:
            return "; ".join(f"could not download {url}: {why}" for url, why in self.failures)
        return self.error

    def to_json(self) -> dict[str, Any]:
        usage = as_dict(as_dict(self.task.raw.get("meta")).get("usage")) if self.task is not None else {}
        return {
            "id": self.key,
            "task_id": self.task_id,
            "status": self.status,
            "model": self.model,
            "task_type": self.task_type,
            "outputs": self.outputs,
            "files": [{"path": f.path, "bytes": f.bytes, "sha256": f.sha256} for f in self.files],
            "usage": usage or None,
            "error": self.problem,
        }


def code_for(status: str, error: PiapiError | None = None, failures: bool = False) -> ExitCode:
    if status == "completed":  # a file not saved: 9, or the error's own code (10: a full disk)
        return (error.exit_code if error is not None else ExitCode.DOWNLOAD_FAILED) if failures else ExitCode.OK
    if status in ("failed", "cancelled", "canceled"):
        return ExitCode.TASK_FAILED
    if error is not None:
        return error.exit_code
    if status == MAYBE_CREATED:
        return ExitCode.NETWORK  # as create exits when its answer was lost
    return ExitCode.WAIT_TIMEOUT  # left or running: the same command resumes it


@record()
class Summary:
    """The run at its end: counts by status, credits, time, and what is left to do."""

    run_id: str
    rows: int
    counts: Counter[str] = field(default_factory=Counter)
    #: rows not finished by this run, by why: left (not started), running, elsewhere
    left: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    #: the task IDs of the rows still running
    running_tasks: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    maybe_created: list[RowResult] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: credits consumed by completed tasks, and held by tasks still running (this run, all attempts)
    consumed: int = 0
    held: int = 0
    created: int = 0
    wall: float = 0.0
    #: why the run stopped starting rows early: interrupted, deadline, max_credits, unreachable, auth, journal
    stopped: str | None = None
    stop_error: PiapiError | None = None
    #: the signal (KeyboardInterrupt or a subclass) that stopped the run
    interrupt: BaseException | None = None
    codes: list[ExitCode] = field(default_factory=list)
    #: rows whose task the journal could not record: (row id, task ID)
    unrecorded: list[tuple[str, str]] = field(default_factory=list)
    #: what could not be written locally (the journal's record of the run, the results file)
    unwritten: list[str] = field(default_factory=list)
    journal_seconds: float = 0.0
    journal_cpu_seconds: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        codes = list(self.codes)
        if self.unrecorded or self.unwritten:  # partly done: the tasks exist, their IDs were printed
            codes.append(ExitCode.LOCAL_WRITE)
        if self.stop_error is not None:
            from piapi_cli.core.journal.store import JournalError

            # a journal that stopped taking rows after some were created: those tasks exist,
            # with their IDs printed; the run is partly done, not refused for its set-up
            partly = isinstance(self.stop_error, JournalError) and self.created > 0
            codes.append(ExitCode.LOCAL_WRITE if partly else self.stop_error.exit_code)
        return combine_exit_codes(codes)

    @property
    def complete(self) -> bool:
        return self.exit_code == ExitCode.OK and not self.left and not self.running

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "rows": self.rows,
            "counts": dict(self.counts),
            "left": self.left,
            "running": self.running,
            "elsewhere": self.elsewhere,
            "maybe_created": [r.key for r in self.maybe_created],
            "failed": self.failed,
            "credits_consumed": self.consumed,
            "credits_held": self.held,
            "created": self.created,
            "wall_seconds": round(self.wall, 3),
            "stopped": self.stopped,
            "exit_code": int(self.exit_code),
            "journal_seconds": round(self.journal_seconds, 3),
            "journal_cpu_seconds": round(self.journal_cpu_seconds, 3),
        }
