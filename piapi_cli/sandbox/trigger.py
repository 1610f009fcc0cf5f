"""``piapi trigger``: realistic webhook deliveries for any receiver, without spending credits.

A delivery is built from the sandbox's task shapes (the emulator creates a task and is asked
for it at each wanted status, on its own clock) or from a real task, and POSTed as PiAPI does:
``{"timestamp", "data"}`` with the secret in ``x-webhook-secret``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from piapi_cli.api.errors import ConnectionFailed, UsageError
from piapi_cli.api.records import record
from piapi_cli.core.journal.events import event_name

if TYPE_CHECKING:
    import httpx

    from piapi_cli.core.catalog import TaskType

#: status words accepted by --status, and the status each means
STATUS_WORDS = {
    "pending": "pending", "created": "pending", "staged": "staged", "processing": "processing",
    "completed": "completed", "failed": "failed", "cancelled": "cancelled", "canceled": "cancelled",
}  # fmt: skip
_MARKERS = {"failed": "[sandbox:fail]", "staged": "[sandbox:staged]"}
_MARKER_KEY = "_piapi_trigger"


@record()
class Delivery:
    event: str
    status: str
    timestamp: int
    data: dict[str, Any]

    def body(self) -> bytes:
        return json.dumps({"timestamp": self.timestamp, "data": self.data}, separators=(",", ":")).encode()


def parse_statuses(text: str) -> list[str]:
    """``completed`` or a lifecycle in order: ``pending,processing,completed``."""
    found = []
    for word in (part.strip().lower().removeprefix("task.") for part in text.split(",")):
        if not word:
            continue
        if word not in STATUS_WORDS:
            raise UsageError(f"--status {word!r}: expected one of {', '.join(sorted(set(STATUS_WORDS)))}")
        found.append(STATUS_WORDS[word])
    if not found:
        raise UsageError("--status needs at least one status")
    if "failed" in found and "completed" in found:
        raise UsageError("--status: a task ends either completed or failed, not both")
    return found


def placeholder_input(spec: TaskType | None) -> dict[str, Any]:
    """An input a task type accepts: each required field (and the prompt) filled in plausibly."""
    if spec is None:
        return {"prompt": "a test delivery from piapi trigger"}
    found: dict[str, Any] = {}
    for name, item in spec.fields.items():
        if not item.required and name != "prompt":
            continue
        if item.enum:
            found[name] = item.enum[0]
        elif item.type == "string":
            found[name] = _text_for(name)
        elif item.type in ("integer", "number"):
            value = item.default if isinstance(item.default, (int, float)) else (item.min if item.min else 1)
            found[name] = int(value) if item.type == "integer" else float(value)
        elif item.type == "boolean":
            found[name] = bool(item.default)
        elif item.type == "array":
            found[name] = [_text_for(name)] * max(1, item.min_items or 1)
        else:
            found[name] = {}
    return found


def _text_for(name: str) -> str:
    if "task_id" in name:
        return "00000000-0000-4000-8000-000000000000"
    if any(word in name for word in ("video",)):
        return "https://example.com/input.mp4"
    if any(word in name for word in ("audio",)):
        return "https://example.com/input.wav"
    if any(word in name for word in ("image", "mask", "url", "target", "swap")):
        return "https://example.com/input.png"
    return "a test delivery from piapi trigger"


def sandbox_deliveries(
    model: str,
    task_type: str | None,
    statuses: list[str],
    *,
    endpoint: str,
    secret: str,
    now: float | None = None,
) -> list[Delivery]:
    """One delivery per status, of one task made by the sandbox (its shapes, its timing)."""
    from piapi_cli.core.catalog import load_catalog
    from piapi_cli.sandbox import Emulator, MemoryStore

    catalog = load_catalog()
    known = catalog.model(model)
    if known is None:
        raise UsageError(f"unknown model {model!r} (see: piapi models)")
    task_type = task_type or next(iter(known.task_types))
    spec = known.task_types.get(task_type)
    if spec is None:
        raise UsageError(f"{known.name} has no task type {task_type!r}; it has: {', '.join(known.task_types)}")
    clean = placeholder_input(spec)
    marked = dict(clean)
    for status, marker in _MARKERS.items():
        if status in statuses:
            marked[_MARKER_KEY] = marker
    moment = [(time.time() if now is None else now) - 60.0]
    emulator = Emulator(MemoryStore(), clock=lambda: moment[0])
    config: dict[str, Any] = {"webhook_config": {"endpoint": endpoint, "secret": secret}}
    if known.service_mode:
        config["service_mode"] = known.service_mode
    request = {"model": known.name, "task_type": task_type, "input": marked, "config": config}
    created = _call(emulator, "POST", "/api/v1/task", request)
    path = f"/api/v1/task/{created['task_id']}"
    found: list[Delivery] = []
    seen: list[str] = []
    for wanted in statuses:
        if wanted == "cancelled":
            _call(emulator, "DELETE", path)
        data = _advance_to(emulator, path, wanted, moment)
        data["input"] = clean
        found.append(Delivery(event_name(wanted, seen), wanted, int(moment[0]), data))
        seen.append(wanted)
    return found


def _advance_to(emulator: Any, path: str, wanted: str, moment: list[float]) -> dict[str, Any]:
    """The task as the sandbox shows it once it reaches ``wanted`` (moving its clock forward)."""
    for _ in range(12_000):  # 20 minutes of sandbox time in 0.1 s steps
        data = _call(emulator, "GET", path)
        status = "cancelled" if data["status"] == "canceled" else data["status"]
        if status == wanted:
            return data
        if status in ("completed", "failed", "cancelled"):
            break
        moment[0] += 0.1
    raise UsageError(f"--status {wanted}: a sandbox task does not reach it from where the list left it")


def _call(emulator: Any, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = json.dumps(body).encode() if body is not None else b""
    reply = emulator.handle(method, path, {"x-api-key": "piapi-trigger"}, payload)
    document = json.loads(reply.body or b"{}")
    if reply.status != 200:
        raise UsageError(f"the sandbox refused it: {document.get('message', reply.status)}")
    data: dict[str, Any] = document.get("data") or {}
    return data


def task_delivery(data: dict[str, Any], *, endpoint: str, secret: str, now: float | None = None) -> Delivery:
    """A delivery of a real task (from the journal or the API), as it is now."""
    from piapi_cli.api.tasks import normalize_status

    data = json.loads(json.dumps(data))  # a copy to edit
    config = data.get("config")
    hook = {"webhook_config": {"endpoint": endpoint, "secret": secret}}
    data["config"] = (config if isinstance(config, dict) else {}) | hook
    status = normalize_status(data.get("status"))
    stamp = int(time.time() if now is None else now)
    return Delivery(event_name(status, ()), status, stamp, data)


def send(http: httpx.Client, url: str, delivery: Delivery, secret: str) -> int:
    """POST one delivery as PiAPI does; returns the receiver's HTTP status."""
    import httpx

    headers = {"content-type": "application/json", "x-webhook-secret": secret}
    try:
        response = http.post(url, content=delivery.body(), headers=headers)
    except httpx.HTTPError as exc:
        raise ConnectionFailed(f"could not deliver to {url}: {type(exc).__name__}: {exc}") from None
    return response.status_code


def trigger_client(url: str) -> httpx.Client:
    from piapi_cli.api import factory

    return factory.http_client(factory.TRIGGER, [url])


def check_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r} is not an http:// or https:// URL")
    return url
