"""piapi wait: wait for tasks to finish, showing their progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from piapi_cli.cli.commands._options import IntervalOption, JqOption, JsonOption, QuietOption, TimeoutOption, examples
from piapi_cli.cli.commands.download import (
    DownloadDirOption,
    DownloadOptions,
    MetadataOption,
    NameOption,
    OverwriteOption,
    SkipOption,
)

if TYPE_CHECKING:
    from piapi_cli.api.tasks import Task
    from piapi_cli.cli.app import State

EPILOG = examples(
    "piapi wait 1631d053-2352-4add-95cc-360fc52d5f89",
    'piapi wait "$ID1" "$ID2" --timeout 600 --json',
    'piapi wait "$ID" --download out',
    "piapi wait --pending",
    notes="Exit code: the worst outcome: 7 when a task failed, 8 when the deadline passed first, "
    "9 when an output could not be downloaded.",
)


def wait(
    ctx: typer.Context,
    task_ids: Annotated[
        Optional[list[str]], typer.Argument(metavar="[TASK_ID]...", help="Task IDs to wait for", show_default=False)
    ] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="Wait for every journaled task that has not finished (after a crash)")
    ] = False,
    timeout: TimeoutOption = None,
    interval: IntervalOption = None,
    download: DownloadDirOption = None,
    name: NameOption = "{task_id}-{index}.{ext}",
    overwrite: OverwriteOption = False,
    skip_existing: SkipOption = False,
    metadata: MetadataOption = False,
    as_json: JsonOption = False,
    jq: JqOption = None,
    quiet: QuietOption = False,
) -> None:
    """Wait for tasks to finish (concurrently), then show them.

    On a terminal a live display on stderr shows each task's status, elapsed time and
    progress; off a terminal, one line per status change. stdout gets the results: output
    URLs one per line when piped (the saved paths with --download), the task JSON with --json.
    """
    from piapi_cli.api.errors import UsageError

    state: State = ctx.obj
    state.output.quiet = state.output.quiet or quiet
    ids = list(task_ids or [])
    if pending:
        ids += reattach(state)
        if not ids:
            state.output.info("no unfinished tasks in the journal")
            return
    elif not ids:
        raise UsageError("give one or more TASK_IDs, or --pending")
    options = DownloadOptions(download, name, overwrite, skip_existing, metadata) if download else None
    code = wait_and_report(state, ids, timeout=timeout, interval=interval, as_json=as_json, jq=jq, download=options)
    if code:
        raise typer.Exit(code)


def reattach(state: State) -> list[str]:
    """IDs of journaled tasks of this world not yet finished; notes the lost creates."""
    from piapi_cli.api.errors import ConfigError
    from piapi_cli.core.journal import UNKNOWN

    journal = state.session.journal
    if journal is None:
        raise ConfigError("--pending needs the task journal, which is turned off")
    world = state.session.world
    unknown = journal.entries(status=UNKNOWN, world=world)
    for entry in unknown:
        state.output.warn(
            f"journal #{entry.id} ({entry.model} {entry.task_type}): the create's answer was lost; "
            "the task may exist: check your PiAPI dashboard (not resent)"
        )
    return [e.task_id for e in journal.unfinished(world) if e.task_id]


def wait_and_report(
    state: State,
    task_ids: list[str],
    *,
    timeout: float | None,
    interval: float | None,
    as_json: bool,
    jq: str | None,
    known: dict[str, Task] | None = None,
    download: DownloadOptions | None = None,
) -> int:
    """Wait for the tasks, print their results (or download them) and failures; the exit code."""
    from piapi_cli.api.errors import ExitCode
    from piapi_cli.cli.display import WaitDisplay
    from piapi_cli.core.waiting import PollPolicy, wait_for_tasks, worst_exit_code

    session = state.session
    settings = session.settings
    deadline = settings["wait_timeout"] if timeout is None else timeout
    policy = PollPolicy(max_interval=interval if interval is not None else settings["max_poll_interval"])
    client = session.client
    journal = session.journal
    with WaitDisplay(state.output, task_ids, clock=session.clock) as display:
        recorded: dict[str, str] = {}

        def seen(task: Task) -> None:
            display.update(task)
            # one journal write per status change, not one per poll
            if journal is not None and recorded.get(task.task_id) != task.status:
                journal.update(task)
                recorded[task.task_id] = task.status

        outcomes = wait_for_tasks(
            client.get_task,
            task_ids,
            timeout=deadline,
            policy=policy,
            clock=session.clock,
            sleep=session.sleep,
            on_update=seen,
            known=known,
        )
    # the last known state of every task, finished or not (a timed-out one shows its status)
    tasks = [o.task for o in outcomes if o.task is not None]
    code = worst_exit_code(outcomes)
    if download is not None:
        from piapi_cli.cli.commands.download import download_and_report

        report = download_and_report(state, [t for t in tasks if t.succeeded], download, as_json=as_json, jq=jq)
        if report.failures:
            code = max(code, ExitCode.DOWNLOAD_FAILED)
    elif tasks:
        state.output.tasks(tasks, as_json=as_json, jq=jq)
    for outcome in outcomes:
        if outcome.error is not None:
            hint = outcome.error.hint
            state.output.error(
                outcome.error.message, hint.replace("piapi wait", f"{session.prog} wait") if hint else None
            )
        elif outcome.task is not None and not outcome.task.succeeded:
            state.output.error(f"task {outcome.task_id} {outcome.task.status}: {outcome.task.failure_message()}")
    return int(code)
