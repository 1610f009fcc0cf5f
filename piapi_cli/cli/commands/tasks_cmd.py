"""piapi tasks: the local journal of every task created through piapi."""

from __future__ import annotations

import time

from piapi_cli.cli import tasks_view
from piapi_cli.cli.commands._options import (
    JournalJsonOption,
    JournalTaskJsonOption,
    JqOption,
    UsageJsonOption,
    check_listing,
    examples,
)
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from typing import Any

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
        "piapi tasks images --status unknown",
        notes="Each API's tasks are kept apart: the listing shows those of the API in use (PiAPI's, "
        "or the sandbox's with --sandbox); --world all shows every one. On a terminal the table shows "
        "the first 8 characters of each task ID, a prefix every command that takes a task accepts, as it "
        "does #N for the row.",
    ),
)

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
    from piapi_cli.cli.hints import journal_needed

    return journal_needed(state.session, "the task journal is turned off")


def _world(state: State, world: str | None) -> str | None:
    """The world to filter on (None: every world)."""
    if world is None:
        return state.session.world
    world = world.strip()
    return None if world.lower() == ALL_WORLDS else world.rstrip("/")


def _cutoff(since: str | None) -> float | None:
    from piapi_cli.core.journal.journal import parse_since

    return parse_since(since, time.time()) if since else None


def _note_problems(state: State, entries: list[Entry]) -> None:
    for entry in entries:
        if entry.problems:
            state.output.warn(f"journal #{entry.id}: {'; '.join(entry.problems)} (shown empty)")


_StatusOption = Annotated[
    Optional[str],
    params.Option("--status", "-s", metavar="STATUS", help="Only tasks with this status", show_default=False),
]

_ModelOption = Annotated[
    Optional[str],
    params.Option("--model", "-m", metavar="MODEL", help="Only tasks of this model", show_default=False),
]

_LimitOption = Annotated[
    int, params.Option("--limit", "-n", metavar="N", help="At most N tasks, newest first (1 to 1,000,000)")
]

_RemoteOption = Annotated[
    bool,
    params.Option(
        "--remote",
        help="The account's tasks from PiAPI's history (every page), each marked with its journal row "
        "or missing; --model takes a family: mj, kling, flux...",
    ),
]


@app.callback()
def tasks(
    ctx: params.Context,
    status: _StatusOption = None,
    model: _ModelOption = None,
    since: SinceOption = None,
    world: WorldOption = None,
    limit: _LimitOption = 50,
    remote: _RemoteOption = False,
    as_json: JournalJsonOption = False,
    jq: JqOption = None,
) -> None:
    """List journaled tasks, newest first (statuses: the API's, plus sending, unknown, refused, not_sent)."""
    if ctx.invoked_subcommand is not None:
        return
    state: State = ctx.obj
    check_listing(limit, jq)
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
        table=lambda console: tasks_view.tables(console, entries, every_world=scope is None),
        lines=lambda: [
            "\t".join((e.task_id or "-", e.status, e.model, e.task_type, tasks_view.when(e.created_at), e.world))
            for e in entries
        ],
    )
    if status is None and model is None and not structured(as_json, jq):
        _note_chats(state, journal, cutoff, scope)
    if not entries and not structured(as_json, jq):
        elsewhere = journal.entries(status=status, model=model, since=cutoff, limit=1) if scope is not None else []
        note = f"; other APIs have some: {state.session.prog} tasks --world all" if elsewhere else ""
        output.info(f"no tasks of {scope or 'any API'} in the journal match{note}")


def _note_chats(state: State, journal: Journal, since: float | None, scope: str | None) -> None:
    """Chat answers and image calls are not tasks: the listing says how many there were (and the
    answers' tokens)."""
    from piapi_cli.core.journal import chats

    found = chats.usage(journal, since=since, world=scope)
    answers, tokens = sum(g["chats"] for g in found.values()), sum(g["tokens"] for g in found.values())
    if answers:
        noun = "answer" if answers == 1 else "answers"
        state.output.info(f"and {answers:,} chat {noun} ({tokens:,} tokens): {state.session.prog} tasks usage")
    from piapi_cli.core.journal import image_calls

    made = image_calls.count(journal, since=since, world=scope)
    if made:
        noun = "call" if made == 1 else "calls"
        every = " --world all" if scope is None else ""
        state.output.info(f"and {made:,} image {noun}: {state.session.prog} tasks images{every}")


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
    if report.codes:  # what was brought in stays; the exit says some tasks could not be fetched
        from piapi_cli.api.errors import combine_exit_codes

        raise params.Exit(int(combine_exit_codes(report.codes)))


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
        from piapi_cli.cli.jqfilter import compile_jq

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
        table=lambda console: console.print(tasks_view.grid(rows)),
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
        ("created", tasks_view.when(entry.created_at)),
        ("input", json.dumps(entry.input, ensure_ascii=False)),
    ]
    if entry.run_id:
        rows.append(("run", f"{entry.run_id} row {entry.row_key}"))
    if entry.credits:
        rows.append(("credits", f"{entry.credits:,} ({entry.usage_type or '?'})"))
    rows += [("output", url) for url in entry.urls]
    rows += [("saved", f"{d['path']} ({d['bytes']:,} bytes)") for d in entry.downloads]
    return rows


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
        table=lambda console: console.print(tasks_view.usage_table(rows, by)),
        lines=lambda: [f"{r['group']}\t{r['tasks']}\t{r['credits']}\t{r['chats']}\t{r['tokens']}" for r in rows],
    )


def _with_chats(rows: list[dict[str, Any]], chat_usage: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The tasks' rows with each group's chat answers and tokens beside them (groups of chats
    alone added at the end)."""
    merged = [{**row, **chat_usage.pop(str(row["group"]), {"chats": 0, "tokens": 0})} for row in rows]
    merged += [{"group": group, "tasks": 0, "credits": 0, **counts} for group, counts in sorted(chat_usage.items())]
    return merged
