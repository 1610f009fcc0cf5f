"""piapi tasks: the local journal of every task created through piapi."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Optional

from piapi_cli.cli.commands._options import (
    JournalJsonOption,
    JournalTaskJsonOption,
    JqOption,
    UsageJsonOption,
    examples,
)
from piapi_cli.cli.parsing import params

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from piapi_cli.cli.app import State
    from piapi_cli.core.journal.journal import Entry, Journal

app = params.Group(
    help="The local journal of tasks created through piapi (status, outputs, cost, downloads).",
    invoke_without_command=True,
    epilog=examples(
        "piapi tasks",
        "piapi tasks --status failed --since 7d",
        "piapi --sandbox tasks --world all",
        "piapi tasks show 1631d053",
        "piapi tasks usage --since 30d --by model",
        notes="Each API's tasks are kept apart: the listing shows those of the API in use (PiAPI's, "
        "or the sandbox's with --sandbox); --world all shows every one. On a terminal the table shows "
        "the first 8 characters of each task ID, a prefix every command that takes a task accepts, as it "
        "does #N for the row.",
    ),
)

#: more rows than anyone lists; a bound keeps the number inside SQLite's integers
MAX_LIMIT = 1_000_000
ALL_WORLDS = "all"

SinceOption = Annotated[
    Optional[str],
    params.Option(
        "--since", metavar="AGE", help="Only tasks created this recently: 30m, 12h, 7d, 2w", show_default=False
    ),
]
WorldOption = Annotated[
    Optional[str],
    params.Option(
        "--world",
        metavar="WORLD",
        help="Whose tasks: 'all', 'sandbox' or an API base URL [default: the API in use]",
        show_default=False,
    ),
]


def _journal(state: State) -> Journal:
    from piapi_cli.api.errors import ConfigError
    from piapi_cli.cli.hints import journal_back_on

    journal = state.session.journal
    if journal is None:
        raise ConfigError("the task journal is turned off", hint=journal_back_on(state.session))
    return journal


def _world(state: State, world: str | None) -> str | None:
    """The world to filter on (None: every world)."""
    if world is None:
        return state.session.world
    world = world.strip()
    return None if world.lower() == ALL_WORLDS else world.rstrip("/")


def _cutoff(since: str | None) -> float | None:
    from piapi_cli.core.journal.journal import parse_since

    return parse_since(since, time.time()) if since else None


def _when(stamp: float, *, short: bool = False) -> str:
    moment = datetime.fromtimestamp(stamp)
    if short:
        return moment.strftime("%m-%d %H:%M" if moment.year == datetime.now().year else "%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M")


def _note_problems(state: State, entries: list[Entry]) -> None:
    for entry in entries:
        if entry.problems:
            state.output.warn(f"journal #{entry.id}: {'; '.join(entry.problems)} (shown empty)")


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
    world: WorldOption = None,
    limit: Annotated[
        int, params.Option("--limit", "-n", metavar="N", help="At most N tasks, newest first (1 to 1,000,000)")
    ] = 50,
    remote: Annotated[
        bool,
        params.Option(
            "--remote",
            help="The account's tasks from PiAPI's history (every page), each marked with its journal row "
            "or missing; --model takes a family: mj, kling, flux...",
        ),
    ] = False,
    as_json: JournalJsonOption = False,
    jq: JqOption = None,
) -> None:
    """List journaled tasks, newest first (statuses: the API's, plus sending, unknown, refused, not_sent)."""
    if ctx.invoked_subcommand is not None:
        return
    state: State = ctx.obj
    if not 1 <= limit <= MAX_LIMIT:
        from piapi_cli.api.errors import UsageError

        shown = str(limit) if len(str(limit)) <= 20 else str(limit)[:20] + "..."
        raise UsageError(f"--limit {shown}: expected a whole number from 1 to {MAX_LIMIT:,}")
    if jq is not None:
        from piapi_cli.cli.output import compile_jq

        compile_jq(jq)  # a bad expression is a usage error before anything is read
    cutoff = _cutoff(since)
    if remote:
        _remote(state, status=status, model=model, since=cutoff, limit=limit, as_json=as_json, jq=jq)
        return
    scope = _world(state, world)
    journal = _journal(state)
    entries = journal.entries(status=status, model=model, since=cutoff, limit=limit, world=scope)
    _note_problems(state, entries)
    output = state.output
    from piapi_cli.cli.output import structured

    output.render(
        lambda: [e.to_json() for e in entries],
        as_json=as_json,
        jq=jq,
        table=lambda console: _tables(console, entries, every_world=scope is None),
        lines=lambda: [
            "\t".join((e.task_id or "-", e.status, e.model, e.task_type, _when(e.created_at), e.world)) for e in entries
        ],
    )
    if not entries and not structured(as_json, jq):
        elsewhere = journal.entries(status=status, model=model, since=cutoff, limit=1) if scope is not None else []
        note = f"; other APIs have some: {state.session.prog} tasks --world all" if elsewhere else ""
        output.info(f"no tasks of {scope or 'any API'} in the journal match{note}")


def _tables(console: Console, entries: list[Entry], *, every_world: bool) -> None:
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
    table.add_column("task", no_wrap=True, min_width=8)
    table.add_column("created", no_wrap=True)
    table.add_column("model", no_wrap=True, min_width=max((len(e.model) for e in entries), default=5))
    table.add_column("type", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("credits", justify="right", no_wrap=True)
    for e in entries:
        table.add_row(
            escape(e.task_id[:8] if e.task_id else f"#{e.id}"),
            _when(e.created_at, short=True),
            escape(e.model),
            escape(e.task_type),
            status_text(e.status),
            f"{e.credits:,}" if e.credits else "",
        )
    if entries:
        console.print(table)


def _remote(
    state: State,
    *,
    status: str | None,
    model: str | None,
    since: float | None,
    limit: int,
    as_json: bool,
    jq: str | None,
) -> None:
    from itertools import islice

    from piapi_cli.cli.history_view import show_remote
    from piapi_cli.core.history import mark_known, remote_tasks

    found = remote_tasks(state.session.client, since=since, model=model)
    chosen = islice((e for e in found if status is None or e.status == status.lower()), limit)
    tasks = mark_known(_journal(state), list(chosen))
    show_remote(state.output, tasks, as_json=as_json, jq=jq)


@app.command(
    "sync",
    epilog=examples(
        "piapi tasks sync",
        "piapi tasks sync --since 7d --model kling",
        notes="Prints the ID of each task it brought in; the summary goes to stderr.",
    ),
)
def sync(
    ctx: params.Context,
    since: SinceOption = None,
    model: Annotated[
        Optional[str],
        params.Option(
            "--model", "-m", metavar="FAMILY", help="Only this family: mj, kling, flux...", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, params.Option("--json", help="What was done, as one JSON document")] = False,
) -> None:
    """Bring in the account's tasks the journal lacks (made on the dashboard, elsewhere, or before a lost
    journal), and find the task of each create whose answer was lost."""
    from piapi_cli.cli.history_view import sync_summary
    from piapi_cli.core.history import sync as sync_history

    state: State = ctx.obj
    report = sync_history(state.session.client, _journal(state), state.session.world, since=_cutoff(since), model=model)
    if as_json:
        state.output.render(report.to_json, as_json=True)
    else:
        sync_summary(state.output, report)


@app.command(
    "show",
    epilog=examples(
        "piapi tasks show 1631d053-2352-4add-95cc-360fc52d5f89",
        "piapi tasks show 1631d053",
        "piapi tasks show '#12' --jq .input.prompt",
    ),
)
def show(
    ctx: params.Context,
    ident: Annotated[
        str, params.Argument(metavar="ID", help="A task ID, a unique prefix of one (4+ characters), or #N: row N")
    ],
    as_json: JournalTaskJsonOption = False,
    jq: JqOption = None,
) -> None:
    """Show one journaled task: input, status, outputs, cost and downloaded files."""

    state: State = ctx.obj
    if jq is not None:
        from piapi_cli.cli.output import compile_jq

        compile_jq(jq)
    from piapi_cli.cli.taskids import not_journaled, resolve

    # an ambiguous prefix: a usage error naming the candidates
    journal = _journal(state)
    entry = resolve(state, ident, journal=journal, any_world=True).entry
    if entry is None:
        raise not_journaled(ident, journal)
    _note_problems(state, [entry])
    rows = _rows(entry)
    state.output.render(
        lambda: entry.to_json() | {"task": entry.task},
        as_json=as_json,
        jq=jq,
        table=lambda console: console.print(_grid(rows)),
        lines=lambda: [f"{label}\t{value}" for label, value in rows],
    )


def _rows(entry: Entry) -> list[tuple[str, str]]:
    """One journaled task, a label and a value a line."""
    import json

    rows = [
        ("journal #", str(entry.id)),
        ("task", entry.task_id or "- (no ID: the create was not answered)"),
        ("world", entry.world),
        ("model", f"{entry.model} · {entry.task_type}"),
        ("status", entry.status + (f": {entry.message}" if entry.message else "")),
        ("created", _when(entry.created_at)),
        ("input", json.dumps(entry.input, ensure_ascii=False)),
    ]
    if entry.run_id:
        rows.append(("run", f"{entry.run_id} row {entry.row_key}"))
    if entry.credits:
        rows.append(("credits", f"{entry.credits:,} ({entry.usage_type or '?'})"))
    rows += [("output", url) for url in entry.urls]
    rows += [("saved", f"{d['path']} ({d['bytes']:,} bytes)") for d in entry.downloads]
    return rows


def _grid(rows: list[tuple[str, str]]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, escape(value))
    return grid


@app.command(
    "usage",
    epilog=examples(
        "piapi tasks usage",
        "piapi tasks usage --since 7d --by model --json",
        "piapi tasks usage --world all --by world",
    ),
)
def usage(
    ctx: params.Context,
    since: SinceOption = None,
    by: Annotated[
        Optional[str],
        params.Option(
            "--by", metavar="FIELD", help="Group by model, task_type, day, status or world", show_default=False
        ),
    ] = None,
    world: WorldOption = None,
    as_json: UsageJsonOption = False,
    jq: JqOption = None,
) -> None:
    """Credits consumed by the journaled tasks (completed ones), and tokens by chat answers, in total or grouped."""
    from piapi_cli.core.journal import chats

    state: State = ctx.obj
    cutoff = _cutoff(since)
    journal = _journal(state)
    scope = _world(state, world)
    rows: list[dict[str, Any]] = _with_chats(
        journal.usage(since=cutoff, by=by, world=scope), chats.usage(journal, since=cutoff, by=by, world=scope)
    )
    state.output.render(
        lambda: rows,
        as_json=as_json,
        jq=jq,
        table=lambda console: console.print(_usage_table(rows, by)),
        lines=lambda: [f"{r['group']}\t{r['tasks']}\t{r['credits']}\t{r['chats']}\t{r['tokens']}" for r in rows],
    )


def _with_chats(rows: list[dict[str, Any]], chat_usage: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The tasks' rows with each group's chat answers and tokens beside them (groups of chats
    alone added at the end)."""
    merged = [{**row, **chat_usage.pop(str(row["group"]), {"chats": 0, "tokens": 0})} for row in rows]
    merged += [{"group": group, "tasks": 0, "credits": 0, **counts} for group, counts in sorted(chat_usage.items())]
    return merged


def _usage_table(rows: list[dict[str, Any]], by: str | None) -> Table:
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
