"""piapi tasks images: the journaled calls of ``piapi image`` (what each asked, how it ended,
the files it saved)."""

from __future__ import annotations

import time

from piapi_cli.cli.commands._options import JqOption, check_listing, examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.cli.app import State
    from piapi_cli.core.journal.journal import Journal

app = params.Group(
    help="The journaled calls of piapi image: prompt, status, usage, files saved.",
    invoke_without_command=True,
    epilog=examples(
        "piapi tasks images",
        "piapi tasks images --status unknown --since 7d",
        "piapi --sandbox tasks images --world all --json",
        "piapi tasks images show img-3a0068",
        notes="Statuses: completed, failed, unknown (the answer was lost: the call may have been carried "
        "out and paid, and piapi never sends it again) and sending (piapi stopped before the answer came). "
        "A call the API refused is not kept. On a terminal the table shows the first 10 characters of "
        "each call ID, a prefix show takes; 'saved' is the files saved over the images asked for.",
    ),
)


_StatusOption = Annotated[
    Optional[str],
    params.Option(
        "--status", "-s", metavar="STATUS", help="Only calls with this status (completed, failed, unknown, sending)",
        show_default=False,
    ),
]  # fmt: skip
_ModelOption = Annotated[
    Optional[str], params.Option("--model", "-m", metavar="MODEL", help="Only calls of this model", show_default=False)
]
_SinceOption = Annotated[
    Optional[str],
    params.Option("--since", metavar="AGE", help="Only calls made this recently: 30m, 12h, 7d, 2w", show_default=False),
]
_WorldOption = Annotated[
    Optional[str],
    params.Option(
        "--world",
        metavar="WORLD",
        help="Whose calls: 'all', 'sandbox' or an API base URL [default: the API in use]",
        show_default=False,
    ),
]
_LimitOption = Annotated[
    int, params.Option("--limit", "-n", metavar="N", help="At most N calls, newest first (1 to 1,000,000)")
]
_ListJsonOption = Annotated[
    bool,
    params.Option("--json", help="Print the calls as a JSON array (request, prompt, status, usage, files)"),
]
_ShowJsonOption = Annotated[
    bool, params.Option("--json", help='Print the call as JSON, with what to do about it under "advice"')
]


def _journal(state: State) -> Journal:
    from piapi_cli.cli.hints import journal_needed

    return journal_needed(state.session, "the journal of image calls is turned off")


def _check_jq(jq: str | None) -> None:
    if jq is not None:
        from piapi_cli.cli.jqfilter import compile_jq

        compile_jq(jq)  # a bad expression is a usage error before anything is read


def _note_problems(state: State, calls: list[dict[str, Any]]) -> None:
    for call in calls:
        if call.get("problems"):
            state.output.warn(f"image call {call['call_id']}: {'; '.join(call['problems'])} (shown empty)")


@app.callback()
def images(
    ctx: params.Context,
    status: _StatusOption = None,
    model: _ModelOption = None,
    since: _SinceOption = None,
    world: _WorldOption = None,
    limit: _LimitOption = 50,
    as_json: _ListJsonOption = False,
    jq: JqOption = None,
) -> None:
    """List journaled image calls (piapi image), newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from piapi_cli.cli import image_calls_view as view
    from piapi_cli.core.journal import image_calls
    from piapi_cli.core.journal.journal import parse_since

    state: State = ctx.obj
    check_listing(limit, jq)
    cutoff = parse_since(since, time.time()) if since else None
    chosen = state.session.world if world is None else world.strip()
    scope = None if chosen.lower() == "all" else chosen.rstrip("/")
    journal = _journal(state)
    found = image_calls.calls(journal, status=status, model=model, since=cutoff, limit=limit, world=scope)
    _note_problems(state, found)
    state.output.render(
        lambda: found,
        as_json=as_json,
        jq=jq,
        table=lambda console: view.table(console, found, every_world=scope is None),
        lines=lambda: view.lines(found),
    )
    from piapi_cli.cli.output import structured

    if not found and not structured(as_json, jq):
        elsewhere = scope is not None and image_calls.calls(journal, status=status, model=model, since=cutoff, limit=1)
        note = f"; other APIs have some: {state.session.prog} tasks images --world all" if elsewhere else ""
        state.output.info(f"no image calls of {scope or 'any API'} in the journal match{note}")


@app.command(
    "show",
    epilog=examples(
        "piapi tasks images show img-3a0068dcb7fa",
        "piapi tasks images show 3a0068",
        "piapi tasks images show img-3a0068 --jq '.files[].path'",
    ),
)
def show(
    ctx: params.Context,
    ident: Annotated[
        str,
        params.Argument(
            metavar="CALL", help="A call ID (img-...), or a unique prefix of one (4+ characters past img-)"
        ),
    ],
    as_json: _ShowJsonOption = False,
    jq: JqOption = None,
) -> None:
    """Show one journaled image call whole: request, status, usage, files, and what to do if its end is unknown."""
    from piapi_cli.cli import image_calls_view as view

    state: State = ctx.obj
    _check_jq(jq)
    call = _resolve(_journal(state), ident)
    _note_problems(state, [call])
    rows = view.rows(call, state.session.prog)
    from piapi_cli.cli.tasks_view import grid

    state.output.render(
        lambda: call | {"advice": view.advice(call, state.session.prog)},
        as_json=as_json,
        jq=jq,
        table=lambda console: console.print(grid(rows)),
        lines=lambda: [f"{label}\t{value}" for label, value in rows],
    )


def _resolve(journal: Journal, ident: str) -> dict[str, Any]:
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.journal import image_calls

    found = image_calls.with_prefix(journal, ident)
    shown = ident if len(ident) <= 40 else ident[:40] + "..."
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(c["call_id"] for c in found[:5]) + (", ..." if len(found) > 5 else "")
        raise UsageError(f"{shown!r} starts {len(found)} journaled image calls: {names}")
    hint = "list them: piapi tasks images --world all"
    if len(ident.strip().removeprefix("img-")) < image_calls.MIN_PREFIX:
        hint = f"give at least {image_calls.MIN_PREFIX} characters of the ID past img-"
    raise UsageError(f"no image call {shown!r} in the journal", hint=hint)
