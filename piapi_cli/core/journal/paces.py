"""Run times of completed tasks, read from the journal: what ``core.pace`` learns from."""

from __future__ import annotations

from piapi_cli.api.tasks import parse_timestamp

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from piapi_cli.core.journal.journal import Journal

#: how many of the latest completed tasks a pace is learnt from
RECENT = 50


def run_times(journal: Journal, world: str, model: str, task_type: str, *, limit: int = RECENT) -> list[float]:
    """Seconds from creation to end (the API's own timestamps) of the latest completed tasks
    of this model and task type in this world, newest first; rows without both are skipped."""
    rows = journal.read(
        "SELECT json_extract(task_json, '$.meta.created_at'), json_extract(task_json, '$.meta.ended_at')"
        " FROM tasks WHERE world = ? AND model = ? AND task_type = ? AND status = 'completed'"
        " AND json_valid(task_json) ORDER BY created_at DESC LIMIT ?",
        (world, model, task_type, limit),
    )
    found = []
    for created, ended in rows:
        start, end = parse_timestamp(created), parse_timestamp(ended)
        if start is not None and end is not None:
            found.append((end - start).total_seconds())
    return found
