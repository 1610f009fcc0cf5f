"""The live view of the pipeline, always on stderr, drawn from the runner's events.

On a terminal: one rich row per task (status, elapsed time, a percentage bar where the API
reports progress, a pulsing bar where it does not; red for a task that failed, green for one
that completed; why a staged task waits) and one per file being saved, within 80 columns.
Off a terminal: one plain line per status change and per saved file, nothing else, so logs of
CI runs stay readable. IDs, statuses and file names come from a server: shown as text, made
safe, never read as markup.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from piapi_cli.cli.output import STATUS_STYLES, status_label
from piapi_cli.cli.terminal import safe_text

if TYPE_CHECKING:
    from piapi_cli.api.tasks import Task
    from piapi_cli.cli.output import Output
    from piapi_cli.core.runner import RunEvent


class PipelineDisplay:
    def __init__(self, output: Output, task_ids: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.output = output
        self.task_ids = list(task_ids)
        self.clock = clock
        self.started = clock()
        self.last_status: dict[str, str] = {}
        self.live = output.stderr_tty and not output.quiet
        self._progress: Any = None
        self._rows: dict[str, Any] = {}
        self._files: dict[int, Any] = {}
        self._lock = threading.RLock()

    def __enter__(self) -> PipelineDisplay:
        if self.live:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(finished_text=" "),
                TextColumn("{task.description}", style="bold"),
                TextColumn("{task.fields[status]}"),
                _bar_column(),
                TextColumn("{task.fields[pct]:>4}"),
                TimeElapsedColumn(),
                console=self.output.err,
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.__enter__()
            for task_id in self.task_ids:
                self._row(task_id)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None

    def above(self, show: Callable[[], None]) -> None:
        """Print results (stdout) without tearing the live rows (stderr) on the same screen."""
        with self._lock:
            if self._progress is not None and self.output.stdout_tty:
                # both streams are this terminal: print through the live console, above the rows
                self.output.live_console = self._progress.console
                try:
                    show()
                finally:
                    self.output.live_console = None
            else:
                show()

    # --- events ---------------------------------------------------------------------

    def handle(self, event: RunEvent) -> None:
        with self._lock:
            kind = event.kind
            if kind in ("status", "done") and event.task is not None:
                self._task(event.task)
            elif kind == "download_started":
                self._file_started(event)
            elif kind == "download_bytes" and self._progress is not None:
                row = self._files.get(id(event.item))
                if row is not None:
                    self._progress.advance(row, event.size or 0)
            elif kind in ("saved", "skipped", "download_failed"):
                self._file_done(event)

    def _row(self, task_id: str) -> Any:
        if task_id not in self._rows and self._progress is not None:
            self._rows[task_id] = self._progress.add_task(
                _short(task_id), total=None, status=_styled("waiting"), pct=""
            )
        return self._rows.get(task_id)

    def show_task(self, task: Task) -> None:
        """Show a task's state known before any poll (a fresh create)."""
        with self._lock:
            self._task(task)

    def _task(self, task: Task) -> None:
        changed = self.last_status.get(task.task_id) != task.status
        self.last_status[task.task_id] = task.status
        if self._progress is not None:
            row = self._row(task.task_id)
            progress = task.progress
            self._progress.update(row, raw_status=task.status)
            if task.is_terminal:
                # finished either way: the spinner stops; a failed task's bar stays empty and red
                # a failed one's bar is drawn red (see _bar_column), never as a green finished bar
                pct = "100%" if task.succeeded else ""
                self._progress.update(
                    row, total=100, completed=100, status=_styled(task.status), pct=pct, failed=not task.succeeded
                )
                self._progress.stop_task(row)
            elif progress is not None:
                self._progress.update(
                    row, total=100, completed=progress, status=_styled(task.status), pct=f"{progress:.0f}%"
                )
            else:
                self._progress.update(row, status=_styled(task.status))
        elif changed and not self.output.quiet:
            elapsed = self.clock() - self.started
            detail = f" ({task.progress:.0f}%)" if task.progress is not None and not task.is_terminal else ""
            self._plain(f"{safe_text(task.task_id)} {status_label(task.status)}{detail} after {elapsed:.1f}s")

    def _file_started(self, event: RunEvent) -> None:
        if self._progress is None:
            return
        key = id(event.item)
        if key in self._files:  # a retry starts over (or resumes): reset the bar
            self._progress.update(self._files[key], total=event.size, completed=0)
        else:
            name = safe_text(event.path or "file")
            self._files[key] = self._progress.add_task(
                _text(name if len(name) <= 24 else name[:8] + "…" + name[-15:]), total=event.size, status="", pct=""
            )

    def _file_done(self, event: RunEvent) -> None:
        if self._progress is not None:
            row = self._files.get(id(event.item))
            if row is not None:
                if event.kind == "download_failed":
                    self._progress.update(row, status=_styled("failed"), failed=True)
                else:
                    done = event.size if event.size is not None else 1
                    self._progress.update(row, status=_styled("saved"), total=done, completed=done)
                self._progress.stop_task(row)
            return
        if self.output.quiet:
            return
        if event.kind == "saved":
            self._plain(f"saved {safe_text(event.path)} ({event.size or 0:,} bytes)")
        elif event.kind == "skipped":
            self._plain(f"skipped {safe_text(event.path)} (exists)")

    def _plain(self, line: str) -> None:
        try:
            self.output.stderr.write(line + "\n")
            self.output.stderr.flush()
        except BrokenPipeError:
            pass  # whoever read the progress left; the run goes on


#: in place of the bar of a task that waits for a reason the word alone does not say
#: (the bar is 24 columns: a row stays within 80)
_BAR_NOTES = {"staged": "queued: concurrency cap"}


def _bar_column() -> Any:
    """rich's bar, drawn all red for a task (or file) that failed, green once completed; a
    staged task shows why it waits instead."""
    from rich.progress import BarColumn
    from rich.progress_bar import ProgressBar
    from rich.text import Text

    class StatusBar(BarColumn):
        def render(self, task: Any) -> Any:
            if task.fields.get("failed"):
                return ProgressBar(
                    total=100, completed=100, width=self.bar_width, complete_style="red", finished_style="red"
                )
            note = _BAR_NOTES.get(task.fields.get("raw_status", ""))
            if note:
                return Text(note.ljust(self.bar_width or 0), style="magenta")
            bar = super().render(task)
            if task.finished:
                bar.finished_style = "green"  # rich's own "finished" colour is grey on 16-colour terminals
            return bar

    return StatusBar(bar_width=24)


def _text(value: str) -> str:
    """A server's string as a rich markup column shows it: as text."""
    from rich.markup import escape

    return escape(safe_text(value))


def _short(task_id: str) -> str:
    task_id = safe_text(task_id)
    return _text(task_id[:8] if len(task_id) > 12 else task_id)


def _styled(status: str) -> str:
    status = safe_text(status)
    style = STATUS_STYLES.get(status, "white")
    if status == "saved":
        style = "green"
    return f"[{style}]{_text(status[:10]):<10}[/]"
