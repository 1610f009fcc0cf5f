"""piapi get: show tasks as they are now."""

from __future__ import annotations

from piapi_cli.cli.commands._options import (
    JqOption,
    NoPreviewOption,
    PreviewOption,
    TaskIdsArgument,
    TaskJsonOption,
    examples,
)
from piapi_cli.cli.parsing import params

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from piapi_cli.api.tasks import Task
    from piapi_cli.cli.app import State

EPILOG = examples(
    "piapi get 1631d053-2352-4add-95cc-360fc52d5f89",
    'URL=$(piapi get "$ID" --jq .output.image_url)',
    'piapi get "$ID1" "$ID2" --json',
    'piapi get "$ID" --preview',
    "piapi get 1631d053",
    notes="Piped, a completed task prints its output URLs one per line, any other task ID<TAB>status. "
    "Exits 7 when a task has failed.",
)


def get(
    ctx: params.Context,
    task_ids: TaskIdsArgument,
    as_json: TaskJsonOption = False,
    jq: JqOption = None,
    preview: PreviewOption = False,
    no_preview: NoPreviewOption = False,
) -> None:
    """Show tasks: status, timing, cost, output URLs, the error of a failed one.

    A task may be named by its ID, a prefix of at least 4 characters that starts just one
    task ID in the journal (of the API in use), as `piapi tasks` shows them, or the
    journal's row as #N.
    """
    from piapi_cli.api.errors import ExitCode, PiapiError, combine_exit_codes
    from piapi_cli.cli.taskids import full_ids, journal_or_none
    from piapi_cli.core.journal.journal import JournalError

    state: State = ctx.obj
    if jq is not None:
        from piapi_cli.cli.jqfilter import compile_jq

        compile_jq(jq)  # a bad expression is a usage error before anything is sent
    journal = journal_or_none(state)
    ids = full_ids(state, task_ids, journal)  # an ambiguous prefix: exit 2, nothing sent
    client = state.session.client
    found = []
    codes: list[ExitCode] = []
    errors: list[PiapiError] = []
    for task_id in ids:
        try:
            task = client.get_task(task_id)
        except PiapiError as exc:
            if len(ids) == 1:
                raise
            errors.append(exc)
            codes.append(exc.exit_code)
            continue
        found.append(task)
        if journal is not None:
            try:
                journal.update(task)
            except JournalError as exc:
                state.output.warn(f"{exc.message}; the task is shown all the same")
                journal = None  # one warning, not one per task
        if task.is_terminal and not task.succeeded:
            codes.append(ExitCode.TASK_FAILED)
    if found:
        state.output.tasks(found, as_json=as_json, jq=jq)
        _preview(state, found, asked=preview, refused=no_preview or as_json or jq is not None)
    for error in errors:
        from piapi_cli.cli.hints import hint_for, message_for

        state.output.error(message_for(error), hint_for(error, state.session))
    code = combine_exit_codes(codes)
    if code:
        raise params.Exit(code)


def _preview(state: State, found: list[Task], *, asked: bool, refused: bool) -> None:
    """The pictures of completed tasks, at a terminal that shows them (asked, or set to)."""
    if refused or not (asked or state.session.settings["preview"]):
        return
    from piapi_cli.cli import preview as pictures

    items = [item for t in found if t.succeeded for item in pictures.sources([u.url for u in t.urls], [])]
    pictures.show(state, items, asked=asked)
