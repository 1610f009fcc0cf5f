"""piapi cancel: cancel tasks that have not started yet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from piapi_cli.cli.commands._options import TaskIdsArgument, examples
from piapi_cli.cli.parsing import params

if TYPE_CHECKING:
    from piapi_cli.cli.app import State

EPILOG = examples(
    "piapi cancel 1631d053-2352-4add-95cc-360fc52d5f89",
    notes="PiAPI cancels only pending tasks; cancelled IDs print on stdout, one per line.",
)


def cancel(ctx: params.Context, task_ids: TaskIdsArgument) -> None:
    """Cancel pending tasks (PiAPI refuses once a task is processing)."""
    from piapi_cli.api.errors import ExitCode, PiapiError, combine_exit_codes
    from piapi_cli.cli.taskids import full_ids, journal_or_none

    state: State = ctx.obj
    ids = full_ids(state, task_ids, journal_or_none(state))  # nothing is sent for an ambiguous prefix
    client = state.session.client
    codes: list[ExitCode] = []
    for task_id in ids:
        try:
            message = client.cancel_task(task_id)
        except PiapiError as exc:
            if len(ids) == 1:
                raise
            from piapi_cli.cli.hints import hint_for, message_for

            state.output.error(f"{task_id}: {message_for(exc)}", hint_for(exc, state.session))
            codes.append(exc.exit_code)
            continue
        state.output.line(task_id)
        state.output.info(message)
    code = combine_exit_codes(codes)
    if code:
        raise params.Exit(code)
