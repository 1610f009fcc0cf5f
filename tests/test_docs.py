"""Help, completions, man pages and the README's tables are generated from one definition
of each fact (command tree, exit codes, settings, environment) and never drift."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from piapi_cli.api.errors import ExitCode
from piapi_cli.cli.completions import FILES, script
from piapi_cli.cli.main import with_typer
from piapi_cli.cli.parsing._helptext import HELP
from piapi_cli.core import settings
from tests.conftest import Cli, run_main
from tools import docgen

ROOT = docgen.ROOT
COMPLETIONS = ROOT / "piapi_cli" / "cli" / "completions"


def test_committed_files_match_the_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "docgen.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr  # run: python tools/docgen.py
    pages = sorted(p.name for p in (ROOT / "man").glob("*.1"))
    assert pages == sorted(docgen.man_pages()), "man/ holds a page for a command that no longer exists"


def test_check_names_each_drifted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text("utf-8")
    readme.write_text(text.replace("| 7 | the task finished", "| 7 | the task ended"), "utf-8")
    man = tmp_path / "man"
    man.mkdir()
    for name, page in docgen.man_pages().items():
        (man / name).write_text(page, "utf-8")
    (man / "piapi-gone.1").write_text(".TH OLD 1\n", "utf-8")
    monkeypatch.setattr(docgen, "README", readme)
    monkeypatch.setattr(docgen, "MAN_DIR", man)
    monkeypatch.setattr(docgen, "ROOT", tmp_path.parent)
    assert docgen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "out of date: " in err and "README.md" in err and "piapi-gone.1" in err
    assert docgen.main([]) == 0 and docgen.main(["--check"]) == 0  # written, then in step
    assert "| 7 | the task finished" in readme.read_text("utf-8") and not (man / "piapi-gone.1").exists()


def test_the_generator_is_not_part_of_the_package() -> None:
    program = (
        "import sys; from piapi_cli.cli.main import main; from piapi_cli.cli import app; app.app; "
        "print(any(name.endswith('docgen') for name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
    assert not list((ROOT / "piapi_cli").rglob("docgen.py"))


def _section(name: str) -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    match = re.search(rf"<!-- generated: {name} -->\n(.*?)<!-- end -->", text, re.DOTALL)
    assert match, f"README.md lacks the section {name}"
    return match.group(1)


def test_exit_codes_are_written_once() -> None:
    table = _section("exit-codes")
    root_help = " ".join(HELP[""].split())
    for code in ExitCode:
        assert f"| {code.value} | {code.description} |" in table
        assert f"{code.value} {code.label}" in root_help  # the list at the end of piapi --help
        assert code.description.split(" (")[0] in (ROOT / "man" / "piapi-get.1").read_text()


def test_settings_and_environment_are_written_once() -> None:
    table = _section("settings")
    config_help = HELP["config"]
    for setting in settings.SETTINGS.values():
        assert f"| `{setting.name}` |" in table and setting.help in table
        assert setting.name in config_help and f"default: {setting.shown_default}" in config_help
        if setting.env:
            assert setting.env in config_help
    others = _section("environment")
    man = (ROOT / "man" / "piapi.1").read_text()
    for var in settings.environment():
        assert var.name.replace("_", "\\_") in man or var.name in man
    for var in settings.OTHER_ENVIRONMENT:
        assert f"| `{var.name}` |" in others


def test_every_environment_variable_read_is_documented() -> None:
    documented = {var.name for var in settings.environment()}
    read: set[str] = set()
    for path in (ROOT / "piapi_cli").rglob("*.py"):
        if path.name != "_helptext.py":
            read |= set(re.findall(r"\b(PIAPI_[A-Z_]+|NO_COLOR)\b", path.read_text("utf-8")))
    assert read - documented == set(), "document it in piapi_cli/core/settings.py"


def test_every_command_has_help_with_an_example() -> None:
    for cmd in docgen.commands():
        if not cmd.subcommands or cmd.path:
            assert "Examples:" in HELP[cmd.key], cmd.name
        assert all(opt.help for opt in cmd.options), f"{cmd.name}: an option lacks help"


def test_cached_help_is_what_typer_renders(cli: Cli) -> None:
    for cmd in docgen.commands():
        rendered = run_main([*cmd.path, "--help"], None, through=with_typer)
        assert rendered.stdout == HELP[cmd.key], cmd.name
        assert cli(*cmd.path, "--help").stdout == HELP[cmd.key], cmd.name  # the entry point: the cache


@pytest.mark.parametrize("args", [["--help"], ["create", "--help"], ["config", "set-key", "-h"]])
def test_help_fast_path_prints_the_cached_text(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "piapi_cli", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == HELP[" ".join(args[:-1])]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_command_prints_the_shipped_script(cli: Cli, shell: str) -> None:
    shipped = (COMPLETIONS / FILES[shell]).read_bytes()
    assert shipped == script(shell)
    assert cli("completion", shell).stdout == shipped.decode()  # the entry point
    assert run_main(["completion", shell], None, through=with_typer).stdout == shipped.decode()  # the command
    fast = subprocess.run([sys.executable, "-m", "piapi_cli", "completion", shell], capture_output=True, timeout=60)
    assert fast.returncode == 0 and fast.stdout == shipped  # the entry point's fast path


def test_completion_of_an_unknown_shell_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "piapi_cli", "completion", "tcsh"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "tcsh" in result.stderr and "bash" in result.stderr


def test_completion_scripts_are_package_data() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["piapi_cli"]
    assert sorted(p.name for p in COMPLETIONS.iterdir() if p.suffix != ".py" and p.is_file()) == sorted(FILES.values())


def test_completion_imports_none_of_the_heavy_toolkits() -> None:
    program = (
        "import sys, io; from piapi_cli.cli.main import main; sys.stdout = io.StringIO(); "
        "main(['completion', 'bash']); out = sys.stdout.getvalue(); sys.stdout = sys.__stdout__; "
        "print(len(out) > 1000, sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'httpx')))"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "True []", result.stderr
    # its cost against python -c pass is measured in bench/ (startup.py), not timed in a test


def complete(*words: str) -> list[str]:
    script = COMPLETIONS / "piapi.bash"
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
            "create", "get", "wait", "cancel", "download", "report", "compare", "chat", "image", "account", "models",
            "listen", "trigger", "completion", "batch", "tasks", "config", "sandbox",
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
