"""``--metadata``: beside each saved output, ``NAME.json`` says where it came from (task, model,
input, URL, path in the output) and what it holds (size, SHA-256)."""

from __future__ import annotations

import json
from pathlib import Path

from piapi_cli.api.errors import DownloadError
from piapi_cli.core.downloads.partfiles import write_file
from piapi_cli.core.downloads.results import Planned


def sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def write_sidecar(item: Planned, target: Path, size: int, sha256: str, *, overwrite: bool) -> None:
    """The saved file's sidecar, never over another unless ``overwrite``."""
    doc = {
        "task_id": item.task.task_id,
        "model": item.task.model,
        "task_type": item.task.task_type,
        "input": item.task.input,
        "source_url": item.url,
        "output_path": item.output.path,
        "bytes": size,
        "sha256": sha256,
    }
    try:
        write_file(sidecar(target), (json.dumps(doc, indent=2) + "\n").encode(), overwrite=overwrite)
    except DownloadError as exc:
        raise DownloadError(f"saved {target}, but {exc.message}", advice=exc.advice) from None
