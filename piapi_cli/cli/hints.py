"""What to do next, written from a library error's fields: the one place CLI advice is made.

The library says what happened (a task ID, a path, a status); the hint says which command to
run, with this run's ``--profile``/``--sandbox`` so it works when pasted.
"""

from __future__ import annotations

import re

from piapi_cli.api.errors import (
    APIStatusError,
    ConfigError,
    CreateOutcomeUnknown,
    NotFoundError,
    PiapiError,
    StreamCut,
    UsageError,
    WaitTimeout,
)

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.cli.session import Session
    from piapi_cli.core.journal.journal import Journal


#: what to do next, by the ``advice`` a library error names: the one place advice naming a flag
#: or a command is written. ``{prog}`` is this run's ``piapi --profile P --sandbox``; the other
#: fields are the error's (``{task_id}``, ``{path}``, ``{setting}``...).
ADVICE: dict[str, str] = {
    "set_key": "check your API key: {prog} config set-key",
    "base_url": "check your network, or --base-url",
    "tls": (
        "the server's certificate is not trusted (or not for its name): SSL_CERT_FILE names a PEM file of CA "
        "certificates to trust (SSL_CERT_DIR: a hashed directory; REQUESTS_CA_BUNDLE is read too)"
    ),
    "download_any_url": "listen --download-any-url allows it",
    "read_timeout": "a slow model may need more: {prog} config set read_timeout 1800",
    "chat_reserved": "use -m for the model, --no-stream to have it whole",
    "chat_prompt": "give one as an argument, pipe it on stdin, or add --file",
    "overwrite": "use --overwrite or --skip-existing",
    "index_in_name": "add {{index}} to --name",
    "typo": "a name close to a known one is taken for a typo; send it as written with --no-validate",
    "models": "see: {prog} models",
    "model_schema": "see: {prog} models {model} -t {task_type}  (or skip the checks: --no-validate)",
    "no_journal": "run without the journal: {prog} --no-journal ...",
    "show_row": "see it: {prog} tasks show '#{row}'",
    "kept_row": "the create is kept as #{row} (status unknown): {prog} tasks show '#{row}'",
    "matrix_form": "e.g. --matrix seed=1,2,3",
    "no_validate_rows": "a row the catalog refuses is sent as written with --no-validate",
    "matrix_once": "give all its values in one --matrix",
    "another_output": "let that run finish, or give another --output",
    "forward_to": "give --forward-to URL",
    "another_out": "give another --out",
    "one_choice": "choose tasks one way: --batch RUN, --since AGE or IDs",
    "list_tasks": "list them: {prog} tasks",
    "list_runs": "list them: {prog} batch list",
    "replay_event": "send it again: {prog} listen --replay {event_id}",
    "needs_webhook": "give --webhook URL with it",
    "secret_once": "give --secret or --secret-file, not both",
    "run_id_or_force": (
        "restore the rows, give this run another --run-id, or --force to create them again with their new "
        "content (paid again)"
    ),
    "set_key_file": "fix it by hand, or move it away and run: {prog} config set-key",
    "profile_create": "create it with: {prog} config set-key",
    "fix_flag": "fix the value of {flag}",
    "fix_key": "fix it with: {prog} config set-key (or: {prog} config unset api_key)",
    "fix_setting": "fix it with: {prog} config set {setting} VALUE (or: {prog} config unset {setting})",
    "move_journal": "move it aside ({prog} then starts a new one)",
    "short_prefix": (
        "a task ID prefix needs at least {min_prefix} characters ({task_id!r} has {length}), so it was taken "
        "as a whole ID: give more of it, or the row as '#N' (see: {prog} tasks)"
    ),
}


def noted(note: str, session: Session | None = None) -> str:
    """A library warning as shown: its text, and the advice it asks for in brackets."""
    key = getattr(note, "advice", None)
    if not key:
        return str(note)
    return f"{note} ({advice(key, session=session, **getattr(note, 'fields', {}))})"


#: what to do about a row of a batch run, by its state (``batch status``)
ROW_ADVICE = {
    "failed": "create it again: --retry-failed (paid again)",
    "maybe_created": "find it on your PiAPI dashboard: --attach {id}=TASK_ID; if it is not there: --resubmit-unknown",
    "refused": "the API refused it; the next run sends it again",
}


def with_row_advice(doc: dict[str, Any]) -> dict[str, Any]:
    """A run's status document with what to do about each row that needs attention."""
    for item in doc.get("attention", []):
        item["advice"] = ROW_ADVICE[item["state"]].format(id=item["id"])
    return doc


def recreate_command(world: str, ref: str) -> str:
    """The command line that makes a journaled task again (a report shows it for each task), on
    the API it was made on: ``--base-url`` when that was not the default one (never the key)."""
    import shlex

    from piapi_cli.core.listener.forwarding import redact_url
    from piapi_cli.core.settings import SETTINGS

    if world == "sandbox":
        prog = "piapi --sandbox"
    elif world.rstrip("/") == str(SETTINGS["base_url"].default).rstrip("/"):
        prog = "piapi"
    else:
        prog = f"piapi --base-url {shlex.quote(redact_url(world))}"
    return f"{prog} create --from {shlex.quote(ref)}"


