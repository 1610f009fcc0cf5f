"""What a batch run shows: one progress bar on a terminal (rows done of total, ETA, credits so
far, counts by status, the latest events), one line per finished row off a terminal; the
result lines (stdout or --output FILE); the plan, the summary and a run's status.

Also the run's handling of Ctrl-C, SIGTERM and SIGHUP: the first starts no new row and lets
the creates in flight be answered and journaled; a second one exits at once.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from piapi_cli.cli.output import Output
    from piapi_cli.core.batch import BatchEvent, RowResult, Summary
    from piapi_cli.core.batch.status import RunStatus


@contextmanager
def graceful(stop: Callable[[BaseException], None]) -> Iterator[None]:
    """While the block runs, the first Ctrl-C / SIGTERM / SIGHUP calls ``stop``; the second
    raises at once (KeyboardInterrupt, or ``Terminated`` for the others)."""
    from piapi_cli.cli.signals import Terminated

    stopping = False
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: object) -> None:
        nonlocal stopping
        exc = KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)
        if stopping:
            raise exc
        stopping = True
        stop(exc)

    if threading.current_thread() is not threading.main_thread():  # pragma: no cover - embedded use
        yield
        return
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


class ResultWriter:
    """One JSON line per finished row: on stdout, or into FILE (written to FILE.part, renamed
    when the run ends, so a crash leaves the last complete results file in place)."""

    def __init__(self, output: Output, path: Path | None) -> None:
        self.output, self.path = output, path
        self._handle: IO[str] | None = None
        if path is not None:
            self._part = path.with_name(path.name + ".part")
            self._handle = open(self._part, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, result: RowResult, show: Callable[[Callable[[], None]], None]) -> None:
        line = json.dumps(result.to_json(), ensure_ascii=False, separators=(",", ":"))
        if self._handle is not None:
            self._handle.write(line + "\n")
            self._handle.flush()
        else:
            show(lambda: self.output.line(line))

    def close(self) -> None:
        if self._handle is not None and self.path is not None:
            self._handle.close()
            os.replace(self._part, self.path)
            self._handle = None


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
                self.events.append(f"{result.key}: {result.status}" + (f" ({result.error})" if result.error else ""))
                self._progress.advance(self._bar, 1)
                self._refresh()
            elif not self.output.quiet:
                files = f", {len(result.files)} file(s)" if result.files else ""
                task = f" (task {result.task_id}{files})" if result.task_id else ""
                error = f": {result.error}" if result.error else ""
                _plain(f"row {result.key} {result.status}{task}{error}")

    def _refresh(self) -> None:
        credits = self.credits()
        self._progress.update(self._bar, credits=f"{credits:,} credits" if credits else "")


def _event_text(event: BatchEvent) -> str | None:
    if event.kind == "created":
        return f"{event.key}: created {event.task_id} ({event.status})"
    if event.kind == "status":
        return f"{event.key}: {event.status}"
    if event.kind in ("paced", "held", "stopping"):
        return event.message
    if event.kind == "journal_error":
        return f"{event.key}: the journal could not record it: {event.message}"
    return None


def _plain(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s"


def summary_lines(summary: Summary, *, resume: str, max_credits: int | None) -> tuple[list[str], list[str]]:
    """The run's end, for stderr: (notes, warnings)."""
    counts = ", ".join(f"{n} {status}" for status, n in summary.counts.most_common())
    notes = [
        f"run {summary.run_id}: {summary.rows} rows: {counts or 'none finished'}; "
        f"{summary.consumed:,} credits consumed"
        + (f", {summary.held:,} held" if summary.held else "")
        + f"; {summary.created} created in {_duration(summary.wall)}"
    ]
    warnings = []
    if summary.failed:
        warnings.append(
            f"{len(summary.failed)} row(s) failed: {_keys(summary.failed)}; create them again with "
            "--retry-failed (paid again)"
        )
    if summary.maybe_created:
        rows = ", ".join(
            f"{r.key} (journal #{r.entry_id})" if r.entry_id else r.key for r in summary.maybe_created[:10]
        )
        more = f" and {len(summary.maybe_created) - 10} more" if len(summary.maybe_created) > 10 else ""
        warnings.append(
            f"{len(summary.maybe_created)} row(s) may have been created (not resent): {rows}{more}; "
            "find them on your PiAPI dashboard and give them with --attach ID=TASK_ID, or, if they "
            "are not there, send them again with --resubmit-unknown"
        )
    if summary.elsewhere:
        warnings.append(
            f"{len(summary.elsewhere)} row(s) are being sent by another process running this run: "
            f"{_keys(summary.elsewhere)}"
        )
    if summary.left:
        why = {
            "max_credits": f"--max-credits {max_credits:,}" if max_credits else "--max-credits",
            "deadline": "the deadline",
            "interrupted": "the stop",
            "unreachable": "the API being unreachable",
            "auth": "the API refusing the key",
            "journal": "the journal",
        }.get(summary.stopped or "", "the stop")
        notes.append(f"{len(summary.left)} row(s) not started because of {why}: left for a later run")
    if summary.running:
        notes.append(f"{len(summary.running)} task(s) still running (not cancelled)")
    if not summary.complete:
        notes.append(f"resume with: {resume}")
    return notes, warnings


