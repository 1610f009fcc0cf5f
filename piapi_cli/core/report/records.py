"""One journaled task as the report shows it: its inputs, status, cost, times, and each output
with the file downloaded for it (or the remote URL, and why there is no file).

Records are plain data: ``TaskRecord.to_json`` is what the page renders and what ``--json``
prints, so both show the same thing. Paths in it are relative to the report's folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import Task, redact
from piapi_cli.core.journal.entries import Entry

IMAGE, VIDEO, AUDIO, MODEL, FILE = "image", "video", "audio", "model", "file"

_EXTENSIONS = {
    IMAGE: {"png", "jpg", "jpeg", "webp", "gif", "bmp", "avif", "tif", "tiff"},
    VIDEO: {"mp4", "webm", "mov", "m4v", "mkv"},
    AUDIO: {"mp3", "wav", "ogg", "oga", "m4a", "flac", "aac", "opus"},
    MODEL: {"glb", "gltf", "obj", "fbx", "usdz", "ply", "stl"},
}
KIND_OF_EXTENSION = {ext: kind for kind, exts in _EXTENSIONS.items() for ext in exts}

#: the first bytes of each kind of file, for names that say nothing (``0``, ``download``)
_MAGIC = (
    (b"\x89PNG", IMAGE),
    (b"\xff\xd8\xff", IMAGE),
    (b"GIF8", IMAGE),
    (b"glTF", MODEL),
    (b"ID3", AUDIO),
    (b"OggS", AUDIO),
    (b"fLaC", AUDIO),
)

#: input fields that hold the prompt, by the models that use them (the first one present wins)
PROMPT_FIELDS = ("prompt", "gpt_description_prompt", "description", "text", "lyrics")


def kind_of(name: str, head: bytes = b"") -> str:
    """image, video, audio, model or file: from a file name or URL path, else from its first bytes."""
    ext = PurePosixPath(name).suffix.lower().lstrip(".")
    if ext in KIND_OF_EXTENSION:
        return KIND_OF_EXTENSION[ext]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE"):
        return IMAGE if head[8:12] == b"WEBP" else AUDIO
    if head[4:8] == b"ftyp":
        return AUDIO if head[8:11] == b"M4A" else VIDEO
    return FILE


@record()
class OutputFile:
    """One output of a task: where it came from, and the file saved for it, if any."""

    url: str
    kind: str = FILE
    #: the downloaded file (absolute), when it is still there
    local: Path | None = None
    size: int | None = None
    sha256: str | None = None
    #: why there is no local file
    missing: str | None = None
    #: the thumbnail made for it (absolute), when one was
    thumbnail: Path | None = None

    def to_json(self, base: Path) -> dict[str, Any]:
        return {
            "url": self.url if _is_web_url(self.url) else "",
            "kind": self.kind,
            "file": relative_href(self.local, base) if self.local else None,
            "name": self.local.name if self.local else _url_name(self.url),
            "bytes": self.size,
            "thumbnail": relative_href(self.thumbnail, base) if self.thumbnail else None,
            "missing": self.missing,
        }


@record()
class TaskRecord:
    """One journaled task, read for the report."""

    entry: Entry
    outputs: list[OutputFile] = field(default_factory=list)
    queued: float | None = None
    running: float | None = None
    error: str = ""
    #: the command line that makes a task again, by its world and reference (the CLI's to write)
    command: Callable[[str, str], str] | None = None

    @property
    def prompt(self) -> str:
        for name in PROMPT_FIELDS:
            value = self.entry.input.get(name)
            if isinstance(value, str) and value.strip():
                return value
        return ""

    @property
    def recreate(self) -> str:
        """The command that makes this task again ("" when no one said how to write it)."""
        if self.command is None:
            return ""
        return self.command(self.entry.world, self.entry.task_id or f"#{self.entry.id}")

    def to_json(self, base: Path) -> dict[str, Any]:
        e = self.entry
        return {
            "task_id": e.task_id,
            "journal_id": e.id,
            "world": e.world,
            "model": e.model,
            "task_type": e.task_type,
            "status": e.status,
            "error": self.error,
            "prompt": self.prompt,
            "input": redact(e.input),
            "credits": e.credits,
            "usage_type": e.usage_type,
            "created_at": e.created_at,
            "queued_seconds": self.queued,
            "running_seconds": self.running,
            "run_id": e.run_id,
            "row": e.row_key,
            "recreate": self.recreate,
            "outputs": [o.to_json(base) for o in self.outputs],
        }


def _is_web_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https") if url else False


def _url_name(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).name if _is_web_url(url) else ""


def relative_href(path: Path, base: Path) -> str:
    """``path`` relative to the folder ``base``, with ``/`` separators (encoded by the page)."""
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return path.as_uri()


def _timing(entry: Entry) -> tuple[float | None, float | None]:
    """Seconds queued (created to started) and running (started to ended), from the API's
    timestamps; None where the API has not said."""
    if not entry.task:
        return None, None
    task = Task.from_api(entry.task)
    queued = running = None
    if task.created_at and task.started_at:
        queued = max(0.0, (task.started_at - task.created_at).total_seconds())
    if task.started_at and task.ended_at:
        running = max(0.0, (task.ended_at - task.started_at).total_seconds())
    return queued, running


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(16)
    except OSError:
        return b""


def _outputs(entry: Entry, cwd: Path) -> list[OutputFile]:
    saved: dict[str, list[dict[str, Any]]] = {}
    for download in entry.downloads:
        saved.setdefault(str(download.get("url") or ""), []).append(download)
    urls = list(dict.fromkeys([*entry.urls, *(u for u in saved if u)]))
    outputs = []
    for url in urls:
        output = OutputFile(url)
        found = None
        for download in reversed(saved.get(url, [])):  # the newest file still there
            candidate = cwd / str(download.get("path") or "")
            if download.get("path") and candidate.is_file():
                found = download
                output.local, output.size = Path(os.path.abspath(candidate)), candidate.stat().st_size
                output.sha256 = str(download.get("sha256") or "") or None
                break
        if found is None:
            recorded = saved.get(url)
            # the file's name only: the page must not carry this machine's paths
            name = Path(str(recorded[-1].get("path") or "")).name if recorded else ""
            output.missing = f"saved as {name}, no longer there" if recorded else "not downloaded"
        name = output.local.name if output.local else urlsplit(url).path
        output.kind = kind_of(name)
        if output.kind == FILE and output.local is not None:
            output.kind = kind_of(name, _head(output.local))
        outputs.append(output)
    return outputs


def task_record(entry: Entry, cwd: Path | None = None, command: Callable[[str, str], str] | None = None) -> TaskRecord:
    """The report's view of one journaled task; saved files are looked for from ``cwd`` (the
    journal keeps the paths as they were given)."""
    queued, running = _timing(entry)
    error = entry.message if entry.status not in ("completed",) else ""
    return TaskRecord(entry, _outputs(entry, cwd or Path.cwd()), queued, running, error, command)
