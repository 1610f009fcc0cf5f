"""piapi account: plan, credits and balance of the account behind the key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from piapi_cli.cli.commands._options import AccountJsonOption, JqOption, examples
from piapi_cli.cli.parsing import params

if TYPE_CHECKING:
    from piapi_cli.cli.app import State

EPILOG = examples("piapi account", "piapi account --jq .credits")


def account(ctx: params.Context, as_json: AccountJsonOption = False, jq: JqOption = None) -> None:
    """Show your plan, credits and balance (GET /account/info); the key in the answer is never shown."""
    from piapi_cli.api.tasks import redact

    state: State = ctx.obj
    info = redact(state.session.client.account_info())
    for secret in state.session.secrets():
        info = {k: ("<redacted>" if v == secret else v) for k, v in info.items()}
    output = state.output
    if as_json or jq is not None:
        output.document(info, jq)
    elif output.stdout_tty:
        from rich.markup import escape
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        for key, value in info.items():
            grid.add_row(escape(str(key)), escape(f"{value:,}" if isinstance(value, int) else str(value)))
        output.out.print(grid)
    else:
        for key, value in info.items():
            output.line(f"{key}\t{value}")
