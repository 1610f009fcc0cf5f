"""piapi account: plan, credits and balance of the account behind the key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piapi_cli.cli.commands._options import AccountJsonOption, JqOption, examples
from piapi_cli.cli.parsing import params

if TYPE_CHECKING:
    from rich.table import Table

    from piapi_cli.api.history import ProviderLoad
    from piapi_cli.cli.app import State

EPILOG = examples("piapi account", "piapi account --jq .credits", "piapi account --jq '.active_tasks[].processing'")


def account(ctx: params.Context, as_json: AccountJsonOption = False, jq: JqOption = None) -> None:
    """Show your plan, credits and balance, and the tasks running now per provider; the key in the answer is
    never shown."""
    from piapi_cli.api.tasks import redact
    from piapi_cli.cli.output import structured

    state: State = ctx.obj
    client = state.session.client
    info = redact(client.account_info())
    loads = _active(state)
    for secret in state.session.secrets():
        info = {k: ("<redacted>" if v == secret else v) for k, v in info.items()}
    output = state.output
    shown = dict(info)  # what a person sees: the active tasks get a table of their own
    if loads is not None:
        info["active_tasks"] = [load.to_json() for load in loads]
    output.render(
        lambda: info,
        as_json=as_json,
        jq=jq,
        table=lambda console: console.print(_grid(shown)),
        lines=lambda: [f"{key}\t{value}" for key, value in shown.items()],
    )
    if loads is not None and not structured(as_json, jq):
        from piapi_cli.cli.history_view import active_table

        active_table(output, loads)


def _grid(info: dict[str, Any]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    for key, value in info.items():
        grid.add_row(escape(str(key)), escape(f"{value:,}" if isinstance(value, int) else str(value)))
    return grid


def _active(state: State) -> list[ProviderLoad] | None:
    """The tasks running now, per provider; None (with a warning) where the API has no such route."""
    from piapi_cli.api.errors import APIStatusError

    try:
        return state.session.client.active_tasks()
    except APIStatusError as exc:
        state.output.warn(f"active tasks not shown: {exc.message}")
        return None
