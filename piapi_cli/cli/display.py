"""The live view of tasks being waited on, always on stderr.

On a terminal: one rich row per task (status, elapsed time, a percentage bar where the API
reports progress, a pulsing bar where it does not; a task that failed ends on a red bar, one
that completed on a green one), within 80 columns. Off a terminal: one plain line per status
change and nothing else, so logs of CI runs stay readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from piapi_cli.api.tasks import Task
from piapi_cli.cli.output import STATUS_STYLES, safe_text, status_label

if TYPE_CHECKING:
    from piapi_cli.cli.output import Output


class WaitDisplay:
    def __init__(self, output: Output, task_ids: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.output = output
        self.task_ids = task_ids
        self.clock = clock
        self.started = clock()
        self.last_status: dict[str, str] = {}
        self.live = output.stderr_tty and not output.quiet
        self._progress: Any = None
        self._rows: dict[str, Any] = {}

    def __enter__(self) -> WaitDisplay:
        if self.live:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            # 1 + 8 + 10 + 18 + 4 + 7 + the note (25) and six gaps: 79 columns
            self._progress = Progress(
                SpinnerColumn(finished_text=" "),
                TextColumn("{task.fields[short]}", style="bold"),
                TextColumn("{task.fields[status]}"),
                _outcome_bar(18),
                TextColumn("{task.fields[pct]:>4}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[note]}", style="dim"),
                console=self.output.err,
                transient=False,
            )
            self._progress.__enter__()
            for task_id in self.task_ids:
                self._rows[task_id] = self._progress.add_task(
                    task_id, total=None, short=_short(task_id), status=_styled("waiting"), pct="", note="", failed=False
                )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def update(self, task: Task) -> None:
        changed = self.last_status.get(task.task_id) != task.status
        self.last_status[task.task_id] = task.status
        if self._progress is not None:
            row = self._rows.get(task.task_id)
            if row is None:
                return
            progress = task.progress
            fields: dict[str, Any] = {"status": _styled(task.status), "note": _LIVE_NOTES.get(task.status, "")}
            if task.is_terminal:
                # finished either way: the spinner stops; the bar's colour and the status say how
                fields.update(pct="100%" if task.succeeded else "", failed=not task.succeeded)
                self._progress.update(row, total=100, completed=100, **fields)
                self._progress.stop_task(row)
            elif progress is not None:
                self._progress.update(row, total=100, completed=progress, pct=f"{progress:.0f}%", **fields)
            else:
                self._progress.update(row, **fields)
        elif changed and not self.output.quiet:
            elapsed = self.clock() - self.started
            detail = f" ({task.progress:.0f}%)" if task.progress is not None and not task.is_terminal else ""
            line = f"{safe_text(task.task_id)} {status_label(task.status)}{detail} after {elapsed:.1f}s\n"
            try:
                self.output.stderr.write(line)
                self.output.stderr.flush()
            except BrokenPipeError:
                pass


#: the live row is narrow: the explanation of a status, short
_LIVE_NOTES = {"staged": "queued: concurrency limit"}


def _outcome_bar(width: int) -> Any:
    """A progress bar that ends red for a task that failed or was cancelled, green for one
    that completed (rich ends every finished bar alike)."""
    from rich.progress import BarColumn

    class OutcomeBar(BarColumn):
        def render(self, task: Any) -> Any:
            bar = super().render(task)
            if task.fields.get("failed"):
                bar.complete_style = bar.finished_style = "red"
            elif task.finished:
                bar.finished_style = "green"
            return bar

    return OutcomeBar(bar_width=width)


def _short(task_id: str) -> str:
    task_id = safe_text(task_id)
    return task_id[:8] if len(task_id) > 12 else task_id


def _styled(status: str) -> str:
    from rich.markup import escape

    status = safe_text(status)[:10]
    return f"[{STATUS_STYLES.get(status, 'white')}]{escape(status):<10}[/]"


class DownloadDisplay:
    """Progress of downloads on stderr: rich bars with bytes, speed and ETA on a terminal,
    one line per finished file elsewhere. Callbacks come from the downloader's threads."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.live = output.stderr_tty and not output.quiet
        self._progress: Any = None
        self._rows: dict[int, Any] = {}

    def __enter__(self) -> DownloadDisplay:
        if self.live:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}", style="bold"),
                BarColumn(bar_width=30),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.output.err,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def start(self, item: Any, name: str, total: int | None) -> None:
        if self._progress is not None:
            key = id(item)
            if key in self._rows:  # a retry starts over (or resumes): reset the bar
                self._progress.update(self._rows[key], total=total, completed=0)
            else:
                from rich.markup import escape

                # the name comes from the server's URL: shown as text, never as markup
                self._rows[key] = self._progress.add_task(escape(safe_text(name)), total=total)

    def advance(self, item: Any, size: int) -> None:
        if self._progress is not None and id(item) in self._rows:
            self._progress.advance(self._rows[id(item)], size)

    def done(self, item: Any, result: Any) -> None:
        path = getattr(result, "path", None)
        if self._progress is not None:
            return
        if self.output.quiet:
            return
        stream = self.output.stderr
        try:
            if hasattr(result, "sha256"):
                stream.write(f"saved {safe_text(path)} ({result.bytes:,} bytes)\n")
            elif path is not None:
                stream.write(f"skipped {safe_text(path)} (exists)\n")
            stream.flush()
        except BrokenPipeError:
            pass
