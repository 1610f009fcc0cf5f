"""piapi get: show tasks as they are now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from piapi_cli.cli.commands._options import JqOption, TaskIdsArgument, TaskJsonOption, examples
from piapi_cli.cli.parsing import params

if TYPE_CHECKING:
    from piapi_cli.cli.app import State
    from piapi_cli.core.journal.journal import Journal

EPILOG = examples(
    "piapi get 1631d053-2352-4add-95cc-360fc52d5f89",
    'URL=$(piapi get "$ID" --jq .output.image_url)',
    'piapi get "$ID1" "$ID2" --json',
    "piapi get 1631d053",
    notes="Piped, a completed task prints its output URLs one per line, any other task ID<TAB>status. "
    "Exits 7 when a task has failed.",
)


def get(ctx: params.Context, task_ids: TaskIdsArgument, as_json: TaskJsonOption = False, jq: JqOption = None) -> None:
    """Show tasks: status, timing, cost, output URLs, the error of a failed one.

    A task ID may be shortened to a prefix that starts just one task ID in the journal (of
    the API in use), as `piapi tasks` shows them.
    """
    from piapi_cli.api.errors import ExitCode, PiapiError
    from piapi_cli.core.journal.journal import JournalError

    state: State = ctx.obj
    if jq is not None:
        from piapi_cli.cli.output import compile_jq

        compile_jq(jq)  # a bad expression is a usage error before anything is sent
    journal = _journal(state)
    ids = _full_ids(state, journal, task_ids)  # an ambiguous prefix: exit 2, nothing sent
    client = state.session.client
    found = []
    worst = ExitCode.OK
    errors: list[PiapiError] = []
    for task_id in ids:
        try:
            task = client.get_task(task_id)
        except PiapiError as exc:
            if len(ids) == 1:
                raise
            errors.append(exc)
            worst = max(worst, exc.exit_code)
            continue
        found.append(task)
        if journal is not None:
            try:
                journal.update(task)
            except JournalError as exc:
                state.output.warn(f"{exc.message}; the task is shown all the same")
                journal = None  # one warning, not one per task
        if task.is_terminal and not task.succeeded:
            worst = max(worst, ExitCode.TASK_FAILED)
    if found:
        state.output.tasks(found, as_json=as_json, jq=jq)
    for error in errors:
        state.output.error(error.message, error.hint)
    if worst:
        raise params.Exit(worst)


def _journal(state: State) -> Journal | None:
    """The journal, or None when it is turned off or cannot be opened (get works without it)."""
    from piapi_cli.core.journal.journal import JournalError

    try:
        return state.session.journal
    except JournalError as exc:
        state.output.warn(f"{exc.message}; going on without it")
        return None


def _full_ids(state: State, journal: Journal | None, given: list[str]) -> list[str]:
    """Each ID as given, or the one journaled task ID of this world it is a prefix of."""
    if journal is None:
        return list(dict.fromkeys(given))
    world = state.session.world
    found = []
    for ident in given:
        entry = journal.resolve(ident, world=world, row_numbers=False)
        found.append(entry.task_id if entry is not None and entry.task_id else ident)
    return list(dict.fromkeys(found))
