"""piapi download: save every output file of tasks, safely and resumably."""

from __future__ import annotations

from pathlib import Path

from piapi_cli.cli.commands._options import (
    DEFAULT_NAME,
    JqOption,
    JsonOption,
    MetadataOption,
    NameOption,
    OverwriteOption,
    QuietOption,
    SkipOption,
    examples,
)
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from piapi_cli.cli.app import State

EPILOG = examples(
    "piapi download 1631d053-2352-4add-95cc-360fc52d5f89",
    "piapi download --ids-from marks.jsonl --dir picked",
    'piapi download "$ID" --dir out --name "{model}-{task_id}-{index}.{ext}" --metadata',
    "piapi create -m Qubico/flux1-dev -t txt2img -i prompt=cat --download out",
    notes="Name fields: {task_id} {index} {key} (the URL's JSON path) {model} {task_type} {ext} {name} "
    "(the server's file name). Files stream to NAME.part and are renamed when complete; run it again to "
    "resume. stdout: the saved paths, one per line. Exit 9 when an output could not be downloaded.",
)

DirOption = Annotated[Path, params.Option("--dir", "-d", metavar="DIR", help="Where to save the files")]


def download(
    ctx: params.Context,
    task_ids: Annotated[
        Optional[list[str]],
        params.Argument(metavar="[TASK_ID]...", help="One or more task IDs", show_default=False),
    ] = None,
    ids_from: Annotated[
        Optional[str],
        params.Option(
            "--ids-from",
            metavar="FILE",
            help="Also the tasks FILE names: a report's exported marks, or one task ID a line (- reads stdin)",
            show_default=False,
        ),
    ] = None,
    directory: DirOption = Path("."),
    name: NameOption = DEFAULT_NAME,
    overwrite: OverwriteOption = False,
    skip_existing: SkipOption = False,
    metadata: MetadataOption = False,
    as_json: JsonOption = False,
    jq: JqOption = None,
    quiet: QuietOption = False,
) -> None:
    """Download every output file of completed tasks."""
    from piapi_cli.api.errors import ExitCode, UsageError, combine_exit_codes
    from piapi_cli.cli.pipeline import download_and_show, preflight
    from piapi_cli.cli.taskids import full_ids, journal_or_none
    from piapi_cli.core.runner import DownloadPlan

    state: State = ctx.obj
    state.output.quiet = state.output.quiet or quiet
    task_ids = list(task_ids or []) + (_ids_from(ids_from) if ids_from is not None else [])
    if not task_ids:
        raise UsageError("no task to download: give TASK_ID... or --ids-from FILE")
    plan = DownloadPlan(directory, name, overwrite, skip_existing, metadata)
    preflight(jq, plan, several_tasks=len(set(task_ids)) > 1)
    ids = full_ids(state, task_ids, journal_or_none(state))
    client = state.session.client
    tasks = [client.get_task(task_id) for task_id in ids]
    code = download_and_show(state, [t for t in tasks if t.succeeded], plan, as_json=as_json, jq=jq)
    codes = [ExitCode(code)]
    for task in tasks:
        if task.succeeded:
            continue
        if task.is_terminal:
            state.output.error(f"task {task.task_id} {task.status}: nothing to download ({task.failure_message()})")
            codes.append(ExitCode.TASK_FAILED)
        else:
            hint = f"{state.session.prog} wait {task.task_id} --download {directory}"
            state.output.error(f"task {task.task_id} is still {task.status}; download it when done: {hint}")
            codes.append(ExitCode.WAIT_TIMEOUT)
    worst = combine_exit_codes(codes)
    if worst:
        raise params.Exit(worst)


def _ids_from(path: str) -> list[str]:
    import sys

    from piapi_cli.core.report.marks import read_marks, task_ids_of

    return task_ids_of(read_marks(path, sys.stdin.read))
