"""The task IDs a command was given, resolved the one way (``core.ids.resolve_task``): a full
ID, a unique prefix of one in the journal, or ``#N``. A short form's full ID is said on stderr."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from piapi_cli.api.errors import UsageError
    from piapi_cli.cli.app import State
    from piapi_cli.core.ids import NamedTask
    from piapi_cli.core.journal.journal import Journal


def journal_or_none(state: State) -> Journal | None:
    """The journal, or None when it is turned off or cannot be opened (a command that has a
    full ID works without it)."""
    from piapi_cli.core.journal.journal import JournalError

    try:
        return state.session.journal
    except JournalError as exc:
        state.output.warn(f"{exc.message}; going on without it")
        return None


def resolve(state: State, ident: str, *, journal: Journal | None, any_world: bool = False) -> NamedTask:
    """One task as the user named it; ``any_world``: prefixes and rows of every API's tasks
    (the journal's own views), else of the API in use."""
    from piapi_cli.core.ids import resolve_task

    found = resolve_task(ident, journal, world=None if any_world else state.session.world)
    if found.short and found.task_id is not None:
        state.output.info(f"{found.given} is task {found.task_id}")
    return found


def full_ids(state: State, given: list[str], journal: Journal | None) -> list[str]:
    """Each task given, as its full ID (once each, in order), resolved over ``journal`` (from
    ``journal_or_none``). Any form that cannot be resolved (an ambiguous prefix, an unknown
    ``#N``, a row without a task ID) is a usage error before anything is sent."""
    from piapi_cli.api.errors import UsageError

    ids = []
    for ident in given:
        found = resolve(state, ident, journal=journal)
        if found.task_id is None:
            raise UsageError(f"{found.given}: that create was never answered, so it has no task ID")
        ids.append(found.task_id)
    return list(dict.fromkeys(ids))


def not_journaled(ident: str, journal: Journal) -> UsageError:
    """The error for a task the journal does not hold; a bare number that is a row's says how
    to name the row (a number is a prefix of an ID, as in git: the row is #N)."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.ids import MIN_PREFIX

    shown = ident if len(ident) <= 40 else ident[:40] + "..."
    number = ident.strip()
    row = journal.row(int(number)) if number.isascii() and number.isdigit() and len(number) <= 18 else None
    hint: str | None = f"row {number} of the journal is '#{number}'" if row is not None else None
    if hint is None and len(number) >= MIN_PREFIX:  # (a shorter one gets the advice on short prefixes)
        hint = "list them: piapi tasks --world all"
    return UsageError(f"no task {shown!r} in the journal", hint=hint, task_id=number)
