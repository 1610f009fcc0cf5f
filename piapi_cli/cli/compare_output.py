"""What ``piapi compare`` shows: a row per model as each finishes (model, status, time,
credits, file), aligned under a header on a terminal, tab-separated through a pipe, or one JSON
array at the end with ``--json``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from piapi_cli.cli.batch_output import ResultWriter

if TYPE_CHECKING:
    from piapi_cli.cli.output import Output
    from piapi_cli.core.batch import RowResult

COLUMNS = ("model", "status", "time", "credits", "file")


def row_json(result: RowResult) -> dict[str, Any]:
    """A finished model's line: the batch result plus its time (created to ended) and credits."""
    doc = result.to_json()
    task = result.task
    seconds = None
    if task is not None and task.created_at is not None and task.ended_at is not None:
        seconds = round(max(0.0, (task.ended_at - task.created_at).total_seconds()), 1)
    doc["seconds"] = seconds
    doc["credits"] = task.credits if task is not None else None
    return doc


#: the files that are the result of a task of each kind (a video's cover picture is not)
MAIN_FILES = {"image": (".png", ".jpg", ".jpeg", ".webp"), "video": (".mp4", ".webm", ".mov"),
              "audio": (".wav", ".mp3", ".flac", ".ogg"), "3d": (".glb", ".gltf", ".obj", ".fbx")}  # fmt: skip


def main_first(paths: list[str], kind: str) -> list[str]:
    """``paths`` with the first that is of the task's kind (the video of a video task) first."""
    endings = MAIN_FILES.get(kind, ())
    main = next((p for p in paths if p.lower().split("?")[0].endswith(endings)), None)
    return [main, *(p for p in paths if p != main)] if main else paths


def cells(doc: dict[str, Any], kind: str = "") -> list[str]:
    files = main_first([f["path"] for f in doc["files"]] or doc["outputs"], kind)
    return [
        doc["id"],
        doc["status"],
        f"{doc['seconds']:.1f}s" if doc["seconds"] is not None else "-",
        f"{doc['credits']:,}" if doc["credits"] is not None else "-",
        (files[0] + (f" (+{len(files) - 1})" if len(files) > 1 else "")) if files else (doc["error"] or "-"),
    ]


class CompareWriter(ResultWriter):
    """Prints each model's row as it finishes; keeps them all for ``--json`` and the report."""

    def __init__(self, output: Output, kinds: dict[str, str], *, as_json: bool) -> None:
        super().__init__(output, None)
        self.as_json = as_json
        self.rows: list[dict[str, Any]] = []
        self.kinds = kinds
        self.widths = [max(len("model"), *(len(k) for k in kinds)), 9, 7, 9]
        self.table = output.stdout_tty and not as_json
        self._started = False

    def _line(self, values: list[str]) -> str:
        if not self.table:
            return "\t".join(v.replace("\t", " ").replace("\n", " ") for v in values)
        padded = [value.ljust(width) for value, width in zip(values, self.widths, strict=False)]
        return "  ".join([*padded, values[-1]]).rstrip()

    def write(self, result: RowResult, show: Callable[[Callable[[], None]], None]) -> None:
        doc = row_json(result)
        self.rows.append(doc)
        if self.broken:
            self.unseen(result)
        if self.as_json or self.broken:
            return
        lines = [] if self._started or not self.table else [self._line(list(COLUMNS))]
        self._started = True
        lines.append(self._line(cells(doc, self.kinds.get(doc["id"], ""))))

        def print_lines() -> None:
            for line in lines:
                self.output.line(line)

        try:
            show(print_lines)
        except BrokenPipeError:
            self.unseen(result)
            raise

    def close(self, *, complete: bool = True) -> None:
        if self.as_json and not self.broken:
            order = {doc["id"]: doc for doc in self.rows}
            try:
                self.output.document(list(order.values()))
            except BrokenPipeError:  # the reader went away: none of the rows reached it
                self.unshown += [doc["task_id"] for doc in order.values() if doc["task_id"]]
                self.closed()
            self.broken = True  # once
