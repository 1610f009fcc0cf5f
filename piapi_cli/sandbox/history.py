"""The account-wide routes of the sandbox: the task history, the tasks running now, and
cancelling many at once, in the shapes PiAPI documents.

- ``GET /api/open/tasks/histories?page=&page_size=&model=&start_time=&end_time=``: the account's
  tasks, newest first, ``page_size`` at most 100; ``model`` filters by family (``mj``, ``kling``,
  ``flux``...), the times are Unix seconds.
- ``GET /account/active_tasks``: per provider, the counts of staged, pending and processing
  tasks and the tasks themselves.
- ``DELETE /api/v1/tasks?created_before=&model=``: cancels every pending task of a family
  created before a time (PiAPI marks it "developing"; the sandbox does what it says).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qs

from piapi_cli.api.history import family
from piapi_cli.sandbox.replies import Reply, rfc3339
from piapi_cli.sandbox.store import TaskStore

HISTORY = "/api/open/tasks/histories"
ACTIVE = "/account/active_tasks"
CANCEL_MANY = "/api/v1/tasks"
ROUTES = frozenset({HISTORY, ACTIVE, CANCEL_MANY})
MAX_PAGE_SIZE = 100


class AccountTasks(Protocol):
    """What these routes use of the emulator (which imports this module: no import back)."""

    store: TaskStore
    clock: Callable[[], float]

    def status_at(self, record: dict[str, Any], now: float) -> str: ...


ACTIVE_STATUSES = ("staged", "pending", "processing")


def route(emulator: AccountTasks, method: str, path: str, query: str) -> Reply:

    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if path == HISTORY and method == "GET":
        return _history(emulator, params)
    if path == ACTIVE and method == "GET":
        return _active(emulator)
    if path == CANCEL_MANY and method == "DELETE":
        return _cancel_many(emulator, params)
    return Reply.error(405, f"method {method} not allowed on {path}")


def _number(params: dict[str, str], name: str, default: int | None) -> int | None:
    text = params.get(name, "")
    if text == "":
        return default
    try:
        return int(float(text))
    except ValueError:
        raise _BadQuery(f"invalid request: {name} must be a number") from None


class _BadQuery(ValueError):
    pass


def _history(emulator: AccountTasks, params: dict[str, str]) -> Reply:

    try:
        page = _number(params, "page", 1)
        size = _number(params, "page_size", 10)
        start = _number(params, "start_time", None)
        end = _number(params, "end_time", None)
    except _BadQuery as exc:
        return Reply.error(400, str(exc))
    if page is None or size is None or page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        return Reply.error(400, f"invalid request: page >= 1 and page_size 1-{MAX_PAGE_SIZE}")
    wanted = params.get("model", "").strip().lower()
    now = emulator.clock()
    chosen = [
        record
        for record in emulator.store.all()
        if (not wanted or wanted == "all" or family(record["model"]) == wanted)
        and (start is None or record["created"] >= start)
        and (end is None or record["created"] <= end)
    ]
    chosen.sort(key=lambda r: (r["created"], r["task_id"]), reverse=True)
    items = [
        {
            "task_id": record["task_id"],
            "task_model": record["model"],
            "action": record["task_type"],
            "status": emulator.status_at(record, now),
            "created_at": rfc3339(record["created"]),
            "detail": None,
        }
        for record in chosen[(page - 1) * size : page * size]
    ]
    body = {"code": 200, "data": {"data": items, "total": len(chosen), "page": page, "page_size": size}}
    return Reply.json(200, body | {"message": "success"})


def _active(emulator: AccountTasks) -> Reply:

    now = emulator.clock()
    providers: dict[str, dict[str, Any]] = {}
    for record in emulator.store.all():
        status = emulator.status_at(record, now)
        if status not in ACTIVE_STATUSES:
            continue
        entry = providers.setdefault(
            family(record["model"]),
            {"staged_count": 0, "pending_count": 0, "processing_count": 0, "active_tasks": []},
        )
        entry[f"{status}_count"] += 1
        entry["active_tasks"].append(
            {"task_id": record["task_id"], "model": record["model"], "task_type": record["task_type"], "status": status}
        )
    return Reply.json(200, {"code": 200, "data": providers, "message": "success"})


def _cancel_many(emulator: AccountTasks, params: dict[str, str]) -> Reply:

    try:
        before = _number(params, "created_before", None)
    except _BadQuery as exc:
        return Reply.error(400, str(exc))
    wanted = params.get("model", "").strip().lower()
    if before is None or not wanted:
        return Reply.error(400, "invalid request: created_before and model are required")
    now = emulator.clock()
    canceled = []
    for record in list(emulator.store.all()):
        if record["created"] >= before or (wanted != "all" and family(record["model"]) != wanted):
            continue
        if emulator.status_at(record, now) in ("pending", "staged"):
            record["canceled_at"] = now
            emulator.store.put(record)
            canceled.append(record["task_id"])
    return Reply.json(200, {"code": 200, "data": {"canceled": canceled}, "message": f"{len(canceled)} tasks canceled"})
