"""The CLI side of a batch run: the library's run loop wired to this run's display and
streams. One progress bar on a terminal (rows done of total, ETA, credits so far, counts by
status, the latest events), one line per finished row off a terminal; the result lines
(stdout or --output FILE); the plan, the summary and a run's status.

Also the run's handling of Ctrl-C, SIGTERM and SIGHUP (``signals.graceful``): the first starts
no new row and lets the creates in flight be answered and journaled; a second one exits at once.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from piapi_cli.api.records import record
from piapi_cli.api.tasks import TERMINAL
from piapi_cli.cli.signals import graceful

if TYPE_CHECKING:
    from piapi_cli.cli.app import State
    from piapi_cli.cli.output import Output
    from piapi_cli.core.batch import BatchEvent, Options, Prepared, RowRequest, RowResult, Source, Summary
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.core.outfile import OutFile
    from piapi_cli.core.runner import DownloadPlan


@record()
class Invocation:
    """What this run was asked, as the summary and the run's record tell it."""

    source: Source
    shard: str | None
    output_file: Path | None
    #: the command that resumes the run (never with a secret)
    resume: str
    #: --output FILE, opened (and locked) before anything was sent
    results: OutFile | None = None


def preflight(plan: DownloadPlan | None, rows: list[RowRequest], output_file: Path | None, source: Source) -> None:
    """The checks that can fail, run before anything is sent: exit 2 means nothing was sent."""
    if plan is not None:
        from piapi_cli.core.batch.build import name_for_row
        from piapi_cli.core.downloads.downloader import preflight as check_plan

        check_plan(Path(plan.directory), name_for_row(plan.template, rows[0].fields))
    if output_file is not None:
        from piapi_cli.core.outfile import check_not_input

        check_not_input(output_file, _inputs(source, rows), "output")
        ensure_parent(output_file)


def open_results(output_file: Path, source: Source, rows: list[RowRequest]) -> OutFile:
    """--output FILE opened and locked (a second run on it is refused), before anything is sent."""
    from piapi_cli.core.outfile import OutFile

    return OutFile.open(output_file, inputs=_inputs(source, rows))


def _inputs(source: Source, rows: list[RowRequest]) -> list[Path]:
    """The files this run reads: the batch file, and every ``@file`` its rows send."""
    paths = [Path(source.label)] if source.is_file else []
    seen = {str(p) for p in paths}
    for row in rows:
        for ref in row.built.files:
            if ref.path not in seen:
                seen.add(ref.path)
                paths.append(Path(ref.path))
    return paths


def execute(state: State, journal: Journal, ready: Prepared, options: Options, invocation: Invocation, *,
            interval: float | None, writer: ResultWriter | None = None) -> int:  # fmt: skip
    """Run the plan with this session's runner and displays; the exit code. ``writer`` shows
    each finished row (default: its JSON line on stdout or in ``--output``)."""
    output = state.output
    counts = ready.plan.counts()
    for action, flag, what in (("retry", "--retry-failed", "rows whose task failed"),
                               ("resubmit", "--resubmit-unknown", "rows that may exist already"),
                               ("recreate", "--force", "rows that changed")):  # fmt: skip
        if counts.get(action):
            output.warn(f"{flag}: creating {counts[action]} new task(s) for {what} (paid again)")
    _record_run(state, journal, ready, options, invocation)
    from piapi_cli.cli.batch_text import ACTION_WORDS

    todo = ", ".join(f"{n} {ACTION_WORDS[action]}" for action, n in counts.most_common())
    shard = f" (shard {invocation.shard} of {ready.total})" if invocation.shard else ""
    output.info(f"run {ready.run_id}: {len(ready.rows)} rows{shard}: {todo}")
    summary = _run_rows(state, journal, ready, options, invocation, interval, writer)
    return _conclude(state, journal, ready, options, invocation, summary)


def _record_run(state: State, journal: Journal, ready: Prepared, options: Options, invocation: Invocation) -> None:
    """The run's record in the journal, before any row starts."""
    source = invocation.source
    try:
        journal.record_run(
            ready.run_id,
            world=state.session.world,
            source=str(Path(source.label).resolve()) if source.is_file else source.label,
            options={"rows": ready.total, "selected": len(ready.rows), "shard": invocation.shard,
                     "resume": invocation.resume, "download": str(options.download.directory) if options.download
                     else None, "output": str(invocation.output_file) if invocation.output_file else None},
        )  # fmt: skip
    except BaseException:  # nothing sent: leave no empty FILE.part behind
        if invocation.results is not None:
            invocation.results.abandon()
        raise


