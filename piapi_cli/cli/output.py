"""Everything piapi prints: stdout carries data, stderr carries messages for people.

On a terminal, rich renders colour and layout; off a terminal, plain values one per line
(task IDs, URLs), no colour, no box drawing. ``--json`` prints exactly one JSON document and
``--jq`` filters it, printing strings raw as gh does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from piapi_cli.api.errors import UsageError
from piapi_cli.api.tasks import Task

if TYPE_CHECKING:
    from rich.console import Console

STATUS_STYLES = {
    "completed": "bold green",
    "failed": "bold red",
    "cancelled": "red",
    "processing": "cyan",
    "pending": "yellow",
    "staged": "magenta",
}
STATUS_ICONS = {"completed": "✓", "failed": "✗", "cancelled": "✗"}


class Output:
    """The two streams of one run, and whether colour and layout are wanted."""

    def __init__(self, *, no_color: bool = False, quiet: bool = False) -> None:
        self.no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self.quiet = quiet
        self._out: Console | None = None
        self._err: Console | None = None
        #: while a live display holds the terminal, stdout's lines go above it through its console
        self.live_console: Console | None = None

    @property
    def stdout_tty(self) -> bool:
        return sys.stdout.isatty()

    @property
    def stderr_tty(self) -> bool:
        return sys.stderr.isatty()

    def _console(self, stderr: bool) -> Console:
        from rich.console import Console

        tty = self.stderr_tty if stderr else self.stdout_tty
        return Console(
            file=sys.stderr if stderr else sys.stdout,
            no_color=self.no_color,
            highlight=False,
            soft_wrap=not tty,
            force_terminal=tty or None,
            emoji=False,
        )

    @property
    def out(self) -> Console:
        if self.live_console is not None:
            return self.live_console
        if self._out is None:
            self._out = self._console(stderr=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = self._console(stderr=True)
        return self._err

    # --- plain data ---------------------------------------------------------------

    def line(self, text: str) -> None:
        """One line of data on stdout, never styled."""
        if self.live_console is not None:
            self.live_console.print(text, markup=False, highlight=False, soft_wrap=True)
            return
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def document(self, doc: Any, jq: str | None = None) -> None:
        """A JSON document, or the results of a jq expression over it."""
        if jq is not None:
            for value in run_jq(jq, doc):
                self.line(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
            return
        if self.stdout_tty and not self.no_color:
            self.out.print_json(data=doc)
        else:
            self.line(json.dumps(doc, indent=2, ensure_ascii=False))

    # --- messages -----------------------------------------------------------------

    def info(self, message: str) -> None:
        """A note for a person; silent with --quiet, plain off a terminal."""
        if not self.quiet:
            self._message(message, "dim")

    def warn(self, message: str) -> None:
        self._message(f"warning: {message}", "yellow")

    def error(self, message: str, hint: str | None = None) -> None:
        self._message(f"error: {message}", "bold red")
        if hint:
            self._message(f"hint: {hint}", "dim")

    def _message(self, text: str, style: str) -> None:
        if self.stderr_tty:
            from rich.markup import escape

            self.err.print(f"[{style}]{escape(text)}[/]")
        else:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    # --- tasks --------------------------------------------------------------------

    def tasks(self, tasks: list[Task], *, as_json: bool, jq: str | None) -> None:
        """Show tasks: JSON (one object, or an array for several), plain values, or a rendering."""
        if as_json or jq is not None:
            docs = [t.to_json() for t in tasks]
            self.document(docs[0] if len(docs) == 1 else docs, jq)
        elif self.stdout_tty:
            for task in tasks:
                render_task(self.out, task)
        else:
            for task in tasks:
                for value in plain_values(task):
                    self.line(value)


def plain_values(task: Task) -> list[str]:
    """What a pipe gets for a task: its output URLs once completed, else ``ID<TAB>status``."""
    if task.succeeded and task.urls:
        return [u.url for u in task.urls]
    return [f"{task.task_id}\t{task.status}"]


def status_text(status: str) -> str:
    style = STATUS_STYLES.get(status, "white")
    icon = STATUS_ICONS.get(status, "•")
    return f"[{style}]{icon} {status}[/]"


def _when(task: Task) -> str:
    if task.created_at is None:
        return ""
    text = task.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    if task.started_at and task.ended_at:
        text += f"   took {(task.ended_at - task.started_at).total_seconds():.1f}s"
    return text


def render_task(console: Console, task: Task) -> None:
    """A task for a person at a terminal: status, model, timing, cost, outputs, error."""
    from rich.markup import escape
    from rich.table import Table

    console.print(f"{status_text(task.status)}  [bold]{escape(task.task_id)}[/]")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("model", escape(f"{task.model} · {task.task_type}"))
    if _when(task):
        grid.add_row("created", _when(task))
    if task.progress is not None and not task.is_terminal:
        grid.add_row("progress", f"{task.progress:.0f}%")
    if task.credits is not None:
        kind = task.usage.get("type")
        charged = "consumed" if task.usage.get("consume") else "held"
        grid.add_row("cost", f"{task.credits:,} credits {charged}" + (f" ({escape(str(kind))})" if kind else ""))
    if not task.succeeded and task.status in ("failed", "cancelled"):
        grid.add_row("error", f"[red]{escape(task.failure_message())}[/]")
    for item in task.urls:
        grid.add_row(escape(item.path), f"[link={item.url}]{escape(item.url)}[/link]")
    for path, text in text_results(task):
        grid.add_row(escape(path), escape(text))
    console.print(grid)


def text_results(task: Task) -> list[tuple[str, str]]:
    """Text a completed task returned instead of files (describe, captions, lyrics)."""
    if not task.succeeded or not isinstance(task.output, dict):
        return []
    found = []
    for key in ("description", "text", "caption", "lyrics"):
        value = task.output.get(key)
        if isinstance(value, str) and value:
            found.append((key, value))
    pairs = task.output.get("lyrics_pairs")
    if isinstance(pairs, list):
        for index, pair in enumerate(pairs):
            if isinstance(pair, dict) and pair.get("text"):
                found.append((f"lyrics_pairs[{index}]", f"{pair.get('title', '')}\n{pair['text']}".strip()))
    return found


def compile_jq(expression: str) -> Any:
    """A compiled jq program; a usage error for bad syntax (checked before anything is sent)."""
    try:
        import jq
    except ImportError as exc:  # pragma: no cover
        raise UsageError("--jq needs the jq package: pip install jq") from exc
    try:
        return jq.compile(expression)
    except ValueError as exc:
        raise UsageError(f"invalid --jq expression: {str(exc).splitlines()[0]}") from None


def run_jq(expression: str, doc: Any) -> Iterable[Any]:
    program = compile_jq(expression)
    try:
        return list(program.input_value(doc).all())
    except ValueError as exc:
        raise UsageError(f"--jq {expression!r} failed: {str(exc).splitlines()[0]}") from None
