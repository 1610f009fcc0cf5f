"""piapi create: create a task on any model, optionally waiting for its result."""

from __future__ import annotations

import enum
import sys
from pathlib import Path

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
    from typing import Any

    from piapi_cli.api.tasks import Task
    from piapi_cli.cli.app import State
    from piapi_cli.cli.session import Session
    from piapi_cli.core.requests import Built
    from piapi_cli.core.runner import DownloadPlan

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


ModelOption = Annotated[
    Optional[str],
    params.Option(
        "--model",
        "-m",
        metavar="MODEL",
        help="Model, e.g. Qubico/flux1-dev (see: piapi models)",
        show_default=False,
    ),
]
TaskTypeOption = Annotated[
    Optional[str],
    params.Option("--task-type", "-t", metavar="TYPE", help="Task type of the model, e.g. txt2img", show_default=False),
]
FromOption = Annotated[
    Optional[str],
    params.Option(
        "--from",
        metavar="ID",
        help="Start from a past task (the journal's, else the API's): its model, type and input; -i changes fields",
        show_default=False,
    ),
]
InputsOption = Annotated[
    Optional[list[str]],
    params.Option("--input", "-i", metavar="KEY=VALUE", help="An input field; repeat it. KEY:=JSON for raw JSON"),
]
InputFileOption = Annotated[
    Optional[str],
    params.Option("--input-file", metavar="FILE", help="A JSON object of inputs; - reads stdin. -i overrides its keys"),
]
WebhookOption = Annotated[
    Optional[str], params.Option("--webhook", metavar="URL", help="PiAPI POSTs task updates to this URL")
]
WebhookSecretOption = Annotated[
    Optional[str],
    params.Option(
        "--webhook-secret",
        metavar="SECRET",
        help="Sent back in the x-webhook-secret header of each delivery; made up when not given "
        "[env: PIAPI_WEBHOOK_SECRET]",
    ),
]
ServiceModeOption = Annotated[
    Optional[ServiceMode],
    params.Option("--service-mode", help="public: pay as you go; private: host-your-account", show_default=False),
]
WaitOption = Annotated[bool, params.Option("--wait", "-w", help="Wait for the task to finish and show its result")]
DryRunOption = Annotated[
    bool,
    params.Option(
        "--dry-run",
        help="Print the request body that would be sent (secrets redacted; --inline files as their data: URI, "
        "abbreviated); send nothing",
    ),
]
NoValidateOption = Annotated[bool, params.Option("--no-validate", help="Skip the catalog's input checks")]
InlineOption = Annotated[
    bool, params.Option("--inline", help="Send -i key=@FILE as a data: URI instead of uploading it")
]


