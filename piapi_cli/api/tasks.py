"""The task object of the Unified API, parsed once at the boundary.

The raw ``data`` dict is kept as it came (``Task.raw``) so nothing the API sends is lost;
the typed attributes are read from it tolerantly: unknown fields, unknown statuses,
``null`` where an object was expected and Go zero timestamps are all expected here.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

from piapi_cli.api.records import field, record

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

PENDING = "pending"
STAGED = "staged"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"

SUCCEEDED = frozenset({COMPLETED})
UNSUCCESSFUL = frozenset({FAILED, CANCELLED, "canceled"})
TERMINAL = SUCCEEDED | UNSUCCESSFUL

REDACTED = "<redacted>"
_SECRET_KEYS = frozenset({"secret", "api_key", "x-api-key", "apikey"})


#: what a task object without a status is shown as: not the journal's ``unknown`` (a create
#: whose answer was lost), and not terminal, so waiting goes on
UNREPORTED = "unreported"


def normalize_status(value: Any, default: str = UNREPORTED) -> str:
    """Lowercase status; the docs' schema shows ``Completed`` while payloads say ``completed``."""
    if not isinstance(value, str) or not value.strip():
        return default
    status = value.strip().lower()
    return CANCELLED if status == "canceled" else status


_FRACTION = re.compile(r"\.(\d+)")


def parse_timestamp(value: Any) -> datetime | None:
    """RFC 3339 with up to 9 fraction digits; the Go zero time (year 1) means "not yet"."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python reads at most 6 fraction digits.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


@record(frozen=True)
class OutputURL:
    """One http(s) URL found in a task's output, with the JSON path where it was."""

    path: str
    url: str


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


