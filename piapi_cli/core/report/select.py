"""Which journaled tasks a report shows: a batch run's, those created since a moment, or the
tasks named (as every command names a task: ``core.ids.resolve_task``), then narrowed by model and
status."""

from __future__ import annotations

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import field, record
from piapi_cli.core.ids import resolve_task
from piapi_cli.core.journal.entries import Entry
from piapi_cli.core.journal.journal import Journal


@record()
class Selection:
    run_id: str | None = None
    since: float | None = None
    ids: list[str] = field(default_factory=list)
    model: str | None = None
    status: str | None = None
    #: the API whose tasks are shown (None: every API's)
    world: str | None = None

    def check(self) -> None:
        given = [name for name, on in (("a batch run", self.run_id), ("an age", self.since), ("IDs", self.ids)) if on]
        if len(given) > 1:
            raise UsageError(
                f"{' and '.join(given)} choose tasks in different ways: give one of them", advice="one_choice"
            )


def _named(journal: Journal, idents: list[str], world: str | None) -> list[Entry]:
    found: dict[int, Entry] = {}
    for ident in idents:
        entry = resolve_task(ident, journal, world=world).entry  # an ambiguous prefix: a usage error
        if entry is None:
            shown = ident if len(ident) <= 40 else ident[:40] + "..."
            raise UsageError(f"no task {shown!r} in the journal", advice="list_tasks")
        found[entry.id] = entry
    return list(found.values())


def select_entries(journal: Journal, selection: Selection) -> list[Entry]:
    """The journal's entries the selection names (any order)."""
    selection.check()
    if selection.ids:
        entries = _named(journal, selection.ids, selection.world)
    elif selection.run_id is not None:
        if journal.run(selection.run_id) is None and not journal.by_run(selection.run_id):
            raise UsageError(f"no batch run {selection.run_id!r} in the journal", advice="list_runs")
        entries = list(journal.by_run(selection.run_id).values())
    else:
        entries = journal.entries(since=selection.since, world=selection.world)
    if selection.model:
        entries = [e for e in entries if e.model.lower() == selection.model.lower()]
    if selection.status:
        entries = [e for e in entries if e.status == selection.status.lower()]
    return entries
