"""piapi tasks: the local journal of every task created through piapi."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Optional

from piapi_cli.cli import params
from piapi_cli.cli.commands._options import JsonOption, examples

if TYPE_CHECKING:
    from piapi_cli.cli.app import State
    from piapi_cli.core.journal import Entry, Journal

app = params.Group(
    help="The local journal of tasks created through piapi (status, outputs, cost, downloads).",
    invoke_without_command=True,
    epilog=examples(
        "piapi tasks",
        "piapi tasks --status failed --since 7d",
        "piapi tasks show 1631d053",
        "piapi tasks usage --since 30d --by model",
    ),
)

SinceOption = Annotated[
    Optional[str],
    params.Option(
        "--since", metavar="AGE", help="Only tasks created this recently: 30m, 12h, 7d, 2w", show_default=False
    ),
]


def _journal(state: State) -> Journal:
    from piapi_cli.api.errors import ConfigError

    journal = state.session.journal
    if journal is None:
        raise ConfigError("the task journal is turned off (--no-journal or setting journal = false)")
    return journal


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


@app.callback()
def tasks(
    ctx: params.Context,
    status: Annotated[
        Optional[str],
        params.Option("--status", "-s", metavar="STATUS", help="Only tasks with this status", show_default=False),
    ] = None,
    model: Annotated[
        Optional[str],
        params.Option("--model", "-m", metavar="MODEL", help="Only tasks of this model", show_default=False),
    ] = None,
    since: SinceOption = None,
    limit: Annotated[
        int, params.Option("--limit", "-n", metavar="N", min=1, help="At most N tasks, newest first")
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """List journaled tasks, newest first (statuses: the API's, plus unknown, refused, not_sent)."""
    if ctx.invoked_subcommand is not None:
        return
    import time

    from piapi_cli.core.journal import parse_since

    state: State = ctx.obj
    journal = _journal(state)
    cutoff = parse_since(since, time.time()) if since else None
    entries = journal.entries(status=status, model=model, since=cutoff, limit=limit)
    output = state.output
    if as_json:
        output.document([e.to_json() for e in entries])
    elif output.stdout_tty:
        from rich.markup import escape
        from rich.table import Table

        from piapi_cli.cli.output import status_text

        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("#", "task", "created", "model", "status", "credits", "outputs"):
            table.add_column(column, overflow="fold")
        for e in entries:
            table.add_row(
                str(e.id),
                escape(e.task_id or "-"),
                _when(e.created_at),
                escape(f"{e.model} · {e.task_type}"),
                status_text(e.status),
                f"{e.credits:,}" if e.credits else "",
                str(len(e.downloads) or len(e.urls) or ""),
            )
        output.out.print(table)
        if not entries:
            output.info("no tasks in the journal match")
    else:
        for e in entries:
            output.line(f"{e.task_id or '-'}\t{e.status}\t{e.model}\t{e.task_type}\t{_when(e.created_at)}")


@app.command(
    "show", epilog=examples("piapi tasks show 1631d053-2352-4add-95cc-360fc52d5f89", "piapi tasks show 12 --json")
)
def show(
    ctx: params.Context,
    ident: Annotated[str, params.Argument(metavar="ID", help="A task ID, a unique prefix of one, or the journal's #")],
    as_json: JsonOption = False,
) -> None:
    """Show one journaled task: input, status, outputs, cost and downloaded files."""
    from piapi_cli.api.errors import UsageError

    state: State = ctx.obj
    entry = _journal(state).find(ident)
    if entry is None:
        raise UsageError(
            f"no task {ident!r} in the journal (or the prefix is ambiguous)", hint="list them: piapi tasks"
        )
    if as_json:
        state.output.document(entry.to_json() | {"task": entry.task})
        return
    _render(state, entry)


def _render(state: State, entry: Entry) -> None:
    import json

    output = state.output
    rows = [
        ("journal #", str(entry.id)),
        ("task", entry.task_id or "- (no ID: the create was not answered)"),
        ("model", f"{entry.model} · {entry.task_type}"),
        ("status", entry.status + (f": {entry.message}" if entry.message else "")),
        ("created", _when(entry.created_at)),
        ("input", json.dumps(entry.input, ensure_ascii=False)),
    ]
    if entry.credits:
        rows.append(("credits", f"{entry.credits:,} ({entry.usage_type or '?'})"))
    rows += [("output", url) for url in entry.urls]
    rows += [("saved", f"{d['path']} ({d['bytes']:,} bytes)") for d in entry.downloads]
    if output.stdout_tty:
        from rich.markup import escape
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in rows:
            grid.add_row(label, escape(value))
        output.out.print(grid)
    else:
        for label, value in rows:
            output.line(f"{label}\t{value}")


@app.command("usage", epilog=examples("piapi tasks usage", "piapi tasks usage --since 7d --by model --json"))
def usage(
    ctx: params.Context,
    since: SinceOption = None,
    by: Annotated[
        Optional[str],
        params.Option("--by", metavar="FIELD", help="Group by model, task_type, day or status", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Credits consumed by the journaled tasks (completed ones), in total or grouped."""
    import time

    from piapi_cli.core.journal import parse_since

    state: State = ctx.obj
    cutoff = parse_since(since, time.time()) if since else None
    rows = _journal(state).usage(since=cutoff, by=by)
    output = state.output
    if as_json:
        output.document(rows)
    elif output.stdout_tty:
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column(by or "all")
        table.add_column("tasks", justify="right")
        table.add_column("credits consumed", justify="right")
        for row in rows:
            table.add_row(str(row["group"]), str(row["tasks"]), f"{row['credits']:,}")
        output.out.print(table)
    else:
        for row in rows:
            output.line(f"{row['group']}\t{row['tasks']}\t{row['credits']}")
