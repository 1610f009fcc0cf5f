"""Help, completions and man pages are generated from the command tree and never drift."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from piapi_cli.cli import docgen
from piapi_cli.cli._helptext import HELP
from tests.conftest import Cli

ROOT = docgen.ROOT


def test_committed_files_match_the_generator() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in docgen.generated().items()
        if not path.exists() or path.read_text("utf-8") != text
    ]
    assert stale == [], "run: python -m piapi_cli.cli.docgen"
    pages = sorted(p.name for p in (ROOT / "man").glob("*.1"))
    assert pages == sorted(docgen.man_pages()), "man/ holds a page for a command that no longer exists"


def test_every_command_has_help_with_an_example() -> None:
    for cmd in docgen.commands():
        if not cmd.subcommands or cmd.path:
            assert "Examples:" in HELP[cmd.key], cmd.name
        assert all(opt.help for opt in cmd.options), f"{cmd.name}: an option lacks help"


def test_cached_help_is_what_typer_renders(cli: Cli) -> None:
    for cmd in docgen.commands():
        assert cli(*cmd.path, "--help").stdout == HELP[cmd.key], cmd.name


@pytest.mark.parametrize("args", [["--help"], ["create", "--help"], ["config", "set-key", "-h"]])
def test_help_fast_path_prints_the_cached_text(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "piapi_cli", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == HELP[" ".join(args[:-1])]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_command_prints_the_committed_script(cli: Cli, shell: str) -> None:
    committed = (ROOT / "completions" / docgen.COMPLETION_FILES[shell]).read_text()
    assert cli("completion", shell).stdout == committed


def complete(*words: str) -> list[str]:
    script = ROOT / "completions" / "piapi.bash"
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        f"source '{script}'; COMP_WORDS=({quoted}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); "
        'COMPREPLY=(); _piapi; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
class TestBashCompletion:
    def test_commands(self) -> None:
        assert complete("piapi", "cr") == ["create"]
        assert complete("piapi", "") == [
            "create", "get", "wait", "cancel", "download", "account", "models", "completion", "batch", "tasks", "config",
            "sandbox",
        ]  # fmt: skip
        assert complete("piapi", "--sandbox", "config", "s") == ["set-key", "show", "set"]

    def test_model_names_from_the_catalog(self) -> None:
        assert complete("piapi", "create", "--model", "Qubico/fl") == [
            "Qubico/flux1-schnell",
            "Qubico/flux1-dev",
            "Qubico/flux1-dev-advanced",
        ]
        assert complete("piapi", "models", "Qubico/tre") == ["Qubico/trellis", "Qubico/trellis2"]

    def test_task_types_of_the_chosen_model(self) -> None:
        assert complete("piapi", "create", "--model", "midjourney", "--task-type", "") == [
            "imagine", "upscale", "variation", "describe", "reroll", "seed", "blend", "inpaint", "outpaint", "pan",
        ]  # fmt: skip
        assert complete("piapi", "create", "-m", "Qubico/flux1-dev", "-i", "prompt=x", "-t", "") == [
            "txt2img",
            "img2img",
        ]

    def test_option_names_and_values(self) -> None:
        assert complete("piapi", "create", "--w") == ["--wait", "--webhook", "--webhook-secret"]
        assert complete("piapi", "create", "--service-mode", "") == ["public", "private"]
        assert complete("piapi", "models", "--category", "") == ["image", "video", "audio", "3d"]
        assert complete("piapi", "--profile", "work", "get", "--j") == ["--jq", "--json"]

    def test_file_paths_where_a_file_is_expected(self, tmp_path: object) -> None:
        found = complete("piapi", "create", "--input-file", str(ROOT / "pyproj"))
        assert found == [str(ROOT / "pyproject.toml")]


def groff_available() -> bool:
    return shutil.which("groff") is not None


@pytest.mark.skipif(not groff_available() and os.environ.get("CI") != "true", reason="groff not installed")
@pytest.mark.parametrize("page", sorted(docgen.man_pages()))
def test_man_page_renders_without_warnings(page: str) -> None:
    path = ROOT / "man" / page
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = subprocess.run(
        ["groff", "-man", "-Tutf8", "-P-cbou", str(path)], capture_output=True, text=True, timeout=30
    ).stdout
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "ENVIRONMENT", "FILES"):
        assert section in text, f"{page} lacks {section}"


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["wait", "--help"]])
def test_version_and_help_do_not_import_typer_or_httpx(args: list[str]) -> None:
    program = (
        "import sys, io; from piapi_cli.cli.main import main; sys.stdout = io.StringIO(); "
        f"main({args!r}); sys.stdout = sys.__stdout__; "
        "print(sorted(m for m in ('typer', 'rich', 'httpx') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
