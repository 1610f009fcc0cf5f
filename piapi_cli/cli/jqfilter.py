"""``--jq``: a jq program (the ``jq`` package, imported only when the option is given) compiled
before anything is sent, then run over the document a command shows."""

from __future__ import annotations

from piapi_cli.api.errors import OutputStepFailed, UsageError

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any


def compile_jq(expression: str) -> Any:
    """A compiled jq program; a usage error for bad syntax (checked before anything is sent)."""
    try:
        import jq
    except ImportError as exc:  # pragma: no cover
        raise UsageError("--jq needs the jq package: pip install jq") from exc
    try:
        return jq.compile(expression)
    except ValueError as exc:
        raise UsageError(f"invalid --jq expression: {_jq_complaint(str(exc))}") from None


def _jq_complaint(text: str) -> str:
    """jq's whole message on one line: what is wrong and where, then the expression it quotes
    (its caret line, which only lines up under a line of its own, is left out)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    kept = [line for line in lines if line and set(line) != {"^"}]
    summary = [line for line in kept[1:] if line.startswith("jq: ")]
    quoted = [line for line in kept[1:] if not line.startswith("jq: ")]
    return " ".join(kept[:1] + quoted) + (f" ({'; '.join(summary)})" if summary else "")


def _run_complaint(exc: ValueError) -> str:
    """What jq said when the program failed, in its words (``input`` past the one document the
    binding reports as a bare "break")."""
    text = (str(exc).splitlines() or [""])[0]
    return "no more inputs (--jq reads one document)" if text == "break" else text


def task_ids(doc: Any) -> list[str]:
    """The task IDs of a document: a task object's, or those of an array of them."""
    items = doc if isinstance(doc, list) else [doc]
    return [d["task_id"] for d in items if isinstance(d, dict) and isinstance(d.get("task_id"), str)]


#: what a name in a path may hold (``.task_id``, ``.output.image_url``)
_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def ends_at_once(expression: str) -> bool:
    """Whether a program is a plain path (``.``, ``.task_id``, ``.[0].output.image_url``, ``.[]``,
    ``..``): names and numeric indexes only, no call, no definition, so it cannot run away, and
    it runs in microseconds, a signal while it does is handled as soon as it is done."""
    text = expression.strip()
    if not text.startswith("."):
        return False
    at, end = 0, len(text)
    while at < end:
        char = text[at]
        if char == "." or char == "?":
            at += 1
        elif char in _NAME and text[at - 1] in _NAME | {"."}:
            at += 1
        elif char == "[":
            close = text.find("]", at)
            inside = text[at + 1 : close]
            if close < 0 or not (inside == "" or (inside.isascii() and inside.isdigit())):
                return False
            at = close + 1
        else:
            return False
    return True


def run_jq(expression: str, doc: Any, *, created: bool = False) -> list[Any]:
    """The values of a jq program over ``doc``.

    jq's C code holds the interpreter, so no Python handler runs while a filter does: a runaway
    one (``def f: f; f``) would never see Ctrl-C. Over what a read fetched, the program runs here
    with Ctrl-C, SIGTERM and SIGHUP at their default dispositions: the signal itself ends the
    process (130, 143, 129; what was written is already flushed, and there is nothing to resume).
    Over a document of tasks this command created (``created``), it runs in a child process
    (``jqchild``), so that a signal is handled here as at any other moment of the command: the
    tasks created and the command that resumes them are told on stderr; a plain path
    (``ends_at_once``: a script's ``.task_id``) runs here with this process's own handlers,
    which run as soon as it is done.

    A program that fails on ``doc`` is invalid input (exit 2: this command sent nothing that
    costs) unless ``created``: the document is of tasks this command created, and it is an
    ``OutputStepFailed`` (exit 11) that names them, their IDs in ``task_ids`` for stdout.
    """
    import sys

    program = compile_jq(expression)
    log = sys.modules["logging"].getLogger(__name__).debug if "logging" in sys.modules else None  # --debug
    try:
        if created and ends_at_once(expression):  # (a script's `.task_id`: no child, no fork to wait for)
            if log is not None:
                log("running --jq %r", expression)
            return list(program.input_value(doc).all())
        if created:
            from piapi_cli.cli.jqchild import values_apart

            started = (lambda: log("running --jq %r in a child process", expression)) if log is not None else None
            values = values_apart(program, doc, started=started)
            if values is not None:
                return values
        from piapi_cli.cli.signals import default_dispositions

        with default_dispositions():
            if log is not None:
                log("running --jq %r", expression)
            return list(program.input_value(doc).all())
    except ValueError as exc:
        why = f"--jq {expression!r} failed: {_run_complaint(exc)}"
        ids = task_ids(doc) if created else []
        if not created:
            raise UsageError(why) from None
        if not ids:
            raise OutputStepFailed(why) from None
        shown = " ".join(ids)
        failed = OutputStepFailed(
            f"{why} (task {shown} was created: its ID is on stdout, nothing is sent again)",
            task_id=ids[0],
            hint=f"the whole answer: piapi get {shown} --json",
        )
        failed.task_ids = tuple(ids)
        raise failed from None
