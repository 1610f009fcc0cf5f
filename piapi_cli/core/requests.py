"""Building a ``TaskRequest``: the one place a create's body is put together and checked.

From a model, a task type, ``-i`` assignments and/or an input object, and the settings, it
returns the request with its warnings: the catalog lookup, the input's validation, the
service mode a model needs, the webhook config. ``create``, ``create --dry-run``, batch runs
and the Python API all go through it, so what a dry run prints is what a create sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import field, record, replace
from piapi_cli.api.tasks import Task, TaskRequest
from piapi_cli.core.catalog import Catalog, check_model, load_catalog
from piapi_cli.core.inputs import build_input
from piapi_cli.core.uploads import FileRef, check_files, find_files, placeholder, resolve_files
from piapi_cli.core.validation import validate_input

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.core.ids import NamedTask

SERVICE_MODES = ("public", "private")


@record()
class Built:
    """A request ready to send (once its local files are uploaded), and what to tell the user."""

    request: TaskRequest
    warnings: list[str] = field(default_factory=list)
    #: local files named with ``key=@path``: uploaded (or inlined) by ``with_uploads``
    files: list[FileRef] = field(default_factory=list)
    #: a webhook secret made up because none was given (show it once: the receiver needs it)
    generated_secret: str | None = None

    def preview(self, *, inline: bool = False) -> dict[str, Any]:
        """The body as a dry run shows it: local files as ``@path`` (to be uploaded), or with
        ``inline`` the data: URI that would be sent, abbreviated."""
        if inline and self.files:
            request = replace(self.request, input=resolve_files(self.request.input, str, inline=True, shown=True))
            return request.body()
        body: dict[str, Any] = placeholder(self.request.body())
        return body

    def with_uploads(self, upload: Callable[[Path], str], *, inline: bool = False) -> TaskRequest:
        """The request with every local file replaced by its uploaded URL (or a data: URI)."""
        if not self.files:
            return self.request
        return replace(self.request, input=resolve_files(self.request.input, upload, inline=inline))


def check_webhook_url(url: str) -> str:
    """An http(s) URL with a host, or a usage error (checked before anything is sent)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url.strip()):
        raise UsageError(f"webhook {url!r}: expected an http:// or https:// URL with a host", option="webhook")
    return url.strip()


def build_request(
    model: str,
    task_type: str,
    *,
    assignments: Iterable[str] = (),
    base_input: Mapping[str, Any] | None = None,
    service_mode: str | None = None,
    default_service_mode: str | None = None,
    webhook: str | None = None,
    webhook_secret: str | None = None,
    make_secret: Callable[[], str] | None = None,
    validate: bool = True,
    catalog: Catalog | None = None,
) -> Built:
    """Build and check a create's request; raises ``UsageError`` (nothing sent) when it is wrong.

    ``service_mode`` is the user's choice; else the model's own (TTS runs only in public mode);
    else ``default_service_mode`` (the setting). A webhook without a secret gets ``make_secret()``
    (the CLI passes piapi listen's own, so deliveries to it verify without more flags), by
    default a new random one.
    """
    catalog = catalog or load_catalog(user=True)
    schema = catalog.task_type(model, task_type)
    known_model = catalog.model(model)
    model_name = known_model.name if known_model else model

    task_input = build_input(assignments, dict(base_input) if base_input else None, schema)
    files = find_files(task_input)
    check_files(files)  # exist, within the size limit: before anything is sent

    # a near miss of a known name is refused (a typo costs a task); without validation, a warning
    warnings = check_model(catalog, model, task_type, validate=validate)
    if schema is not None:
        warnings += validate_input(schema, placeholder(task_input), validate=validate)

    config: dict[str, Any] = {}
    mode = service_mode or (known_model.service_mode if known_model else None) or default_service_mode or None
    if mode is not None and mode not in SERVICE_MODES:
        raise UsageError(f"service mode {mode!r}: expected public or private")
    if mode:
        config["service_mode"] = mode
    generated = None
    if webhook_secret and not webhook:
        raise UsageError("webhook_secret without a webhook URL", option="webhook_secret", advice="needs_webhook")
    if webhook:
        if not webhook_secret:
            if make_secret is None:
                from piapi_cli.core.listener.secret import new_webhook_secret

                make_secret = new_webhook_secret
            webhook_secret = generated = make_secret()
        config["webhook_config"] = {"endpoint": check_webhook_url(webhook), "secret": webhook_secret}
    request = TaskRequest(model_name, task_type, task_input, config or None)
    request.check_size()  # over the API's limit: refused here, before anything is sent
    return Built(request, warnings, files, generated)


@record(frozen=True)
class PastRequest:
    """What a past task was created with: the start of ``create --from``."""

    model: str
    task_type: str
    input: dict[str, Any]
    source: str  # "journal" or "api"


def past_request(past: NamedTask, *, fetch: Callable[[str], Task]) -> PastRequest:
    """A past task's model, task type and input: from the journal, else from the API (``past``
    from ``core.ids.resolve_task``). Its webhook config is not carried over."""
    entry = past.entry
    if entry is not None:
        if not entry.model or not entry.task_type:
            raise UsageError(f"from {past.given}: the journal holds no model and task type for it", option="from")
        return PastRequest(entry.model, entry.task_type, dict(entry.input or {}), "journal")
    task = fetch(past.task_id or past.given)
    if not task.model or not task.task_type:
        raise UsageError(f"from {past.given}: PiAPI's task object names no model and task type", option="from")
    return PastRequest(task.model, task.task_type, dict(task.input), "api")
