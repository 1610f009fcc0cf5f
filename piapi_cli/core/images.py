"""One call on the image routes: journaled before it is sent, its inline images decoded
straight to files (never held in memory), its URLs handed back for the downloader.

Files are named as a task's outputs are (``{task_id}-{index}.{ext}``, the call's ID standing
for the task's), written beside their name and given it only when whole, never over a file
that exists.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from piapi_cli.api.errors import (
    APIStatusError,
    ConnectionFailed,
    CreateOutcomeUnknown,
    DownloadError,
    MalformedResponse,
    UsageError,
)
from piapi_cli.api.records import field, record

if TYPE_CHECKING:
    from piapi_cli.api.openai_routes import OpenAIRoutes
    from piapi_cli.core.downloads.results import LocalFile
    from piapi_cli.core.journal.journal import Journal

DEFAULT_MODEL = "gpt-image-1.5"
FORMATS = ("png", "jpeg", "webp")
#: the largest image an edit sends (the API's own limit is lower for some models)
MAX_EDIT_FILE = 50 * 2**20
#: what the journal says of a call interrupted before its answer was whole
INTERRUPTED = "interrupted before the answer was whole: the images may have been made (and paid); not asked for again"
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg", b"GIF87a": "gif", b"GIF89a": "gif"}


def sniff(head: bytes) -> str | None:
    """The image type its first bytes show: png, jpg, webp, gif (None: none of these)."""
    for signature, ext in _SIGNATURES.items():
        if head.startswith(signature):
            return ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


@record()
class ImageJob:
    """What one call asks for; ``edit`` names the images an edit starts from."""

    prompt: str
    model: str = DEFAULT_MODEL
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    response_format: str | None = None
    edit: list[Path] = field(default_factory=list)
    #: the call's ID once it is journaled (set by ``run``, also when it raises)
    call_id: str | None = None

    def fields(self) -> dict[str, Any]:
        chosen = {"n": self.n, "size": self.size, "quality": self.quality, "output_format": self.output_format,
                  "response_format": self.response_format}  # fmt: skip
        return {"model": self.model, "prompt": self.prompt, **{k: v for k, v in chosen.items() if v is not None}}

    def check(self) -> None:
        """Every refusal before anything is sent (exit 2)."""
        if not self.prompt.strip():
            raise UsageError("the prompt is empty")
        if self.n is not None and not 1 <= self.n <= 10:
            raise UsageError(f"-n {self.n}: expected 1 to 10 images")
        if self.size is not None and not _is_size(self.size):
            raise UsageError(f"size {self.size!r}: expected WIDTHxHEIGHT (1024x1536) or auto", option="size")
        for path in self.edit:
            _check_edit_file(path)


def _is_size(text: str) -> bool:
    width, x, height = text.partition("x")
    return text == "auto" or (x == "x" and width.isdigit() and height.isdigit() and int(width) * int(height) > 0)


def _check_edit_file(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise UsageError(f"edit {path}: {exc.strerror or exc}", option="edit") from None
    if sniff(head) not in ("png", "jpg", "webp"):
        raise UsageError(f"edit {path}: not a PNG, JPEG or WEBP image", option="edit")
    if size > MAX_EDIT_FILE:
        raise UsageError(f"edit {path}: over {MAX_EDIT_FILE // 2**20} MiB", option="edit")


@record()
class ImageResult:
    call_id: str
    #: the answer, each inline image replaced by {"b64_json": null, "image": N}
    answer: dict[str, Any]
    saved: list[LocalFile]
    urls: list[str]
    #: the journal could not record the answer (the files are saved all the same)
    journal_error: str | None = None

    @property
    def usage(self) -> dict[str, Any] | None:
        usage = self.answer.get("usage")
        return usage if isinstance(usage, dict) else None


class ImageFiles:
    """The sinks of inline images: each written to a temporary file beside its name, then
    given its name when whole (its type read from its first bytes)."""

    def __init__(self, directory: Path, call_id: str, fallback_ext: str) -> None:
        self.directory, self.call_id, self.fallback_ext = Path(os.path.abspath(directory)), call_id, fallback_ext
        self.saved: list[LocalFile] = []
        self._temp: Path | None = None
        self._handle: Any = None
        self._digest: Any = None
        self._head = b""

    def open(self, index: int) -> ImageFiles:
        from piapi_cli.core.downloads.naming import temp_name

        self._temp = self.directory / temp_name()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            self._handle = os.fdopen(os.open(self._temp, flags, 0o644), "wb")
        except OSError as exc:
            raise DownloadError(f"cannot write in {self.directory}: {exc.strerror or exc}") from None
        self._digest, self._head = hashlib.sha256(), b""
        return self

    def write(self, data: bytes) -> None:
        if len(self._head) < 16:
            self._head += data[: 16 - len(self._head)]
        self._digest.update(data)
        try:
            self._handle.write(data)
        except OSError as exc:
            raise DownloadError(f"cannot write {self._temp}: {exc.strerror or exc}") from None

    def close(self, index: int, size: int) -> None:
        from piapi_cli.core.downloads.naming import DEFAULT_TEMPLATE, render_name
        from piapi_cli.core.downloads.partfiles import publish_new
        from piapi_cli.core.downloads.results import LocalFile

        assert self._temp is not None
        try:
            self._handle.close()
        except OSError as exc:
            raise DownloadError(f"cannot write {self._temp}: {exc.strerror or exc}") from None
        ext = sniff(self._head) or self.fallback_ext
        name = render_name(DEFAULT_TEMPLATE, {"task_id": self.call_id, "index": index, "ext": ext})
        target = self.directory / name
        publish_new(self._temp, target)
        self._temp = None
        self.saved.append(LocalFile("", str(target), size, self._digest.hexdigest(), self.call_id))

    def discard(self) -> None:
        """Remove the image being written (a cut or broken answer leaves no half file)."""
        if self._temp is not None:
            if self._handle is not None:
                self._handle.close()
            self._temp.unlink(missing_ok=True)
            self._temp = None


def new_call_id() -> str:
    return f"img-{secrets.token_hex(6)}"


def run(routes: OpenAIRoutes, journal: Journal | None, world: str, job: ImageJob, directory: Path) -> ImageResult:
    """Send the call once; inline images land in ``directory`` as they arrive."""
    from piapi_cli.api.inline_images import InlineImages, NotBase64
    from piapi_cli.api.openai_routes import EDITS_PATH, IMAGES_PATH
    from piapi_cli.core.journal import image_calls

    call_id = job.call_id = new_call_id()
    route = EDITS_PATH if job.edit else IMAGES_PATH
    request = job.fields() | ({"image": [str(p) for p in job.edit]} if job.edit else {})
    if journal is not None:
        image_calls.begin(journal, call_id=call_id, world=world, model=job.model, route=route, request=request)
    sinks = ImageFiles(directory, call_id, (job.output_format or "png").replace("jpeg", "jpg"))
    reader = InlineImages(sinks.open, sinks.close)
    try:
        _send(routes, job, route, reader.feed)
        answer = reader.finish()
    except (APIStatusError, ConnectionFailed):
        sinks.discard()
        if journal is not None:
            image_calls.forget(journal, call_id)  # refused: nothing was made
        raise
    except NotBase64 as exc:
        sinks.discard()
        _settle(journal, call_id, image_calls.FAILED, str(exc), None, sinks)
        raise MalformedResponse(f"the images' answer is broken: {exc}; images that came whole were kept") from None
    except BaseException as exc:
        sinks.discard()
        message = (
            INTERRUPTED if isinstance(exc, KeyboardInterrupt) else getattr(exc, "message", "") or type(exc).__name__
        )
        if _settle(journal, call_id, image_calls.UNKNOWN, message, None, sinks) is None and journal is not None:
            if isinstance(exc, CreateOutcomeUnknown):
                exc.image_call = call_id  # where the journal keeps it, for the error's advice
        raise
    urls = _urls(answer)
    error = _settle(journal, call_id, image_calls.COMPLETED, "", answer.get("usage"), sinks)
    return ImageResult(call_id, answer, sinks.saved, urls, error)


def _send(routes: OpenAIRoutes, job: ImageJob, route: str, on_bytes: Any) -> None:
    if not job.edit:
        routes.images(route, on_bytes, json_body=job.fields())
        return
    import mimetypes
    from contextlib import ExitStack

    with ExitStack() as stack:
        files = [
            ("image[]" if len(job.edit) > 1 else "image",
             (path.name, stack.enter_context(path.open("rb")), mimetypes.guess_type(path.name)[0] or "image/png"))
            for path in job.edit
        ]  # fmt: skip
        fields = {k: str(v) for k, v in job.fields().items()}
        routes.images(route, on_bytes, files=files, data=fields)


def _urls(answer: dict[str, Any]) -> list[str]:
    data = answer.get("data")
    if not isinstance(data, list):
        raise MalformedResponse("the images' answer holds no data list")
    return [str(item["url"]) for item in data if isinstance(item, dict) and isinstance(item.get("url"), str)]


def _settle(
    journal: Journal | None, call_id: str, status: str, message: str, usage: Any, sinks: ImageFiles
) -> str | None:
    """Record how the call ended; a journal that fails is reported, never in the way of the images."""
    if journal is None:
        return None
    from piapi_cli.api.errors import PiapiError
    from piapi_cli.core.journal import image_calls

    files = [f.to_json() for f in sinks.saved]
    try:
        image_calls.settle(journal, call_id, status=status, message=message, usage=usage, files=files)
    except PiapiError as exc:
        return exc.message
    return None


def record_downloads(journal: Journal | None, call_id: str, files: list[LocalFile]) -> str | None:
    """The call's image URLs, downloaded, join its files in the journal (a journal that fails
    is reported, the files are saved all the same)."""
    if journal is None or not files:
        return None
    from piapi_cli.api.errors import PiapiError
    from piapi_cli.core.journal import image_calls

    try:
        image_calls.add_files(journal, call_id, [f.to_json() for f in files])
    except PiapiError as exc:
        return exc.message
    return None
