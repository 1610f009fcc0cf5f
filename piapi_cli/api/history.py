"""The account's own history, read from PiAPI: past tasks (``/api/open/tasks/histories``) and
the tasks running now (``/account/active_tasks``), parsed at the boundary.

The history lists every task of the account, wherever it was created (the dashboard, another
machine, a lost journal); an entry has no input or output, only what identifies the task.
"""

from __future__ import annotations

from typing import Any

from piapi_cli.api.records import record
from piapi_cli.api.tasks import normalize_status, parse_timestamp

#: the largest page the history endpoint serves
MAX_PAGE_SIZE = 100
#: a creation time at or past this (Unix seconds) is no time at all
_YEAR_10000 = 253_402_300_800.0


#: how the history's ``model`` filter spells a model's family
_FAMILIES = {"midjourney": "mj", "music-u": "music-u", "music-s": "suno", "Qubico/tts": "tts"}


def family(model: str) -> str:
    """``mj`` for midjourney, ``flux`` for Qubico/flux1-dev, ``kling`` for kling-turbo."""
    if model in _FAMILIES:
        return _FAMILIES[model]
    short = model.rsplit("/", 1)[-1].lower()
    for name in ("flux", "kling", "luma", "suno", "hailuo", "seedance", "seedream", "veo", "sora", "trellis"):
        if short.startswith(name):
            return name
    return short


@record(frozen=True)
class HistoryEntry:
    task_id: str
    model: str
    task_type: str
    status: str
    created_at: float | None
    detail: Any = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> HistoryEntry | None:
        """One item of a history page; None for an item without a task ID."""
        task_id = item.get("task_id")
        if not isinstance(task_id, str) or not task_id.strip():
            return None
        created = item.get("created_at")
        if isinstance(created, (int, float)) and not isinstance(created, bool):
            stamp: float | None = float(created)
        else:
            moment = parse_timestamp(created)
            stamp = moment.timestamp() if moment is not None else None
        if stamp is not None and not 0 <= stamp < _YEAR_10000:  # no date can show it (nan too)
            stamp = None
        return cls(
            task_id=task_id.strip(),
            model=str(item.get("task_model") or item.get("model") or ""),
            task_type=str(item.get("action") or item.get("task_type") or ""),
            status=normalize_status(item.get("status")),
            created_at=stamp,
            detail=item.get("detail"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "model": self.model,
            "task_type": self.task_type,
            "status": self.status,
            "created_at": self.created_at,
        }


def parse_history_page(data: dict[str, Any]) -> list[HistoryEntry]:
    """The entries of one answer: ``data.data`` as documented, or ``data`` itself a list."""
    inner = data.get("data")
    items = inner.get("data") if isinstance(inner, dict) else inner
    if not isinstance(items, list):
        return []
    found = (HistoryEntry.from_api(item) for item in items if isinstance(item, dict))
    return [entry for entry in found if entry is not None]


@record(frozen=True)
class ProviderLoad:
    """What one provider (model family) is running for the account now."""

    provider: str
    staged: int
    pending: int
    processing: int
    tasks: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "staged": self.staged,
            "pending": self.pending,
            "processing": self.processing,
            "tasks": list(self.tasks),
        }


def parse_active_tasks(data: dict[str, Any]) -> list[ProviderLoad]:
    inner = data.get("data")
    providers = inner if isinstance(inner, dict) else {}
    loads = []
    for name, entry in providers.items():
        if not isinstance(entry, dict):
            continue
        tasks = entry.get("active_tasks")
        loads.append(
            ProviderLoad(
                provider=str(name),
                staged=_count(entry.get("staged_count")),
                pending=_count(entry.get("pending_count")),
                processing=_count(entry.get("processing_count")),
                tasks=tuple(t for t in tasks if isinstance(t, dict)) if isinstance(tasks, list) else (),
            )
        )
    return sorted(loads, key=lambda load: load.provider)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
