"""Runs a command without importing typer: the command line is read with the table generated
from the typer tree (``_argspec``), and the command is called as typer would call it.

Only a line the table fully explains is run this way. Anything else (an unknown option, a
value to refuse, a missing argument, help) returns None, and typer, which has the last word
on usage errors, takes the line. A test checks that both read every line alike.

Global options (``--sandbox``, ``--debug``, ...) may also follow the command word, as in gh:
``hoist_globals`` moves them in front of it, for both ways of running.
"""

from __future__ import annotations

import math
import sys

TYPE_CHECKING = False  # typing is a slow import, and ``--help`` comes through here
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Entry = dict[str, Any]


class Decline(Exception):
    """The line needs typer (usage error, help, a conversion the table does not know)."""


def _spec() -> dict[str, Entry]:
    from piapi_cli.cli.parsing._argspec import COMMANDS

    return COMMANDS


def _options(entry: Entry) -> dict[str, Entry]:
    return {opt: p for p in entry["params"] if p["kind"] == "option" for opt in p["opts"] + p["secondary"]}


def _takes_next(token: str, options: dict[str, Entry]) -> bool:
    """Whether an option token consumes the token after it as its value."""
    if token.startswith("--"):
        param = options.get(token)  # --name=value carries its own
        return param is not None and bool(param["type"]["kind"] != "flag")
    param = options.get(token)
    if param is not None:
        return bool(param["type"]["kind"] != "flag")
    for index, char in enumerate(token[1:]):  # a cluster of short flags: -qw, -qi VALUE
        param = options.get(f"-{char}")
        if param is None:
            return False
        if param["type"]["kind"] != "flag":
            return index == len(token) - 2  # last in the cluster: its value is the next token
    return False


def command_word(args: list[str]) -> str | None:
    """The command an argv names (``--profile work get X`` -> ``get``), if a known one: the
    first word past the global options and their values, as the generated table tells them."""
    root = _spec()[""]
    options = _options(root)
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--" or not token.startswith("-") or token == "-":
            return token if token in root["subcommands"] else None
        index += 2 if _takes_next(token, options) else 1
    return None


def hoist_globals(args: list[str], spec: dict[str, Entry] | None = None) -> list[str]:
    """``create --sandbox -m X`` -> ``--sandbox create -m X``: global options that follow
    the command word, moved before it. Values of the command's own options stay put."""
    if not args:
        return args
    spec = _spec() if spec is None else spec
    root = spec[""]
    globals_ = {opt: p for opt, p in _options(root).items() if p["type"]["kind"] != "unsupported"}
    head: list[str] = []
    index = 0
    while index < len(args):  # the root's own options, before the command word
        token = args[index]
        if token == "--" or not token.startswith("-") or token == "-":
            break
        head.append(token)
        if _takes_next(token, _options(root)) and index + 1 < len(args):
            head.append(args[index + 1])
            index += 1
        index += 1
    if index >= len(args) or args[index] not in root["subcommands"]:
        return args
    hoisted: list[str] = []
    tail = [args[index]]
    path = args[index]
    options = _options(spec[path])
    index += 1
    while index < len(args):
        token = args[index]
        index += 1
        if token == "--":
            tail += args[index - 1 :]
            break
        name = token.split("=", 1)[0] if token.startswith("--") else token
        if token.startswith("-") and token != "-":
            target = tail if name in options or name not in globals_ else hoisted
            target.append(token)
            known = options if target is tail else globals_
            if _takes_next(token, known) and index < len(args):
                target.append(args[index])
                index += 1
        else:
            tail.append(token)
            child = f"{path} {token}"
            if token in spec[path]["subcommands"] and child in spec:
                path, options = child, _options(spec[child])
    return head + hoisted + tail if hoisted else args


class Step:
    """One function to call: a group's callback or the command itself."""

    def __init__(
        self,
        path: str,
        target: str,
        context: str | None,
        kwargs: dict[str, Any],
        invoked_subcommand: str | None = None,
    ) -> None:
        self.path = path
        self.target = target
        self.context = context
        self.kwargs = kwargs
        self.invoked_subcommand = invoked_subcommand


class Plan:
    """What typer would call for a command line: the global options, then each function."""

    def __init__(self) -> None:
        self.root: dict[str, Any] = {}
        self.steps: list[Step] = []


def _convert(param: Entry, raw: str) -> Any:
    kind = param["type"]["kind"]
    if kind == "str":
        return raw
    if kind in ("int", "float"):
        try:
            value: float = int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise Decline from None
        if not math.isfinite(value):
            raise Decline
        low, high = param["type"].get("min"), param["type"].get("max")
        if low is not None and (value <= low if param["type"]["min_open"] else value < low):
            raise Decline
        if high is not None and (value >= high if param["type"]["max_open"] else value > high):
            raise Decline
        return value
    if kind == "path" and raw:
        from pathlib import Path

        return Path(raw)
    if kind == "choice" and raw in param["type"]["choices"]:
        if "enum" not in param["type"]:
            return raw
        return _attribute(param["type"]["enum"])(raw)
    raise Decline