def _keys(keys: list[str], limit: int = 10) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def plan_text(doc: dict[str, Any]) -> list[str]:
    """A dry run's plan for a person."""
    shard = f" (shard {doc['shard']} of {doc['file_rows']} rows)" if doc.get("shard") else ""
    lines = [f"run {doc['run_id']} ({doc['world']}): {doc['rows']} rows{shard}"]
    for kind in doc["kinds"]:
        each = kind["credits_each"]
        cost = f"~{each:,} credits each (from earlier tasks)" if each is not None else "cost unknown (no earlier task)"
        lines.append(
            f"  {kind['model']} {kind['task_type']}: {kind['rows']} rows, {kind['to_create']} to create; {cost}"
        )
    actions = doc["actions"]
    words = {
        "send": "to create",
        "retry": "to create again (failed; paid again)",
        "resubmit": "to send again (may exist; paid again if so)",
        "recreate": "changed: to create again",
        "wait": "to wait for",
        "download": "to download",
        "done": "done",
        "failed": "failed (not retried)",
        "maybe": "may exist (not resent)",
        "elsewhere": "being sent by another process",
    }
    lines.append("  " + ", ".join(f"{n} {words[a]}" for a, n in actions.items() if n))
    estimate = doc["estimated_credits"]
    unknown = doc["creates_of_unknown_cost"]
    lines.append(
        f"  expected cost: ~{estimate:,} credits" + (f" and {unknown} create(s) of unknown cost" if unknown else "")
    )
    return lines


def status_text(status: RunStatus) -> list[str]:
    doc = status.to_json()
    counts = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in doc["counts"].items() if n)
    rows = f"{doc['rows']} rows" if doc["rows"] is not None else "rows"
    lines = [
        f"{doc['run_id']} ({doc['world']}): {rows}: {counts or 'nothing journaled'}",
        f"  credits: {doc['credits_consumed']:,} consumed, {doc['credits_held']:,} held",
        f"  source: {doc['source']}" + (f", shard {doc['shard']}" if doc["shard"] else ""),
    ]
    for item in doc["attention"]:
        what = item["task_id"] or f"journal #{item['journal_row']}"
        lines.append(f"  {item['id']}: {item['state'].replace('_', ' ')} ({what}): {item['advice']}")
    if doc["resume"] and any(doc["counts"][s] for s in ("running", "not_started", "refused", "sending")):
        lines.append(f"  resume with: {doc['resume']}")
    return lines


def list_row(status: RunStatus) -> str:
    doc = status.to_json()
    total = doc["rows"] if doc["rows"] is not None else "?"
    attention = sum(doc["counts"][s] for s in ("failed", "maybe_created", "refused"))
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(doc["created_at"]))
    return (
        f"{doc['run_id']}\t{when}\t{status.done}/{total} done\t{attention} need attention\t"
        f"{doc['credits_consumed']:,} credits\t{doc['source']}"
    )


def write_plan(output: Output, doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.document(doc)
    else:
        for line in plan_text(doc):
            output.line(line)


def ensure_parent(path: Path) -> None:
    """--output FILE: its directory exists and takes files (checked before anything is sent)."""
    from piapi_cli.api.errors import UsageError

    if path.is_dir():
        raise UsageError(f"--output {path}: is a directory", path=str(path))
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UsageError(f"--output {path}: cannot write into {parent}", path=str(path))