def create(
    ctx: params.Context,
    model: ModelOption = None,
    task_type: TaskTypeOption = None,
    from_task: FromOption = None,
    inputs: InputsOption = None,
    input_file: InputFileOption = None,
    webhook: WebhookOption = None,
    webhook_secret: WebhookSecretOption = None,
    service_mode: ServiceModeOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = None,
    interval: IntervalOption = None,
    as_json: JsonOption = False,
    jq: JqOption = None,
    quiet: QuietOption = False,
    dry_run: DryRunOption = False,
    no_validate: NoValidateOption = False,
    inline: InlineOption = False,
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
    from piapi_cli.api.tasks import redact
    from piapi_cli.cli.pipeline import preflight
    from piapi_cli.core.runner import DownloadPlan

    state: State = ctx.obj
    output = state.output
    output.quiet = output.quiet or quiet
    built = _build(
        state, model, task_type, from_task, inputs, input_file, webhook, webhook_secret, service_mode,
        dry_run=dry_run, validate=not no_validate,
    )  # fmt: skip
    plan = DownloadPlan(download, name, overwrite, skip_existing, metadata) if download is not None else None
    preflight(jq, plan)  # every check that can fail, before anything is sent
    if dry_run:
        output.render(lambda: redact(built.preview(inline=inline)), as_json=True, jq=jq)
        return
    client = state.session.client
    if timeout and (wait or plan is not None):  # --timeout bounds the whole command, the create included
        client.until = client.clock() + timeout
    task = _send(state, built, inline=inline)
    if not wait and plan is None:
        _show_created(state, task, f"{built.request.model} {built.request.task_type}", as_json=as_json, jq=jq)
        return
    shown = not no_preview and (preview or bool(state.session.settings["preview"]))
    _wait(state, task, plan, timeout, interval, as_json=as_json, jq=jq, preview=shown, asked=preview)


def _wait(
    state: State,
    task: Task,
    plan: DownloadPlan | None,
    timeout: float | None,
    interval: float | None,
    *,
    as_json: bool,
    jq: str | None,
    preview: bool,
    asked: bool,
) -> None:
    from piapi_cli.cli.pipeline import wait_and_show

    client = state.session.client
    # what is left of --timeout is the wait's, which abandons a poll in flight at its deadline
    left = max(0.001, client.until - client.clock()) if client.until is not None else timeout
    client.until = None
    code = wait_and_show(
        state, [task.task_id], timeout=left, interval=interval, as_json=as_json, jq=jq,
        known={task.task_id: task}, download=plan, preview=preview, preview_asked=asked, created=True,
    )  # fmt: skip
    if code:
        raise params.Exit(code)


def _build(
    state: State,
    model: str | None,
    task_type: str | None,
    from_task: str | None,
    inputs: list[str] | None,
    input_file: str | None,
    webhook: str | None,
    webhook_secret: str | None,
    service_mode: ServiceMode | None,
    *,
    dry_run: bool,
    validate: bool,
) -> Built:
    """The request of this command line, checked, with its warnings shown."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.inputs import read_input_file
    from piapi_cli.core.requests import build_request, past_request

    session, output = state.session, state.output
    base: dict[str, Any] | None = None
    made: list[bool] = []
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
        model, task_type, assignments=inputs or [], base_input=base,
        service_mode=service_mode.value if service_mode else None,
        default_service_mode=None if dry_run else session.settings["service_mode"] or None,
        webhook=webhook, webhook_secret=webhook_secret, make_secret=lambda: listener_secret(session, made),
        validate=validate,
    )  # fmt: skip
    if made:  # the listener's secret, shown the once it is made (piapi listen --print-secret shows it again)
        output.info(
            f"webhook secret: {built.generated_secret} (made now and kept as piapi listen's own; give it to "
            "your receiver, or choose one with --webhook-secret; piapi listen --print-secret shows it again)"
        )
    if built.warnings:
        from piapi_cli.cli.hints import noted  # (the advice tables: for a warning only)

        for warning in built.warnings:
            output.warn(noted(warning, session))
    return built


def _send(state: State, built: Built, *, inline: bool) -> Task:
    """Uploads the request's local files, then sends it once; the task it made."""
    output, session = state.output, state.session
    client = session.client

    def upload(path: Path) -> str:
        output.info(f"uploading {path} ...")
        return client.upload_file(path.name, path.read_bytes())

    submitted = session.runner().submit(built.with_uploads(upload, inline=inline))
    if submitted.journal_error is not None:
        # the task exists: its ID goes to stdout whatever happened to the journal
        output.error(f"{submitted.journal_error.message} (task {submitted.task.task_id} was created)")
    return submitted.task


def _show_created(state: State, task: Task, what: str, *, as_json: bool, jq: str | None) -> None:
    from piapi_cli.cli.output import structured

    output = state.output
    output.render(task.to_json, as_json=as_json, jq=jq, lines=lambda: [task.task_id], created=True)
    if not structured(as_json, jq):
        hint = f"{state.session.prog} wait {task.task_id}"
        output.info(f"created {what} task ({task.status}); wait for it: {hint}")


def listener_secret(session: Session, made: list[bool]) -> str:
    """The secret ``piapi listen`` checks by default, made on first use (``made`` then gets
    True: the one time it is shown)."""
    from piapi_cli.core.listener.secret import SECRET_FILE, stored_webhook_secret
    from piapi_cli.core.settings import config_dir

    directory = config_dir(session.environ)
    existed = (directory / SECRET_FILE).exists()
    secret = stored_webhook_secret(directory)
    if not existed:
        made.append(True)
    return secret
