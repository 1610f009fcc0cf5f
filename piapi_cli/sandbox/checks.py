"""What the sandbox refuses in a create request or an upload, as the API would (answered 400)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piapi_cli.api.tasks import as_dict
from piapi_cli.sandbox.replies import Reply, json_object

if TYPE_CHECKING:
    from piapi_cli.core.catalog import Model, TaskType

#: a create the sandbox takes: the model and task type, the task type given, the input, the config
Checked = tuple["Model", "TaskType", str, dict[str, Any], dict[str, Any]]


def checked_create(body: bytes) -> Checked | Reply:
    """A create request's parts, or the 400 the API answers for it."""
    from piapi_cli.core.catalog import load_catalog

    request = json_object(body)
    if isinstance(request, Reply):
        return request
    for name in ("model", "task_type", "input"):
        if request.get(name) in (None, ""):
            return Reply.error(400, f"invalid request: {name} is required")
    model, task_type, task_input = request["model"], request["task_type"], request["input"]
    if not isinstance(model, str) or not isinstance(task_type, str) or not isinstance(task_input, dict):
        return Reply.error(400, "invalid request: model and task_type must be strings, input an object")
    known = load_catalog().model(model)
    if known is None:
        return Reply.error(400, f"model {model} is not supported")
    if known.discontinued:
        return Reply.error(400, f"model {model} has been discontinued")
    spec = known.task_types.get(task_type)
    if spec is None:
        return Reply.error(400, f"task_type {task_type} is not supported by model {known.name}")
    missing = [k for k, f in spec.fields.items() if f.required and k not in task_input]
    if missing and not spec.open:
        return Reply.error(400, f"invalid request: input.{missing[0]} is required")
    if request.get("config") is not None and not isinstance(request["config"], dict):
        return Reply.error(400, "invalid request: config must be an object")
    config = as_dict(request.get("config"))
    refused = webhook_refusal(config["webhook_config"]) if config.get("webhook_config") is not None else None
    if refused:
        return Reply.error(400, f"invalid request: {refused}")
    if known.service_mode and config.get("service_mode") not in (known.service_mode,):
        return Reply.error(400, f"model {known.name} requires config.service_mode {known.service_mode!r}")
    return known, spec, task_type, task_input, config


def webhook_refusal(webhook: Any) -> str | None:
    """Why a ``webhook_config`` cannot be delivered to, or None: refused at create, so a
    bad endpoint is the caller's error now rather than a delivery that can never succeed."""
    from urllib.parse import urlsplit

    if webhook is None:
        return None
    if not isinstance(webhook, dict):
        return "config.webhook_config must be an object"
    endpoint, secret = webhook.get("endpoint", ""), webhook.get("secret", "")
    if secret is not None and not isinstance(secret, str):
        return "config.webhook_config.secret must be a string"
    if endpoint in ("", None):
        return None
    if not isinstance(endpoint, str):
        return "config.webhook_config.endpoint must be a string"
    problem = "config.webhook_config.endpoint must be an http or https URL with a host"
    if len(endpoint) > 2048 or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in endpoint):
        return problem
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return problem
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return problem
    return None


#: the file types the upload endpoint takes (PiAPI lists its own; others are refused)
UPLOAD_EXTENSIONS = frozenset(
    "jpg jpeg png webp gif bmp tif tiff mp4 mov webm avi mkv mp3 wav m4a aac ogg flac glb gltf obj fbx".split()
)


def upload_refusal(name: str, data: str) -> str | None:
    """Why an upload is refused: an extension not listed, or a data URI of another type."""
    import mimetypes

    ext = name.rsplit(".", 1)[-1].lower()
    if ext not in UPLOAD_EXTENSIONS:
        return f"files of type .{ext} are not accepted"
    if data.startswith("data:"):
        declared = data[5:].split(";", 1)[0].split(",", 1)[0].strip().lower()
        expected = mimetypes.guess_type(f"x.{ext}")[0]
        if expected is not None and declared and declared != expected:
            return f"the data URI's type {declared} does not match the extension .{ext}"
    return None
