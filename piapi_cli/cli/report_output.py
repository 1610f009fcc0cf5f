"""Writing a report and telling the user about it (``piapi report``, ``batch run --report``),
and the rows of a run that a report's marks name (``batch run --only``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from piapi_cli.cli.runtime import State
    from piapi_cli.core.batch import RowRequest
    from piapi_cli.core.journal.entries import Entry
    from piapi_cli.core.report.build import ReportOptions, ReportResult


def publish(state: State, entries: list[Entry], options: ReportOptions, *, open_page: bool = False) -> ReportResult:
    """Write the report of ``entries``; a line on stderr says what it holds, warnings name the
    files without a thumbnail, and ``open_page`` opens it where there is a desktop."""
    from piapi_cli.core.report.build import open_in_browser, write_report

    output = state.output
    for entry in entries:
        if entry.problems:
            output.warn(f"journal #{entry.id}: {'; '.join(entry.problems)} (shown empty)")
    result = write_report(entries, options)
    tasks = result.data["tasks"]
    outputs = sum(max(1, len(t["outputs"])) for t in tasks)
    made = f"{_count(result.thumbnails_made, 'thumbnail')} made, {result.thumbnails_reused:,} reused"
    output.info(f"report of {_count(len(tasks), 'task')}, {_count(outputs, 'output')} ({made})")
    if not tasks:
        output.info("no journaled task matches: the report is empty")
    for source, problem in result.thumbnail_failures[:5]:
        output.warn(f"no thumbnail for {source}: {problem}")
    if len(result.thumbnail_failures) > 5:
        output.warn(f"... and {len(result.thumbnail_failures) - 5} more files without a thumbnail")
    if open_page and not open_in_browser(result.page):
        output.info(f"no desktop browser here: open {result.page} yourself")
    return result


def check_report(report: Path | None, open_report: bool) -> None:
    """``batch run --report DIR [--open]``, checked before anything is sent."""
    from piapi_cli.api.errors import UsageError

    if open_report and report is None:
        raise UsageError("--open goes with --report DIR")
    if report is not None:
        from piapi_cli.core.report.build import check_target

        check_target(report)  # a page that is not a report in the way: exit 2, nothing sent


def marked_rows(state: State, rows: list[RowRequest], marks_file: str, file: str) -> list[RowRequest]:
    """The rows of the run that a marks file exported from a report names."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.report.marks import read_marks, rows_of

    if marks_file == "-" and file == "-":
        raise UsageError("--only - and FILE - cannot both be read from stdin")
    wanted = rows_of(read_marks(marks_file, sys.stdin.read))
    keys = {row.key for row in rows}
    missing = [key for key in wanted if key not in keys]
    if len(missing) == len(wanted):
        raise UsageError(f"--only {marks_file}: none of the rows it names is in {file}")
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        state.output.warn(f"--only: {len(missing)} marked row(s) not in {file}: {shown}")
    chosen = set(wanted)
    return [row for row in rows if row.key in chosen]


def publish_run(state: State, run_id: str, out: Path, open_page: bool) -> int:
    """Write the run's report; a failure is told, and is the exit code of a run that went well."""
    from piapi_cli.api.errors import PiapiError
    from piapi_cli.core.report.build import ReportOptions

    journal = state.session.journal
    assert journal is not None  # a batch run needs it (_store)
    try:
        entries = list(journal.by_run(run_id).values())
        result = publish(state, entries, ReportOptions(out, title=f"piapi report: {run_id}"), open_page=open_page)
    except PiapiError as exc:
        state.output.error(f"the run's report was not written: {exc.message}")
        return int(exc.exit_code)
    state.output.info(f"report: {result.page}")
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
