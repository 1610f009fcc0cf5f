"""Which processes run on this machine: the one check for "is the process that wrote this still
there?" (a journal row being sent, a download's temporary file)."""

from __future__ import annotations

import os
import sys


def process_alive(pid: int) -> bool:
    """Whether a process with this ID runs on this machine (when unsure: yes). A number no
    process can have (0, negative, past the system's range) is no process."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return True  # os.kill would terminate it there; callers fall back on the age of what it wrote
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:
        return True  # it exists, another user's (or we cannot tell)
    return True


def this_host() -> str:
    """This machine's name, as a process ID is only meaningful on the machine that issued it."""
    if hasattr(os, "uname"):
        return os.uname().nodename  # what gethostname says, without importing socket (~15 ms)
    import socket

    return socket.gethostname()
