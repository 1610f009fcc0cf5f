"""Commands get one context, whichever parser read their line: nothing in a command module
reaches for the toolkit's (typer's, click's) context or imports the toolkit."""

from __future__ import annotations

import ast
from pathlib import Path

COMMANDS = Path(__file__).resolve().parent.parent / "piapi_cli" / "cli" / "commands"
#: what only the toolkit's context has (ours: obj, invoked_subcommand, path, given, flag, call_on_close)
TOOLKIT_ONLY = {"get_parameter_source", "params", "command", "parent", "find_root", "meta", "lookup_default",
                "ensure_object", "find_object", "invoke", "forward", "exit", "fail", "abort", "info_name"}  # fmt: skip


def test_no_command_uses_the_toolkit_or_its_context() -> None:
    found = []
    for path in sorted(COMMANDS.glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                found += [f"{path.name}: imports {n}" for n in names if n.split(".")[0] in ("typer", "click")]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ctx":
                if node.attr in TOOLKIT_ONLY:
                    found.append(f"{path.name}:{node.lineno}: ctx.{node.attr}")
    assert found == []
