"""Entry point of the ``piapi`` command.

``piapi --version``, ``--help`` and ``piapi completion SHELL`` answer before typer is
imported: scripts call piapi thousands of times, shells load completions at every start,
and start-up is most of a short command's cost.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
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
        from piapi_cli.cli._helptext import HELP

        text = HELP.get(" ".join(args[:-1]))
        if text is not None:
            return _write(text.encode())
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


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
