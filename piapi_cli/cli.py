"""Entry point of the ``piapi`` command.

``piapi --version`` answers before typer is imported: scripts call piapi thousands of
times, and start-up is most of a short command's cost.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from . import __version__

        sys.stdout.write(f"piapi {__version__}\n")
        return 0
    from typer.main import get_command

    from .app import app

    command = get_command(app)
    try:
        result = command.main(args=args, prog_name="piapi", standalone_mode=False)
    except SystemExit as exc:  # pragma: no cover - typer exits this way for some paths
        return exc.code if isinstance(exc.code, int) else 1
    except BrokenPipeError:
        # the reader of our stdout went away (`piapi models | head -1`): not an error
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
