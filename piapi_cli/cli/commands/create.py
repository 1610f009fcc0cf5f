"""piapi create: create a task on any model, optionally waiting for its result."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

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
    from piapi_cli.cli.app import State

EPILOG = examples(
    "piapi create -m Qubico/flux1-dev -t txt2img -i prompt='a little cat' --wait",
    "ID=$(piapi create -m midjourney -t imagine -i prompt='a lighthouse' -i process_mode=fast)",
    "piapi create -m kling -t video_generation -i prompt=waves -i camera_control.type=simple \\",
    "    -i camera_control.config.zoom:=5 --dry-run",
    'echo \'{"prompt": "a fox"}\' | piapi create -m Qubico/flux1-schnell -t txt2img \\',
    "    --input-file - -i batch_size=2",
    notes="Inputs: -i key=value is coerced to the field's type from the catalog (see: piapi models MODEL); "
    "-i key:=JSON sends raw JSON; dotted keys nest; -i key=@FILE uploads a local file and sends its URL.",
)


class ServiceMode(str, enum.Enum):
    public = "public"
    private = "private"


def create(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Option("--model", "-m", metavar="MODEL", help="Model, e.g. Qubico/flux1-dev (see: piapi models)")
    ],
    task_type: Annotated[
        str, typer.Option("--task-type", "-t", metavar="TYPE", help="Task type of the model, e.g. txt2img")
    ],
    inputs: Annotated[
        Optional[list[str]],
        typer.Option("--input", "-i", metavar="KEY=VALUE", help="An input field; repeat it. KEY:=JSON for raw JSON"),
    ] = None,
    input_file: Annotated[
        Optional[str],
        typer.Option(
            "--input-file", metavar="FILE", help="A JSON object of inputs; - reads stdin. -i overrides its keys"
        ),
    ] = None,
    webhook: Annotated[
        Optional[str], typer.Option("--webhook", metavar="URL", help="PiAPI POSTs task updates to this URL")
    ] = None,
    webhook_secret: Annotated[
        Optional[str],
        typer.Option(
            "--webhook-secret",
            metavar="SECRET",
            help="Sent back in the x-webhook-secret header of each delivery [env: PIAPI_WEBHOOK_SECRET]",
            envvar="PIAPI_WEBHOOK_SECRET",
            show_envvar=False,
        ),
    ] = None,
    service_mode: Annotated[
        Optional[ServiceMode],
        typer.Option("--service-mode", help="public: pay as you go; private: host-your-account", show_default=False),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait for the task to finish and show its result")] = False,
    timeout: TimeoutOption = None,
    interval: IntervalOption = None,
    as_json: JsonOption = False,
    jq: JqOption = None,
    quiet: QuietOption = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the request body that would be sent (secrets redacted); send nothing"),
    ] = False,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="Skip the catalog's input checks")] = False,
    inline: Annotated[
        bool, typer.Option("--inline", help="Send -i key=@FILE as a data: URI instead of uploading it")
    ] = False,
    download: DownloadDirOption = None,
    name: NameOption = "{task_id}-{index}.{ext}",
    overwrite: OverwriteOption = False,
    skip_existing: SkipOption = False,
    metadata: MetadataOption = False,
) -> None:
    """Create a task. Prints its ID, or with --wait its result.

    The request is sent once and never retried once it may have reached PiAPI: a second
    create would be a second paid task.
    """
    from piapi_cli.api.tasks import redact
    from piapi_cli.core.catalog import load_catalog, validate_input
    from piapi_cli.core.inputs import build_input, read_input_file
    from piapi_cli.core.uploads import check_files, find_files, placeholder

    state: State = ctx.obj
    output = state.output
    output.quiet = output.quiet or quiet
    catalog = load_catalog()
    schema = catalog.task_type(model, task_type)
    known_model = catalog.model(model)
    model_name = known_model.name if known_model else model

    base: dict[str, Any] | None = None
    if input_file is not None:
        base = read_input_file(input_file, sys.stdin.read() if input_file == "-" else None)
    task_input = build_input(inputs or [], base, schema)
    files = find_files(task_input)
    check_files(files)  # exist, within 10 MB: before anything is sent

    warning = catalog.lookup_warning(model, task_type)
    if warning:
        output.warn(warning)
    if schema is not None and not no_validate:
        for note in validate_input(schema, placeholder(task_input)):
            output.warn(note)

    config: dict[str, Any] = {}
    mode = service_mode.value if service_mode else None
    if mode is None and known_model is not None and known_model.service_mode:
        mode = known_model.service_mode  # e.g. TTS only runs in public mode
    if mode is None:
        mode = state.session.settings["service_mode"] or None
    if mode:
        config["service_mode"] = mode
    if webhook_secret and not webhook:
        from piapi_cli.api.errors import UsageError

        raise UsageError("--webhook-secret needs --webhook URL")
    if webhook:
        config["webhook_config"] = {"endpoint": webhook, "secret": webhook_secret or ""}

    if dry_run:
        body: dict[str, Any] = {"model": model_name, "task_type": task_type, "input": placeholder(task_input)}
        if config:
            body["config"] = config
        output.document(redact(body), jq)
        return

    session = state.session
    client = session.client
    if files:
        from piapi_cli.core.uploads import resolve_files

        def upload(path: Path) -> str:
            output.info(f"uploading {path} ...")
            return client.upload_file(path.name, path.read_bytes())

        task_input = resolve_files(task_input, upload, inline=inline)

    from piapi_cli.core.journal import journaled_create

    task = journaled_create(
        session.journal,
        session.world,
        lambda: client.create_task(model_name, task_type, task_input, config or None),
        model_name,
        task_type,
        task_input,
        config,
    )
    session.created.append(task.task_id)

    if not wait and download is None:
        if as_json or jq is not None:
            output.tasks([task], as_json=as_json, jq=jq)
        else:
            output.line(task.task_id)
            hint = f"{state.session.prog} wait {task.task_id}"
            output.info(f"created {model_name} {task_type} task ({task.status}); wait for it: {hint}")
        return

    from piapi_cli.cli.commands.wait import wait_and_report

    options = DownloadOptions(download, name, overwrite, skip_existing, metadata) if download else None
    code = wait_and_report(
        state,
        [task.task_id],
        timeout=timeout,
        interval=interval,
        as_json=as_json,
        jq=jq,
        known={task.task_id: task},
        download=options,
    )
    if code:
        raise typer.Exit(code)
