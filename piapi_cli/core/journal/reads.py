"""Reading the journal's tasks: listing, looking one up by ID, prefix or row, and what is left
to do (unfinished tasks, outputs never saved, credits used)."""

from __future__ import annotations

import os
from pathlib import Path

from piapi_cli.api.tasks import COMPLETED, TERMINAL
from piapi_cli.core.journal.entries import Entry, entry_from_row
from piapi_cli.core.journal.store import Store, listing_where

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

#: the groups ``usage`` can count by, as SQL expressions over the tasks table
USAGE_GROUPS = {
    None: "'all'",
    "model": "model",
    "task_type": "model || ' ' || task_type",
    "day": "date(created_at, 'unixepoch')",
    "status": "status",
    "world": "world",
}


class TaskReads(Store):
    """The journal's queries over its tasks (and the downloads of each)."""

    def _entries(self, where: str, args: tuple[Any, ...], limit: int | None = None) -> list[Entry]:
        sql = f"SELECT * FROM tasks WHERE {where} ORDER BY created_at DESC, id DESC"
        if limit:
            sql += " LIMIT ?"
            args = (*args, min(int(limit), 2**63 - 1))
        with self._lock:
            rows = self.read(sql, args)
            ids = [str(row["task_id"]) for row in rows if row["task_id"] is not None]
            downloads = self._downloads(ids)
        entries = [entry_from_row(row, downloads.get(str(row["task_id"]), [])) for row in rows]
        if self.secrets():  # rows written before their secrets were known to this journal
            for entry in entries:
                entry.input, entry.message = self.scrubbed(entry.input), self.scrubbed(entry.message)
                entry.task = self.scrubbed(entry.task)
        return entries

    def _downloads(self, task_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(task_ids), 500):
            chunk = task_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT task_id, url, path, bytes, sha256 FROM downloads WHERE task_id IN ({marks}) ORDER BY at"
            for row in self.read(sql, tuple(chunk)):
                found.setdefault(str(row["task_id"]), []).append(
                    {"url": row["url"], "path": row["path"], "bytes": row["bytes"], "sha256": row["sha256"]}
                )
        return found

    def entries(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        world: str | None = None,
    ) -> list[Entry]:
        """Journaled tasks, newest first; ``world`` None means every world."""
        where, args = listing_where(status, model, since, world)
        return self._entries(where, tuple(args), limit)

    def row(self, number: int) -> Entry | None:
        """The journal's row ``number`` (what ``piapi tasks`` shows as ``#``)."""
        if not -(2**63) <= number < 2**63:
            return None
        found = self._entries("id = ?", (number,))
        return found[0] if found else None

    def with_prefix(self, prefix: str, *, world: str | None = None) -> list[Entry]:
        """Tasks whose ID is ``prefix`` exactly, else every one whose ID starts with it. (What a
        user typed is resolved by ``core.ids.resolve_task``, over this and ``row``.)"""
        scope, scope_args = ("", ()) if world is None else (" AND world = ?", (world,))
        exact = self._entries("task_id = ?" + scope, (prefix, *scope_args))
        if exact:
            return exact
        # a range over the unique index: every text that starts with ``prefix``
        return self._entries("task_id >= ? AND task_id < ?" + scope, (prefix, prefix + "\U0010ffff", *scope_args))

    def unfinished(self, world: str) -> list[Entry]:
        """Tasks of this world with an ID that have not reached a terminal status."""
        terminal = tuple(TERMINAL | {"canceled"})
        marks = ", ".join("?" for _ in terminal)
        return self._entries(f"world = ? AND task_id IS NOT NULL AND status NOT IN ({marks})", (world, *terminal))

    def completed_without_downloads(self, world: str, directory: str | Path) -> list[Entry]:
        """Completed tasks of this world with outputs not all recorded as saved in
        ``directory`` (relative paths in the journal are read from the current directory)."""
        root = Path(os.path.abspath(directory))
        found = []
        for entry in self._entries("world = ? AND status = ? AND task_id IS NOT NULL", (world, COMPLETED)):
            saved = {d["url"] for d in entry.downloads if _inside(str(d["path"]), root)}
            if any(url not in saved for url in entry.urls):
                found.append(entry)
        return found

    def usage(
        self, *, since: float | None = None, by: str | None = None, world: str | None = None
    ) -> list[dict[str, Any]]:
        """Credits consumed by completed tasks, in total or grouped by model / task_type / day /
        status / world; ``world`` None counts every world."""
        if by not in USAGE_GROUPS:
            from piapi_cli.api.errors import UsageError

            raise UsageError(f"by {by!r}: expected one of model, task_type, day, status, world", option="by")
        sql = (
            f"SELECT {USAGE_GROUPS[by]} AS grp, COUNT(*) AS tasks,"
            " SUM(CASE WHEN status = 'completed' AND typeof(credits) = 'integer' THEN credits ELSE 0 END) AS credits"
            " FROM tasks WHERE task_id IS NOT NULL"
        )
        args: list[Any] = []
        if since is not None:
            sql += " AND created_at >= ?"
            args.append(since)
        if world is not None:
            sql += " AND world = ?"
            args.append(world)
        sql += " GROUP BY grp ORDER BY credits DESC, grp"
        return [
            {"group": str(row["grp"]), "tasks": row["tasks"], "credits": row["credits"] or 0}
            for row in self.read(sql, tuple(args))
        ]

    def known_costs(self, world: str) -> dict[tuple[str, str], int]:
        """Credits of the latest task of each model and task type in this world (any run)."""
        found: dict[tuple[str, str], int] = {}
        for row in self.read(
            "SELECT model, task_type, credits FROM tasks WHERE world = ? AND credits > 0 ORDER BY updated_at",
            (world,),
        ):
            if isinstance(row["credits"], int):
                found[(str(row["model"]), str(row["task_type"]))] = int(row["credits"])
        return found


def _inside(path: str, root: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(root)
