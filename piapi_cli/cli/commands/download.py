"""piapi download: save every output file of tasks, safely and resumably."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from piapi_cli.cli.commands._options import JqOption, JsonOption, QuietOption, TaskIdsArgument, examples

if TYPE_CHECKING:
    from piapi_cli.api.tasks import Task
    from piapi_cli.cli.app import State
    from piapi_cli.core.downloads import Report

EPILOG = examples(
    "piapi download 1631d053-2352-4add-95cc-360fc52d5f89",
    'piapi download "$ID" --dir out --name "{model}-{task_id}-{index}.{ext}" --metadata',
    "piapi create -m Qubico/flux1-dev -t txt2img -i prompt=cat --download out",
    notes="Name fields: {task_id} {index} {key} (the URL's JSON path) {model} {task_type} {ext} {name} "
    "(the server's file name). Files stream to NAME.part and are renamed when complete; run it again to "
    "resume. stdout: the saved paths, one per line. Exit 9 when an output could not be downloaded.",
)


@dataclass
class DownloadOptions:
    directory: Path
    template: str
    overwrite: bool = False
    skip_existing: bool = False
    metadata: bool = False


DirOption = Annotated[Path, typer.Option("--dir", "-d", metavar="DIR", help="Where to save the files")]
NameOption = Annotated[
    str, typer.Option("--name", metavar="TEMPLATE", help="File name template (fields below)", show_default=True)
]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace files that already exist")]
SkipOption = Annotated[bool, typer.Option("--skip-existing", help="Leave files that already exist, without error")]
MetadataOption = Annotated[
    bool, typer.Option("--metadata", help="Write NAME.json beside each file: task, model, input, source URL")
]
DownloadDirOption = Annotated[
    Optional[Path],
    typer.Option("--download", metavar="DIR", help="Save the outputs into DIR when done (implies --wait)"),
]


def download(
    ctx: typer.Context,
    task_ids: TaskIdsArgument,
    directory: DirOption = Path("."),
    name: NameOption = "{task_id}-{index}.{ext}",
    overwrite: OverwriteOption = False,
    skip_existing: SkipOption = False,
    metadata: MetadataOption = False,
    as_json: JsonOption = False,
    jq: JqOption = None,
    quiet: QuietOption = False,
) -> None:
    """Download every output file of completed tasks."""
    from piapi_cli.api.errors import ExitCode
    from piapi_cli.core.downloads import check_template

    state: State = ctx.obj
    state.output.quiet = state.output.quiet or quiet
    check_template(name)
    client = state.session.client
    tasks = [client.get_task(task_id) for task_id in dict.fromkeys(task_ids)]
    journal = state.session.journal
    for task in tasks:
        if journal is not None:
            journal.update(task)
    ready = [t for t in tasks if t.succeeded]
    options = DownloadOptions(directory, name, overwrite, skip_existing, metadata)
    report = download_and_report(state, ready, options, as_json=as_json, jq=jq)
    worst = ExitCode.OK
    for task in tasks:
        if task.succeeded:
            continue
        if task.is_terminal:
            state.output.error(f"task {task.task_id} {task.status}: nothing to download ({task.failure_message()})")
            worst = max(worst, ExitCode.TASK_FAILED)
        else:
            hint = f"{state.session.prog} wait {task.task_id} --download {directory}"
            state.output.error(f"task {task.task_id} is still {task.status}; download it when done: {hint}")
            worst = max(worst, ExitCode.WAIT_TIMEOUT)
    report.raise_for_failures()
    if worst:
        raise typer.Exit(worst)


def download_and_report(
    state: State, tasks: list[Task], options: DownloadOptions, *, as_json: bool, jq: str | None
) -> Report:
    """Download the tasks' outputs, record them, and print paths (or JSON with local_files)."""
    from piapi_cli.cli.display import DownloadDisplay
    from piapi_cli.core.downloads import Downloader

    session = state.session
    urls = [item.url for task in tasks for item in task.urls]
    with DownloadDisplay(state.output) as display:
        downloader = Downloader(
            session.download_http(urls),
            options.directory,
            template=options.template,
            overwrite=options.overwrite,
            skip_existing=options.skip_existing,
            metadata=options.metadata,
            sleep=session.sleep,
            on_start=display.start,
            on_bytes=display.advance,
            on_done=display.done,
        )
        planned = downloader.plan(tasks)
        report = downloader.run(planned)
    journal = session.journal
    local: dict[str, list[dict[str, object]]] = {t.task_id: [] for t in tasks}
    for saved in report.files:
        local[saved.task_id].append(saved.to_json())
        if journal is not None:
            journal.record_download(saved.task_id, saved.url, saved.path, saved.bytes, saved.sha256)
    if as_json or jq is not None:
        docs = [t.to_json() | {"local_files": local[t.task_id]} for t in tasks]
        state.output.document(docs[0] if len(docs) == 1 else docs, jq)
    else:
        for saved in report.files:
            state.output.line(saved.path)
    for failure in report.failures:
        state.output.error(f"could not download {failure.url}: {failure.message}")
    return report