def flag(option: str) -> str:
    """The command line's name of a library's option: ``run_id`` is ``--run-id``."""
    return "--" + option.replace("_", "-")


def flagged(text: str, option: str | None) -> str:
    """``text`` with the option it starts with (``run_id 'x'``) shown as its flag (``--run-id 'x'``)."""
    if option and text.startswith(option) and not text[len(option) : len(option) + 1].isalnum():
        return flag(option) + text[len(option) :]
    return text


def message_for(error: PiapiError) -> str:
    """The error's message as the CLI shows it: an option it starts with, by its flag; the same
    for each of the problems an error is made of (the rows of a file)."""
    text = flagged(error.message, error.option)
    for part in getattr(error, "problems", None) or []:
        message, option = getattr(part, "message", ""), getattr(part, "option", None)
        if option and message:
            text = text.replace(message, flagged(message, option))
    return text


def advice(key: str, error: PiapiError | None = None, session: Session | None = None, **fields: object) -> str:
    """The advice ``key`` names, written for this run, from the error's fields and ``fields``."""
    prog = session.prog if session is not None else "piapi"
    known = {k: v for k, v in vars(error).items() if v is not None} if error is not None else {}
    profile = known.get("profile")
    if isinstance(profile, str) and profile != "default" and "--profile" not in prog:
        prog = prog.replace("piapi", f"piapi --profile {profile}", 1)  # the profile the value is in
    setting = known.get("setting")
    if isinstance(setting, str):  # the flag that sets it, where one does
        from piapi_cli.core.settings import SETTINGS

        known["flag"] = SETTINGS[setting].flag if setting in SETTINGS else None
    return ADVICE[key].format_map({"prog": prog, **known, **fields})


def hint_for(error: PiapiError, session: Session | None) -> str | None:
    """What to do next: what this kind of error calls for, then the error's own hint and the
    advice it asks for."""
    own = in_world(error.hint, session) if error.hint else None
    if error.advice is not None:
        written = advice(error.advice, error, session)
        own = f"{own}, or {written}" if own else written
    specific = _specific(error, session)
    return "; ".join(dict.fromkeys(part for part in (specific, own) if part)) or None


def _specific(error: PiapiError, session: Session | None) -> str | None:
    prog = session.prog if session is not None else "piapi"
    if _unknown_short_id(error):
        return _short_id_advice(error, session)
    if isinstance(error, WaitTimeout) and error.task_id:
        return f"resume with: {prog} wait {error.task_id}"
    if isinstance(error, CreateOutcomeUnknown):
        if error.image_call is not None:
            return (
                f"it is journaled as unknown ({prog} tasks images show {error.image_call}); "
                "check your PiAPI dashboard before asking again"
            )
        if error.journal_row is not None:
            return (
                f"it is journaled as unknown ({prog} tasks show '#{error.journal_row}'); "
                "check your PiAPI dashboard before creating it again"
            )
        return "the task may exist: look for it on your PiAPI dashboard before creating it again"
    if isinstance(error, StreamCut) and error.conversation is not None:
        return f"what arrived is kept in conversation {error.conversation}: {prog} chat --continue goes on from it"
    if isinstance(error, ConfigError) and error.path and "journal" in error.message and not error.hint:
        if error.advice is None:
            return f"or run without the journal: {prog} --no-journal ..."
    return None


def _unknown_short_id(error: PiapiError) -> bool:
    """A task named by text too short to be a prefix, which the API (or the journal) does not know:
    the user likely meant a prefix of one."""
    from piapi_cli.core.ids import MIN_PREFIX

    unknown = isinstance(error, (NotFoundError, UsageError)) or (
        isinstance(error, APIStatusError) and error.status_code == 400
    )
    return unknown and 0 < len(error.task_id or "") < MIN_PREFIX


def _short_id_advice(error: PiapiError, session: Session | None) -> str:
    from piapi_cli.core.ids import MIN_PREFIX

    return advice("short_prefix", error, session, min_prefix=MIN_PREFIX, length=len(error.task_id or ""))


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


def journal_needed(session: Session, why: str) -> Journal:
    """The run's journal, or the error that says why the command needs it and how to turn it
    back on (batch, compare, tasks: the one place they refuse to run without it)."""
    from piapi_cli.api.errors import ConfigError

    if session.journal is None:
        raise ConfigError(why, hint=journal_back_on(session))
    return session.journal


def journal_back_on(session: Session) -> str:
    """How to turn the journal back on, for what turned it off in this run."""
    if session.no_journal:
        return "leave out --no-journal"
    source = session.settings.sources.get("journal", "")
    if source.startswith("env "):
        return f"unset {source[4:]} (it turns the journal off)"
    return f"turn it back on: {in_world('piapi config unset journal', session)}"
