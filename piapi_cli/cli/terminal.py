"""Keeping a terminal safe from what servers send, and ending quietly when the reader leaves.

A task's error message, a file name or a URL comes from a server and may carry escape
sequences (clear the screen, rewrite the title, plant a link, reorder text with bidi
controls). ``safe_text`` is the one function that removes them; ``cli.output`` applies it to
every message, every line shown on a terminal and everything rich renders.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable

from piapi_cli.api.errors import ExitCode

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import IO, Any, NoReturn

    from rich.segment import Segment

#: what a shell reports for a process ended by SIGPIPE (128 + 13), as ``yes | head -1`` gives
CLOSED_PIPE_EXIT = int(ExitCode.CLOSED_PIPE)

# The patterns are compiled on first use (``re`` keeps them): compiling them all cost every run
# ~8 ms, and most runs print only printable ASCII, which needs none of them.
# escape sequences: CSI (ESC [ or C1 0x9b), OSC / DCS / SOS / PM / APC strings up to their
# terminator (or the end of the line), and any other ESC with its intermediate and final bytes
_SEQUENCE = (
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x9c|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
)
# C0 and C1 controls (tab and newline are decided apart), DEL, and the bidi controls that
# reorder what follows them (Trojan Source)
_CONTROL = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
_BREAK = "[\t\n\u2028\u2029]"
_UNSAFE = "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
# what json.dumps(ensure_ascii=False) leaves raw and a terminal would act on
_JSON_UNSAFE = "[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"


def _unsafe(text: str) -> bool:
    """Whether ``text`` holds anything ``safe_text`` removes or replaces."""
    if text.isascii():  # in ASCII, exactly the C0 controls and DEL: what is not printable
        return not text.isprintable()
    return re.search(_UNSAFE, text) is not None


def safe_text(text: object, *, multiline: bool = False) -> str:
    """``text`` as a terminal may show it: no escape sequences, no control characters, no
    bidi overrides. Tabs and newlines stay only where ``multiline`` says a value may span
    lines (an error message, lyrics); elsewhere (an ID, a URL, a file name) they become spaces,
    so one value is never shown as two."""
    text = text if isinstance(text, str) else str(text)
    if not _unsafe(text):
        return text
    text = re.sub(_CONTROL, "", re.sub(_SEQUENCE, "", text))
    if multiline:
        return text.replace("\u2028", "\n").replace("\u2029", "\n")
    return re.sub(_BREAK, " ", text)


def json_text(doc: Any, *, indent: int | None = 2) -> str:
    """``doc`` as JSON, readable (non-ASCII kept) yet safe for a terminal: the characters
    ``json.dumps`` leaves raw that a terminal acts on (C1 controls, DEL, bidi controls,
    line separators) are written as ``\\uXXXX``, which parses back to the same value."""
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    if text.isascii() and "\x7f" not in text:  # in ASCII, only DEL is left raw
        return text
    return re.sub(_JSON_UNSAFE, lambda m: f"\\u{ord(m.group()):04x}", text)


def end_on_closed_pipe(stream: IO[str] | None = None) -> NoReturn:
    """The reader of stdout went away: stop quietly, as ``yes | head -1`` does.

    stdout is pointed at /dev/null first, so the interpreter's last flush does not report
    the broken pipe ("Exception ignored ...") after we exit.
    """
    from piapi_cli.cli.parsing.params import Exit

    raise Exit(quiet_closed_pipe(stream))


def quiet_closed_pipe(stream: IO[str] | None = None) -> int:
    """stdout (or ``stream``) pointed at /dev/null, and the exit code to end with."""
    target = stream or sys.stdout
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, target.fileno())
    except (OSError, ValueError):  # not a real file (tests); nothing is left to flush then
        pass
    return CLOSED_PIPE_EXIT


_console_class: Any = None


def safe_console_class() -> Any:
    """A rich Console that passes every rendered piece of text through ``safe_text`` (its
    own escape codes for colour and cursor moves are kept), and ends on a closed pipe."""
    global _console_class
    if _console_class is None:
        from rich.console import Console
        from rich.segment import Segment

        class SafeConsole(Console):
            def __init__(self, *args: Any, messages: bool = False, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                #: stderr: losing messages is no reason to stop a run
                self.messages = messages

            def _render_buffer(self, buffer: Iterable[Segment]) -> str:
                return super()._render_buffer(
                    Segment(safe_text(s.text, multiline=True), s.style, s.control)
                    if s.control is None and _unsafe(s.text)
                    else s
                    for s in buffer
                )

            def on_broken_pipe(self) -> None:
                self.quiet = True
                if not self.messages:
                    end_on_closed_pipe(self.file)

        _console_class = SafeConsole
    return _console_class
