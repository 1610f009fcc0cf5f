"""The library says what happened; the CLI writes what to do next. No message of the library
names a flag or a command (a renamed flag would mean editing core/), and every piece of
advice a library error asks for is written by the CLI, for this run's profile and world."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from piapi_cli.api.errors import PiapiError
from piapi_cli.cli import hints
from piapi_cli.cli.session import Session

PACKAGE = Path(__file__).resolve().parent.parent / "piapi_cli"
COMMANDS = (
    "create", "get", "wait", "cancel", "download", "account", "models", "listen", "trigger", "completion",
    "batch", "tasks", "config", "sandbox", "report", "compare", "chat", "image",
)  # fmt: skip
#: a flag (``--name``) or a command line (``piapi tasks show``, ``piapi --profile``)
CLI_WORDS = re.compile(rf"(?<![\w-])--[a-z][a-z0-9-]*|\bpiapi (?:--[a-z]|(?:{'|'.join(COMMANDS)})\b)")
#: facts the docs are generated from (a setting's help and flag, an environment variable's
#: help, an exit code's text): documentation of the CLI kept beside what it documents
FACT_CALLS = {"_setting", "EnvVar"}
#: ... and a report page's title and generator mark, which name the product, not a command
FACT_TABLES = {"_EXIT_CODE_TEXTS", "GENERATOR", "TITLE", "title"}


def _messages(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skipped.add(id(body[0].value))  # a docstring
        fact_call = isinstance(node, ast.Call) and getattr(node.func, "id", None) in FACT_CALLS
        fact_call = fact_call or (isinstance(node, ast.keyword) and node.arg in FACT_TABLES)
        fact_table = isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
            getattr(t, "id", None) in FACT_TABLES
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
        if fact_call or fact_table:
            skipped |= {id(n) for n in ast.walk(node)}
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
    ]


def test_no_library_message_names_a_flag_or_a_command() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {text!r}"
        for layer in ("api", "core")
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for line, text in _messages(path)
        if CLI_WORDS.search(text)
    ]
    assert found == [], "name the option (option=) or the advice (advice=); cli/hints.py writes the flag"


def test_the_check_sees_a_flag_where_there_is_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""Docs may say --json."""\nraise ValueError("use --overwrite")\nx = "see: piapi models"\n')
    assert sorted(text for _, text in _messages(sample) if CLI_WORDS.search(text)) == [
        "see: piapi models",
        "use --overwrite",
    ]


def test_every_advice_the_library_asks_for_is_written_by_the_cli() -> None:
    asked = set()
    for layer in ("api", "core"):
        for path in (PACKAGE / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.keyword) and node.arg == "advice" and isinstance(node.value, ast.Constant):
                    asked.add(node.value.value)
                if (
                    isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Attribute) and t.attr == "advice" for t in node.targets)
                    and isinstance(node.value, ast.Constant)
                    and node.value.value is not None
                ):
                    asked.add(node.value.value)
    assert asked and asked <= set(hints.ADVICE)


def test_advice_and_options_are_written_for_this_run() -> None:
    error = PiapiError("run_id 'x y': expected letters, digits, '.', '_' or '-'", option="run_id", advice="set_key")
    session = Session(profile="work", sandbox=True)
    assert hints.message_for(error) == "--run-id 'x y': expected letters, digits, '.', '_' or '-'"
    assert hints.hint_for(error, session) == "check your API key: piapi --profile work --sandbox config set-key"
    # a message that only begins like the option's name is left as it is
    assert hints.message_for(PiapiError("run_identity unknown", option="run_id")) == "run_identity unknown"
