"""Thumbnails for the report's images: made with Pillow, several at once, and once only.

A thumbnail's name is a digest of its source (the file's SHA-256 as the journal recorded it,
else its path, with its size and modification time) and of how thumbnails are made, so a
second report over the same files finds them made and a changed file gets a new one.
Pillow releases the GIL while it decodes, scales and encodes, so threads use every core.

Pillow is imported here only: no other command pays for it.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

from piapi_cli.api.records import field, record
from piapi_cli.core.report.page import write_atomically
from piapi_cli.core.report.records import IMAGE, OutputFile

FOLDER = "thumbnails"
#: the longest side of a thumbnail, in pixels (a card is at most about 360 CSS pixels wide)
EDGE = 480
#: part of every thumbnail's name: bump it when thumbnails are made differently
RECIPE = "2:480:gap1:jpeg82|webp80"
#: sources larger than this many pixels are not decoded (a "decompression bomb")
MAX_PIXELS = 120_000_000


@record()
class ThumbnailRun:
    made: int = 0
    reused: int = 0
    #: (source file, why it has no thumbnail)
    failed: list[tuple[str, str]] = field(default_factory=list)


def thumbnail_name(output: OutputFile) -> str | None:
    """The file name of ``output``'s thumbnail, or None when it cannot have one."""
    if output.kind != IMAGE or output.local is None:
        return None
    try:
        stat = output.local.stat()
    except OSError:
        return None
    source = output.sha256 or str(output.local)
    key = f"{RECIPE}\0{source}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _make(source: Path, target_stem: Path) -> Path:
    from PIL import Image

    with Image.open(source) as image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ValueError(f"{width}x{height} pixels: too large to decode for a thumbnail")
        image.draft("RGB", (EDGE, EDGE))  # a JPEG decodes straight at a reduced scale
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        mode = "RGBA" if has_alpha else "RGB"
        small = image if image.mode == mode else image.convert(mode)
        # halved by box averaging first while still twice the size, then Lanczos: the same picture
        # as Lanczos all the way at half the time (measured in bench/README.md)
        small.thumbnail((EDGE, EDGE), Image.Resampling.LANCZOS, reducing_gap=1.0)
        target = target_stem.with_suffix(".webp" if has_alpha else ".jpg")
        encoded = BytesIO()
        if has_alpha:
            small.save(encoded, "WEBP", quality=80, method=0)
        else:
            small.save(encoded, "JPEG", quality=82)
    write_atomically(target, encoded.getvalue())
    return target


def _existing(folder: Path, stem: str) -> Path | None:
    for suffix in (".jpg", ".webp"):
        candidate = folder / (stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def make_thumbnails(outputs: Iterable[OutputFile], folder: Path, *, workers: int | None = None) -> ThumbnailRun:
    """Give each downloaded image in ``outputs`` a thumbnail in ``folder`` (sets ``thumbnail``)."""
    run = ThumbnailRun()
    todo: dict[str, list[OutputFile]] = {}
    for output in outputs:
        stem = thumbnail_name(output)
        if stem is None:
            continue
        found = _existing(folder, stem)
        if found is not None:
            output.thumbnail = found
            run.reused += 1
        else:
            todo.setdefault(stem, []).append(output)
    if not todo:
        return run
    folder.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    def one(stem: str) -> tuple[str, Path | None, str]:
        source = todo[stem][0].local
        assert source is not None
        try:
            return stem, _make(source, folder / stem), ""
        except Exception as exc:  # noqa: BLE001 - any file Pillow cannot read: no thumbnail, say why
            return stem, None, str(exc) or type(exc).__name__

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 2)) as pool:
            for stem, made, problem in pool.map(one, list(todo)):
                for output in todo[stem]:
                    output.thumbnail = made
                if made is None:
                    run.failed.append((str(todo[stem][0].local), problem))
                else:
                    run.made += 1
    return run
