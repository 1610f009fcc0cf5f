"""piapi trigger: send realistic webhook deliveries to any receiver, without spending credits."""

from __future__ import annotations

from pathlib import Path

from piapi_cli.cli.commands._options import examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from piapi_cli.cli.app import State

EPILOG = examples(
    "piapi trigger http://127.0.0.1:8788/webhook",
    "piapi trigger http://localhost:3000/hooks/piapi --status pending,processing,completed -m midjourney -t imagine",
    'piapi trigger https://example.com/hook --status failed --secret "$SECRET"',
    "piapi trigger http://localhost:3000/hooks/piapi --from-task 1631d053",
    notes="Deliveries are POSTed as PiAPI sends them: {timestamp, data} with the secret in x-webhook-secret; "
    "data is a task in the sandbox's shapes (its output URLs point nowhere), or with --from-task a real "
    "task of the journal. Without --secret, the listener's own secret (see piapi listen --print-secret). "
    "stdout: the task ID. Exit 4 when the receiver answers an error, 5 when it cannot be reached.",
)


_StatusOption = Annotated[
    str,
    params.Option(
        "--status",
        "-s",
        metavar="STATUS[,STATUS...]",
        help="pending, staged, processing, completed, failed or cancelled; a list sends each in turn",
    ),
]

_ModelOption = Annotated[str, params.Option("--model", "-m", metavar="MODEL", help="Model of the task")]

_TaskTypeOption = Annotated[
    Optional[str],
    params.Option("--task-type", "-t", metavar="TYPE", help="Task type (default: the model's first)"),
]

_SecretOption = Annotated[
    Optional[str],
    params.Option(
        "--secret",
        metavar="SECRET",
        envvar="PIAPI_WEBHOOK_SECRET",
        show_envvar=False,
        help="Sent in x-webhook-secret [env: PIAPI_WEBHOOK_SECRET] (default: the listener's own)",
        show_default=False,
    ),
]

_SecretFileOption = Annotated[
    Optional[Path],
    params.Option("--secret-file", metavar="FILE", help="Read the secret from this file", show_default=False),
]

_FromTaskOption = Annotated[
    Optional[str],
    params.Option("--from-task", metavar="ID", help="Send this task as it is (journal, else the API)"),
]

_DryRunOption = Annotated[
    bool, params.Option("--dry-run", help="Print the delivery bodies (secret redacted); send nothing")
]


def trigger(
    ctx: params.Context,
    url: Annotated[str, params.Argument(metavar="URL", help="The receiver's URL", show_default=False)],
    status: _StatusOption = "completed",
    model: _ModelOption = "Qubico/flux1-dev",
    task_type: _TaskTypeOption = None,
    secret: _SecretOption = None,
    secret_file: _SecretFileOption = None,
    from_task: _FromTaskOption = None,
    dry_run: _DryRunOption = False,
) -> None:
    """Send realistic webhook deliveries to URL, to test a receiver without spending credits."""
    import json

    from piapi_cli.api.errors import APIStatusError, UsageError
    from piapi_cli.api.tasks import redact
    from piapi_cli.core.listener.secret import resolve_secret
    from piapi_cli.core.settings import config_dir
    from piapi_cli.sandbox import trigger as lib

    state: State = ctx.obj
    output = state.output
    lib.check_url(url)
    the_secret = resolve_secret(secret, secret_file, config_dir(state.session.environ))
    if from_task is not None:
        if "status" in ctx.given:
            raise UsageError("--from-task sends the task as it is: leave out --status")
        deliveries = [lib.task_delivery(_task_data(state, from_task), endpoint=url, secret=the_secret)]
    else:
        deliveries = lib.sandbox_deliveries(
            model, task_type, lib.parse_statuses(status), endpoint=url, secret=the_secret
        )
    if dry_run:
        for delivery in deliveries:
            doc = {"timestamp": delivery.timestamp, "data": redact(delivery.data)}
            output.line(json.dumps(doc, ensure_ascii=False))
        return
    task_id = str(deliveries[0].data.get("task_id"))
    with lib.trigger_client(url) as http:
        for delivery in deliveries:
            answer = lib.send(http, url, delivery, the_secret)
            line = f"sent {delivery.event} ({delivery.status}) of task {task_id} to {url}: {answer}"
            if not 200 <= answer < 300:
                raise APIStatusError(f"{line}, an error", status_code=answer, hint=_hint(answer))
            output.info(line)
    output.line(task_id)


def _task_data(state: State, ident: str) -> dict[str, object]:
    from piapi_cli.api.errors import UsageError
    from piapi_cli.cli.taskids import journal_or_none, resolve

    found = resolve(state, ident, journal=journal_or_none(state))
    if found.entry is not None and found.entry.task is not None:
        return found.entry.task
    if found.task_id is None:
        raise UsageError(f"{found.given}: that create was never answered, so it has no task to send")
    return state.session.client.get_task(found.task_id).to_json()


def _hint(status: int) -> str | None:
    if status == 401:
        return "the receiver wants another secret: give it with --secret or --secret-file"
    if status == 404:
        return "check the URL's path (piapi listen takes deliveries at /webhook)"
    return None