# whitespace and controls have no place in a URL (RFC 3986): printed raw, a newline would
# show one URL as two, and an escape sequence would reach the terminal
@functools.cache
def _not_in_url() -> re.Pattern[str]:
    return re.compile(r"[\x00-\x20\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean_url(text: str) -> str:
    """An output URL as it can be printed and fetched: surrounding whitespace dropped, any
    whitespace or control character inside percent-encoded (``a b`` is ``a%20b``, as a
    browser would send it), so it stays one URL on one line and still names the same file."""
    text = text.strip()
    if text.isascii() and text.isprintable() and " " not in text:
        return text  # the common case, without compiling the pattern (~0.25 ms at start-up)
    return _not_in_url().sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def _walk(output: Any, paths: bool = True) -> Iterator[tuple[str, str]]:
    """(JSON path, URL) of every http(s) URL in an output tree, in document order (``paths``
    False: every path "", none worked out)."""
    # a stack, not recursion: a server's output may nest deeper than Python's stack
    stack: list[tuple[Any, str]] = [(output, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if node.lstrip().startswith(("http://", "https://")):
                yield path, clean_url(node)
        elif isinstance(node, dict):
            stack.extend((value, _join(path, str(key)) if paths else "") for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(
                (value, _join(path, index) if paths else "") for index, value in reversed(list(enumerate(node)))
            )


def output_urls(output: Any) -> list[OutputURL]:
    """Every http(s) URL in an output tree, in document order, each URL once.

    The one robust rule for every model's output shape: Flux ``image_url``, Midjourney's
    ``temporary_image_urls``, Kling's ``works[].video.resource``, Luma's ``video.url``...
    """
    seen: set[str] = set()
    found = []
    for path, url in _walk(output):
        if url not in seen:
            seen.add(url)
            found.append(OutputURL(path, url))
    return found


def output_url_list(output: Any) -> list[str]:
    """``[found.url for found in output_urls(output)]``, their paths not worked out (the journal
    keeps the URLs of every delivery the listener takes)."""
    return list(dict.fromkeys(url for _, url in _walk(output, paths=False)))


#: shorter values are not scrubbed from text: replacing every "k" of a message helps nobody,
#: and no real PiAPI key is that short
MIN_SECRET_LENGTH = 8


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``: as written, and in the
    forms a server may echo it back (percent-encoded, JSON-escaped)."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            for form in _forms(secret):
                text = text.replace(form, "***")
    return text


#: the characters percent-encoding leaves as they are (``quote(..., safe="")``)
URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


@functools.lru_cache(maxsize=64)
def _forms(secret: str) -> tuple[str, ...]:
    """A secret as written and as a server may echo it, longest first (made once per secret:
    a task's every string is scrubbed)."""
    import json

    forms = {secret, json.dumps(secret)[1:-1], secret.strip()}
    if not URL_SAFE.issuperset(secret):  # (a key's characters never change: urllib is a slow import)
        from urllib.parse import quote, quote_plus

        forms |= {quote(secret, safe=""), quote_plus(secret)}
    return tuple(form for form in sorted(forms, key=len, reverse=True) if len(form) >= MIN_SECRET_LENGTH)


def scrub_value(value: Any, *secrets: str | None) -> Any:
    """A JSON value with every secret scrubbed from its strings (``scrub``), as a deep copy: what a
    server echoes back of a key or a webhook secret is never kept, nor shown. A value that holds
    none (its JSON text, where each character stands for itself, shows none) is returned as it is:
    a batch reads and records thousands of tasks, and a walk in Python costs tenfold."""
    if not any(secrets):
        return value
    import json

    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is not None and not shows_secret(text, secrets):
        return value
    return _scrubbed(value, secrets)


def shows_secret(text: str, secrets: Iterable[str | None]) -> bool:
    """Whether JSON text (made with ``ensure_ascii=False``, any separators) shows one of the
    secrets in any of the forms ``scrub`` replaces: False means a value is clean as it is."""
    return any(form in text for form in _escaped_forms(tuple(secrets)))


@functools.lru_cache(maxsize=64)
def _escaped_forms(secrets: tuple[str | None, ...]) -> tuple[str, ...]:
    """Every form of the secrets as it shows in JSON text (made once per set of secrets)."""
    return tuple(
        _escaped(form) for secret in secrets if secret and len(secret) >= MIN_SECRET_LENGTH for form in _forms(secret)
    )


@functools.lru_cache(maxsize=64)
def _escaped(form: str) -> str:
    """A secret's form as it shows in JSON text."""
    import json

    return json.dumps(form, ensure_ascii=False)[1:-1]


def _scrubbed(value: Any, secrets: tuple[str | None, ...]) -> Any:
    if isinstance(value, str):
        return scrub(value, *secrets)
    if isinstance(value, dict):
        return {scrub(str(k), *secrets): _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, secrets) for v in value]
    return value


#: whether a key names a secret (``_SECRET_KEYS``), as found (a few thousand kept at most)
_SECRET_KEY: dict[Any, bool] = {}


def redact(value: Any) -> Any:
    """A deep copy with secret-looking values (webhook secret, API keys) replaced (every
    delivery the listener takes goes through here: only objects and arrays are walked into,
    and the keys seen are remembered)."""
    if isinstance(value, dict):
        copy = {}
        for k, v in value.items():
            secret = _SECRET_KEY.get(k)
            if secret is None:
                secret = str(k).lower() in _SECRET_KEYS
                if len(_SECRET_KEY) < 4096:
                    _SECRET_KEY[k] = secret
            if secret and v not in ("", None):
                copy[k] = REDACTED
            else:
                copy[k] = redact(v) if isinstance(v, (dict, list)) else v
        return copy
    if isinstance(value, list):
        return [redact(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else an empty one (the API sends null in places)."""
    return value if isinstance(value, dict) else {}


#: the largest create body piapi sends (room for a 10 MB file inline as base64): refused before sending
MAX_BODY = 16 * 2**20


@record(frozen=True)
class TaskRequest:
    """What a create sends: ``POST /api/v1/task`` with this body, and nothing else.

    Built once (``piapi_cli.core.requests.build_request`` checks it against the catalog);
    ``--dry-run`` prints the same ``body()`` that ``Client.create_task`` sends.
    """

    model: str
    task_type: str
    input: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "task_type": self.task_type, "input": self.input}
        if self.config:
            body["config"] = self.config
        return body

    def check_size(self) -> None:
        """A usage error (nothing sent) for a body over ``MAX_BODY``: an API answers it 413."""
        import json

        from piapi_cli.api.errors import UsageError

        size = len(json.dumps(self.body(), ensure_ascii=False, default=str).encode())  # local files: as @path
        if size > MAX_BODY:
            raise UsageError(f"the request is {size / 2**20:.1f} MiB, over the {MAX_BODY // 2**20} MiB a create may be")

    def fingerprint(self) -> str:
        """A stable digest of the body (secrets left out): tells whether a request changed."""
        import hashlib
        import json

        text = json.dumps(redact(self.body()), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@record()
class TaskError:
    code: int = 0
    message: str = ""
    raw_message: str = ""
    detail: Any = None

    def __bool__(self) -> bool:
        return bool(self.code or self.message or self.raw_message)

    def describe(self) -> str:
        text = self.message or self.raw_message or "no message"
        if self.raw_message and self.raw_message != self.message and self.message:
            text = f"{self.message} ({self.raw_message})"
        return f"{text} [code {self.code}]" if self.code else text


@record()
class Task:
    task_id: str
    status: str
    model: str = ""
    task_type: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: TaskError = field(default_factory=TaskError)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], *, default_status: str = UNREPORTED) -> Task:
        meta = as_dict(data.get("meta"))
        err = as_dict(data.get("error"))
        code = err.get("code", 0)
        error = TaskError(code if isinstance(code, int) else 0, str(err.get("message") or ""),
                          str(err.get("raw_message") or ""), err.get("detail"))  # fmt: skip
        # by position, in the order of the fields (every delivery the listener takes is made here)
        return cls(
            str(data.get("task_id") or ""),  # task_id
            normalize_status(data.get("status"), default_status),
            str(data.get("model") or ""),
            str(data.get("task_type") or ""),
            as_dict(data.get("input")),
            data.get("output"),
            parse_timestamp(meta.get("created_at")),
            parse_timestamp(meta.get("started_at")),
            parse_timestamp(meta.get("ended_at")),
            as_dict(meta.get("usage")),
            error,
            data,  # raw
        )

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCEEDED

    @property
    def progress(self) -> float | None:
        """Percent done where the API reports it (Midjourney's ``output.progress``)."""
        if isinstance(self.output, dict):
            value = self.output.get("progress")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return max(0.0, min(100.0, float(value)))
        return None

    @property
    def urls(self) -> list[OutputURL]:
        return output_urls(self.output)

    @property
    def credits(self) -> int | None:
        """Credits consumed (or held while running), from ``meta.usage``."""
        for key in ("consume", "frozen"):
            value = self.usage.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value:
                if isinstance(value, float) and not math.isfinite(value):
                    return None  # 1e400 parses as infinity: no credit count at all
                return int(value)
        return None

    def failure_message(self) -> str:
        if self.error:
            return self.error.describe()
        return f"task {self.status}"

    def to_json(self) -> dict[str, Any]:
        """The API's task object as received, with secrets redacted."""
        data: dict[str, Any] = redact(self.raw)
        return data
