"""The completion scripts in the real shells: paths where a path goes, the values each option
takes in its own command only, the words of every list accepted by its command.

bash: the script sourced, ``_piapi`` called with the words as bash splits them (at
COMP_WORDBREAKS). zsh: ``_piapi`` called with zsh's completion builtins replaced by ones that
print what they were given. fish: its own engine (``complete -C``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli
from tools import completiongen

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "completions"


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with a file and a folder of each initial the tests type."""
    for name in ("rows.jsonl", "rows.csv", "out.txt", "photo.png"):
        (tmp_path / name).write_text("x")
    (tmp_path / "out").mkdir()
    (tmp_path / "results").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _bash_words(line: str) -> list[str]:
    """The words bash makes of a command line for completion: split at blanks, and at runs of
    COMP_WORDBREAKS characters (``image=@ro`` -> ``image``, ``=@``, ``ro``)."""
    found = []
    for word in line.split(" "):
        found += [part for part in re.split(r"([=@:]+)", word) if part] or [""]
    return found


def bash(line: str) -> list[str]:
    """What TAB offers at the end of ``line`` in bash."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in _bash_words(line))
    program = (
        f"source '{SCRIPTS / 'piapi.bash'}'; COMP_WORDS=({quoted}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); "
        f"COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=(); _piapi; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return sorted(line for line in result.stdout.splitlines() if line)


#: zsh's completion builtins, replaced by ones that print what they would offer
_ZSH_STUBS = r"""
_offer() { local a; for a in "$@"; do [[ "$a" == ${PREFIX}* ]] && print -r -- "$IPREFIX$a"; done; return 0; }
compadd() { if [[ "$1" == -a ]]; then _offer ${(P)2}; else [[ "$1" == -- ]] && shift; _offer "$@"; fi; }
_describe() { _offer ${${(P)4}%%:*}; }
_files() { if [[ "$1" == -/ ]]; then _offer *(N/); else _offer *(N); fi; }
compset() { [[ "$1" == -P && "$PREFIX" == ${~2}* ]] || return 1; local rest="${PREFIX##${~2}}"; IPREFIX="${PREFIX%$rest}"; PREFIX="$rest"; }
"""


def zsh(line: str) -> list[str]:
    """What TAB offers at the end of ``line`` in zsh (through stubs of its builtins)."""
    words = line.split(" ")
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    script = (SCRIPTS / "_piapi").read_text().replace('\n_piapi "$@"\n', "\n")
    program = (
        f"{script}\n{_ZSH_STUBS}\nwords=({quoted}); CURRENT={len(words)}; PREFIX={words[-1]!r}; IPREFIX=''; _piapi"
    )
    result = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return sorted({w for w in result.stdout.splitlines() if w})


def fish(line: str) -> list[str]:
    """What TAB offers at the end of ``line`` in fish (its own completion engine)."""
    program = f"source '{SCRIPTS / 'piapi.fish'}'; complete -C '{line}'"
    result = subprocess.run(["fish", "--no-config", "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return sorted({w.split("\t")[0] for w in result.stdout.splitlines() if w})


SHELLS = [
    pytest.param(bash, marks=pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash"), id="bash"),
    pytest.param(zsh, marks=pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh"), id="zsh"),
    pytest.param(fish, marks=pytest.mark.skipif(shutil.which("fish") is None, reason="needs fish"), id="fish"),
]


@pytest.mark.parametrize("complete", SHELLS)
def test_paths_where_a_path_goes(complete, files: Path) -> None:  # type: ignore[no-untyped-def]
    assert complete("piapi batch run ro") == ["rows.csv", "rows.jsonl"]
    assert complete("piapi create --input-file ro") == ["rows.csv", "rows.jsonl"]
    assert complete("piapi batch run rows.csv --output re") in (["results"], ["results/"])
    for line in ("piapi download ID --dir ou", "piapi wait ID --download ou", "piapi batch run f --download ou"):
        assert complete(line) in (["out"], ["out/"]), line  # directories only: not out.txt
    assert complete("piapi create -i image=@ph") in (["photo.png"], ["image=@photo.png"])


@pytest.mark.parametrize("complete", SHELLS)
def test_each_option_completes_its_own_values_only(complete, files: Path) -> None:  # type: ignore[no-untyped-def]
    assert complete("piapi models -c ") == ["3d", "audio", "image", "video"]
    assert complete("piapi batch run rows.csv -c ") == []  # --concurrency: a number, not a category
    assert complete("piapi completion ") == ["bash", "fish", "zsh"]
    assert "max_poll_interval" in complete("piapi config set ") and "api_key" in complete("piapi config unset ")
    assert complete("piapi config set max_poll_interval ") == []  # the value: nothing to offer
    assert complete("piapi tasks usage --by ") == ["day", "model", "status", "task_type", "world"]
    assert {"completed", "failed", "unknown", "sending"} <= set(complete("piapi tasks --status "))
    assert "unknown" not in complete("piapi trigger URL --status ")  # the API's statuses only
    assert complete("piapi create -m midjourney -t ") == sorted(
        ["imagine", "upscale", "variation", "describe", "reroll", "seed", "blend", "inpaint", "outpaint", "pan"]
    )
    assert complete("piapi --profile work tasks sh") == ["show"]


def test_the_scripts_parse_in_their_shells() -> None:
    for shell, name in (("bash", "piapi.bash"), ("zsh", "_piapi"), ("fish", "piapi.fish")):
        if shutil.which(shell) is None:
            continue
        check = [shell, "-n", str(SCRIPTS / name)] if shell != "fish" else [shell, "--no-execute", str(SCRIPTS / name)]
        result = subprocess.run(check, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (shell, result.stderr)


@pytest.mark.parametrize(
    ("line", "key"),
    [(["tasks", "--status"], ("tasks", "--status")), (["report", "--status"], ("report", "--status")),
     (["tasks", "usage", "--by"], ("tasks usage", "--by")), (["tasks", "--world"], ("tasks", "--world")),
     (["config", "unset"], ("config unset", "#1"))],
)  # fmt: skip
def test_every_listed_value_is_one_its_command_takes(
    cli: Cli, files: Path, line: list[str], key: tuple[str, str]
) -> None:
    for value in completiongen.VALUES[key]:
        result = cli(*line, value, *(["--json"] if line[0] != "config" else []))
        assert result.exit_code == 0, (line, value, result.stderr)
    if key in (("tasks usage", "--by"), ("config unset", "#1")):
        assert cli(*line, "no-such-value").exit_code == 2  # (so the list is what it checks against)


def test_trigger_takes_every_status_it_completes(cli: Cli, files: Path) -> None:
    for value in completiongen.VALUES["trigger", "--status"]:
        result = cli("trigger", "http://127.0.0.1:9/hook", "--status", value, "--dry-run")
        assert result.exit_code == 0, (value, result.stderr)
