"""Calls on the image routes, kept in the journal: recorded before they are sent (as
creates are), then settled with what came back (the files written, the tokens used), or
kept as ``unknown`` when the answer was lost: such a call may have been carried out and
paid, and is never sent again by piapi."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
