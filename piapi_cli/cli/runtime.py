"""What every run does around its command, with typer or without it: the run's objects
from the global options, and the one error boundary that maps exceptions to exit codes.

Both ways of running a command go through here: the typer tree (``app.PiapiGroup``) and
the generated parser (``fastpath``), so a command behaves the same whichever ran it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from piapi_cli.api.errors import ExitCode, PiapiError, exit_code_for
from piapi_cli.cli.parsing.params import Exit

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any, TextIO

    from piapi_cli.cli.output import Output
    from piapi_cli.cli.session import Session


class State:
    """Per-run objects handed to every command through ``ctx.obj``."""

    def __init__(self, session: Session, output: Output) -> None:
        self.session = session
        self.output = output


def start(
    obj: Any = None,
    *,
    profile: str | None = None,
    base_url: str | None = None,
    sandbox: bool = False,
    no_color: bool = False,
    no_journal: bool = False,
    debug: bool = False,
) -> State:
    """The run's state from the global options (``obj``: a session prepared by a test)."""
    from piapi_cli.cli import signals
    from piapi_cli.cli.output import Output
    from piapi_cli.cli.session import Session

    signals.started()
    signals.install()
    _collect_from_here()
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="debug: %(name)s: %(message)s")
        for noisy in ("httpcore", "httpx"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if isinstance(obj, Session):  # tests hand in a prepared session
        session = obj
        session.profile, session.base_url, session.debug = profile, base_url, debug
        session.sandbox = session.sandbox or sandbox
        session.no_journal = session.no_journal or no_journal
    else:
        session = Session(profile=profile, base_url=base_url, sandbox=sandbox, debug=debug, no_journal=no_journal)
    return State(session, Output(no_color=no_color))


def failure(exc: BaseException, state: State | None) -> int | None:
    """Report an exception that ended a command; its exit code, or None to let it through
    (usage errors of the command-line toolkit, which print themselves)."""
    if isinstance(exc, Exit):
        if exc.exit_code == ExitCode.CLOSED_PIPE:
            _name_created(state)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return interrupted(exc, state)
    if not isinstance(exc, Exception):
        return None
    if isinstance(exc, PiapiError) and exc.exit_code == ExitCode.INTERRUPTED:
        return interrupted(exc, state)  # downloads stopped by Ctrl-C: the same report
    # usage errors (they carry show() and exit_code) print themselves and exit 2
    if hasattr(exc, "show") and hasattr(exc, "exit_code"):
        return None
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 32:  # EPIPE: reader went away
        _name_created(state)
        return closed_pipe(state.output.stdout if state is not None else None)
    if isinstance(exc, OSError) and exc.errno in _FULL:  # stdout (or a file) on a full disk
        return _not_written(exc, state)
    debug = state.session.debug if state else False
    if state is not None:
        output = state.output
    else:
        from piapi_cli.cli.output import Output

        output = Output()
    secrets = state.session.secrets() if state else []
    from piapi_cli.api.tasks import scrub

    if debug:
        import traceback

        from piapi_cli.cli.terminal import safe_text

        # a traceback quotes what servers sent, too
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        sys.stderr.write(safe_text(scrub(text, *secrets), multiline=True))
    if isinstance(exc, PiapiError):
        from piapi_cli.cli.hints import hint_for, in_world, message_for

        session = state.session if state else None
        hint = hint_for(exc, session)
        output.error(scrub(in_world(message_for(exc), session), *secrets), scrub(hint, *secrets) if hint else None)
    else:
        message = scrub(f"{type(exc).__name__}: {exc}", *secrets)
        output.error(f"internal error: {message}", None if debug else "run again with --debug for details")
    return int(exit_code_for(exc))


#: errors of a disk that is full (ENOSPC, EDQUOT, EFBIG)
_FULL = (28, 122, 27)


def _not_written(exc: OSError, state: State | None) -> int:
    """A local write failed (stdout is a file on a full disk): say so, name the tasks this run
    created (their IDs may not have reached stdout), exit 10."""
    from piapi_cli.cli.output import Output
    from piapi_cli.core.outfile import why_not_written

    created = state.session.created if state is not None else []
    hint = f"the tasks created: {' '.join(created)}" if created else None
    (state.output if state is not None else Output()).error(why_not_written(exc.filename or "stdout", exc), hint)
    return int(ExitCode.LOCAL_WRITE)


def interrupted(exc: BaseException, state: State | None) -> int:
    """Ctrl-C, SIGTERM, SIGHUP: where things stand and how to resume; 130, or 128 + N."""
    from piapi_cli.cli.signals import Terminated
    from piapi_cli.cli.terminal import safe_text

    signalled = exc if isinstance(exc, Terminated) else getattr(exc, "cause", None)  # downloads carry theirs
    code = signalled.exit_code if isinstance(signalled, Terminated) else int(ExitCode.INTERRUPTED)
    what = "terminated" if isinstance(signalled, Terminated) else "interrupted"
    lines = state.session.interrupted() if state is not None else []
    partial = getattr(exc, "partial", None)
    if partial:
        lines.insert(0, f"partial files kept (resumed by the next run): {' '.join(partial)}")
    sys.stderr.write(f"\n{what}\n" + "".join(f"{safe_text(line)}\n" for line in lines))
    sys.stderr.flush()
    return code


def _collect_from_here() -> None:
    """The launchers turn the cyclic garbage collector off while piapi starts: what start-up
    makes (modules, classes, functions, the argument table) lives as long as the process, and
    the collections that went over it again and again were a tenth of a short run's
    instructions, with one more over all of it at exit. The command runs with it back on and
    start-up's objects set aside (``gc.freeze``), so a long run (``listen``, ``batch run``)
    still collects its own garbage."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def guarded(state: State, run: Callable[[], object]) -> int:
    """Run a command outside typer: the same boundary as ``app.PiapiGroup.invoke``."""
    try:
        run()
        return 0
    except BaseException as exc:
        code = failure(exc, state)
        if code is None:
            raise
        return code
    finally:
        state.session.close()


def _name_created(state: State | None) -> None:
    """stdout closed: the tasks this run created are named on stderr, as their IDs may not have
    reached stdout (the one word a closed pipe gets)."""
    created = state.session.created if state is not None else []
    if created:
        ids = " ".join(created)
        state.output.warn(f"created {ids}, but stdout was closed: {state.session.prog} get {ids}")  # type: ignore[union-attr]


def closed_pipe(stream: TextIO | None = None) -> int:
    """The reader of stdout went away (``piapi models | head -1``): end without a word, with
    the exit code a shell reports for SIGPIPE."""
    from piapi_cli.cli.terminal import quiet_closed_pipe

    return quiet_closed_pipe(stream)
