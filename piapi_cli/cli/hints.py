"""What to do next, written from a library error's fields: the one place CLI advice is made.

The library says what happened (a task ID, a path, a status); the hint says which command to
run, with this run's ``--profile``/``--sandbox`` so it works when pasted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from piapi_cli.api.errors import ConfigError, CreateOutcomeUnknown, PiapiError, StreamCut, WaitTimeout

if TYPE_CHECKING:
    from piapi_cli.cli.session import Session


def hint_for(error: PiapiError, session: Session | None) -> str | None:
    prog = session.prog if session is not None else "piapi"
    if isinstance(error, WaitTimeout) and error.task_id:
        return f"resume with: {prog} wait {error.task_id}"
    if isinstance(error, CreateOutcomeUnknown):
        if error.journal_row is not None:
            return (
                f"it is journaled as unknown ({prog} tasks show '#{error.journal_row}'); "
                "check your PiAPI dashboard before creating it again"
            )
        return "the task may exist: look for it on your PiAPI dashboard before creating it again"
    if isinstance(error, StreamCut) and error.conversation is not None:
        return f"what arrived is kept in conversation {error.conversation}: {prog} chat --continue goes on from it"
    if isinstance(error, ConfigError) and error.path and "journal" in error.message and not error.hint:
        return f"or run without the journal: {prog} --no-journal ..."
    if error.hint:
        return in_world(error.hint, session)
    return None


#: ``piapi`` then the global options already written, then a word (the command, if it is one)
_COMMAND_LINE = re.compile(r"\bpiapi((?: --(?:profile|base-url)[ =][^\s`'\"]+| --[a-z][\w-]*)*) ([a-z][\w-]*)")


def in_world(text: str, session: Session | None) -> str:
    """Every ``piapi COMMAND`` in advice with this run's ``--profile``/``--sandbox`` (those it
    does not name already), so the advice works when pasted: ``piapi --profile work config
    set-key``. Prose (``to try piapi without a key``) is left as it is."""
    if session is None or not (session.profile or session.sandbox):
        return text
    from piapi_cli.cli.parsing._argspec import COMMANDS

    commands = set(COMMANDS[""]["subcommands"])

    def add(match: re.Match[str]) -> str:
        written, word = match.group(1), match.group(2)
        if word not in commands:
            return match.group(0)
        missing = ""
        if session.profile and "--profile" not in written:
            missing += f" --profile {session.profile}"
        if session.sandbox and "--sandbox" not in written:
            missing += " --sandbox"
        return f"piapi{written}{missing} {word}"

    return _COMMAND_LINE.sub(add, text)


def journal_back_on(session: Session) -> str:
    """How to turn the journal back on, for what turned it off in this run."""
    if session.no_journal:
        return "leave out --no-journal"
    source = session.settings.sources.get("journal", "")
    if source.startswith("env "):
        return f"unset {source[4:]} (it turns the journal off)"
    return f"turn it back on: {in_world('piapi config unset journal', session)}"
