"""How ``piapi tasks`` draws the journal at a terminal: the listing, one task, the usage."""

from __future__ import annotations

from datetime import datetime

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console
    from rich.table import Table

    from piapi_cli.core.journal.journal import Entry


def tables(console: Console, entries: list[Entry], *, every_world: bool) -> None:
    """The listing at a terminal; with every world, one table under each world's name."""
    if not every_world:
        _table(console, entries)
        return
    from rich.markup import escape

    for number, world in enumerate(dict.fromkeys(e.world for e in entries)):
        console.print(("\n" if number else "") + f"[bold]{escape(world)}[/]")
        _table(console, [e for e in entries if e.world == world])


def _table(console: Console, entries: list[Entry]) -> None:
    """A task ID (its first 8 characters) or a model name is never cut or folded over two
    lines; the task type gives way when space is short."""
    from rich.markup import escape
    from rich.table import Table

    from piapi_cli.cli.output import status_text

    # one space between columns: at 80 columns the longest model and a 7-digit cost leave the
    # task type 10 characters, not 5
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    numbered = _numbered(console, entries)
    if numbered:
        table.add_column("#", justify="right", no_wrap=True)
    table.add_column("task", no_wrap=True, min_width=8)
    table.add_column("created", no_wrap=True)
    table.add_column("model", no_wrap=True, min_width=max((len(e.model) for e in entries), default=5))
    table.add_column("type", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("credits", justify="right", no_wrap=True)
    for e in entries:
        table.add_row(
            *([str(e.id)] if numbered else []),
            escape(e.task_id[:8] if e.task_id else f"#{e.id}"),
            when(e.created_at, short=True),
            escape(e.model),
            escape(e.task_type),
            status_text(e.status),
            f"{e.credits:,}" if e.credits else "",
        )
    if entries:
        console.print(table)


def _numbered(console: Console, entries: list[Entry]) -> bool:
    """Whether the journal's row numbers (what ``'#N'`` names) fit as a first column: when every
    other column keeps its whole width beside them (the task type is not folded for them)."""
    if not entries:
        return False
    widest = [
        max(len(e.model) for e in entries),
        max(len(e.task_type) for e in entries),
        max(len(e.status) for e in entries) + 2,  # its icon and a space
        max(len(f"{e.credits:,}") if e.credits else 0 for e in entries),
    ]
    width = 8 + 1 + 11 + 1 + sum(w + 1 for w in widest) + len(str(max(e.id for e in entries))) + 1
    return width <= console.width


def grid(rows: list[tuple[str, str]]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, escape(value))
    return grid


def usage_table(rows: list[dict[str, Any]], by: str | None) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column(by or "all", overflow="fold")
    table.add_column("tasks", justify="right", no_wrap=True)
    table.add_column("credits consumed", justify="right", no_wrap=True)
    table.add_column("chats", justify="right", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    for row in rows:
        cells = (str(row["tasks"]), f"{row['credits']:,}", f"{row['chats']:,}", f"{row['tokens']:,}")
        table.add_row(escape(str(row["group"])), *cells)
    return table


def when(stamp: float, *, short: bool = False) -> str:
    moment = datetime.fromtimestamp(stamp)
    if short:
        return moment.strftime("%m-%d %H:%M" if moment.year == datetime.now().year else "%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M")
