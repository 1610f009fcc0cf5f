"""The account's history beside the journal: which of the account's tasks the journal knows,
bringing in those it lacks, and finding the task of a create whose answer was lost.

A create whose answer never arrived is journaled as ``unknown`` (or left ``sending`` by a
process that died): the task may exist, and creating it again could pay twice. The history
lists every task of the account; a task of the same model and task type, created within
minutes of the row, whose input (as the API echoes it, defaults filled in) holds the row's
input, is that row's task. Only a single such task is taken: two alike are left to the user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from piapi_cli.api.history import MAX_PAGE_SIZE, HistoryEntry, family
from piapi_cli.api.records import field, record

if TYPE_CHECKING:
    from piapi_cli.api.client import Client
    from piapi_cli.api.tasks import Task
    from piapi_cli.core.journal.journal import Journal

#: pages read at most (a million tasks at 100 a page), whatever a server answers
MAX_PAGES = 10_000
#: a lost create's task was created this long before its row at most (clocks differ) ...
EARLIEST = 120.0
#: ... and this long after it at most (a create request that took its time)
LATEST = 900.0


def remote_tasks(
    client: Client,
    *,
    since: float | None = None,
    model: str | None = None,
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[HistoryEntry]:
    """Every task of the account's history, newest first, page after page.

    Stops at a short page, or at a page that brings no task not seen already (a server that
    ignores ``page`` would otherwise be read forever).
    """
    seen: set[str] = set()
    wanted = family(model) if model else None
    for page in range(1, MAX_PAGES + 1):
        entries = client.task_history(page=page, page_size=page_size, model=wanted, start_time=since)
        fresh = 0
        for entry in entries:
            if entry.task_id not in seen:  # a page may repeat a task too
                seen.add(entry.task_id)
                fresh += 1
                yield entry
        if len(entries) < page_size or not fresh:
            return


@record(frozen=True)
class RemoteTask:
    """A task of the account's history, and the journal row that holds it, if any."""

    entry: HistoryEntry
    row: int | None

    def to_json(self) -> dict[str, Any]:
        return self.entry.to_json() | {"in_journal": self.row is not None, "journal_row": self.row}


def mark_known(journal: Journal, entries: list[HistoryEntry]) -> list[RemoteTask]:
    from piapi_cli.core.journal.remote import known_task_ids

    rows = known_task_ids(journal, [e.task_id for e in entries])
    return [RemoteTask(e, rows.get(e.task_id)) for e in entries]


@record()
class SyncReport:
    #: tasks the journal lacked, now recorded: (row, task ID)
    added: list[tuple[int, str]] = field(default_factory=list)
    #: rows whose create's answer was lost, now holding their task: (row, task ID)
    found: list[tuple[int, str]] = field(default_factory=list)
    #: rows with several tasks alike in the history: (row, candidate task IDs)
    ambiguous: list[tuple[int, list[str]]] = field(default_factory=list)
    #: tasks that could not be fetched: (task ID, why)
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: the exit code of each failed fetch
    codes: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [{"journal_row": row, "task_id": tid} for row, tid in self.added],
            "found": [{"journal_row": row, "task_id": tid} for row, tid in self.found],
            "ambiguous": [{"journal_row": row, "candidates": ids} for row, ids in self.ambiguous],
            "failed": [{"task_id": tid, "error": why} for tid, why in self.failed],
        }


