"""The CLI side of the task pipeline: a runner wired to this run's displays, and its results
rendered. ``create --wait``, ``wait``, ``wait --pending`` and ``download`` all come here; the
library's runner does the work, this module only shows it.
"""

from __future__ import annotations

from piapi_cli.api.errors import ExitCode
from piapi_cli.cli.output import structured

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.api.tasks import Task
    from piapi_cli.cli.app import State
    from piapi_cli.cli.display import PipelineDisplay
    from piapi_cli.core.downloads.results import Failure
    from piapi_cli.core.runner import DownloadPlan, Runner, TaskResult


def preflight(jq: str | None, plan: DownloadPlan | None, *, several_tasks: bool = False) -> None:
    """Every check that can fail, run before a create is sent: exit 2 means nothing was sent."""
    if jq is not None:
        from piapi_cli.cli.jqfilter import compile_jq

        compile_jq(jq)
    if plan is not None:
        from pathlib import Path

        from piapi_cli.core.downloads.downloader import preflight as check_plan

        check_plan(Path(plan.directory), plan.template, several_tasks=several_tasks)


def make_runner(state: State, display: PipelineDisplay | None = None, interval: float | None = None) -> Runner:
    """The session's runner, reporting to ``display``."""
    runner = state.session.runner(interval=interval)
    runner.on_event = display.handle if display is not None else None
    return runner


def wait_and_show(
    state: State,
    task_ids: list[str],
    *,
    timeout: float | None,
    interval: float | None,
    as_json: bool,
    jq: str | None,
    known: dict[str, Task] | None = None,
    download: DownloadPlan | None = None,
    preview: bool = False,
    preview_asked: bool = False,
    created: bool = False,
) -> int:
    """Wait for tasks (and download their outputs); show each result as soon as it is settled,
    and with ``preview`` their pictures once the live display is gone.

    ``created``: the tasks are this command's own (``run_jq``). Returns the exit code: the
    results' codes combined (``combine_exit_codes``).
    """
    from piapi_cli.api.errors import combine_exit_codes
    from piapi_cli.cli.display import PipelineDisplay

    session = state.session
    deadline = session.settings["wait_timeout"] if timeout is None else timeout
    as_document = structured(as_json, jq)
    session.note_resume(task_ids, download)
    with PipelineDisplay(state.output, task_ids, clock=session.clock) as display:
        runner = make_runner(state, display, interval)
        for task in (known or {}).values():  # a fresh create's status shows at once, not "waiting"
            display.show_task(task)

        def shown(result: TaskResult) -> None:
            if not as_document:
                display.above(lambda: show_result(state, result, download is not None))

        results = runner.wait(task_ids, timeout=deadline, known=known, download=download, on_result=shown)
    if as_document:
        document(state, results, download is not None, jq, created=created)
    elif preview:
        show_previews(state, results, asked=preview_asked)
    report_problems(state, results, download)
    return int(combine_exit_codes(r.exit_code for r in results))


def show_previews(state: State, results: list[TaskResult], *, asked: bool) -> None:
    """The first picture of each completed task, drawn on the terminal (``cli.preview``)."""
    from piapi_cli.cli import preview

    items = []
    for result in results:
        if result.task is not None and result.task.succeeded:
            urls = [u.url for u in result.task.urls]
            items += preview.sources(urls, [f.path for f in result.files])
    preview.show(state, items, asked=asked)


def download_and_show(state: State, tasks: list[Task], plan: DownloadPlan, *, as_json: bool, jq: str | None) -> int:
    """Download the outputs of tasks already fetched; the exit code."""
    from piapi_cli.api.errors import combine_exit_codes
    from piapi_cli.cli.display import PipelineDisplay

    as_document = structured(as_json, jq)
    state.session.note_resume([t.task_id for t in tasks], plan)
    with PipelineDisplay(state.output, [], clock=state.session.clock) as display:
        runner = make_runner(state, display)

        def shown(result: TaskResult) -> None:
            if not as_document:
                display.above(lambda: show_result(state, result, True))

        results = runner.download(tasks, plan, on_result=shown)
    if as_document:
        document(state, results, True, jq)
    report_problems(state, results, plan)
    return int(combine_exit_codes(r.exit_code for r in results))


def show_result(state: State, result: TaskResult, downloading: bool) -> None:
    """One settled task on stdout: its saved paths (downloads), else the task itself."""
    if downloading and result.task is not None and result.task.succeeded:
        for saved in result.files:
            state.output.line(saved.path)
    elif result.task is not None:
        state.output.tasks([result.task], as_json=False, jq=None)


def document(
    state: State, results: list[TaskResult], downloading: bool, jq: str | None, *, created: bool = False
) -> None:
    """One JSON document for the run: a task object, or an array for several."""
    docs: list[dict[str, Any]] = []
    for result in results:
        if result.task is None:
            continue
        docs.append(result.to_json() if downloading else result.task.to_json())
    if docs:
        state.output.render(lambda: docs[0] if len(docs) == 1 else docs, as_json=True, jq=jq, created=created)


def report_failure(state: State, failure: Failure) -> None:
    """An output that could not be saved, and what to do about it."""
    from piapi_cli.cli.hints import advice

    hint = advice(failure.advice, session=state.session) if failure.advice else None
    state.output.error(f"could not download {failure.url}: {failure.message}", hint)


def report_problems(state: State, results: list[TaskResult], download: DownloadPlan | None) -> None:
    """Every failure, deadline and download problem on stderr, with what to do next."""
    from piapi_cli.cli.hints import hint_for, message_for

    session = state.session
    output = state.output
    late = [r.task_id for r in results if r.exit_code == ExitCode.WAIT_TIMEOUT]
    failed = [r for r in results if r.task is not None and r.task.is_terminal and not r.task.succeeded]
    for result in results:
        if result.error is not None and result.exit_code != ExitCode.WAIT_TIMEOUT:
            output.error(message_for(result.error), hint_for(result.error, session))
        elif result in failed:
            assert result.task is not None
            output.error(f"task {result.task_id} {result.task.status}: {result.task.failure_message()}")
        for failure in result.failures:
            report_failure(state, failure)
    if late:
        resume = f"{session.prog} wait {' '.join(late)}"
        if download is not None:
            resume += f" --download {download.directory}"
        still = ", ".join(f"{r.task_id} ({r.status})" for r in results if r.task_id in late)
        output.error(f"still running at the deadline (not cancelled): {still}", f"resume with: {resume}")
    if failed and late:
        output.error(f"{len(failed)} task(s) failed and {len(late)} ran out of time")
    # a file refused because it exists is not resumed by running the same command again
    broken = [r.task_id for r in results if any("exists" not in f.message for f in r.failures)]
    if broken and download is not None:
        again = f"{session.prog} download {' '.join(broken)} --dir {download.directory}"
        output.info(f"complete files were kept; resume the downloads with: {again}")
