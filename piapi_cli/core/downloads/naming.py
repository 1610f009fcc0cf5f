"""File names for downloaded outputs, and the checks that run before anything is sent.

A name comes from a template (``{task_id}-{index}.{ext}``) whose fields are cleaned so that
nothing from a server (URL paths, Content-Disposition, task fields) can climb out of the target
directory, hide a file, carry control characters, exceed the file system's name limit or take a
name Windows reserves. ``preflight`` runs every check that can fail before a create is sent.
"""

from __future__ import annotations

import errno
import os
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from piapi_cli.api.errors import DownloadError, UsageError
from piapi_cli.core.downloads import DEFAULT_TEMPLATE as DEFAULT_TEMPLATE  # (re-exported)
from piapi_cli.core.processes import process_alive

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from piapi_cli.core.downloads.results import Planned

TEMPLATE_FIELDS = frozenset({"task_id", "index", "key", "model", "task_type", "ext", "name"})
#: fields that tell one output of a task from another
DISTINGUISHING_FIELDS = frozenset({"index", "key", "name"})
#: the longest name, in UTF-8 bytes: most file systems allow 255 bytes, and NAME.part.json
#: (the resume record beside a partial file) must fit too
NAME_MAX_BYTES = 255 - len(".part.json")
#: the widest field a format spec may ask for ({index:>99999999999} would build a huge string)
MAX_FIELD_WIDTH = NAME_MAX_BYTES
EXTENSIONS = {
    "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif", "video/mp4": "mp4",
    "video/webm": "webm", "video/quicktime": "mov", "audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3",
    "audio/mp4": "m4a", "audio/flac": "flac", "model/gltf-binary": "glb", "application/json": "json",
    "text/plain": "txt", "application/zip": "zip",
}  # fmt: skip
#: device names Windows refuses as file names, whatever the extension (NUL.png included)
WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{kind}{n}" for kind in ("COM", "LPT") for n in [*"123456789", "\u00b9", "\u00b2", "\u00b3"]}
)
#: flags for every file piapi opens in a target directory: never follow a symbolic link planted
#: there, never block on a FIFO, bytes as they are (each 0 where the OS has no such flag)
SAFE_OPEN = sum(getattr(os, flag, 0) for flag in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC", "O_BINARY"))
#: what each field looks like, to try a template before any real value exists
SAMPLE_FIELDS: dict[str, Any] = {
    "task_id": "00000000-0000-0000-0000-000000000000",
    "index": 0,
    "key": "images[0]",
    "model": "model",
    "task_type": "task_type",
    "ext": "png",
    "name": "file",
}


class DownloadSetupError(UsageError):
    """The name template or the target directory cannot work; nothing was sent or written."""

    def __init__(
        self, message: str, *, path: Path | None = None, template: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, path=str(path) if path is not None else None)
        self.template = template


def check_template(template: str) -> None:
    """Refuse a template that names unknown fields, has unbalanced braces, or whose format specs
    do not format (or would build a huge name), by formatting it with sample values."""
    fields = template_fields(template)
    unknown = fields - TEMPLATE_FIELDS
    if unknown or "" in fields:
        raise DownloadSetupError(
            f"file name template {template!r}: unknown field {', '.join(sorted(unknown)) or '{}'}; "
            f"fields: {', '.join('{' + f + '}' for f in sorted(TEMPLATE_FIELDS))}",
            template=template,
        )
    from string import Formatter  # (only where a file is named)

    for _, name, spec, _ in Formatter().parse(template):
        if name is None or not spec:
            continue
        if "{" in spec or "}" in spec:
            raise DownloadSetupError(
                f"file name template {template!r}: a format spec may not contain fields ({{{name}:{spec}}})",
                template=template,
            )
        widths = [int(digits) for digits in re.findall(r"\d+", spec)]
        if any(width > MAX_FIELD_WIDTH for width in widths):
            raise DownloadSetupError(
                f"file name template {template!r}: {{{name}:{spec}}} asks for {max(widths)} characters; "
                f"a name holds at most {MAX_FIELD_WIDTH}",
                template=template,
            )
    try:
        template.format(**SAMPLE_FIELDS)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise DownloadSetupError(f"file name template {template!r}: {exc}", template=template) from None


def template_fields(template: str) -> set[str]:
    try:
        from string import Formatter

        return {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise DownloadSetupError(f"file name template {template!r}: {exc}", template=template) from None


def preflight(directory: Path, template: str, *, single_output: bool = False, several_tasks: bool = False) -> None:
    """Every check a download can fail before it starts, for running before a create is sent.

    The template must format and tell outputs apart: those of a task (unless ``single_output``:
    each task has one) and, with ``several_tasks``, those of different tasks. The directory must
    be a directory, or creatable, and writable: it is created, and a probe file written and
    removed in it. Raises DownloadSetupError (a UsageError) naming what is wrong.
    """
    check_template(template)
    fields = template_fields(template)
    if not single_output and not fields & DISTINGUISHING_FIELDS:
        raise DownloadSetupError(
            f"file name template {template!r} would give every output of a task the same name",
            template=template,
            hint="add {index}, {key} or {name} to the template",
        )
    if several_tasks and not fields & {"task_id", "name"}:
        raise DownloadSetupError(
            f"file name template {template!r} would give the outputs of different tasks the same names",
            template=template,
            hint="add {task_id} to the template",
        )
    prepare_directory(directory, template)


def prepare_directory(directory: Path, template: str | None = None) -> None:
    """Create ``directory`` if need be and prove that files can be written in it."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise DownloadSetupError(f"{directory} exists and is not a directory", path=directory, template=template)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadSetupError(
            f"cannot create directory {directory}: {exc.strerror or exc}", path=directory, template=template
        ) from None
    try:
        _probe(directory)
    except OSError as exc:
        raise DownloadSetupError(
            f"cannot write in {directory}: {exc.strerror or exc}", path=directory, template=template
        ) from None
    if str(directory) not in _SWEPT:  # once a process: a batch saves into one directory many times
        _SWEPT.add(str(directory))
        sweep_stale_temps(directory)


_SWEPT: set[str] = set()


def _probe(directory: Path) -> None:
    """Write a file in ``directory``: an unnamed one where the OS can (nothing is left behind
    even by kill -9), else a named one removed at once."""
    unnamed = getattr(os, "O_TMPFILE", 0)
    if unnamed:
        try:
            fd = os.open(directory, unnamed | os.O_WRONLY, 0o600)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
        else:
            try:
                os.write(fd, b"probe")
            finally:
                os.close(fd)
            return
    probe = directory / temp_name("probe")
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | SAFE_OPEN, 0o600)
    try:
        os.write(fd, b"probe")
    finally:
        os.close(fd)
        os.unlink(probe)


_TEMP = re.compile(r"\.piapi-(\d+)-[0-9a-f]+\.(?:tmp|probe)")


def temp_name(kind: str = "tmp") -> str:
    """A temporary file's name, carrying this process's ID so a later run can tell a file left
    by a killed process (and remove it) from one another process is still writing."""
    return f".piapi-{os.getpid()}-{os.urandom(6).hex()}.{kind}"


def sweep_stale_temps(directory: Path) -> int:
    """Remove temporary files that killed piapi processes left in ``directory``; returns how many."""
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        match = _TEMP.fullmatch(name)
        if match is None or process_alive(int(match.group(1))):
            continue
        try:
            os.unlink(directory / name)  # unlink never follows a link: only the name goes
            removed += 1
        except OSError:
            pass
    return removed


def output_path(
    directory: Path, template: str, item: Planned, ext: str | None, server_name: str | None, *, resolved: bool = False
) -> Path:
    """Where ``item`` is saved in ``directory`` (``resolved``: already absolute, links resolved): the
    template's name for it, with ``ext`` and the name the server gave the file (``server_name``;
    else the URL's last segment) as fields."""

    def stem() -> str:
        from urllib.parse import unquote, urlsplit

        return safe_component(Path(server_name or Path(unquote(urlsplit(item.url).path)).name).stem or "file")

    values: dict[str, Callable[[], Any]] = {
        "task_id": lambda: safe_component(item.task.task_id, "task"),
        "index": lambda: item.index,
        "key": lambda: safe_component(item.output.path, "output"),
        "model": lambda: safe_component(item.task.model, "model"),
        "task_type": lambda: safe_component(item.task.task_type, "type"),
        "ext": lambda: safe_component(ext or "bin", "bin"),
        "name": stem,
    }
    # only the fields the template names: each costs a pass over its text, for every file
    name = render_name(template, {key: value() for key, value in values.items() if key in _named(template)})
    if "/" in name or os.sep in name or name in (".", ".."):  # belt and braces: one component
        raise DownloadError(f"refusing to write {name!r} outside {directory}")
    return (directory if resolved else directory.resolve()) / name


@lru_cache(maxsize=64)
def _named(template: str) -> frozenset[str]:
    """The fields a template names (``index`` of ``{index:03d}``, ``task_id`` of ``{task_id[0]}``)."""
    from string import Formatter

    try:
        names = [name for _, name, _, _ in Formatter().parse(template) if name is not None]
    except ValueError:
        return TEMPLATE_FIELDS  # formatting it fails the same way whatever the fields
    return frozenset(re.split(r"[.\[]", name, maxsplit=1)[0] for name in names)


def render_name(template: str, fields: dict[str, Any]) -> str:
    """The file name for these field values: one safe component of at most NAME_MAX_BYTES."""
    return safe_filename(template.format(**fields))


def safe_component(text: str, fallback: str = "file") -> str:
    """One path component that cannot climb out, hide, or carry control characters."""
    if not (text.isascii() and text.isprintable()):  # plain ASCII is NFC and has no control character
        text = unicodedata.normalize("NFC", text)
        text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    text = re.sub(r"[\\/:*?\"<>|]+", "_", text)
    text = re.sub(r"\.{2,}", ".", text).strip(" .")
    return cut_to_bytes(text, NAME_MAX_BYTES).strip(" .") or fallback


def safe_filename(text: str) -> str:
    """A whole file name: a safe component, not a Windows device name, at most NAME_MAX_BYTES."""
    name = safe_component(text)
    if name.split(".")[0].rstrip(" ").upper() in WINDOWS_RESERVED:
        name = "_" + name
    return cut_to_bytes(name, NAME_MAX_BYTES)


def cut_to_bytes(name: str, limit: int) -> str:
    """``name`` shortened to ``limit`` UTF-8 bytes, keeping a short extension and whole characters."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    room = limit - len(suffix.encode("utf-8"))
    return stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(" .") + suffix


def ext_from_url(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit  # (as mimetypes below: a run that saves no file needs neither)

    suffix = Path(unquote(urlsplit(url).path)).suffix.lower().lstrip(".")
    return suffix if re.fullmatch(r"[a-z0-9]{1,5}", suffix) else None


def ext_from_type(content_type: str | None) -> str | None:
    kind = (content_type or "").split(";")[0].strip().lower()
    if not kind or kind == "application/octet-stream":
        return None
    if kind in EXTENSIONS:
        return EXTENSIONS[kind]
    import mimetypes

    found = (mimetypes.guess_extension(kind) or "").lstrip(".")
    return found or None


def disposition_name(header: str | None) -> str | None:
    """The filename of a Content-Disposition header (RFC 6266, ``filename*`` first)."""
    if not header:
        return None
    star = re.search(r"filename\*\s*=\s*[^']*'[^']*'([^;]+)", header, re.IGNORECASE)
    if star:
        from urllib.parse import unquote

        return unquote(star.group(1).strip().strip('"'))
    plain = re.search(r'filename\s*=\s*"([^"]*)"|filename\s*=\s*([^;]+)', header, re.IGNORECASE)
    if plain:
        return (plain.group(1) or plain.group(2) or "").strip()
    return None
