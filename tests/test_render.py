"""Every command shows its result one way (``Output.render``): ``--json`` one JSON document,
``--jq`` filtered, a pipe plain lines without escape codes, a terminal a rendering, in colour
unless NO_COLOR or ``--no-color`` says otherwise."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from piapi_cli.cli.output import Output
from tests.conftest import Cli

SGR = re.compile(r"\x1b\[[0-9;]*m")
#: an SGR sequence that sets a colour (bold and dim are styles, which NO_COLOR leaves)
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
COMMANDS = Path(__file__).resolve().parent.parent / "piapi_cli" / "cli" / "commands"

#: commands that show a result, with {task} for the ID of a task created first
SHOWN = [
    "account",
    "models",
    "models Qubico/flux1-dev",
    "config show",
    "get {task}",
    "tasks",
    "tasks show {task}",
    "tasks usage --by model",
    "tasks --remote",
]
#: the commands whose rendering at a terminal has colour in it
COLOURED = ["models Qubico/flux1-dev", "get {task}", "tasks"]


def _run(cli: Cli, line: str, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    if not cli.sessions:  # a task to show, made once per test
        cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat", "-q")
    task = cli.sessions[0].created[0]
    result = cli(*line.format(task=task).split(), *extra, env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("line", SHOWN)
def test_json_is_one_document_and_jq_filters_it(cli: Cli, line: str) -> None:
    code, out, _ = _run(cli, line, "--json")
    assert code == 0
    doc = json.loads(out)  # exactly one document: nothing before or after it
    if "--jq" in _help(cli, line):
        code, filtered, _ = _run(cli, line, "--jq", ".")
        assert code == 0 and json.loads(filtered) == doc


@pytest.mark.parametrize("line", SHOWN)
def test_a_pipe_gets_plain_lines(cli: Cli, line: str) -> None:
    code, out, _ = _run(cli, line)
    assert code == 0 and out.strip()
    assert "\x1b" not in out and "─" not in out  # no colour, no box drawing


@pytest.mark.parametrize("line", COLOURED)
def test_a_terminal_gets_colour_unless_no_color_says_otherwise(
    cli: Cli, line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Output, "stdout_tty", property(lambda self: True))
    code, coloured, _ = _run(cli, line)
    assert code == 0 and COLOUR.search(coloured)
    for no_color in (["--no-color"], []):
        code, plain, _ = _run(cli, line, *no_color, env={} if no_color else {"NO_COLOR": "1"})
        assert code == 0 and not COLOUR.search(plain) and SGR.sub("", coloured).split() == SGR.sub("", plain).split()


def _help(cli: Cli, line: str) -> str:
    words = [w for w in line.split() if not w.startswith("{") and not w.startswith("-")]
    return cli(*words[:2] if words[0] in ("tasks", "config", "batch") else words[:1], "--help").stdout


def test_no_command_chooses_between_json_table_and_lines_itself() -> None:
    """The branch lives in ``Output.render``: a command that printed a document or asked
    whether stdout is a terminal would be an eighth copy of it."""
    found = []
    for path in sorted(COMMANDS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("document", "stdout_tty", "isatty"):
                if path.name == "config_cmd.py" and node.attr == "isatty":
                    continue  # the key prompt asks whether stdin is a terminal, not how to show a result
                found.append(f"{path.name}:{node.lineno} {node.attr}")
    assert found == []
