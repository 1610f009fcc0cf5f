"""A few real runs of the installed entry point, as scripts and CI steps call it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

#: the console script the package installs (``piapi = piapi_cli.cli.main:main``), as users run it
SCRIPT = Path(sys.executable).with_name("piapi")


def piapi(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True, text=True, input=input, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


def on_a_terminal(args: list[str], typed: bytes, env: dict[str, str] | None = None) -> tuple[int, str]:
    """The console script on a terminal (a pty): ``typed`` is written once its prompt (a line
    with "key" in it) shows; the exit code, and all the terminal showed."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: piapi on the terminal
        os.execve(str(SCRIPT), [str(SCRIPT), *args], {**os.environ, **(env or {})})
    seen = b""
    while b"key" not in seen.lower():  # the prompt
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, seen
        seen += os.read(fd, 1024)
    os.write(fd, typed)
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the terminal closed: piapi ended
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


FAST = {"PIAPI_SANDBOX_SPEED": "100"}


def test_version_is_plain() -> None:
    result = piapi("--version")
    assert result.returncode == 0 and result.stdout.startswith("piapi 0.") and result.stderr == ""


def test_script_flow_create_wait_get_across_processes() -> None:
    created = piapi(
        "--sandbox", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a little cat", env=FAST
    )
    assert created.returncode == 0, created.stderr
    task_id = created.stdout.strip()
    waited = piapi("--sandbox", "wait", task_id, "--interval", "0.2", env=FAST)
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.strip().endswith("/0.png")
    assert "\x1b[" not in waited.stdout + waited.stderr  # no colour codes through a pipe
    url = piapi("--sandbox", "get", task_id, "--jq", ".output.image_url", env=FAST)
    assert url.stdout == waited.stdout


def test_sandbox_from_the_environment_and_a_failing_task() -> None:
    result = piapi(
        "create",
        "-m",
        "luma",
        "-t",
        "video_generation",
        "-i",
        "prompt=x [sandbox:fail]",
        "--wait",
        "--timeout",
        "30",
        env={**FAST, "PIAPI_SANDBOX": "1"},
    )
    assert result.returncode == 7 and "asked to fail" in result.stderr


def test_bad_input_has_no_traceback() -> None:
    result = piapi("--sandbox", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "width=wide")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: -i width: expected an integer (integer >= 0), got 'wide'"


def test_trigger_from_task_as_the_readme_shows_it() -> None:
    task_id = piapi("--sandbox", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x").stdout.strip()
    sent = piapi("--sandbox", "trigger", "http://127.0.0.1:9/hook", "--from-task", task_id[:8], "--dry-run")
    assert sent.returncode == 0, sent.stderr
    assert f'"task_id": "{task_id}"' in sent.stdout
    # --status given (even as its default value) does not go with --from-task: refused, nothing sent
    both = piapi("--sandbox", "trigger", "http://127.0.0.1:9/hook", "--from-task", task_id, "--status", "completed")
    assert both.returncode == 2 and "leave out --status" in both.stderr and "internal error" not in both.stderr


def test_missing_key_outside_the_sandbox_exits_3(isolated: Path) -> None:
    result = piapi("get", "x")
    assert result.returncode == 3 and "set-key" in result.stderr


def test_ctrl_c_during_a_wait_prints_the_created_task() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "--sandbox", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img",
         "-i", "prompt=long [sandbox:seconds=3600]", "--wait", "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    line = process.stderr.readline()  # blocks until the first status line: the task exists
    assert "processing" in line or "pending" in line
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    task_id = line.split()[0]
    assert process.returncode == 130
    assert f"tasks already created (not cancelled): {task_id}" in err
    assert f"piapi --sandbox wait {task_id}" in err


@pytest.mark.parametrize("args", [["models"], ["models", "--json"], ["--help"]])
def test_closed_pipe_is_quiet(args: list[str]) -> None:
    result = subprocess.run(
        f"{sys.executable} -m piapi_cli {' '.join(args)} | head -c 10", shell=True, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr and "Broken pipe" not in result.stderr


def test_command_word_is_found_past_global_options() -> None:
    from piapi_cli.cli.app import command_word

    assert command_word(["--profile", "work", "--sandbox", "get", "x"]) == "get"
    assert command_word(["--base-url", "http://h", "config", "show"]) == "config"
    assert command_word(["--profile=work", "models"]) == "models"
    assert command_word(["frobnicate"]) is None and command_word(["--debug"]) is None


def test_unknown_command_still_lists_the_real_ones() -> None:
    result = piapi("--sandbox", "crate")
    assert result.returncode == 2 and "No such command 'crate'" in result.stderr
