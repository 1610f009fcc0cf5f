"""What the runner (``core.runner``) hands back: the events it reports while tasks go through
create, wait and download, where outputs are saved, and how each task's way ended."""

from __future__ import annotations

from pathlib import Path

from piapi_cli.api.errors import ExitCode, PiapiError
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import Task
from piapi_cli.core.downloads import DEFAULT_TEMPLATE

TYPE_CHECKING = False  # (a run that downloads nothing needs none of the downloader's modules)
TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.core.downloads.downloader import Failure, LocalFile, Partial, Skipped

#: event kinds reported to ``on_event``
SUBMITTING, CREATED, CREATE_FAILED, JOURNAL_ERROR = "submitting", "created", "create_failed", "journal_error"
STATUS, DONE = "status", "done"
DOWNLOAD_STARTED, DOWNLOAD_BYTES, SAVED, SKIPPED, DOWNLOAD_FAILED, INTERRUPTED = (
    "download_started",
    "download_bytes",
    "saved",
    "skipped",
    "download_failed",
    "download_interrupted",
)


@record()
class RunEvent:
    """Something that happened to a task on its way through the pipeline."""

    kind: str
    task_id: str | None = None
    task: Task | None = None
    #: a file's path (download events), the journal's path (journal_error)
    path: str | None = None
    #: bytes: a file's total (download_started, None when unknown), a chunk (download_bytes)
    size: int | None = None
    message: str = ""
    error: PiapiError | None = None
    #: the download an event is about (one per output file)
    item: Any = None


@record(frozen=True)
class DownloadPlan:
    """Where and how to save outputs."""

    directory: Path | str
    template: str = DEFAULT_TEMPLATE
    overwrite: bool = False
    skip_existing: bool = False
    metadata: bool = False


@record()
class Submitted:
    """A create that was carried out: the task, and whether the journal recorded it."""

    task: Task
    journal_row: int | None = None
    #: the journal failed after the create was answered: the task exists all the same
    journal_error: PiapiError | None = None


@record()
class TaskResult:
    """How one task's way through the pipeline ended."""

    task_id: str
    task: Task | None = None
    error: PiapiError | None = None
    files: list[LocalFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    #: outputs a cancel (Ctrl-C) stopped before they were complete; their .part files are kept
    partial: list[Partial] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.task.status if self.task is not None else "unseen"

    @property
    def exit_code(self) -> ExitCode:
        from piapi_cli.core.waiting import WaitOutcome

        code = WaitOutcome(self.task_id, self.task, self.error).exit_code
        if code == ExitCode.OK and self.failures:  # 10 a full disk, 9 a download, 5 a certificate not trusted
            from piapi_cli.api.errors import combine_exit_codes

            return combine_exit_codes(f.code for f in self.failures)
        return code

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.task.to_json() if self.task is not None else {"task_id": self.task_id}
        return doc | {"local_files": [f.to_json() for f in self.files]}
