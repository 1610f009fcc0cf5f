"""``python -m piapi_cli``: Ctrl-C is handled before anything else is imported (the package's
``__init__`` is all that ran before this line), then the command runs as ``piapi`` does."""

try:  # the interpreter's own module: `signal` would import enum
    import _signal  # type: ignore[import-not-found]

    def _interrupted_while_starting(signum: int, frame: object) -> None:
        raise SystemExit(130)  # nothing was sent and nothing is to be reported

    _interrupted_while_starting.while_starting = True  # type: ignore[attr-defined]
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)
except (ImportError, ValueError):  # pragma: no cover - another interpreter, or not the main thread
    pass

import gc  # noqa: E402

if __name__ == "__main__":  # no cyclic garbage collection while piapi starts, as in scripts/piapi
    gc.disable()

from piapi_cli.cli.main import exit_with, main  # noqa: E402 - after the handler, on purpose

if __name__ == "__main__":
    exit_with(main())
