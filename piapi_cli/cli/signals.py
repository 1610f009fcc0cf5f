"""SIGTERM (a cancelled CI job) and SIGHUP (a closed terminal) are handled like Ctrl-C: the
IDs created so far and the command that resumes, then the conventional exit code 128 + N."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import FrameType

from piapi_cli.api.scoped import contextmanager

try:  # the interpreter's own module: `signal` wraps its constants in enums, a cost to every run
    import _signal as signal  # type: ignore[import-not-found]  # (no stubs: signal's C half)
except ImportError:  # pragma: no cover - another interpreter
    import signal

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal other than SIGINT."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, frame: FrameType | None) -> None:
    # once is enough: a second signal while we clean up ends the process the default way
    signal.signal(signum, signal.SIG_DFL)
    raise Terminated(signum)


def install() -> None:
    """Turn SIGTERM and SIGHUP into ``Terminated`` in the main thread."""
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is None:  # pragma: no cover - not on this platform
            continue
        try:
            if signal.getsignal(number) in (signal.SIG_DFL, None):
                signal.signal(number, _raise)
        except ValueError:  # pragma: no cover - not the main thread (an embedding program)
            return


def started() -> None:
    """The command runs: Ctrl-C is a KeyboardInterrupt again, which the error boundary reports
    (until now the entry point's handler ended the process quietly: see ``cli/main.py``)."""
    try:
        if getattr(signal.getsignal(signal.SIGINT), "while_starting", False):
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # pragma: no cover - not the main thread
        pass


def stops() -> list[int]:
    """Ctrl-C, SIGTERM and SIGHUP, but those this process was started ignoring: under ``nohup``
    (SIGHUP ignored) a closed terminal must not stop a batch run or a listener, as it would
    not stop any other command (``install`` leaves an ignored signal alone too)."""
    found = []
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) != signal.SIG_IGN:
            found.append(number)
    return found


@contextmanager
def graceful(stop: Callable[[BaseException], None]) -> Iterator[None]:
    """While the block runs, the first Ctrl-C / SIGTERM / SIGHUP calls ``stop``; the second
    raises at once (KeyboardInterrupt, or ``Terminated`` for the others). A signal the process
    was started ignoring stays ignored (``stops``)."""
    import threading  # not at the top: every command loads this module, few need threads

    stopping = False
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: object) -> None:
        nonlocal stopping
        exc = KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)
        if stopping:
            raise exc
        stopping = True
        stop(exc)

    if threading.current_thread() is not threading.main_thread():  # pragma: no cover - embedded use
        yield
        return
    for number in stops():
        previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextmanager
def default_dispositions() -> Iterator[None]:
    """While the block runs, Ctrl-C, SIGTERM and SIGHUP end the process the default way (130,
    143, 129 as a shell reports them): for work in C that holds the interpreter and never
    returns to it (a runaway --jq filter), which a Python handler would never get to stop."""
    previous: dict[int, Any] = {}
    try:
        for number in stops():
            previous[number] = signal.signal(number, signal.SIG_DFL)
    except ValueError:  # pragma: no cover - not the main thread (an embedding program)
        pass
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
