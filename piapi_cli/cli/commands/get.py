"""piapi get: show tasks as they are now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from piapi_cli.cli import params
from piapi_cli.cli.commands._options import JqOption, JsonOption, TaskIdsArgument, examples

if TYPE_CHECKING:
    from piapi_cli.cli.app import State

EPILOG = examples(
    "piapi get 1631d053-2352-4add-95cc-360fc52d5f89",
    'URL=$(piapi get "$ID" --jq .output.image_url)',
    'piapi get "$ID1" "$ID2" --json',
    notes="Piped, a completed task prints its output URLs one per line, any other task ID<TAB>status. "
    "Exits 7 when a task has failed.",
)


def get(ctx: params.Context, task_ids: TaskIdsArgument, as_json: JsonOption = False, jq: JqOption = None) -> None:
    """Show tasks: status, timing, cost, output URLs, the error of a failed one."""
    from piapi_cli.api.errors import ExitCode, PiapiError

    state: State = ctx.obj
    client = state.session.client
    journal = state.session.journal
    found = []
    worst = ExitCode.OK
    errors: list[PiapiError] = []
    for task_id in dict.fromkeys(task_ids):
        try:
            task = client.get_task(task_id)
        except PiapiError as exc:
            if len(task_ids) == 1:
                raise
            errors.append(exc)
            worst = max(worst, exc.exit_code)
            continue
        found.append(task)
        if journal is not None:
            journal.update(task)
        if task.is_terminal and not task.succeeded:
            worst = max(worst, ExitCode.TASK_FAILED)
    if found:
        state.output.tasks(found, as_json=as_json, jq=jq)
    for error in errors:
        state.output.error(error.message, error.hint)
    if worst:
        raise params.Exit(worst)
