"""piapi wait: wait for tasks to finish, showing their progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ._options import IntervalOption, JqOption, JsonOption, QuietOption, TaskIdsArgument, TimeoutOption, examples

if TYPE_CHECKING:
    from piapi_cli.app import State
    from piapi_cli.tasks import Task

EPILOG = examples(
    "piapi wait 1631d053-2352-4add-95cc-360fc52d5f89",
    'piapi wait "$ID1" "$ID2" --timeout 600 --json',
    notes="Exit code: the worst outcome: 7 when a task failed, 8 when the deadline passed first.",
)


def wait(
    ctx: typer.Context,
    task_ids: TaskIdsArgument,
    timeout: TimeoutOption = None,
    interval: IntervalOption = None,
    as_json: JsonOption = False,
    jq: JqOption = None,
    quiet: QuietOption = False,
) -> None:
    """Wait for tasks to finish (concurrently), then show them.

    On a terminal a live display on stderr shows each task's status, elapsed time and
    progress; off a terminal, one line per status change. stdout gets the results: output
    URLs one per line when piped, the task JSON with --json.
    """
    state: State = ctx.obj
    state.output.quiet = state.output.quiet or quiet
    code = wait_and_report(state, task_ids, timeout=timeout, interval=interval, as_json=as_json, jq=jq)
    if code:
        raise typer.Exit(code)


def wait_and_report(
    state: State,
    task_ids: list[str],
    *,
    timeout: float | None,
    interval: float | None,
    as_json: bool,
    jq: str | None,
    known: dict[str, Task] | None = None,
) -> int:
    """Wait for the tasks, print their results and any failures; return the exit code."""
    from piapi_cli.display import WaitDisplay
    from piapi_cli.waiting import PollPolicy, wait_for_tasks, worst_exit_code

    session = state.session
    settings = session.settings
    deadline = settings["wait_timeout"] if timeout is None else timeout
    policy = PollPolicy(max_interval=interval if interval is not None else settings["max_poll_interval"])
    client = session.client
    with WaitDisplay(state.output, task_ids, clock=session.clock) as display:
        outcomes = wait_for_tasks(
            client.get_task,
            task_ids,
            timeout=deadline,
            policy=policy,
            clock=session.clock,
            sleep=session.sleep,
            on_update=display.update,
            known=known,
        )
    # the last known state of every task, finished or not (a timed-out one shows its status)
    seen = [o.task for o in outcomes if o.task is not None]
    if seen:
        state.output.tasks(seen, as_json=as_json, jq=jq)
    for outcome in outcomes:
        if outcome.error is not None:
            state.output.error(outcome.error.message, outcome.error.hint)
        elif outcome.task is not None and not outcome.task.succeeded:
            state.output.error(f"task {outcome.task_id} {outcome.task.status}: {outcome.task.failure_message()}")
    return int(worst_exit_code(outcomes))