def _run_rows(state: State, journal: Journal, ready: Prepared, options: Options, invocation: Invocation,
              interval: float | None, writer: ResultWriter | None) -> Summary:  # fmt: skip
    """The rows run by the library's engine, each shown as it finishes; the run's summary."""
    from piapi_cli.core import batch

    session, output = state.session, state.output
    runner = session.runner(interval=interval)
    # a batch names its tasks in its results and its resume command, not all at once on a stop
    runner.created = []
    session.runners.remove(runner)
    session.resume = invocation.resume
    options.poll = runner.poll
    writer = writer or ResultWriter(output, invocation.results)
    output.keep_going_on_closed_pipe = True  # `| head`: stop starting rows, finish the ones in flight
    engine: batch.BatchRun
    with BatchDisplay(output, len(ready.rows), lambda: engine.credits, session.clock) as display:

        def finished(result: RowResult) -> None:
            try:
                writer.write(result, display.above)
            except BrokenPipeError:  # the reader went away (`| head`): finish cleanly, print no more
                writer.closed()
                engine.stop("output closed")
            display.finished(result)

        def stop(signal_exc: BaseException) -> None:
            engine.stop("interrupted", signal_exc)
            display.handle(batch.BatchEvent("stopping", message="stopping: no new row starts; waiting for the "
                                            "creates in flight (press Ctrl-C again to exit at once)"))  # fmt: skip

        engine = batch.BatchRun(runner, journal, ready.run_id, ready.plan, options, history=ready.history,
                                on_row=finished, on_event=display.handle, clock=session.clock,
                                sleep=session.sleep)  # fmt: skip
        try:
            with graceful(stop):
                summary = engine.run()
        except BaseException:
            writer.close(complete=False)  # FILE keeps its last complete results; FILE.part the lines so far
            raise
        writer.close()
    if writer.failed:
        summary.unwritten.append(writer.failed)
    if writer.gone:  # exit 141, naming on stderr the tasks whose lines stdout did not take, as any command does
        from piapi_cli.api.errors import ExitCode

        summary.codes.append(ExitCode.CLOSED_PIPE)
        for task_id in (*writer.unshown, *summary.running_tasks):
            if task_id not in session.created:
                session.created.append(task_id)
    return summary


def _conclude(state: State, journal: Journal, ready: Prepared, options: Options, invocation: Invocation,
              summary: Summary) -> int:  # fmt: skip
    """The run's outcome recorded and told; the exit code."""
    from piapi_cli.api.errors import ExitCode, PiapiError

    output = state.output
    try:
        journal.record_run_outcome(ready.run_id, summary.to_json())
    except PiapiError as exc:  # the rows' lines are out already: say it, finish the report
        summary.unwritten.append(exc.message)
        output.warn(exc.message)
    from piapi_cli.cli.batch_text import summary_lines

    notes, problems = summary_lines(summary, resume=invocation.resume, max_credits=options.max_credits)
    for line in problems:
        output.warn(line)
    for line in notes:
        output.info(line)
    if summary.stop_error is not None:
        output.error(summary.stop_error.message)
    code = summary.exit_code
    if summary.interrupt is not None and code != ExitCode.CLOSED_PIPE:  # 141 comes first, as in any run
        return int(getattr(summary.interrupt, "exit_code", 130))
    return int(code)


class ResultWriter:
    """One JSON line per finished row: on stdout, or into FILE (``core.outfile``: FILE.part,
    renamed when the run ends, so a crash leaves the last complete results file in place).

    If FILE cannot be written (a full disk), the lines go to stdout from then on, the ones the
    part held first: every task ID reaches one or the other."""

    def __init__(self, output: Output, file: OutFile | None) -> None:
        self.output, self.file = output, file
        self.broken = False
        #: why FILE could not be written, once it could not
        self.failed: str | None = None
        #: stdout's reader went away; the task IDs of the results it did not take
        self.gone = False
        self.unshown: list[str] = []

    def write(self, result: RowResult, show: Callable[[Callable[[], None]], None]) -> None:
        if self.broken:
            self.unseen(result)
            return
        line = json.dumps(result.to_json(), ensure_ascii=False, separators=(",", ":"))
        if self.file is not None:
            from piapi_cli.api.errors import LocalWriteError

            try:
                self.file.write((line + "\n").encode("utf-8"))
                return
            except LocalWriteError as exc:
                self._fall_back(exc.message, show)
        try:
            show(lambda: self.output.line(line))
        except BrokenPipeError:
            self.unseen(result)
            raise
        except OSError as exc:  # stdout is a file on a full disk: stderr is where the line can go
            if self.failed is None:
                from piapi_cli.core.outfile import why_not_written

                self.failed = why_not_written("stdout", exc)
                self.output.warn(f"{self.failed}; the result lines go to stderr instead")
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def _fall_back(self, why: str, show: Callable[[Callable[[], None]], None]) -> None:
        assert self.file is not None
        self.failed = why
        self.output.warn(f"{why}; the result lines go to stdout instead, from the first one")
        earlier = self.file.written().decode("utf-8", "replace").split("\n")[:-1]  # LF only: a line may hold U+2028
        self.file.abandon()
        self.file = None
        for text in earlier:
            show(lambda text=text: self.output.line(text))  # type: ignore[misc]

    def unseen(self, result: RowResult) -> None:
        """``result`` did not reach stdout, its reader gone."""
        if result.task_id:
            self.unshown.append(result.task_id)

    def closed(self) -> None:
        """stdout's reader went away: write nothing more there (nor at exit)."""
        self.broken = self.gone = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)

    def close(self, *, complete: bool = True) -> None:
        if self.file is not None:
            if complete:
                self.file.commit()
            else:
                self.file.keep()
            self.file = None


