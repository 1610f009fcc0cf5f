"""What the run loop's threads do: the API requests (a create goes through ``Runner.submit``:
journaled before it is sent, never resent; a poll records the task's state) and the saving of
a completed task's outputs; and the types the loop and its callers share."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from piapi_cli.api.errors import PiapiError, UsageError
from piapi_cli.api.records import field, record, replace
from piapi_cli.api.tasks import Task
from piapi_cli.core.batch import plan as steps
from piapi_cli.core.batch.build import RowRequest, name_for_row
from piapi_cli.core.downloads.downloader import LocalFile
from piapi_cli.core.polling import PollPolicy
from piapi_cli.core.runner import DownloadPlan

if TYPE_CHECKING:
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.core.runner import Runner, TaskResult


@record()
class Options:
    concurrency: int = 8
    download: DownloadPlan | None = None
    #: the --name template (row fields are filled in per row)
    name_template: str = "{id}-{index}.{ext}"
    max_credits: int | None = None
    timeout: float | None = None
    poll: PollPolicy = field(default_factory=PollPolicy)
    #: uploads a local file named with ``@path`` (or None: inline or no files)
    upload: Callable[[Path], str] | None = None
    inline: bool = False


@record()
class BatchEvent:
    """Progress for a display: ``created``, ``status``, ``finished``, ``paced``, ``held``,
    ``stopping``, ``journal_error``."""

    kind: str
    key: str | None = None
    task_id: str | None = None
    status: str | None = None
    message: str = ""


@record()
class Row:
    step: steps.Step
    task: Task | None = None
    task_id: str | None = None
    entry_id: int | None = None
    resumed: bool = False
    born: float = 0.0
    poll_failures: int = 0
    requeues: int = 0
    journal_error: str | None = None

    @property
    def key(self) -> str:
        return self.step.key

    @property
    def row(self) -> RowRequest:
        return self.step.row


@record()
class Saved:
    """A row's outputs saved: the downloader's report, and files a crash left complete but
    unrecorded, kept as they are (their SHA-256 recorded now)."""

    result: TaskResult | None
    adopted: list[LocalFile] = field(default_factory=list)
    error: str | None = None
    journal_error: str | None = None


class Worker:
    """The jobs of the run loop's pools, for one run."""

    def __init__(self, runner: Runner, journal: Journal, run_id: str, options: Options) -> None:
        self.runner, self.journal, self.run_id, self.options = runner, journal, run_id, options
        self._uploaded: dict[str, str] = {}
        self._upload_locks: dict[str, threading.Lock] = {}
        self._uploading = threading.Lock()

    def request(self, job: tuple[str, Row]) -> tuple[str, Row, Any]:
        kind, row = job
        try:
            if kind == "poll":
                assert row.task_id is not None
                task = self.runner.client.get_task(row.task_id)
                self.runner.record(task)
                return ("polled", row, task)
            step = row.step
            if step.supersede and step.entry is not None:
                self.journal.supersede(self.run_id, row.key, step.entry.id)
                row.step = replace(step, supersede=False)
            request = row.row.built.with_uploads(self._upload, inline=self.options.inline)
            submitted = self.runner.submit(
                request, run_id=self.run_id, row_key=row.key, fingerprint=row.row.fingerprint
            )
            return ("created", row, submitted)
        except PiapiError as exc:
            return (f"{kind}_failed", row, exc)
        except Exception as exc:  # noqa: BLE001 - reported as this row's error, never lost
            return (f"{kind}_failed", row, PiapiError(f"{type(exc).__name__}: {exc}"))

    def save(self, job: tuple[str, Row]) -> tuple[str, Row, Saved]:
        _, row = job
        assert row.task is not None and self.options.download is not None
        base = self.options.download
        plan = replace(
            base,
            template=name_for_row(self.options.name_template, row.row.fields),
            skip_existing=base.skip_existing or (row.resumed and not base.overwrite),
        )
        try:
            [result] = self.runner.download([row.task], plan)
        except Exception as exc:  # noqa: BLE001 - a broken download is this row's failure
            return ("saved", row, Saved(None, error=str(exc)))
        saved = Saved(result)
        for skipped in result.skipped:  # resumed: a file a crash left before it was recorded
            try:
                saved.adopted.append(self._adopt(row, skipped.url, skipped.path))
            except PiapiError as exc:
                saved.journal_error = exc.message
            except OSError as exc:
                saved.error = f"cannot read {skipped.path}: {exc.strerror or exc}"
        return ("saved", row, saved)

    def _upload(self, path: Path) -> str:
        """A local file's URL, uploaded once for every row that names it."""
        key = str(path.resolve())
        with self._uploading:
            lock = self._upload_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._uploaded:
                self._uploaded[key] = (self.options.upload or _no_upload)(path)
            return self._uploaded[key]

    def _adopt(self, row: Row, url: str, path: str) -> LocalFile:
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        saved = LocalFile(url, path, size, digest.hexdigest(), row.task_id or "")
        self.journal.record_download(saved.task_id, url, path, size, saved.sha256)
        part = Path(path + ".part")
        try:
            # the file appears by a hard link from its .part, which is then removed: a crash in
            # between leaves the .part as a second name of the very same file
            if part.exists() and os.path.samefile(part, path):
                part.unlink()
            record = Path(path + ".part.json")  # the resume record of that .part, if it outlived it
            if not os.path.lexists(part) and os.path.lexists(record):
                record.unlink()
        except OSError:
            pass
        return saved


def _no_upload(path: Path) -> str:
    raise UsageError(f"cannot upload {path}: no upload endpoint was given")
