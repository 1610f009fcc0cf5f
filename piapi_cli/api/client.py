"""HTTP client for PiAPI's Unified API: create, get and cancel tasks, account info.

No typer, no rich: this module is usable from Python on its own::

    from piapi_cli import Client
    with Client(api_key="...") as client:
        task = client.create_task("Qubico/flux1-dev", "txt2img", {"prompt": "a little cat"})

GET and DELETE are retried on connection errors, 429 and 5xx (500, 502, 503, 504) with the
shared jittered backoff (``api.backoff``) that honours ``Retry-After``. A create is never
retried once it may have been carried out: there is no idempotency key, and a second create is
a second paid task. Only answers that prove nothing was created are retried: a connection that
failed before anything was sent, and a 429 (the API refused it, honouring ``Retry-After``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from piapi_cli.api import factory, http
from piapi_cli.api.backoff import Backoff, CallDeadline, parse_retry_after
from piapi_cli.api.errors import (
    APIStatusError,
    ConnectionFailed,
    CreateOutcomeUnknown,
    MalformedResponse,
    ServerError,
    UsageError,
    error_for_status,
)

# kept importable from here, where the first release had them
from piapi_cli.api.factory import USER_AGENT as USER_AGENT
from piapi_cli.api.factory import is_loopback as is_loopback
from piapi_cli.api.factory import tls_context as tls_context
from piapi_cli.api.factory import verify_for as verify_for
from piapi_cli.api.inflate import parsed_json
from piapi_cli.api.tasks import PENDING, URL_SAFE, Task, TaskRequest, scrub, scrub_value

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import httpx

    from piapi_cli.api.history import HistoryEntry, ProviderLoad

DEFAULT_BASE_URL = "https://api.piapi.ai"
DEFAULT_UPLOAD_URL = "https://upload.theapi.app"
#: the largest API answer read (decoded); a task object is a few kilobytes
MAX_ANSWER = 16 * 2**20
#: answers after which a read (GET, DELETE) is tried again: a read is safe to repeat
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: the only answer after which a create is tried again: the API refused it, so nothing was created
CREATE_RETRY_STATUSES = frozenset({429})
#: seconds an API call may take, retries included: a server trickling its answer cannot hold a command
CALL_TIMEOUT = 30.0
#: answers that refuse a create even without the API's JSON message (auth, no such endpoint, rate limit)
REFUSAL_STATUSES = frozenset({401, 403, 404, 405, 413, 429})


class _Log:
    """The ``piapi.http`` logger, imported when first needed: logging costs ~2 ms to import, and a
    debug line can only have a handler if something (``--debug``) imported logging already."""

    def debug(self, message: str, *args: object) -> None:
        if "logging" in sys.modules:
            self._logger().debug(message, *args)

    def warning(self, message: str, *args: object) -> None:
        self._logger().warning(message, *args)

    @staticmethod
    def _logger() -> Any:
        import logging

        return logging.getLogger("piapi.http")


log = _Log()


#: kept for callers of the first release: the same policy, under its old name
RetryPolicy = Backoff


def _describe_body(response: http.Answer, content: bytes) -> str:
    content_type = response.headers.get("content-type", "")
    text = content[:512].decode("utf-8", "replace").strip()
    if not text:
        return "an empty body"
    if "html" in content_type or text.lower().startswith(("<!doctype", "<html")):
        return "an HTML page (a proxy or gateway error?)"
    return f"a non-JSON body ({content_type or 'no content type'})"


class Client:
    """A small, synchronous client of the Unified API.

    ``transport`` replaces the network (tests and the built-in sandbox pass one);
    ``sleep`` and ``rng`` make retries testable without waiting.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        retry: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] | None = None,
        upload_url: str = DEFAULT_UPLOAD_URL,
        call_timeout: float | None = CALL_TIMEOUT,
    ) -> None:
        self._api_key = api_key
        #: seconds a call may take (retries included), and the instant (of ``clock``) a --timeout ends
        self.call_timeout, self.clock = call_timeout, time.monotonic
        self.until: float | None = None
        #: secrets besides the key scrubbed from every task and message (webhook secrets...)
        self.secrets: Callable[[], list[str]] = list
        self.base_url = base_url.rstrip("/")
        self.upload_url = upload_url.rstrip("/")
        self.retry = retry or Backoff()
        self._sleep = sleep
        self._rng = rng
        #: the transport in place of the network, if one was given (the sandbox's serves its files too)
        self.transport = transport
        self._http = factory.engine(
            factory.API,
            [self.base_url, self.upload_url],
            base_url=self.base_url,
            transport=transport,
            headers={"x-api-key": api_key},
            timeouts=_timeouts(timeout),
        )

    # --- public API -----------------------------------------------------------

    def create_task(
        self,
        request: TaskRequest | str,
        task_type: str | None = None,
        input: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Task:
        """POST /api/v1/task with ``request.body()``; never resent once it may have been carried out.

        Takes a ``TaskRequest``, or (as the first release did) model, task type, input and config.
        Raises ``CreateOutcomeUnknown`` for any answer that does not prove the task was refused
        (5xx, an HTML page, an empty, cut or invalid body, ``data: null``, ``code: 500`` in a
        200): the task may exist, and the caller must keep its record.
        """
        if not isinstance(request, TaskRequest):
            request = TaskRequest(request, task_type or "", dict(input or {}), dict(config) if config else None)
        try:
            data = self._request("POST", "/api/v1/task", json_body=request.body(), idempotent=False)
            return Task.from_api(self._task_data(data), default_status=PENDING)
        except (ServerError, MalformedResponse) as exc:
            raise CreateOutcomeUnknown(
                f"the create was sent but its answer proves nothing ({exc.message}); the task may exist "
                "and was not resent, as a second create would be a second paid task",
                hint="look for it on your PiAPI dashboard before creating it again",
            ) from exc
        except APIStatusError as exc:
            if exc.task is not None:
                # whatever the status says, an answer naming a task proves it exists: keep its ID
                log.warning("the create was answered HTTP %d but names task %s", exc.status_code, exc.task["task_id"])
                return Task.from_api(scrub_value(exc.task, self._api_key, *self.secrets()), default_status=PENDING)
            if exc.api_message or exc.status_code in REFUSAL_STATUSES:
                raise  # clearly refused: no task was created
            raise CreateOutcomeUnknown(
                f"the create was answered HTTP {exc.status_code} without the API's message; the task may "
                "exist and was not resent",
                hint="look for it on your PiAPI dashboard before creating it again",
            ) from exc

    def get_task(self, task_id: str) -> Task:
        """GET /api/v1/task/{task_id}."""
        return Task.from_api(self._task_data(self._on_task("GET", task_id)))

    def cancel_task(self, task_id: str) -> str:
        """DELETE /api/v1/task/{task_id}; only a pending task can be cancelled."""
        data = self._on_task("DELETE", task_id)
        return str(data.get("message") or f"task {task_id} canceled")

    def _on_task(self, method: str, task_id: str) -> dict[str, Any]:
        """A call on one task; an error answer names it (``task_id``), for the caller's advice."""
        try:
            return self._request(method, f"/api/v1/task/{_quote(task_id)}")
        except APIStatusError as exc:
            exc.task_id = exc.task_id or task_id.strip()
            raise

    def account_info(self) -> dict[str, Any]:
        """GET /account/info (the answer may hold the key: callers must not print it)."""
        data = self._request("GET", "/account/info")
        inner = data.get("data")
        return inner if isinstance(inner, dict) else data

    def task_history(
        self,
        *,
        page: int = 1,
        page_size: int = 100,
        model: str | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> list[HistoryEntry]:
        """One page of the account's task history (GET /api/open/tasks/histories), newest first;
        ``model`` is a family as the endpoint spells it (``mj``, ``kling``, ``flux``)."""
        from urllib.parse import urlencode

        from piapi_cli.api.history import parse_history_page

        query: dict[str, str | int] = {"page": page, "page_size": page_size}
        if model:
            query["model"] = model
        if start_time is not None:
            query["start_time"] = int(start_time)
        if end_time is not None:
            query["end_time"] = int(end_time)
        return parse_history_page(self._request("GET", f"/api/open/tasks/histories?{urlencode(query)}"))

    def active_tasks(self) -> list[ProviderLoad]:
        """What the account is running now, per provider (GET /account/active_tasks)."""
        from piapi_cli.api.history import parse_active_tasks

        return parse_active_tasks(self._request("GET", "/account/active_tasks"))

    def upload_file(self, file_name: str, content: bytes) -> str:
        """POST the upload endpoint; returns the file's URL (kept 24 hours by PiAPI).

        Retried like a read: a second upload of the same bytes costs nothing.
        """
        import base64

        body = {"file_name": file_name, "file_data": base64.b64encode(content).decode()}
        data = self._request("POST", f"{self.upload_url}/api/ephemeral_resource", json_body=body)
        inner = data.get("data")
        url = inner.get("url") if isinstance(inner, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MalformedResponse("the upload endpoint's answer holds no data.url")
        return url

    def prepare(self) -> None:
        """Make the TLS context of an https API now: an unusable trust store fails before a create is begun."""
        self._http.ready()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return scrub(text, self._api_key, *self.secrets())

    def _task_data(self, envelope: dict[str, Any]) -> dict[str, Any]:
        data = envelope.get("data")
        if not isinstance(data, dict) or not data.get("task_id"):
            raise MalformedResponse("PiAPI's answer holds no task object (no data.task_id)")
        return scrub_value(data, self._api_key, *self.secrets())  # type: ignore[no-any-return]

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        content, headers = _encoded(json_body)
        attempt = 0
        end = CallDeadline(self.call_timeout, self.until, self.clock)
        while True:
            attempt += 1
            retries_left = attempt < self.retry.attempts
            if (left := end.left()) is not None and end.spent():
                raise ConnectionFailed(f"{method} {path}: {end.why()}")
            try:
                log.debug("%s %s (attempt %d)", method, path, attempt)
                # read whole but never past MAX_ANSWER bytes, decoded (a small gzip answer can inflate
                # to gigabytes); read here at each call, so a test can lower it
                response, body = self._http.request(
                    method, path, content=content, headers=headers, max_answer=MAX_ANSWER, total=left
                )
            except http.Undecodable as exc:
                # an answer over the size or in an encoding that does not decode: it came, so a
                # create may exist
                if not idempotent:
                    raise MalformedResponse(f"PiAPI's answer could not be decoded ({self._scrub(str(exc))})") from exc
                again = retries_left and not isinstance(exc, http.TooLarge)  # the same answer again
                if again and self._backoff(attempt, None, type(exc).__name__, end):
                    continue
                raise MalformedResponse(f"PiAPI's answer could not be decoded ({self._scrub(str(exc))})") from exc
            except http.NothingSent as exc:
                # Nothing was sent: safe to try again, even for a create.
                if retries_left and not exc.lasting and self._backoff(attempt, None, str(exc), end):
                    continue
                raise ConnectionFailed(
                    f"could not connect to {self.base_url}: {self._scrub(str(exc))}",
                    advice="tls" if exc.lasting else "base_url",  # (a certificate not trusted stays so)
                ) from exc
            except http.AnswerFailed as exc:
                reason = end.why() if exc.timed_out and end.spent() else self._scrub(str(exc))
                if not idempotent:
                    raise CreateOutcomeUnknown(
                        f"the create request was sent but its answer was lost ({reason}); the task may exist "
                        "and was not resent, as a second create would be a second paid task",
                        hint="the task may exist: look for it on your PiAPI dashboard before creating it again",
                    ) from exc
                if retries_left and self._backoff(attempt, None, reason, end):
                    continue
                what = "timed out" if exc.timed_out else "failed"
                raise ConnectionFailed(f"{method} {path} {what}: {reason}") from exc

            log.debug("-> HTTP %d (%d bytes)", response.status_code, len(body))
            retry_on = RETRY_STATUSES if idempotent else CREATE_RETRY_STATUSES
            status = response.status_code
            pause = parse_retry_after(response.headers.get("retry-after")) if status in retry_on else None
            if status in retry_on and retries_left and self._backoff(attempt, pause, str(status), end):
                continue
            return self._parse(response, body)

    def _backoff(self, attempt: int, retry_after: float | None, reason: str, end: CallDeadline | None = None) -> bool:
        """Pause before the next attempt; False (no pause) when it would end past the call's deadline."""
        delay = self.retry.delay(attempt - 1, retry_after, self._rng)
        if end is not None and not end.allows(delay):
            return False
        log.debug("retrying after %s in %.2fs", reason, delay)
        self._sleep(delay)
        return True

    def _parse(self, response: http.Answer, content: bytes) -> dict[str, Any]:
        status = response.status_code
        body: Any
        body = parsed_json(content)
        message = ""
        if isinstance(body, dict):
            message = str(body.get("message") or body.get("error") or "")
            code = body.get("code")
            # Some gateways answer HTTP 200 with an error code in the envelope.
            if status < 400 and isinstance(code, int) and code >= 400:
                status = code
        message = self._scrub(message)
        if status >= 400:
            what = message or _describe_body(response, content)
            error = error_for_status(status, f"PiAPI answered HTTP {status}: {what}")
            error.api_message = message
            data = body.get("data") if isinstance(body, dict) else None
            if isinstance(data, dict) and isinstance(data.get("task_id"), str) and data["task_id"]:
                error.task = data  # an error answer that still names a task: the task exists
            if status == 429:
                error.retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise error
        if not isinstance(body, dict):
            raise MalformedResponse(
                f"PiAPI answered HTTP {status} with {_describe_body(response, content)}, not the API's JSON",
            )
        return body


def _timeouts(timeout: httpx.Timeout | float | None) -> factory.Timeouts | None:
    """The first release took httpx's timeout or seconds for everything: both still work."""
    if isinstance(timeout, (int, float)):
        return factory.Timeouts(connect=float(timeout), read=float(timeout))
    return None if timeout is None else factory.Timeouts(connect=timeout.connect, read=timeout.read)


def _encoded(json_body: Any) -> tuple[bytes | None, dict[str, str] | None]:
    """A request's body and its content type; a usage error (nothing sent) for what JSON cannot carry."""
    if json_body is None:
        return None, None
    try:
        content = json.dumps(json_body, allow_nan=False, ensure_ascii=False).encode()
    except (ValueError, TypeError, RecursionError) as exc:  # NaN and Infinity are not JSON
        raise UsageError(f"the request cannot be sent as JSON: {str(exc) or type(exc).__name__}") from None
    return content, {"content-type": "application/json"}


def _quote(task_id: str) -> str:
    task_id = task_id.strip()
    if not task_id:
        raise UsageError("a task ID is empty; nothing was sent")
    if URL_SAFE.issuperset(task_id):  # (a task ID's characters never change: urllib is a slow import)
        return task_id
    from urllib.parse import quote

    return quote(task_id, safe="")
