"""The listener's backstop: a delivery that never arrives must not mean a result never seen.

PiAPI does not document its retries, a tunnel may be down, the listener may not have been
running. So the tasks of the journal that were created with this listener's URL, that it has
not heard finish, and that have been silent for ``after`` seconds are fetched with GET; a
status the listener had not heard becomes an event (``source: backstop``) exactly as if its
delivery had come, and a late delivery of that status is then dropped as a duplicate.

Each silent task is fetched at most once per ``after`` seconds; tasks older than a day are
left alone (their output URLs have expired).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from piapi_cli.api.errors import PiapiError
from piapi_cli.api.records import record
from piapi_cli.api.tasks import Task
from piapi_cli.core.journal.events import EventStore

#: how far back the backstop looks for tasks sent to this listener
LOOKBACK = 24 * 3600.0
#: store a delivery: (task, timestamp, body, headers, source) -> the event, or None (a duplicate)
Accept = Callable[[Task, "int | None", bytes, dict[str, str], str], Any]


@record()
class WatchedTask:
    """A journaled task sent to this listener, as the backstop sees it."""

    task_id: str
    created_at: float
    heard_at: float | None
    last_status: str | None


def watched(store: EventStore, world: str, endpoints: Iterable[str], since: float) -> list[WatchedTask]:
    """Journaled tasks of ``world`` created since ``since`` with one of these webhook endpoints
    that the listener has not yet heard finish."""
    wanted = {_normal(url) for url in endpoints}
    return [
        WatchedTask(task_id, created_at, heard_at, last_status)
        for task_id, created_at, config, heard_at, last_status in store.silent_tasks(world, since)
        if _endpoint(config) in wanted
    ]


class Backstop:
    def __init__(self, store: EventStore, get_task: Callable[[str], Task], accept: Accept, after: float) -> None:
        self.store = store
        self.get_task = get_task
        self.accept = accept
        self.after = after
        self._checked: dict[str, float] = {}

    def check(
        self,
        world: str,
        endpoints: list[str],
        now: float,
        started_at: float,
        on_log: Callable[[str, str], None],
    ) -> int:
        """Fetch every task that is due; returns how many events that found."""
        found = 0
        due = watched(self.store, world, endpoints, now - LOOKBACK)
        self._checked = {w.task_id: self._checked[w.task_id] for w in due if w.task_id in self._checked}
        for item in due:
            last = max(started_at, item.created_at, item.heard_at or 0.0, self._checked.get(item.task_id, 0.0))
            if now - last < self.after:
                continue
            self._checked[item.task_id] = now
            try:
                task = self.get_task(item.task_id)
            except PiapiError as exc:
                on_log("warning", f"backstop: could not fetch task {item.task_id}: {exc.message}")
                continue
            if task.status == item.last_status:
                continue
            body = json.dumps({"timestamp": int(now), "data": task.raw}).encode()
            if self.accept(task, None, body, {"content-type": "application/json"}, "backstop") is not None:
                found += 1
                on_log("warning", f"backstop: task {task.task_id} is {task.status}, and no delivery said so")
        return found


def _normal(url: str) -> str:
    return url.strip().rstrip("/")


def _endpoint(config_json: str | None) -> str:
    try:
        config = json.loads(config_json or "{}")
    except ValueError:
        return ""
    hook = config.get("webhook_config") if isinstance(config, dict) else None
    endpoint = hook.get("endpoint") if isinstance(hook, dict) else None
    return _normal(endpoint) if isinstance(endpoint, str) else ""
