"""Writes ``_argspec.py``: what every command of the typer tree accepts, as plain data.

Run by the docs generator with the help cache (a test checks both are current), never at
run time: the table lets ``fastpath`` parse a command line and call the command without
importing typer. It is read off the tree typer builds, so options are declared once.
"""

from __future__ import annotations

import enum
import inspect
from pathlib import Path
from typing import Any, get_args

ARGSPEC_MODULE = Path(__file__).resolve().parent / "_argspec.py"


def _enum_of(annotation: Any) -> type[enum.Enum] | None:
    """The Enum in ``Optional[Mode]`` or ``Annotated[Mode, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    for inner in get_args(annotation):
        found = _enum_of(inner)
        if found is not None:
            return found
    return None


def _type(param: Any, annotation: Any) -> dict[str, Any]:
    """The value type of a parameter, in the few kinds the fast parser converts."""
    kind = type(param.type).__name__
    if getattr(param, "is_flag", False):
        plain = not getattr(param, "count", False)  # typer flags store True (False for --no-...)
        return {"kind": "flag" if plain else "unsupported"}
    if kind == "StringParamType":
        return {"kind": "str"}
    if kind in ("IntParamType", "FloatParamType", "IntRange", "FloatRange"):
        found: dict[str, Any] = {"kind": "int" if kind.startswith("Int") else "float"}
        for limit in ("min", "max"):
            if getattr(param.type, limit, None) is not None:
                found[limit] = getattr(param.type, limit)
                found[f"{limit}_open"] = bool(getattr(param.type, f"{limit}_open", False))
        if getattr(param.type, "clamp", False):
            found["kind"] = "unsupported"  # clamping is typer's to do
        return found
    if kind in ("Path", "TyperPath"):
        checks = {"exists": False, "file_okay": True, "dir_okay": True, "writable": False, "resolve_path": False}
        checks |= {"executable": False, "allow_dash": False}
        plain = all(getattr(param.type, check, default) == default for check, default in checks.items())
        return {"kind": "path" if plain else "unsupported"}
    if kind in ("Choice", "TyperChoice") and param.type.case_sensitive:
        found = {"kind": "choice", "choices": [str(getattr(c, "value", c)) for c in param.type.choices]}
        kind_of = _enum_of(annotation)
        if kind_of is not None:
            found["enum"] = f"{kind_of.__module__}:{kind_of.__qualname__}"
        return found
    return {"kind": "unsupported"}


def _param(param: Any, annotations: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": param.name,
        "kind": param.param_type_name,  # "option" or "argument"
        "opts": list(param.opts),
        "secondary": list(getattr(param, "secondary_opts", [])),
        "multiple": bool(getattr(param, "multiple", False)),
        "nargs": param.nargs,
        "required": bool(param.required),
        "type": _type(param, annotations.get(param.name)),
    }
    check = _declared_check(annotations.get(param.name))
    if check is not None:  # a check declared with params: the fast parser calls it too
        entry["check"] = f"{check.__module__}:{check.__qualname__}"
    elif getattr(param, "is_eager", False) or getattr(param, "callback", None) is not None:
        entry["type"] = {"kind": "unsupported"}  # a callback of its own (e.g. --version): typer runs it
    if param.envvar:
        entry["envvar"] = param.envvar
    return entry


def _declared_check(annotation: Any) -> Any:
    """The ``check`` of a ``params.Option`` in ``Annotated[..., params.Option(check=...)]``."""
    from piapi_cli.cli.parsing.params import Option

    for extra in getattr(annotation, "__metadata__", ()):
        if isinstance(extra, Option) and extra.settings.get("check") is not None:
            check = extra.settings["check"]
            if "<" in check.__qualname__:
                raise RuntimeError(f"a check must be importable by name, not {check.__qualname__}")
            return check
    return None


def _target(command: Any) -> tuple[str | None, str | None, dict[str, Any]]:
    """The command's own function (``module:name``), the name of its context parameter, and
    the annotation of each parameter."""
    if command.callback is None:
        return None, None, {}
    from piapi_cli.cli.parsing.params import Context, Declared

    function = inspect.unwrap(command.callback)
    annotations = {
        n: p.annotation.typing_annotation() if isinstance(p.annotation, Declared) else p.annotation
        for n, p in inspect.signature(function, eval_str=True).parameters.items()
    }
    context = next((name for name, annotation in annotations.items() if annotation is Context), None)
    return f"{function.__module__}:{function.__qualname__}", context, annotations


def table() -> dict[str, dict[str, Any]]:
    """Every command path ("" is the root, "tasks show" a subcommand) and what it takes."""
    from typer.main import get_command

    from piapi_cli.cli.app import app

    root = get_command(app)
    found: dict[str, dict[str, Any]] = {}

    def visit(command: Any, path: list[str], ctx: Any) -> None:
        subcommands = list(command.list_commands(ctx)) if hasattr(command, "list_commands") else []
        target, context, annotations = _target(command) if path else (None, None, {})
        entry: dict[str, Any] = {
            "target": target,
            "context": context,
            "params": [_param(p, annotations) for p in command.params if p.name not in ("help",)],
            "subcommands": subcommands,
        }
        if subcommands:
            entry["invoke_without_command"] = bool(command.invoke_without_command)
        found[" ".join(path)] = entry
        for name in subcommands:
            child = command.get_command(ctx, name)
            visit(child, [*path, name], child.make_context(name, [], parent=ctx, resilient_parsing=True))

    visit(root, [], root.make_context("piapi", [], resilient_parsing=True))
    _check_globals(found)
    return found


def _check_globals(found: dict[str, dict[str, Any]]) -> None:
    # global options are accepted after the command word too: no command may reuse their names
    names = {opt for p in found[""]["params"] for opt in p["opts"] + p["secondary"]}
    for path, entry in found.items():
        if not path:
            continue
        clash = names & {opt for p in entry["params"] for opt in p["opts"] + p["secondary"]}
        if clash:
            raise RuntimeError(f"`piapi {path}` reuses global option names: {sorted(clash)}")


def argspec_module() -> str:
    lines = [
        '"""What each command accepts, generated from the typer tree by piapi_cli.cli.parsing.argspecgen:',
        'do not edit. ``fastpath`` reads command lines with it, without importing typer."""',
        "",
        "TYPE_CHECKING = False  # (typing is a slow import)",
        "if TYPE_CHECKING:",
        "    from typing import Any",
        "",
        'COMMANDS: "dict[str, dict[str, Any]]" = {',
    ]
    for path, entry in table().items():
        lines.append(f"    {path!r}: {{")
        for key, value in entry.items():
            if key != "params":
                lines.append(f"        {key!r}: {value!r},")
        lines.append("        'params': [")
        lines += [f"            {param!r}," for param in entry["params"]]
        lines += ["        ],", "    },"]
    lines.append("}")
    return "\n".join(lines) + "\n"
