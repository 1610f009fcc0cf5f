"""Entry point of the ``piapi`` command.

``piapi --version`` answers before typer is imported: scripts call piapi thousands of
times, and start-up is most of a short command's cost.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from piapi_cli import __version__

        return _write(f"piapi {__version__}\n")
    if args and args[-1] in ("--help", "-h"):
        # help of a command path (`piapi create --help`) from the generated cache:
        # the same text typer renders, without importing typer
        from piapi_cli.cli._helptext import HELP

        text = HELP.get(" ".join(args[:-1]))
        if text is not None:
            return _write(text)
    from typer.main import get_command

    from piapi_cli.cli.app import build_app, command_word

    # only the command this run names is built; an unknown word gets the whole tree, so
    # the usage error can list every command
    command = get_command(build_app(only=command_word(args)))
    try:
        # standalone: typer prints usage errors itself (exit 2); our errors were already
        # mapped to exit codes by the app's error boundary
        command.main(args=args, prog_name="piapi", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:  # pragma: no cover - interrupted before the app started
        return 130
    return 0


def _write(text: str) -> int:
    """Text on stdout; a reader that went away (``piapi --help | head -1``) is no error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141  # as a process ended by SIGPIPE
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