class LostCreate(Protocol):
    """A create whose answer was lost, as the journal (or a batch run) holds it."""

    @property
    def id(self) -> int: ...
    @property
    def model(self) -> str: ...
    @property
    def task_type(self) -> str: ...
    @property
    def input(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> float: ...


@record(frozen=True)
class Lost:
    id: int
    model: str
    task_type: str
    input: dict[str, Any]
    created_at: float


def holds(row_input: Any, echoed: Any) -> bool:
    """Whether the API's echo of an input holds the input sent (it adds defaults)."""
    if isinstance(row_input, dict) and isinstance(echoed, dict):
        return all(key in echoed and holds(value, echoed[key]) for key, value in row_input.items())
    if isinstance(row_input, bool) or isinstance(echoed, bool):
        return row_input is echoed
    if isinstance(row_input, (int, float)) and isinstance(echoed, (int, float)):
        return float(row_input) == float(echoed)
    return bool(row_input == echoed)


def _candidates(row: LostCreate, history: list[HistoryEntry], taken: set[str]) -> list[HistoryEntry]:
    return [
        h
        for h in history
        if h.task_id not in taken
        and (h.model == row.model or family(h.model) == family(row.model))
        and h.task_type == row.task_type
        and h.created_at is not None
        and row.created_at - EARLIEST <= h.created_at <= row.created_at + LATEST
    ]


class _Fetcher:
    """GETs each task once, remembering what failed."""

    def __init__(self, client: Client, report: SyncReport) -> None:
        self.client = client
        self.report = report
        self.cache: dict[str, Task | None] = {}

    def __call__(self, task_id: str) -> Task | None:
        if task_id not in self.cache:
            from piapi_cli.api.errors import PiapiError

            try:
                self.cache[task_id] = self.client.get_task(task_id)
            except PiapiError as exc:
                self.report.failed.append((task_id, exc.message))
                self.report.codes.append(int(exc.exit_code))
                self.cache[task_id] = None
        return self.cache[task_id]


def find_lost(
    rows: Sequence[LostCreate], history: list[HistoryEntry], known: set[str], fetch: Callable[[str], Task | None]
) -> tuple[list[tuple[LostCreate, Task]], list[tuple[int, list[str]]]]:
    """The task of each row whose create's answer was lost, where the history shows exactly
    one that fits; and the rows with several that fit."""
    taken = set(known)
    found: list[tuple[LostCreate, Task]] = []
    ambiguous: list[tuple[int, list[str]]] = []
    for row in sorted(rows, key=lambda r: r.created_at):
        fits = []
        for candidate in _candidates(row, history, taken):
            task = fetch(candidate.task_id)
            if task is not None and holds(row.input, task.input):
                fits.append(task)
        if len(fits) == 1:
            taken.add(fits[0].task_id)
            found.append((row, fits[0]))
        elif fits:
            ambiguous.append((row.id, [t.task_id for t in fits]))
    return found, ambiguous


def sync(
    client: Client, journal: Journal, world: str, *, since: float | None = None, model: str | None = None
) -> SyncReport:
    """Bring the journal up to the account's history: every task it lacks is fetched and
    recorded, and each create whose answer was lost gets the task the history shows for it."""
    from piapi_cli.core.journal.remote import adopt

    report = SyncReport()
    fetch = _Fetcher(client, report)
    remote = mark_known(journal, list(remote_tasks(client, since=since, model=model)))
    history = [r.entry for r in remote]
    known = {r.entry.task_id for r in remote if r.row is not None}
    lost, report.ambiguous = find_lost(journal.maybe_created(world), history, known, fetch)
    for row, task in lost:
        journal.created(row.id, task)
        report.found.append((row.id, task.task_id))
    claimed = known | {task.task_id for _, task in lost}
    for item in remote:
        if item.entry.task_id in claimed:
            continue
        fetched = fetch(item.entry.task_id)
        if fetched is not None:
            row_id, new = adopt(journal, world, fetched)
            if new:
                report.added.append((row_id, fetched.task_id))
    return report


def look_up_lost(client: Client, rows: Sequence[LostCreate], known: set[str]) -> SyncReport:
    """The history's task for each of these lost creates (``found`` pairs each row's id with
    its task ID, ``ambiguous`` names the rows several tasks fit); nothing is recorded."""
    report = SyncReport()
    if not rows:
        return report
    since = min(row.created_at for row in rows) - EARLIEST
    history = list(remote_tasks(client, since=since))
    found, report.ambiguous = find_lost(rows, history, known, _Fetcher(client, report))
    report.found = [(row.id, task.task_id) for row, task in found]
    return report
