"""Everything piapi prints: stdout carries data, stderr carries messages for people.

On a terminal, rich renders colour and layout; off a terminal, plain values one per line
(task IDs, URLs), no colour, no box drawing. ``--json`` prints exactly one JSON document and
``--jq`` filters it, printing strings raw as gh does.

Text that came from a server (messages, task fields, file names) may hold escape sequences
that would drive the terminal: every message, every line on a terminal and everything rich
renders passes through ``terminal.safe_text``. A reader that goes away (``piapi models |
head -1``) ends the run quietly with the shell's SIGPIPE status.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

from piapi_cli.api.errors import OutputStepFailed
from piapi_cli.api.tasks import STAGED, Task
from piapi_cli.cli.terminal import end_on_closed_pipe, json_text, safe_console_class, safe_text
from piapi_cli.core.settings import NO_COLOR_ENV

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any, TextIO

    from rich.console import Console
    from rich.text import Text

STATUS_STYLES = {
    "completed": "bold green", "failed": "bold red", "cancelled": "red", "processing": "cyan", "pending": "yellow",
    "staged": "magenta",
}  # fmt: skip
STATUS_ICONS = {"completed": "✓", "failed": "✗", "cancelled": "✗"}
#: what a status means where the word alone says little
STATUS_NOTES = {STAGED: "queued: your plan's concurrency limit"}


class Output:
    """The two streams of one run, and whether colour and layout are wanted.

    The streams and whether each is a terminal default to the process's own; tests hand
    in their own, as gh's factory does.
    """

    def __init__(
        self,
        *,
        no_color: bool = False,
        quiet: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        stdout_tty: bool | None = None,
        stderr_tty: bool | None = None,
        width: int | None = None,
    ) -> None:
        # the one place NO_COLOR is read (rich's consoles get the answer, never the environment)
        self.no_color = no_color or bool(os.environ.get(NO_COLOR_ENV.name))
        self.quiet = quiet
        self._stdout = stdout
        self._stderr = stderr
        self._stdout_tty = stdout_tty
        self._stderr_tty = stderr_tty
        self._width = width
        self._out: Console | None = None
        self._err: Console | None = None
        #: a closed stdout raises BrokenPipeError to the caller instead of ending the run at once
        self.keep_going_on_closed_pipe = False
        #: while a live display holds the terminal, stdout's lines go above it through its console
        self.live_console: Console | None = None

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr or sys.stderr

    @property
    def stdout_tty(self) -> bool:
        return self.stdout.isatty() if self._stdout_tty is None else self._stdout_tty

    @property
    def stderr_tty(self) -> bool:
        return self.stderr.isatty() if self._stderr_tty is None else self._stderr_tty

    def _console(self, stderr: bool) -> Console:
        tty = self.stderr_tty if stderr else self.stdout_tty
        console: Console = safe_console_class()(
            file=self.stderr if stderr else self.stdout,
            no_color=self.no_color,
            highlight=False,
            soft_wrap=not tty,
            force_terminal=tty or None,
            emoji=False,
            width=self._width,
            messages=stderr,
        )
        return console

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

    def graphic(self, text: str) -> None:
        """Terminal graphics (an inline picture) on stdout, written as they are: only ever to a
        terminal, never to a pipe or a file."""
        if not self.stdout_tty:
            return
        self.stdout.write(text)
        self.stdout.flush()

    def line(self, text: str, *, flush: bool = True) -> None:
        """One line of data on stdout, never styled; made safe when a terminal shows it (a pipe gets it
        as it is: ``--jq`` strings are raw, as ``jq -r`` prints them); ``flush=False``: flushed later."""
        if self.stdout_tty:
            text = safe_text(text, multiline=True)
        if self.live_console is not None:
            self.live_console.print(text, markup=False, highlight=False, soft_wrap=True)
            return
        try:
            self.stdout.write(text + "\n")
            if flush:
                self.stdout.flush()
        except BrokenPipeError:
            if self.keep_going_on_closed_pipe:
                raise  # the caller stops its own work cleanly (a batch run finishes what is in flight)
            end_on_closed_pipe(self.stdout)

    def flush(self) -> None:
        """stdout and stderr written out now."""
        for stream in (self.stdout, self.stderr):
            try:
                stream.flush()
            except BrokenPipeError:
                if stream is self.stdout:
                    end_on_closed_pipe(self.stdout)
            except (OSError, ValueError):
                pass

    def stream(self, text: str) -> None:
        """A piece of data as it arrives (a streamed answer): no newline added, flushed at once,
        made safe when a terminal shows it."""
        if self.stdout_tty:
            text = safe_text(text, multiline=True)
        try:
            self.stdout.write(text)
            self.stdout.flush()
        except BrokenPipeError:
            end_on_closed_pipe(self.stdout)

    def document(self, doc: Any, jq: str | None = None, *, created: bool = False) -> None:
        """A JSON document, or the results of a jq expression over it (``created``: see ``run_jq``)."""
        if jq is not None:
            from piapi_cli.cli.jqfilter import run_jq

            self.flush()  # what was written is out before the filter runs (it may be stopped)
            try:
                values = run_jq(jq, doc, created=created)
            except OutputStepFailed as exc:
                for task_id in exc.task_ids:  # a created task's ID reaches stdout whatever the filter did
                    self.line(task_id)
                raise
            for value in values:
                self.line(value if isinstance(value, str) else json_text(value, indent=None))
            return
        if self.stdout_tty and not self.no_color:
            from rich.highlighter import JSONHighlighter

            text = JSONHighlighter()(json_text(doc))
            text.no_wrap = True
            self.out.print(text, soft_wrap=True)
        else:
            self.line(json_text(doc))

    def render(
        self,
        doc: Callable[[], Any],
        *,
        as_json: bool = False,
        jq: str | None = None,
        table: Callable[[Console], object] | None = None,
        lines: Callable[[], Iterable[str]] | None = None,
        created: bool = False,
    ) -> None:
        """The one branch every command takes to show a result (``created``: see ``run_jq``).

        ``--json`` or ``--jq``: ``doc()`` as one JSON document (filtered by ``jq``). A terminal:
        ``table(console)`` draws it with rich. A pipe: ``lines()``, one value a line, never
        styled. Without ``table`` a terminal gets the lines too; without ``lines`` a pipe gets
        the table, plain.
        """
        if structured(as_json, jq):
            self.document(doc(), jq, created=created)
        elif table is not None and (self.stdout_tty or lines is None):
            table(self.out)
        elif lines is not None:
            for text in lines():
                self.line(text)

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
        # messages quote servers (an API's error, a task's failure): no escape sequence gets
        # through, and a line a server sent cannot pass for one of ours ("hint: ..."): every
        # line after the first is indented
        text = safe_text(text, multiline=True).replace("\n", "\n  ")
        if self.stderr_tty:
            from rich.markup import escape

            self.err.print(f"[{style}]{escape(text)}[/]")
        else:
            try:
                self.stderr.write(text + "\n")
                self.stderr.flush()
            except BrokenPipeError:
                pass  # whoever read our messages left; the data on stdout matters more

    # --- tasks --------------------------------------------------------------------

    def tasks(self, tasks: list[Task], *, as_json: bool, jq: str | None) -> None:
        """Show tasks: JSON (one object, or an array for several), plain values, or a rendering."""

        def doc() -> Any:
            docs = [t.to_json() for t in tasks]
            return docs[0] if len(docs) == 1 else docs

        def table(console: Console) -> None:
            for task in tasks:
                render_task(console, task)

        self.render(
            doc, as_json=as_json, jq=jq, table=table, lines=lambda: [v for task in tasks for v in plain_values(task)]
        )


def structured(as_json: bool, jq: str | None) -> bool:
    """Whether a result is shown as JSON: ``--json``, or ``--jq`` (which implies it)."""
    return as_json or jq is not None


def plain_values(task: Task) -> list[str]:
    """What a pipe gets for a task: its output URLs once completed, else ``ID<TAB>status``;
    one line each, whatever the server put in them."""
    if task.succeeded and task.urls:
        return [safe_text(u.url) for u in task.urls]
    return [f"{safe_text(task.task_id)}\t{safe_text(task.status)}"]


def status_label(status: str) -> str:
    """The status in words, explained where the word alone says little:
    ``staged (queued: your plan's concurrency limit)``."""
    status = safe_text(status)
    note = STATUS_NOTES.get(status)
    return f"{status} ({note})" if note else status


def status_text(status: str) -> str:
    """The status as rich markup: coloured, with an icon."""
    from rich.markup import escape

    status = safe_text(status)
    style = STATUS_STYLES.get(status, "white")
    icon = STATUS_ICONS.get(status, "•")
    return f"[{style}]{icon} {escape(status)}[/]"


def _when(task: Task) -> str:
    if task.created_at is None:
        return ""
    text = task.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    if task.started_at and task.ended_at:
        text += f"   took {(task.ended_at - task.started_at).total_seconds():.1f}s"
    return text


def _label(text: str, width: int) -> Text:
    from rich.text import Text

    return Text(text.ljust(width), style="dim")


def render_task(console: Console, task: Task) -> None:
    """A task for a person at a terminal: status, model, timing, cost, outputs, error.

    Laid out for 80 columns: the ID and the model are never split over lines, and each
    output URL is one soft-wrapped line (the terminal wraps it; copying it gives it whole).
    """
    from rich.style import Style
    from rich.table import Table
    from rich.text import Text

    rows: list[tuple[str, Text]] = [("model", Text(safe_text(f"{task.model} · {task.task_type}")))]
    note = STATUS_NOTES.get(task.status)
    if note:
        rows.append(("status", Text(f"{task.status}: {note}")))
    if _when(task):
        rows.append(("created", Text(_when(task))))
    if task.progress is not None and not task.is_terminal:
        rows.append(("progress", Text(f"{task.progress:.0f}%")))
    if task.credits is not None:
        kind = task.usage.get("type")
        charged = "consumed" if task.usage.get("consume") else "held"
        cost = f"{task.credits:,} credits {charged}" + (f" ({safe_text(kind)})" if kind else "")
        rows.append(("cost", Text(cost)))
    if not task.succeeded and task.status in ("failed", "cancelled"):
        rows.append(("error", Text(safe_text(task.failure_message(), multiline=True), style="red")))
    for path, text in text_results(task):
        rows.append((safe_text(path), Text(safe_text(text, multiline=True))))
    urls = [(safe_text(item.path), safe_text(item.url)) for item in task.urls]
    width = max(len(label) for label, _ in [*rows, *urls])

    header = Text.from_markup(status_text(task.status))
    header.append("  ")
    header.append(safe_text(task.task_id), style="bold")
    console.print(header, soft_wrap=True)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(_label(label, width), value)
    console.print(grid)
    for label, url in urls:
        line = _label(label, width)
        line.append("  ")
        line.append(url, style=Style(link=url))
        console.print(line, soft_wrap=True)


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