def _read_options(entry: Entry, tokens: list[str], interspersed: bool) -> tuple[dict[str, Any], list[str], list[str]]:
    """The options of one level: their raw values, the positional arguments, what is left."""
    options = _options(entry)
    values: dict[str, Any] = {}
    positional: list[str] = []

    def give(param: Entry, value: Any) -> None:
        if param["type"]["kind"] == "unsupported":
            raise Decline
        if param["multiple"]:
            values.setdefault(param["name"], []).append(value)
        else:
            values[param["name"]] = value

    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token == "--":
            positional += tokens[index:]
            return values, positional, []
        if not token.startswith("-") or token == "-":
            if not interspersed:
                return values, positional, tokens[index - 1 :]
            positional.append(token)
            continue
        name, equals, attached = token.partition("=") if token.startswith("--") else (token, "", "")
        param = options.get(name)
        if param is not None:
            if param["type"]["kind"] == "flag":
                if equals:
                    raise Decline
                give(param, name in param["opts"])
            elif equals:
                give(param, attached)
            elif index < len(tokens):
                give(param, tokens[index])
                index += 1
            else:
                raise Decline
            continue
        if token.startswith("--"):
            raise Decline
        for at, char in enumerate(token[1:], start=2):  # -qw, -mMODEL, -qi VALUE
            param = options.get(f"-{char}")
            if param is None:
                raise Decline
            if param["type"]["kind"] == "flag":
                give(param, f"-{char}" in param["opts"])
                continue
            if at < len(token):
                give(param, token[at:])
            elif index < len(tokens):
                give(param, tokens[index])
                index += 1
            else:
                raise Decline
            break
    return values, positional, []


def _arguments(entry: Entry, values: dict[str, Any], positional: list[str]) -> dict[str, Any]:
    """Converted keyword arguments: options read, positional arguments, environment values."""
    import os

    kwargs: dict[str, Any] = {}
    for param in entry["params"]:
        name = param["name"]
        if param["kind"] == "argument":
            if param["type"]["kind"] == "unsupported" or param["multiple"]:
                raise Decline
            if param["nargs"] == -1:
                raw: Any = positional
                positional = []
            elif param["nargs"] == 1:
                raw = positional.pop(0) if positional else None
            else:
                raise Decline
            if raw is None or raw == []:
                if param["required"]:
                    raise Decline
                continue
            kwargs[name] = [_convert(param, r) for r in raw] if param["nargs"] == -1 else _convert(param, raw)
            continue
        if name in values:
            raw = values[name]
            if param["type"]["kind"] == "flag":
                kwargs[name] = raw
            else:
                kwargs[name] = [_convert(param, r) for r in raw] if param["multiple"] else _convert(param, raw)
            continue
        from_env = os.environ.get(param["envvar"]) if param.get("envvar") else None
        if from_env:  # click reads an unset or empty variable as absent
            if param["type"]["kind"] != "str" or param["multiple"]:
                raise Decline
            kwargs[name] = from_env
        elif param["required"]:
            raise Decline
    if positional:  # more arguments than the command takes
        raise Decline
    for param in entry["params"]:
        if "check" in param and param["name"] in kwargs:  # (a default passes its check: None does)
            kwargs[param["name"]] = _checked(param["check"], kwargs[param["name"]])
    return kwargs


def _checked(check: str, value: Any) -> Any:
    """The value as the option's declared check returns it; a value it refuses is typer's to report."""
    try:
        return _function(check)(value)
    except ValueError:
        raise Decline from None


def plan(args: list[str], spec: dict[str, Entry] | None = None) -> Plan:
    """What typer would call for this command line; raises Decline when typer must decide."""
    spec = _spec() if spec is None else spec
    args = hoist_globals(args, spec)
    result = Plan()
    values, _, rest = _read_options(spec[""], args, interspersed=False)
    result.root = _arguments(spec[""], values, [])
    path = ""
    while True:
        if not rest or rest[0] not in spec[path]["subcommands"]:
            raise Decline  # no command word, or an unknown one
        word = rest[0]
        path = f"{path} {word}".strip()
        entry = spec[path]
        if not entry["subcommands"]:
            values, positional, _ = _read_options(entry, rest[1:], interspersed=True)
            kwargs = _arguments(entry, values, positional)
            result.steps.append(Step(path, entry["target"], entry.get("context"), kwargs))
            return result
        values, _, rest = _read_options(entry, rest[1:], interspersed=False)
        kwargs = _arguments(entry, values, [])
        subcommand = rest[0] if rest else None
        if entry["target"] is not None:
            result.steps.append(Step(path, entry["target"], entry.get("context"), kwargs, subcommand))
        if subcommand is None:
            if not entry["invoke_without_command"] or entry["target"] is None:
                raise Decline
            return result


def _function(target: str) -> Callable[..., Any]:
    found: Callable[..., Any] = _attribute(target)
    return found


def _attribute(target: str) -> Any:
    """``module:name``'s object (``__import__``: the ``importlib`` package is an import more)."""
    module, name = target.split(":")
    __import__(module)
    return getattr(sys.modules[module], name)


def run(args: list[str], obj: Any = None) -> int | None:
    """Run the command line without typer: its exit code, or None when typer must take it.
    ``obj``: a session prepared by a test, as typer's ``obj=``."""
    try:
        found = plan(args)
    except Decline:
        return None
    from piapi_cli.cli import runtime
    from piapi_cli.cli.parsing.params import Context, call

    functions = [_function(step.target) for step in found.steps]
    try:
        state = runtime.start(obj, **found.root)
    except Exception as exc:
        code = runtime.failure(exc, None)
        if code is None:
            raise
        return code

    def invoke() -> None:
        for step, function in zip(found.steps, functions, strict=True):
            context = Context(state, step.invoked_subcommand, path=step.path, given=step.kwargs)
            call(function, step.context, dict(step.kwargs), context)

    return runtime.guarded(state, invoke)


def help_path(args: list[str]) -> str | None:
    """The command path that ``ARGS --help`` asks about (``tasks show``), when ARGS holds only
    that path and global options; None for anything else."""
    spec = _spec()
    options = _options(spec[""])
    words: list[str] = []
    index = 0
    tokens = hoist_globals(args, spec)
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.startswith("-"):
            if words or token.split("=", 1)[0] not in options:
                return None
            index += _takes_next(token, options)
        else:
            words.append(token)
    path = " ".join(words)
    return path if path in spec else None
