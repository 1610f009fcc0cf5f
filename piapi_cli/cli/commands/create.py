"""piapi create: create a task on any model, optionally waiting for its result."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

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

if TYPE_CHECKING:
    from piapi_cli.cli.app import State
    from piapi_cli.cli.session import Session

EPILOG = examples(
    "piapi create -m Qubico/flux1-dev -t txt2img -i prompt='a little cat' --wait",
    "ID=$(piapi create -m midjourney -t imagine -i prompt='a lighthouse' -i process_mode=fast)",
    "piapi create -m kling -t video_generation -i prompt=waves -i camera_control.type=simple \\",
    "    -i camera_control.config.zoom:=5 --dry-run",
    "piapi create --from \"$ID\" -i prompt='a lighthouse at dawn' --wait",
    'echo \'{"prompt": "a fox"}\' | piapi create -m Qubico/flux1-schnell -t txt2img \\',
    "    --input-file - -i batch_size=2",
    notes="Inputs: -i key=value is coerced to the field's type from the catalog (see: piapi models MODEL); "
    "-i key:=JSON sends raw JSON; dotted keys nest; -i key=@FILE uploads a local file and sends its URL.",
)


class ServiceMode(str, enum.Enum):
    public = "public"
    private = "private"


def create(
    ctx: params.Context,
    model: Annotated[
        Optional[str],
        params.Option(
            "--model",
            "-m",
            metavar="MODEL",
            help="Model, e.g. Qubico/flux1-dev (see: piapi models)",
            show_default=False,
        ),
    ] = None,
    task_type: Annotated[
        Optional[str],
        params.Option(
            "--task-type", "-t", metavar="TYPE", help="Task type of the model, e.g. txt2img", show_default=False
        ),
    ] = None,
    from_task: Annotated[
        Optional[str],
        params.Option(
            "--from",
            metavar="ID",
            help="Start from a past task (the journal's, else the API's): its model, type and input; -i changes fields",
            show_default=False,
        ),
    ] = None,
    inputs: Annotated[
        Optional[list[str]],
        params.Option("--input", "-i", metavar="KEY=VALUE", help="An input field; repeat it. KEY:=JSON for raw JSON"),
    ] = None,
    input_file: Annotated[
        Optional[str],
        params.Option(
            "--input-file", metavar="FILE", help="A JSON object of inputs; - reads stdin. -i overrides its keys"
        ),
    ] = None,
    webhook: Annotated[
        Optional[str], params.Option("--webhook", metavar="URL", help="PiAPI POSTs task updates to this URL")
    ] = None,
    webhook_secret: Annotated[
        Optional[str],
        params.Option(
            "--webhook-secret",
            metavar="SECRET",
            help="Sent back in the x-webhook-secret header of each delivery; made up when not given "
            "[env: PIAPI_WEBHOOK_SECRET]",
        ),
    ] = None,
    service_mode: Annotated[
        Optional[ServiceMode],
        params.Option("--service-mode", help="public: pay as you go; private: host-your-account", show_default=False),
    ] = None,
    wait: Annotated[
        bool, params.Option("--wait", "-w", help="Wait for the task to finish and show its result")
    ] = False,
    timeout: TimeoutOption = None,
    interval: IntervalOption = None,
    as_json: JsonOption = False,
    jq: JqOption = None,
    quiet: QuietOption = False,
    dry_run: Annotated[
        bool,
        params.Option("--dry-run", help="Print the request body that would be sent (secrets redacted); send nothing"),
    ] = False,
    no_validate: Annotated[bool, params.Option("--no-validate", help="Skip the catalog's input checks")] = False,
    inline: Annotated[
        bool, params.Option("--inline", help="Send -i key=@FILE as a data: URI instead of uploading it")
    ] = False,
    download: DownloadDirOption = None,
    name: NameOption = DEFAULT_NAME,
    overwrite: OverwriteOption = False,
    skip_existing: SkipOption = False,
    metadata: MetadataOption = False,
    preview: PreviewOption = False,
    no_preview: NoPreviewOption = False,
) -> None:
    """Create a task. Prints its ID, or with --wait its result.

    The request is sent once and never retried once it may have reached PiAPI: a second
    create would be a second paid task.
    """
    from piapi_cli.api.errors import UsageError
    from piapi_cli.api.tasks import redact
    from piapi_cli.cli.output import structured
    from piapi_cli.cli.pipeline import preflight, wait_and_show
    from piapi_cli.core.inputs import read_input_file
    from piapi_cli.core.requests import build_request, past_request
    from piapi_cli.core.runner import DownloadPlan

    state: State = ctx.obj
    output = state.output
    session = state.session
    output.quiet = output.quiet or quiet
    base: dict[str, Any] | None = None
    if from_task is not None:
        from piapi_cli.cli.taskids import resolve

        past = past_request(resolve(state, from_task, journal=session.journal), fetch=session.client.get_task)
        model, task_type, base = model or past.model, task_type or past.task_type, past.input
        output.info(f"from task {from_task} ({past.source}): {past.model} {past.task_type}")
    if not model or not task_type:
        raise UsageError("give --model and --task-type (or --from ID to start from a past task)")
    if input_file is not None:
        from_file = read_input_file(input_file, sys.stdin.read() if input_file == "-" else None)
        base = {**(base or {}), **from_file}
    if webhook and not webhook_secret:
        webhook_secret = session.settings["webhook_secret"] or None
    if webhook_secret:
        session.extra_secrets.append(webhook_secret)
    built = build_request(
        model,
        task_type,
        assignments=inputs or [],
        base_input=base,
        service_mode=service_mode.value if service_mode else None,
        default_service_mode=None if dry_run else session.settings["service_mode"] or None,
        webhook=webhook,
        webhook_secret=webhook_secret,
        make_secret=lambda: listener_secret(session),
        validate=not no_validate,
    )
    from piapi_cli.cli.hints import noted

    for warning in built.warnings:
        output.warn(noted(warning, session))
    plan = DownloadPlan(download, name, overwrite, skip_existing, metadata) if download is not None else None
    preflight(jq, plan)  # every check that can fail, before anything is sent

    if dry_run:
        output.render(lambda: redact(built.preview()), as_json=True, jq=jq, sent=False)
        return
    if built.generated_secret:
        output.info(
            f"webhook secret: {built.generated_secret} (piapi listen's own, made once and kept; "
            "give it to your receiver, or choose one with --webhook-secret)"
        )

    client = session.client
    if timeout and (wait or plan is not None):  # --timeout bounds the whole command, the create included
        client.until = client.clock() + timeout

    def upload(path: Path) -> str:
        output.info(f"uploading {path} ...")
        return client.upload_file(path.name, path.read_bytes())

    request = built.with_uploads(upload, inline=inline)
    submitted = session.runner().submit(request)
    task = submitted.task
    if submitted.journal_error is not None:
        # the task exists: its ID goes to stdout whatever happened to the journal
        output.error(f"{submitted.journal_error.message} (task {task.task_id} was created)")

    if not wait and plan is None:
        output.render(task.to_json, as_json=as_json, jq=jq, lines=lambda: [task.task_id])
        if not structured(as_json, jq):
            hint = f"{session.prog} wait {task.task_id}"
            output.info(f"created {request.model} {task_type} task ({task.status}); wait for it: {hint}")
        return

    # what is left of --timeout is the wait's, which abandons a poll in flight at its deadline
    left = max(0.001, client.until - client.clock()) if client.until is not None else timeout
    client.until = None
    code = wait_and_show(
        state,
        [task.task_id],
        timeout=left,
        interval=interval,
        as_json=as_json,
        jq=jq,
        known={task.task_id: task},
        download=plan,
        preview=not no_preview and (preview or bool(session.settings["preview"])),
        preview_asked=preview,
    )
    if code:
        raise params.Exit(code)


def listener_secret(session: Session) -> str:
    """The secret ``piapi listen`` checks by default, made on first use."""
    from piapi_cli.core.listener.secret import stored_webhook_secret
    from piapi_cli.core.settings import config_dir

    return stored_webhook_secret(config_dir(session.environ))
