"""A ``--jq`` program run in a child process, so that this one keeps its signal handling.

jq's C code holds the interpreter while a filter runs: a Python handler for Ctrl-C, SIGTERM or
SIGHUP would not run before the filter ends, and a runaway one never ends. Run in a forked
child, the filter leaves this process waiting on a pipe, where a signal interrupts it as at
any other moment (the error boundary tells the tasks created and how to resume); the child is
killed on the way out, never left running. It is in this process's group: a Ctrl-C at the
terminal, or a CI job's end, reaches it too.
"""

from __future__ import annotations

import os

try:  # the interpreter's own module: `signal` would import enum
    import _signal as signal  # type: ignore[import-not-found]  # (no stubs: signal's C half)
except ImportError:  # pragma: no cover - another interpreter
    import signal

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn


def values_apart(program: Any, doc: Any, *, started: Callable[[], None] | None = None) -> list[Any] | None:
    """The program's values over ``doc``, computed in a child process (``started()`` called once
    it runs); a ``ValueError`` with jq's message if it failed, or saying how the child ended if it
    was killed or failed before it answered. None where there is no child to be had (no fork on
    this system, not the main thread, fork failed): the caller runs the program itself."""
    import json  # (the child imports nothing: an import lock another thread held at the fork stays held)
    import threading

    if not hasattr(os, "fork") or threading.current_thread() is not threading.main_thread():
        return None  # pragma: no cover - Windows, or an embedding program's thread
    die_with_parent = _death_signal()  # (made here: the child imports nothing)
    parent = os.getpid()
    reader, writer = os.pipe()
    # a signal that comes before the child's pid is known is held, and handled once the child
    # can be killed (a handler that raised in between would leave it running)
    held: list[int] = []
    from piapi_cli.cli.signals import stops as stopping

    stops = stopping()  # (those the process was started ignoring stay ignored: nohup)
    handlers = {number: signal.signal(number, lambda signum, frame: held.append(signum)) for number in stops}
    try:
        pid = _fork()
    except OSError:
        pid = -1
    if pid == 0:
        _child(program, doc, reader, writer, json.dumps, die_with_parent, parent, stops)
    status = -1
    try:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        if held:  # handled now, as it would have been, the child ended first
            if pid > 0:
                os.kill(pid, signal.SIGKILL)
            signal.raise_signal(held[0])
        os.close(writer)
        if pid > 0 and started is not None:
            started()
        data = _read_all(reader) if pid > 0 else b""
    except BaseException:
        if pid > 0:
            os.kill(pid, signal.SIGKILL)  # a signal, or worse: the filter's work is not wanted any more
        raise
    finally:
        os.close(reader)
        if pid > 0:
            status = os.waitpid(pid, 0)[1]
    if pid <= 0:  # no child: the caller runs the program itself
        return None
    if status != 0:  # killed (the out-of-memory killer picks the largest process) or out of memory:
        raise ValueError(_ended(status))  # run here, it would do the same, beyond a signal's reach
    answer = json.loads(data)
    if "error" in answer:
        raise ValueError(answer["error"])
    values: list[Any] = answer["values"]
    return values


def _ended(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"its process was killed (signal {-code}; out of memory?)"
    return f"its process ended without an answer (exit {code}; out of memory?)"


def _fork() -> int:
    import warnings

    with warnings.catch_warnings():
        # Python 3.12 warns of forking a process with threads (a poll abandoned at a deadline):
        # the child only runs jq's C code and writes to a pipe, taking no lock those threads hold
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _death_signal() -> Callable[[], object] | None:
    """What makes the child end with this process, where the system offers it (Linux's
    ``PR_SET_PDEATHSIG``): a command killed outright (``kill -9``, an out-of-memory kill, a
    supervisor that ends the command alone) does not leave a runaway filter running."""
    import sys

    if not sys.platform.startswith("linux"):
        return None  # pragma: no cover - elsewhere a kill of the process group still reaches it
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):  # pragma: no cover - a libc without it
        return None
    return lambda: prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG


def _child(
    program: Any,
    doc: Any,
    reader: int,
    writer: int,
    dumps: Any,
    die_with_parent: Callable[[], object] | None = None,
    parent: int = 0,
    stops: Sequence[int] = (),
) -> NoReturn:
    """In the child: run the program, write its values (or jq's complaint) as JSON, exit."""
    code = 0
    try:
        os.close(reader)
        if die_with_parent is not None:
            die_with_parent()
            if os.getppid() != parent:  # it was gone before that took hold
                os._exit(1)
        for number in stops:  # a signal ends the child the default way
            signal.signal(number, signal.SIG_DFL)
        answer: dict[str, Any]
        try:
            answer = {"values": list(program.input_value(doc).all())}
        except ValueError as exc:
            answer = {"error": str(exc)}
        view = memoryview(dumps(answer).encode())
        while view:
            view = view[os.write(writer, view) :]
    except BaseException:  # noqa: BLE001 - the parent runs the program itself then
        code = 1
    finally:
        os._exit(code)


def _read_all(fd: int, tick: float = 0.2) -> bytes:
    """What the child writes, until it closes its end. Waited for in ticks: a signal the kernel
    gives another of this process's threads (a poller's, a journal's) interrupts no read here,
    and its handler runs only when this thread runs Python again: at the latest, a tick later."""
    import select

    chunks: list[bytes] = []
    while True:
        if not select.select([fd], [], [], tick)[0]:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
