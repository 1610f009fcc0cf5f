"""Advice works when pasted: it names this run's profile (once) and sandbox, says which switch
turned the journal off, shows jq's whole complaint; Ctrl-D at the key prompt gives no key."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli
from tests.test_subprocess import on_a_terminal

FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img"]


def test_the_no_key_message_names_the_profile_in_use(cli: Cli) -> None:
    assert cli("--profile", "work", "config", "set", "max_poll_interval", "20").exit_code == 0
    result = cli("--profile", "work", "get", "x", env={"PIAPI_API_KEY": ""})
    assert result.exit_code == 3, result.stderr
    assert "`piapi --profile work config set-key`" in result.stderr
    assert "to try piapi without a key, add --sandbox" in result.stderr  # prose stays prose
    default = cli("get", "x", env={"PIAPI_API_KEY": ""})
    assert "`piapi config set-key`" in default.stderr


def test_an_unknown_profile_is_named_once_in_the_hint(cli: Cli) -> None:
    assert cli("--profile", "work", "config", "set", "max_poll_interval", "20").exit_code == 0
    result = cli("--profile", "nosuch", "--sandbox", "get", "x")
    assert result.exit_code == 3, result.stderr
    [hint] = [line for line in result.stderr.splitlines() if line.startswith("hint:")]
    assert hint == "hint: create it with: piapi --profile nosuch --sandbox config set-key"


def test_the_journal_hint_says_which_switch_turned_it_off(cli: Cli, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "input": {"prompt": "x"}}\n')
    flag = cli("--no-journal", "batch", "run", str(rows), *FLUX)
    assert flag.exit_code == 3 and "hint: leave out --no-journal" in flag.stderr
    env = cli("batch", "run", str(rows), *FLUX, env={"PIAPI_JOURNAL": "0"})
    assert env.exit_code == 3 and "hint: unset PIAPI_JOURNAL" in env.stderr
    assert cli("--profile", "work", "config", "set", "journal", "false").exit_code == 0
    stored = cli("--profile", "work", "tasks")
    assert stored.exit_code == 3 and "hint: turn it back on: piapi --profile work config unset journal" in stored.stderr
    assert "set them" not in flag.stderr + env.stderr + stored.stderr


def test_a_jq_syntax_error_is_shown_whole(cli: Cli) -> None:
    result = cli("create", *FLUX, "-i", "prompt=x", "--jq", ".foo |")
    assert result.exit_code == 2 and result.stdout == ""
    # after "where:", the expression jq quotes, not cut at the colon; one line, as usage errors are
    assert result.stderr == (
        "error: invalid --jq expression: jq: error: syntax error, unexpected end of file at <top-level>, "
        "line 1, column 6: .foo | (jq: 1 compile error)\n"
    )


def test_ctrl_d_at_the_hidden_key_prompt_gives_no_key(isolated: Path) -> None:
    """The console script on a terminal (a pty): Ctrl-D at the prompt is "no key given",
    exit 2, not an internal error."""
    code, text = on_a_terminal(["config", "set-key"], b"\x04")  # Ctrl-D
    assert code == 2, text
    assert "no key given" in text and "internal error" not in text and "Traceback" not in text
    assert not (isolated / "config" / "config.toml").exists()  # nothing stored
