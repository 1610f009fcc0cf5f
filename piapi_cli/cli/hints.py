"""What to do next, written from a library error's fields: the one place CLI advice is made.

The library says what happened (a task ID, a path, a status); the hint says which command to
run, with this run's ``--profile``/``--sandbox`` so it works when pasted.
"""

from __future__ import annotations

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
        # library hints name plain `piapi`: give them this run's world
        return error.hint.replace("piapi ", f"{prog} ") if prog != "piapi" else error.hint
    return None
