"""piapi wait: wait for tasks to finish, showing their progress."""

from __future__ import annotations

from piapi_cli.cli.commands._options import (
    DEFAULT_NAME,
    DownloadDirOption,
    IntervalOption,
    JqOption,
    JsonOption,
    MetadataOption,
    NameOption,
    NoPreviewOption,
    OverwriteOption,
    PreviewOption,
    QuietOption,
    SkipOption,
    TimeoutOption,
    examples,
)
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from piapi_cli.cli.app import State

EPILOG = examples(
    "piapi wait 1631d053-2352-4add-95cc-360fc52d5f89",
    'piapi wait "$ID1" "$ID2" --timeout 600 --json',
    'piapi wait "$ID" --download out',
    "piapi wait --pending --download out",
    notes="Each task's result prints as soon as it finishes. Exit code: the worst outcome: 7 when a task "
    "failed (ahead of 8), 8 when the deadline passed first, 9 when an output could not be downloaded. "
    "--pending re-attaches to every journaled task a crash left unfinished; with --download it also saves "
    "the outputs of completed tasks whose files were never recorded.",
)


def wait(
    ctx: params.Context,
    task_ids: Annotated[
        Optional[list[str]], params.Argument(metavar="[TASK_ID]...", help="Task IDs to wait for", show_default=False)
    ] = None,
    pending: Annotated[
        bool, params.Option("--pending", help="Wait for every journaled task that has not finished (after a crash)")
    ] = False,
    timeout: TimeoutOption = None,
    interval: IntervalOption = None,
    download: DownloadDirOption = None,
    name: NameOption = DEFAULT_NAME,
    overwrite: OverwriteOption = False,
    skip_existing: SkipOption = False,
    metadata: MetadataOption = False,
    as_json: JsonOption = False,
    jq: JqOption = None,
    quiet: QuietOption = False,
    preview: PreviewOption = False,
    no_preview: NoPreviewOption = False,
) -> None:
    """Wait for tasks to finish (concurrently), then show them.

    On a terminal a live display on stderr shows each task's status, elapsed time and
    progress; off a terminal, one line per status change. stdout gets the results: output
    URLs one per line when piped (the saved paths with --download), the task JSON with --json.
    """
    from piapi_cli.api.errors import UsageError
    from piapi_cli.cli.pipeline import preflight, wait_and_show
    from piapi_cli.cli.taskids import full_ids, journal_or_none
    from piapi_cli.core.runner import DownloadPlan

    state: State = ctx.obj
    state.output.quiet = state.output.quiet or quiet
    plan = DownloadPlan(download, name, overwrite, skip_existing, metadata) if download is not None else None
    preflight(jq, plan, several_tasks=pending or len(set(task_ids or [])) > 1)
    ids = full_ids(state, task_ids, journal_or_none(state)) if task_ids else []
    if pending:
        ids += reattach(state, plan)
        if not ids:
            state.output.info("no unfinished tasks in the journal")
            return
    elif not ids:
        raise UsageError("give one or more TASK_IDs, or --pending")
    shown = not no_preview and (preview or bool(state.session.settings["preview"]))
    code = wait_and_show(state, ids, timeout=timeout, interval=interval, as_json=as_json, jq=jq, download=plan,
                         preview=shown, preview_asked=preview)  # fmt: skip
    if code:
        raise params.Exit(code)


def reattach(state: State, plan: object = None) -> list[str]:
    """IDs of journaled tasks of this world not yet finished (and, when saving outputs, the
    completed ones whose files were never recorded); warns of creates that may exist."""
    from piapi_cli.api.errors import ConfigError

    journal = state.session.journal
    if journal is None:
        raise ConfigError("--pending needs the task journal, which is turned off")
    world = state.session.world
    for entry in journal.maybe_created(world):
        how = "answer was lost" if entry.status == "unknown" else "process was stopped while it was in flight"
        state.output.warn(
            f"journal #{entry.id} ({entry.model} {entry.task_type}): the create's {how}; the task may exist: "
            "check your PiAPI dashboard (not resent)"
        )
    ids = [e.task_id for e in journal.unfinished(world) if e.task_id]
    if plan is not None:
        directory = str(getattr(plan, "directory", ""))
        ids += [e.task_id for e in journal.completed_without_downloads(world, directory) if e.task_id]
    return list(dict.fromkeys(ids))
