"""Entry point of the ``piapi`` command.

Scripts call piapi thousands of times, shells load completions at every start, and start-up
is most of a short command's cost, so a run imports as little as it can: ``--version``, every
``--help`` and ``piapi completion SHELL`` answer from generated or shipped text, and a command
line the generated table explains runs without typer (``fastpath``). typer builds its tree
only for what needs it: usage errors, and lines the table does not know.
"""

from __future__ import annotations

import sys

try:  # the interpreter's own module: `signal` would import enum, a cost to every --version
    import _signal as signal  # type: ignore[import-not-found]  # (no stubs: signal's C half)
except ImportError:  # pragma: no cover - another interpreter
    import signal


def _interrupted_while_starting(signum: int, frame: object) -> None:
    # Ctrl-C while Python is still importing: nothing was sent and nothing is to be reported
    raise SystemExit(130)


_interrupted_while_starting.while_starting = True  # type: ignore[attr-defined]
# Only the entry point imports this module: from here until the command starts (the error
# boundary's ``signals.started()``), Ctrl-C exits 130 quietly, with no traceback
try:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
except ValueError:  # pragma: no cover - imported outside the main thread
    pass


def main(argv: list[str] | None = None, *, session: object = None) -> int:
    """Run one command line; its exit code. ``session``: a prepared ``Session`` (tests hand in
    one with a transport and a clock), used by whichever parser reads the line."""
    try:
        return _main(sys.argv[1:] if argv is None else argv, session)
    except KeyboardInterrupt:  # Ctrl-C before the command started, if the handler was not ours
        return 130
    except BrokenPipeError:  # the reader of stdout went away before the command could say so
        from piapi_cli.cli.runtime import closed_pipe

        return closed_pipe()


def _main(args: list[str], session: object = None) -> int:
    if args == ["--version"]:
        from piapi_cli import __version__

        return _write(f"piapi {__version__}\n".encode())
    if len(args) == 2 and args[0] == "completion":
        # the script shipped in the package, as is; an unknown shell falls through to the
        # command, whose usage error lists the shells (exit 2)
        from piapi_cli.cli.completions import FILES, script

        if args[1] in FILES:
            return _write(script(args[1]))
    if args and args[-1] in ("--help", "-h"):
        # help of a command path (`piapi create --help`) from the generated cache:
        # the same text typer renders, without importing typer
        from piapi_cli.cli.parsing._helptext import HELP

        text = HELP.get(" ".join(args[:-1]))
        if text is None:  # global options on the line too: `piapi --sandbox create --help`
            from piapi_cli.cli.parsing.fastpath import help_path

            text = HELP.get(help_path(args[:-1]) or "-")
        if text is not None:
            return _write(text.encode())
    else:
        from piapi_cli.cli.parsing import fastpath

        code = fastpath.run(args, obj=session)
        if code is not None:
            return code
    return with_typer(args, session)


def with_typer(args: list[str], session: object = None) -> int:
    """The line read by typer: usage errors, and lines the generated table does not explain."""
    from typer.main import get_command

    from piapi_cli.cli.app import build_app, command_word

    # only the command this run names is built; an unknown word gets the whole tree, so
    # the usage error can list every command
    command = get_command(build_app(only=command_word(args)))
    try:
        # standalone: typer prints usage errors itself (exit 2); our errors were already
        # mapped to exit codes by the app's error boundary
        command.main(args=args, prog_name="piapi", standalone_mode=True, obj=session)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _write(data: bytes) -> int:
    stream = getattr(sys.stdout, "buffer", None)
    try:
        if stream is None:  # a text-only stdout (tests)
            sys.stdout.write(data.decode("utf-8"))
        else:
            sys.stdout.flush()
            stream.write(data)
        sys.stdout.flush()
    except BrokenPipeError:  # `piapi --help | head -1`: the reader has all it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141  # what a shell reports for SIGPIPE, as every other command here ends
    return 0


def exit_with(code: int) -> None:
    """Leave with ``code``: the command is over. A Ctrl-C while the interpreter shuts down
    (its threads joined, its exit handlers run) would print a traceback from whichever of them
    it fell in; from here it ends the process at once, 130, what was written flushed.

    What is left is set aside from the garbage collector first (``gc.freeze``): the collection
    the interpreter makes at exit would go over every object of the run, about 7% of a short
    command's instructions, and nothing of piapi's waits on it (the journal and every file are
    closed by now, explicitly)."""
    import gc

    gc.freeze()
    try:
        signal.signal(signal.SIGINT, _interrupted_while_exiting)
    except ValueError:  # pragma: no cover - not the main thread
        pass
    raise SystemExit(code)


def _interrupted_while_exiting(signum: int, frame: object) -> None:
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - a closed pipe, or a flush this signal interrupted
            pass
    os._exit(130)


if __name__ == "__main__":  # pragma: no cover
    exit_with(main())
