"""One function makes a run's many outcomes one exit code, for every command that has several."""

from __future__ import annotations

from pathlib import Path

import pytest

from piapi_cli.api.errors import EXIT_PRECEDENCE, ExitCode, combine_exit_codes
from tests.conftest import Cli

FLUX = ["create", "-m", "Qubico/flux1-dev", "-t", "txt2img"]


def test_the_worst_outcome_wins_and_a_deadline_yields_to_every_other_failure() -> None:
    assert combine_exit_codes([]) == ExitCode.OK
    assert combine_exit_codes([ExitCode.OK, ExitCode.OK]) == ExitCode.OK
    assert combine_exit_codes([ExitCode.WAIT_TIMEOUT, ExitCode.OK]) == ExitCode.WAIT_TIMEOUT
    assert combine_exit_codes([ExitCode.WAIT_TIMEOUT, ExitCode.TASK_FAILED]) == ExitCode.TASK_FAILED
    assert combine_exit_codes([ExitCode.WAIT_TIMEOUT, ExitCode.NETWORK]) == ExitCode.NETWORK
    assert combine_exit_codes([ExitCode.TASK_FAILED, ExitCode.DOWNLOAD_FAILED]) == ExitCode.DOWNLOAD_FAILED
    assert combine_exit_codes([ExitCode.DOWNLOAD_FAILED, ExitCode.INTERRUPTED]) == ExitCode.INTERRUPTED
    assert combine_exit_codes([7, 8]) == ExitCode.TASK_FAILED  # plain numbers too
    assert sorted(EXIT_PRECEDENCE) == sorted(ExitCode)  # every code has its place, once


def test_the_readme_says_the_order_the_function_uses() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    order = ", ".join(str(int(c)) for c in EXIT_PRECEDENCE if c != ExitCode.OK)
    assert f"the first of these that happened: {order}" in readme


@pytest.mark.parametrize("command", ["download", "get", "wait"])
def test_a_failed_task_and_an_unfinished_one_exit_7_whichever_command(
    cli: Cli, command: str, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(isolated)
    failed = cli(*FLUX, "-i", "prompt=x [sandbox:fail]", "--wait").exit_code
    assert failed == 7
    failed_id = cli("tasks", "--jq", ".[0].task_id").stdout.strip()
    running_id = cli(*FLUX, "-i", "prompt=slow").stdout.strip()
    args = {"download": ["--dir", "out"], "get": [], "wait": ["--timeout", "0.5"]}[command]
    result = cli(command, failed_id, running_id, *args)
    # download said 8 here (the larger number) though a task had failed
    assert result.exit_code == 7, result.stderr
