"""What a download run produced: one result per planned output, and the report of them all."""

from __future__ import annotations

from typing import Any, Union

from piapi_cli.api.errors import DownloadError, ExitCode, LocalWriteError, PiapiError
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import OutputURL, Task


@record(frozen=True)
class Planned:
    task: Task
    index: int
    output: OutputURL

    @property
    def url(self) -> str:
        return self.output.url


@record()
class LocalFile:
    url: str
    path: str
    bytes: int
    sha256: str
    task_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "path": self.path, "bytes": self.bytes, "sha256": self.sha256}


@record()
class Failure:
    url: str
    message: str
    task_id: str = ""
    #: what to do about it, a key of the CLI's advice (an existing file: overwrite or skip it)
    advice: str | None = None
    #: the error that ended the file, when its exit code is not a download's own (9): a local
    #: write (a full disk: 10), the origin's certificate not trusted (5, as the API's calls give)
    error: PiapiError | None = None

    @property
    def local(self) -> bool:
        """The file could not be written here (a full disk)."""
        return isinstance(self.error, LocalWriteError)

    @property
    def code(self) -> ExitCode:
        return self.error.exit_code if self.error is not None else ExitCode.DOWNLOAD_FAILED


@record()
class Skipped:
    """The file exists and ``--skip-existing`` was given."""

    url: str
    path: str


@record()
class Partial:
    """Stopped by a cancel: ``part`` is the kept partial file (None if nothing was written)."""

    url: str
    part: str | None
    bytes: int = 0
    task_id: str = ""


Result = Union[LocalFile, Failure, Skipped, Partial]


@record()
class Report:
    files: list[LocalFile] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: outputs a cancel stopped before they were complete
    partial: list[Partial] = field(default_factory=list)

    @classmethod
    def of(cls, planned: list[Planned], results: dict[int, Result], parts: dict[int, str]) -> Report:
        """The report of ``planned`` outputs from the results of those that ended; the others
        (never started, or still stopping after a cancel) are partial, with ``parts`` kept."""
        report = cls()
        for index, item in enumerate(planned):
            result = results.get(index) or Partial(item.url, parts.get(index), 0, item.task.task_id)
            if isinstance(result, LocalFile):
                report.files.append(result)
            elif isinstance(result, Skipped):
                report.skipped.append(result)
            elif isinstance(result, Partial):
                report.partial.append(result)
            else:
                report.failures.append(result)
        return report

    @property
    def interrupted(self) -> bool:
        return bool(self.partial)

    def raise_for_failures(self) -> None:
        if self.interrupted:
            raise DownloadInterrupted(self)
        if self.failures:
            names = "; ".join(f"{f.url}: {f.message}" for f in self.failures)
            raise DownloadError(
                f"{len(self.failures)} output(s) could not be downloaded: {names}",
                hint="complete files were kept; run the same download again to resume",
            )


class DownloadInterrupted(PiapiError):
    """Downloads were cancelled (Ctrl-C): ``saved`` paths are complete, ``partial`` ones resume."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, report: Report, cause: BaseException | None = None) -> None:
        self.report = report
        #: what stopped them: Ctrl-C, or a signal (SIGTERM, SIGHUP) the CLI turned into an exception
        self.cause = cause
        self.saved = [f.path for f in report.files]
        self.partial = [p.part for p in report.partial if p.part]
        super().__init__(
            f"interrupted: {len(self.saved)} file(s) saved, {len(report.partial)} not finished",
            hint="partial files (.part) were kept; run the same download again to resume",
        )
