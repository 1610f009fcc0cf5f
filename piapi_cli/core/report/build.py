"""A report in one call: journal entries in, a folder with ``index.html`` and its thumbnails out.

    result = write_report(entries, ReportOptions(Path("report"), compare_by="model"))
    result.page      # report/index.html
    result.data      # the records the page shows (what ``piapi report --json`` prints)

``--out`` names a folder (the page is its ``index.html``) or a file ending in ``.html`` (its
folder holds the thumbnails). A page already there is replaced only if a report wrote it;
``check_target`` says so before any work starts, so a batch run refuses a bad ``--report``
before it sends anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from piapi_cli.api.errors import ExitCode, PiapiError, UsageError
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import redact
from piapi_cli.core.journal.entries import Entry
from piapi_cli.core.report.records import TaskRecord, task_record

#: the version of the data the page reads (and ``--json`` prints)
DATA_VERSION = 1
PAGE = "index.html"
#: a page's title when none is given (it names the product)
TITLE = "piapi report"


class ReportError(PiapiError):
    """The report could not be written (the disk is full, the folder is read-only...)."""

    exit_code = ExitCode.INTERNAL


@record()
class ReportOptions:
    #: a folder, or a file ending in .html
    out: Path
    compare_by: str | None = None
    thumbnails: bool = True
    title: str = TITLE
    #: where relative paths in the journal are read from (default: the current directory)
    cwd: Path | None = None
    #: the command line that makes a task again, by its world and reference (given by the CLI)
    command: Callable[[str, str], str] | None = None
    workers: int | None = None


@record()
class ReportResult:
    page: Path
    data: dict[str, Any]
    thumbnails_made: int = 0
    thumbnails_reused: int = 0
    #: (source file, why it has no thumbnail)
    thumbnail_failures: list[tuple[str, str]] = field(default_factory=list)


def page_path(out: Path) -> Path:
    """Where the page goes for ``--out``: the file itself if it ends in .html, else DIR/index.html."""
    return out if out.suffix.lower() in (".html", ".htm") else out / PAGE


def check_target(out: Path) -> Path:
    """The page's path, once it is clear it may be written: a usage error if something that is
    not a report is in the way."""
    from piapi_cli.core.report.page import GENERATOR, is_ours
    from piapi_cli.core.report.thumbnails import FOLDER

    page = page_path(out)
    if out.exists() and not out.is_dir() and page == out / PAGE:
        raise UsageError(f"out {out}: a file is there; give a folder, or a file name ending in .html", option="out")
    if page.is_dir() or (os.path.lexists(page) and (page.is_symlink() or not is_ours(page))):
        raise UsageError(f"{page} exists and is not a {GENERATOR}; not overwritten", advice="another_out")
    thumbnails = page.parent / FOLDER
    if thumbnails.is_symlink() or (os.path.lexists(thumbnails) and not thumbnails.is_dir()):
        raise UsageError(f"{thumbnails} is not a folder of thumbnails (a link, or a file); nothing written there")
    return page


def collect(
    entries: list[Entry], cwd: Path | None = None, command: Callable[[str, str], str] | None = None
) -> list[TaskRecord]:
    """The records of ``entries``, oldest first."""
    ordered = sorted(entries, key=lambda e: (e.created_at, e.id))
    return [task_record(entry, cwd, command) for entry in ordered]


def report_data(
    records: list[TaskRecord],
    base: Path,
    *,
    compare_by: str | None = None,
    title: str = TITLE,
    generated_at: float | None = None,
) -> dict[str, Any]:
    """What the page shows (and ``--json`` prints); file paths relative to the folder ``base``."""
    from piapi_cli.core.report.compare import compare_table
    from piapi_cli.core.report.summary import summarise

    compare = compare_table(records, compare_by) if compare_by else None
    if compare is not None:
        for row in compare["rows"]:
            row["label"] = redact(row["label"])
    return {
        "version": DATA_VERSION,
        "title": title,
        "generated_at": generated_at if generated_at is not None else time.time(),
        "summary": summarise(records),
        "compare": compare,
        "tasks": [record.to_json(base) for record in records],
    }


def write_report(
    entries: list[Entry], options: ReportOptions, *, clock: Callable[[], float] = time.time
) -> ReportResult:
    """Collect the records, make the thumbnails, write the page; see the module's notes."""
    from piapi_cli.core.report.page import render, write_atomically

    page = check_target(options.out)
    folder = page.parent
    records = collect(entries, options.cwd, options.command)
    result = ReportResult(page, {})
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if options.thumbnails:
            from piapi_cli.core.report.thumbnails import FOLDER, make_thumbnails

            run = make_thumbnails((o for r in records for o in r.outputs), folder / FOLDER, workers=options.workers)
            result.thumbnails_made, result.thumbnails_reused = run.made, run.reused
            result.thumbnail_failures = run.failed
        result.data = report_data(
            records, folder, compare_by=options.compare_by, title=options.title, generated_at=clock()
        )
        write_atomically(page, render(result.data, options.title).encode("utf-8"))
    except OSError as exc:
        raise ReportError(f"could not write the report in {folder}: {exc.strerror or exc}", path=str(folder)) from None
    return result


def compare_report(
    entries: list[Entry],
    out: Path,
    *,
    field: str = "model",
    title: str | None = None,
    cwd: Path | None = None,
    command: Callable[[str, str], str] | None = None,
) -> ReportResult:
    """A report whose compare table puts ``field``'s values (the models, by default) side by side."""
    title = title or f"piapi report: compared by {field}"
    options = ReportOptions(out, compare_by=field, title=title, cwd=cwd, command=command)
    return write_report(entries, options)


def has_desktop(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a browser can be shown: always on macOS and Windows; elsewhere only with a
    display (X11 or Wayland), never in a bare SSH session or a CI job."""
    import sys

    env = os.environ if environ is None else environ
    system = platform or sys.platform
    if system == "darwin" or system.startswith("win"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def open_in_browser(page: Path) -> bool:
    """Open the page in the desktop's browser; False when there is no desktop or no browser."""
    if not has_desktop():
        return False
    import webbrowser

    try:
        return bool(webbrowser.open(page.resolve().as_uri()))
    except webbrowser.Error:
        return False