class BatchDisplay:
    def __init__(
        self, output: Output, total: int, credits: Callable[[], int], clock: Callable[[], float] = time.monotonic
    ):
        self.output, self.total, self.credits, self.clock = output, total, credits, clock
        self.counts: Counter[str] = Counter()
        self.events: deque[str] = deque(maxlen=4)
        self.live = output.stderr_tty and not output.quiet
        self._progress: Any = None
        self._bar: Any = None
        self._lock = threading.RLock()

    def __enter__(self) -> BatchDisplay:
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
            from rich.text import Text

            display = self

            class _Progress(Progress):
                def get_renderables(self) -> Any:
                    yield self.make_tasks_table(self.tasks)
                    counts = "  ".join(f"{status} {n}" for status, n in sorted(display.counts.items()))
                    yield Text(f"  {counts}" if counts else "  starting...", style="dim")
                    for line in display.events:
                        yield Text(f"  {line}", style="dim", overflow="ellipsis", no_wrap=True)

            self._progress = _Progress(
                TextColumn("[bold]rows"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[credits]}"),
                console=self.output.err,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.__enter__()
            self._bar = self._progress.add_task("rows", total=self.total, credits="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None

    def above(self, show: Callable[[], None]) -> None:
        """Print a result line without tearing the live bar when both share a terminal."""
        with self._lock:
            if self._progress is not None and self.output.stdout_tty:
                self.output.live_console = self._progress.console
                try:
                    show()
                finally:
                    self.output.live_console = None
            else:
                show()

    def handle(self, event: BatchEvent) -> None:
        with self._lock:
            if event.kind == "finished":
                return  # counted by finished(), with the row's result
            text = _event_text(event)
            if text is None:
                return
            if self._progress is not None:
                self.events.append(text)
                self._refresh()
            elif event.kind in ("paced", "held", "stopping", "journal_error") and not self.output.quiet:
                _plain(text)

    def finished(self, result: RowResult) -> None:
        with self._lock:
            self.counts[result.status] += 1
            if self._progress is not None:
                problem = f" ({result.problem})" if result.problem else ""
                self.events.append(f"{result.key}: {result.status}{problem}")
                self._progress.advance(self._bar, 1)
                self._refresh()
            elif not self.output.quiet:
                files = f", {len(result.files)} file(s)" if result.files else ""
                task = f" (task {result.task_id}{files})" if result.task_id else ""
                error = f": {result.problem}" if result.problem else ""
                _plain(f"row {result.key} {result.status}{task}{error}")

    def _refresh(self) -> None:
        credits = self.credits()
        self._progress.update(self._bar, credits=f"{credits:,} credits" if credits else "")


def _event_text(event: BatchEvent) -> str | None:
    if event.kind == "created":
        return f"{event.key}: created {event.task_id} ({event.status})"
    if event.kind == "status" and event.status not in TERMINAL:  # a row's end is shown as it finishes
        return f"{event.key}: {event.status}"
    if event.kind in ("paced", "held", "stopping"):
        return event.message
    if event.kind == "journal_error":
        return f"{event.key}: the journal could not record it: {event.message}"
    return None


def _plain(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def ensure_parent(path: Path) -> None:
    """--output FILE: its directory exists and takes files (checked before anything is sent)."""
    from piapi_cli.api.errors import UsageError

    if path.is_dir():
        raise UsageError(f"--output {path}: is a directory", path=str(path))
    if path.exists() and not path.is_file():  # a FIFO, /dev/null: written into, never replaced
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UsageError(f"--output {path}: cannot write into {parent}", path=str(path))
