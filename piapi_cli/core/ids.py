"""What a user means by a task: one resolver for every command that takes one.

The forms, in this order of precedence:

1. ``#N``: the journal's row N (what ``tasks`` shows in its ``#`` column);
2. a full task ID (one the journal holds, or any other: the API decides);
3. a unique prefix of a task ID in the journal, at least ``MIN_PREFIX`` characters; a prefix
   that starts several is refused (``AmbiguousTaskId``, exit 2) naming the candidates.

A bare number is a prefix, as in git (``7`` is not row 7: that is ``#7``). Text that is none
of these goes to the API as it is, which answers whether such a task exists.
"""

from __future__ import annotations

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import record
from piapi_cli.core.journal.entries import AmbiguousTaskId

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from piapi_cli.core.journal.entries import Entry
    from piapi_cli.core.journal.journal import Journal

#: the shortest prefix taken for a task ID (shorter text is taken as a whole ID)
MIN_PREFIX = 4

__all__ = ["MIN_PREFIX", "AmbiguousTaskId", "NoSuchRow", "NamedTask", "resolve_task"]


@record(frozen=True)
class NamedTask:
    """A task as a user named it."""

    #: what the user typed
    given: str
    #: the full task ID (None: a journal row whose create was never answered)
    task_id: str | None
    #: the journal's entry for it, when the journal has one
    entry: Entry | None = None

    @property
    def short(self) -> bool:
        """A short form (a prefix or ``#N``) was used: say which task it named."""
        return self.given != self.task_id


class NoSuchRow(UsageError):
    """``#N`` names no row of the journal, or one of another API (exit 2: nothing was sent)."""

    def __init__(self, given: str, reason: str) -> None:
        super().__init__(f"{given}: {reason}")
        self.given = given


def row_number(text: str) -> int | None:
    """N of ``#N``, or None when ``text`` is not of that form."""
    digits = text[1:] if text.startswith("#") else ""
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        return int(digits)
    return None


def resolve_task(ident: str, journal: Journal | None, *, world: str | None = None) -> NamedTask:
    """The task ``ident`` names (see the module's notes for the forms).

    ``world`` keeps prefixes and rows to the tasks of one API (None: every API's), so an ID is
    never resolved to a task the API in use cannot know. Without a journal only full IDs work.
    Raises ``UsageError`` for an empty ID or a malformed / unknown ``#N``, ``AmbiguousTaskId``
    for a prefix of several task IDs.
    """
    text = ident.strip()
    if not text:
        raise UsageError("the task ID is empty")
    if text.startswith("#"):
        return _row(text, journal, world)
    if journal is None:
        return NamedTask(text, text)
    matches = journal.with_prefix(text, world=world)
    exact = next((m for m in matches if m.task_id == text), None)
    if exact is not None:
        return NamedTask(text, text, exact)
    if len(text) >= MIN_PREFIX and matches:
        if len(matches) > 1:
            raise AmbiguousTaskId(text, [str(m.task_id) for m in matches])
        return NamedTask(text, matches[0].task_id, matches[0])
    return NamedTask(text, text)


def _row(text: str, journal: Journal | None, world: str | None) -> NamedTask:
    number = row_number(text)
    if number is None:
        raise NoSuchRow(text, "expected # and a journal row number, like #12")
    if journal is None:
        raise NoSuchRow(text, "a journal row, but the task journal is turned off")
    entry = journal.row(number)
    if entry is None:
        raise NoSuchRow(text, "no such row in the task journal")
    if world is not None and entry.world != world:
        raise NoSuchRow(text, f"that row is a task of another API ({entry.world})")
    return NamedTask(text, entry.task_id, entry)
