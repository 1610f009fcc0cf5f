"""Local files as inputs: ``-i image=@./cat.png`` uploads the file and sends its URL.

The upload endpoint keeps files 24 hours; ``--inline`` sends a ``data:`` URI instead (for plans
without upload access). Sizes are checked before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import record

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

UPLOAD_LIMIT = 10 * 1024 * 1024


@record(frozen=True)
class FileRef:
    """An input value that names a local file (``@path``), resolved before the create."""

    path: str
    #: where it was given, for messages: ``-i image``
    where: str = "-i"

    def __str__(self) -> str:
        return f"@{self.path}"


def find_files(value: Any) -> list[FileRef]:
    if isinstance(value, FileRef):
        return [value]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in find_files(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in find_files(item)]
    return []


def check_files(refs: list[FileRef]) -> None:
    """Every file exists, is a readable regular file, and is within the 10 MB limit; nothing
    sent yet. Any path a user can type (too long, a NUL, a directory, no permission) is a
    ``UsageError``."""
    for ref in refs:
        given = f"{ref.where}=@{ref.path}"
        if "\0" in ref.path:
            raise UsageError(f"{given}: not a valid path")
        try:
            path = Path(ref.path).expanduser()
            if not path.exists():
                raise UsageError(
                    f"{given}: no such file",
                    hint="a value that starts with a literal @ is written \\@ (e.g. -i prompt='\\@home')",
                )
            if not path.is_file():
                raise UsageError(f"{given}: not a regular file")
            size = path.stat().st_size
            with path.open("rb"):
                pass
        except OSError as exc:
            raise UsageError(f"{given}: cannot read: {exc.strerror or exc}") from None
        except ValueError:  # a NUL byte, or a name the file system cannot encode
            raise UsageError(f"{given}: not a valid path") from None
        if size > UPLOAD_LIMIT:
            raise UsageError(f"{given} is {size / 1048576:.1f} MB; the upload limit is 10 MB")
        if len(path.name) > 128 or not path.suffix:
            raise UsageError(f"{given}: PiAPI wants a file name of at most 128 characters with an extension")


def data_uri(path: Path) -> str:
    import base64
    import mimetypes  # (both only for a file sent inline)

    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def abbreviated_data_uri(path: Path) -> str:
    """The ``data:`` URI ``--inline`` sends for a file, as a dry run shows it: its start and its
    length (``data:image/png;base64,iVBORw0KGgoAAAANSUhE... (12,345 bytes)``)."""
    uri = data_uri(path)
    head = uri[: uri.index(",") + 25] if "," in uri else uri[:40]
    return uri if len(uri) <= len(head) else f"{head}... ({len(uri):,} bytes)"


def resolve_files(value: Any, upload: Callable[[Path], str], *, inline: bool = False, shown: bool = False) -> Any:
    """The input with every ``FileRef`` replaced by an uploaded URL (or a ``data:`` URI;
    ``shown``: abbreviated, for a dry run)."""
    cache: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, FileRef):
            if node.path not in cache:
                path = Path(node.path).expanduser()
                inlined = abbreviated_data_uri if shown else data_uri
                cache[node.path] = inlined(path) if inline else upload(path)
            return cache[node.path]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(value)


def placeholder(value: Any) -> Any:
    """The input as a dry run shows it (and validation checks it): files as ``@path``."""
    if isinstance(value, FileRef):
        return str(value)
    if isinstance(value, dict):
        return {k: placeholder(v) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholder(v) for v in value]
    return value
