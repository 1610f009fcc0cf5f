"""What a webhook delivery says, and the event ``piapi listen`` makes of it: the delivery's
task and timestamp (``parse_delivery``), the delivery as stored (``StoredEvent``), the event
as reported (``WebhookEvent``: a JSON document, and the line printed), and the task's JSON
made once for both the journal's row and the event (``TaskJSON``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from json.encoder import encode_basestring as _string  # a string as JSON, ensure_ascii=False
from typing import Any

from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import Task, scrub_value, shows_secret

#: forward states: nothing to forward, not yet done, every destination took it, one did not
NONE, PENDING, OK, FAILED = "none", "pending", "ok", "failed"


@record()
class StoredEvent:
    id: int
    received_at: float
    event: str
    task_id: str
    status: str
    timestamp: int | None
    source: str
    body: bytes  # as received (unsealed)
    headers: dict[str, str]
    forward_state: str = NONE
    forwards: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: True when an older delivery arrived after a newer one: the journal row was left alone
    stale: bool = False


def parse_delivery(body: bytes) -> tuple[Task, int | None] | str:
    """The task and timestamp of ``{"timestamp": ..., "data": {task}}``, or why it is not one."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return "the body is not JSON"
    if not isinstance(document, dict):
        return "the body is not a JSON object"
    data = document.get("data")
    if not isinstance(data, dict):
        return "the body has no data object"
    task_id = data.get("task_id")
    if not isinstance(task_id, str) or not task_id.strip():
        return "data has no task_id"
    stamp = document.get("timestamp")
    timestamp: int | None = None
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and abs(stamp) < 1e13:
        timestamp = int(stamp)
    elif isinstance(stamp, str) and stamp.strip().isdigit() and len(stamp.strip()) < 14:
        timestamp = int(stamp.strip())
    return Task.from_api(data), timestamp


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TaskJSON:
    """A task's JSON as reported (``Task.to_json``: secrets redacted) and its compact text,
    each made once, when first asked for: a delivery's journal row and its event share them.
    Whatever of ``secrets`` (the API key, webhook secrets) the task shows, echoed in a prompt
    or a URL, is scrubbed from both: the event printed shows no more than the journal keeps."""

    __slots__ = ("task", "_secrets", "_document", "_text")

    def __init__(self, task: Task, secrets: Sequence[str] = ()) -> None:
        self.task = task
        self._secrets = secrets
        self._document: dict[str, Any] | None = None
        self._text: str | None = None

    @property
    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._make()
        return self._document  # type: ignore[return-value]  # (made above)

    @property
    def text(self) -> str:
        """``document`` as ``piapi listen`` prints JSON (compact, ``ensure_ascii=False``)."""
        if self._text is None:
            self._make()
        return self._text  # type: ignore[return-value]  # (made above)

    def _make(self) -> None:
        document = self.task.to_json()
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        if self._secrets and shows_secret(text, self._secrets):
            document = scrub_value(document, *self._secrets)
            text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        self._document, self._text = document, text


@record()
class WebhookEvent:
    """One accepted delivery (or one the backstop found), as reported and acted on."""

    stored: StoredEvent
    task: Task
    #: the task's JSON (made for its journal row already, when it has one)
    task_json: TaskJSON | None = field(default=None, repr=False)
    _json: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.stored.event

    def to_json(self) -> dict[str, Any]:
        if self._json is None:
            self._json = {**self._head(), "task": self._task_json().document}
        return self._json

    def line(self) -> str:
        """``to_json()`` as one line of compact JSON (``ensure_ascii=False``): the task's text is
        reused, the rest written here (what ``json.dumps`` would write; the common case)."""
        stored, task = self.stored, self.task
        stamp = stored.timestamp
        if type(stored.id) is not int or not (stamp is None or type(stamp) is int):
            return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))
        try:
            return (
                f'{{"id":{stored.id!r},"received_at":"{rfc3339(stored.received_at)}","event":{_string(stored.event)},'
                f'"task_id":{_string(task.task_id)},"status":{_string(task.status)},"model":{_string(task.model)},'
                f'"task_type":{_string(task.task_type)},"timestamp":{"null" if stamp is None else repr(stamp)},'
                f'"source":{_string(stored.source)},"task":{self._task_json().text}}}'
            )
        except TypeError:  # (a field that is not a string)
            return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))

    def _task_json(self) -> TaskJSON:
        if self.task_json is None:
            self.task_json = TaskJSON(self.task)
        return self.task_json

    def _head(self) -> dict[str, Any]:
        return {
            "id": self.stored.id,
            "received_at": rfc3339(self.stored.received_at),
            "event": self.stored.event,
            "task_id": self.task.task_id,
            "status": self.task.status,
            "model": self.task.model,
            "task_type": self.task.task_type,
            "timestamp": self.stored.timestamp,
            "source": self.stored.source,
        }
