"""Calls on the image routes, kept in the journal: recorded before they are sent (as
creates are), then settled with what came back (the files written, the tokens used), or
kept as ``unknown`` when the answer was lost: such a call may have been carried out and
paid, and is never sent again by piapi."""

from __future__ import annotations

import json

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.core.journal.store import Store

SENDING, COMPLETED, UNKNOWN, FAILED = "sending", "completed", "unknown", "failed"


def begin(journal: Store, *, call_id: str, world: str, model: str, route: str, request: dict[str, Any]) -> None:
    now = journal.clock()
    with journal.write("recording an image call") as db:
        db.execute(
            "INSERT INTO image_calls (call_id, world, model, route, request, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                call_id,
                world,
                model,
                route,
                json.dumps(journal.scrubbed(request), ensure_ascii=False),
                SENDING,
                now,
                now,
            ),
        )


def settle(
    journal: Store,
    call_id: str,
    *,
    status: str,
    message: str = "",
    usage: dict[str, Any] | None = None,
    files: list[dict[str, Any]] | None = None,
) -> None:
    with journal.write("recording an image call's answer") as db:
        db.execute(
            "UPDATE image_calls SET status = ?, message = ?, usage = ?, files = ?, updated_at = ? WHERE call_id = ?",
            (status, journal.scrubbed(message), json.dumps(usage) if usage is not None else None,
             json.dumps(files or []), journal.clock(), call_id),
        )  # fmt: skip


def forget(journal: Store, call_id: str) -> None:
    """A call the API refused (nothing was carried out) is not kept."""
    with journal.write("withdrawing a refused image call") as db:
        db.execute("DELETE FROM image_calls WHERE call_id = ?", (call_id,))


def find(journal: Store, call_id: str) -> dict[str, Any] | None:
    rows = journal.read("SELECT * FROM image_calls WHERE call_id = ?", (call_id,), operation="reading an image call")
    if not rows:
        return None
    row = dict(rows[0])
    for name in ("request", "usage", "files"):
        row[name] = json.loads(row[name]) if row[name] else None
    return row


def add_files(journal: Store, call_id: str, files: list[dict[str, Any]]) -> None:
    """Files saved after the call was settled (its image URLs, downloaded) join its own."""
    row = find(journal, call_id)
    if row is None or not files:
        return
    with journal.write("recording an image call's files") as db:
        db.execute(
            "UPDATE image_calls SET files = ?, updated_at = ? WHERE call_id = ?",
            (json.dumps([*(row["files"] or []), *files]), journal.clock(), call_id),
        )


# --- reading them back (piapi tasks images) -----------------------------------------------------

#: what a call's route is called, by its path
ROUTES = {"/v1/images/generations": "generation", "/v1/images/edits": "edit"}
#: the shortest prefix of a call ID that names one (the ``img-`` before it not counted)
MIN_PREFIX = 4
_PREFIX = "img-"


def calls(
    journal: Store,
    *,
    status: str | None = None,
    model: str | None = None,
    since: float | None = None,
    limit: int | None = None,
    world: str | None = None,
) -> list[dict[str, Any]]:
    """Journaled image calls, newest first, each as ``describe`` makes it; ``world`` None: every world."""
    from piapi_cli.core.journal.store import listing_where

    where, args = listing_where(status, model, since, world)
    sql = f"SELECT * FROM image_calls WHERE {where} ORDER BY created_at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [describe(row) for row in journal.read(sql, tuple(args), operation="reading the image calls")]


def count(journal: Store, *, since: float | None = None, world: str | None = None) -> int:
    """How many calls are journaled (since then, of that world; None: every world)."""
    sql = "SELECT COUNT(*) FROM image_calls WHERE created_at >= ?"
    args: list[Any] = [since or 0.0]
    if world is not None:
        sql, args = sql + " AND world = ?", [*args, world]
    return int(journal.read(sql, tuple(args), operation="counting the image calls")[0][0])


def with_prefix(journal: Store, prefix: str) -> list[dict[str, Any]]:
    """The call whose ID is ``prefix``, else every one whose ID starts with it (``img-`` may be
    left out), any world. Under ``MIN_PREFIX`` characters past ``img-``: none."""
    prefix = prefix.strip()
    if not prefix.startswith(_PREFIX):
        prefix = _PREFIX + prefix
    if len(prefix) - len(_PREFIX) < MIN_PREFIX:
        return []
    for sql, args in (
        ("call_id = ?", (prefix,)),
        ("call_id >= ? AND call_id < ?", (prefix, prefix + "\U0010ffff")),
    ):
        rows = journal.read(f"SELECT * FROM image_calls WHERE {sql} ORDER BY created_at DESC", args)
        if rows:
            return [describe(row) for row in rows]
    return []


def describe(row: Any) -> dict[str, Any]:
    """One journaled call as a document: what was asked (the prompt apart), how it ended, the
    files saved; a column that cannot be read is shown empty and named in ``problems``."""
    problems: list[str] = []

    def parsed(name: str, default: Any, kind: type) -> Any:
        try:
            value = json.loads(row[name]) if row[name] else default
        except (TypeError, ValueError):
            value = ...
        if value is not default and not isinstance(value, kind):
            problems.append(f"{name} unreadable")
            return default
        return value

    request = parsed("request", {}, dict)
    files = [f for f in parsed("files", [], list) if isinstance(f, dict)]
    count = request.get("n")
    doc = {
        "call_id": row["call_id"],
        "world": row["world"],
        "model": row["model"],
        "route": ROUTES.get(row["route"], row["route"]),
        "path": row["route"],
        "status": row["status"],
        "message": row["message"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "prompt": request.get("prompt") if isinstance(request.get("prompt"), str) else "",
        "images": count if isinstance(count, int) else 1,
        "request": request,
        "files": files,
        "usage": parsed("usage", None, dict),
    }
    if problems:
        doc["problems"] = problems
    return doc
