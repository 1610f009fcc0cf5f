"""``--jq`` as scripts rely on it, through the installed entry point against the sandbox: a
runaway filter stops on Ctrl-C and SIGTERM, a failing filter says the right thing for the
command (exit 2 for a read, exit 11 with the created task's ID on stdout for a create), and a
closed stdout after a create still names the task."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("piapi")
FAST = {"PIAPI_SANDBOX_SPEED": "100"}
RUNAWAY = "def f: f; f"
CREATE = ["--sandbox", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x"]


def piapi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env={**os.environ, **FAST})


def created_task() -> str:
    result = piapi(*CREATE)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def started_in_jq(args: list[str]) -> tuple[subprocess.Popen[bytes], bytes]:
    """piapi run until its --debug log says the filter runs; what it wrote to stderr so far."""
    proc = subprocess.Popen(
        [str(SCRIPT), "--debug", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **FAST},
    )  # fmt: skip
    assert proc.stderr is not None
    seen = b""
    try:
        while b"running --jq" not in seen:
            ready, _, _ = select.select([proc.stderr], [], [], 60)
            chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
            assert chunk, seen.decode(errors="replace")  # it ended, or said nothing for a minute
            seen += chunk
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, seen


def stopped_in_jq(args: list[str], signum: int) -> tuple[int, str, str]:
    """Run piapi until its --debug log says the filter runs, send ``signum``; how it ended."""
    proc, seen = started_in_jq(args)
    try:
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out.decode(), (seen + err).decode(errors="replace")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_runaway_filter_on_get_stops_on_the_signal(signum: int) -> None:
    code, out, err = stopped_in_jq(["--sandbox", "get", created_task(), "--jq", RUNAWAY], signum)
    assert code == -signum  # ended by the signal itself: a shell reports 128 + N (130, 143)
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("wait", [[], ["--wait", "--interval", "0.1"]])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_runaway_filter_after_a_paid_create_stops_and_names_the_task(signum: int, wait: list[str]) -> None:
    # as a signal at any other moment of the command: the task and the command that resumes
    marker = f"prompt=runaway {os.getpid()} {signum} {len(wait)}"
    code, out, err = stopped_in_jq([*CREATE[:-1], marker, *wait, "--jq", RUNAWAY], signum)
    assert code == 128 + signum, err
    assert "Traceback" not in err and out == ""
    journal = piapi("--sandbox", "tasks", "--json", "--jq", ".[].task_id")
    [task] = journal.stdout.split()
    assert f"tasks already created (not cancelled): {task}\n" in err
    assert f"resume with: piapi --sandbox wait {task}\n" in err
    assert not running_with(marker)  # the filter does not go on running anywhere


def test_a_filter_whose_command_is_killed_outright_ends_with_it() -> None:
    # kill -9 (an out-of-memory kill, a supervisor ending the command alone): no handler runs,
    # and the runaway filter's process must not go on alone
    marker = f"prompt=killed {os.getpid()}"
    proc, seen = started_in_jq([*CREATE[:-1], marker, "--jq", RUNAWAY])
    try:
        assert b"in a child process" in seen
        [child] = [int(pid) for pid in running_with(marker) if int(pid) != proc.pid]
        ended = os.pidfd_open(child)
        proc.kill()
        proc.wait()
        assert select.select([ended], [], [], 30)[0], "the filter is still running"
        os.close(ended)
    finally:
        for pid in running_with(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def test_a_filter_whose_process_is_killed_alone_fails_the_step_and_names_the_task() -> None:
    # the out-of-memory killer picks the filter's process, the largest: the command ran the same
    # filter again in its own process, where a Ctrl-C or SIGTERM ended it without naming the task
    marker = f"prompt=oom {os.getpid()}"
    proc, seen = started_in_jq([*CREATE[:-1], marker, "--jq", RUNAWAY])
    try:
        [child] = [int(pid) for pid in running_with(marker) if int(pid) != proc.pid]
        os.kill(child, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 11, err  # a step on the answer failed; the task was created
    [task] = out.decode().split()
    assert piapi("--sandbox", "get", task, "--jq", ".status").returncode == 0  # its very ID
    text = err.decode()
    assert "its process was killed (signal 9" in text and f"task {task} was created" in text
    assert not running_with(marker)


def test_a_plain_path_after_a_create_runs_without_a_child() -> None:
    # a script's `ID=$(piapi create ... --jq .task_id)`: a path cannot run away, no fork to wait for
    result = piapi("--debug", *CREATE, "--jq", ".task_id")
    assert result.returncode == 0, result.stderr
    [task] = result.stdout.split()
    assert piapi("--sandbox", "get", task, "--jq", ".status").returncode == 0  # the task's very ID
    assert "running --jq '.task_id'" in result.stderr and "in a child process" not in result.stderr


def running_with(word: str) -> list[str]:
    """Processes whose command line holds ``word``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if word.encode() in cmdline.read_bytes().split(b"\0"):
                found.append(cmdline.parent.name)
    return found


def test_the_shell_sees_130_and_143() -> None:
    task = created_task()
    for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        # a shell waits for the child and reports 128 + N, as a script's $? shows it
        script = f'"$0" --debug --sandbox get {task} --jq "{RUNAWAY}" 2>err & p=$!; i=0; ' \
            "until grep -q 'running --jq' err || [ $i -ge 6000 ]; do i=$((i + 1)); done; " \
            f"kill -{signum.name[3:]} $p; wait $p"  # fmt: skip
        proc = subprocess.Popen(["sh", "-c", script, str(SCRIPT)], start_new_session=True)
        try:
            assert proc.wait(timeout=60) == code
        finally:
            with contextlib.suppress(ProcessLookupError):  # whatever of the group is left
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    "args",
    [
        ["tasks"],
        ["account"],
        ["tasks", "usage"],
        ["batch", "list"],
        ["tasks", "images"],
    ],
)
def test_a_failing_filter_on_a_read_is_invalid_input(args: list[str]) -> None:
    created_task()  # the journal holds a task: no word about it belongs in the answer
    result = piapi("--sandbox", *args, "--jq", 'error("x")')
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "failed: x" in result.stderr and "task" not in result.stderr.replace("tasks usage", "")


def test_a_failing_filter_on_an_existing_task_is_invalid_input() -> None:
    task = created_task()
    for args in (["get", task], ["wait", task, "--interval", "0.1"], ["tasks", "show", task], ["download", task]):
        result = piapi("--sandbox", *args, "--jq", ".task_id|tonumber")
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == "" and "cannot be parsed as a number" in result.stderr
        assert "nothing is sent again" not in result.stderr


@pytest.mark.parametrize("wait", [[], ["--wait", "--interval", "0.1"]])
def test_a_failing_filter_after_a_create_still_prints_the_task_id(wait: list[str]) -> None:
    result = piapi(*CREATE, *wait, "--jq", ".task_id|tonumber")
    assert result.returncode == 11, result.stderr
    task = result.stdout.strip()
    assert len(task) == 36 and result.stdout == task + "\n"  # ID=$(piapi create ... --jq ...) gets it
    assert f"task {task} was created" in result.stderr


def test_input_past_the_one_document_says_so() -> None:
    result = piapi("--sandbox", "get", created_task(), "--jq", "input")
    assert result.returncode == 2
    assert "no more inputs" in result.stderr and "break" not in result.stderr


def test_a_closed_stdout_after_a_create_names_the_task_on_stderr() -> None:
    # the reader went away before piapi writes the ID: exit 141, and stderr names the task
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [str(SCRIPT), *CREATE], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
            env={**os.environ, **FAST},
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.returncode == 141
    journal = piapi("--sandbox", "tasks", "--json", "--jq", ".[].task_id").stdout.split()
    assert len(journal) == 1 and f"created {journal[0]}, but stdout was closed" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_closed_stdout_after_an_image_call_names_it_on_stderr() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [str(SCRIPT), "--sandbox", "image", "a fox"], stdout=write_end, stderr=subprocess.PIPE, text=True,
            timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.returncode == 141
    [saved] = Path.cwd().glob("img-*.png")
    call = saved.name.rsplit("-", 1)[0]
    assert f"made {call} ({saved.resolve()}), but stdout was closed" in result.stderr


def test_a_signal_as_the_filter_starts_leaves_no_filter_running(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C lands between the fork and the moment the child's pid is known: it is handled once
    # the child can be ended, and the runaway filter is not left running
    import jq

    from piapi_cli.cli import jqchild

    children = []
    fork = jqchild._fork

    def fork_as_ctrl_c_comes() -> int:
        os.kill(os.getpid(), signal.SIGINT)
        pid = fork()
        children.append(pid)
        return pid

    monkeypatch.setattr(jqchild, "_fork", fork_as_ctrl_c_comes)
    with pytest.raises(KeyboardInterrupt):
        jqchild.values_apart(jq.compile(RUNAWAY), {})
    [child] = children
    with pytest.raises(ProcessLookupError):  # ended and reaped
        os.kill(child, 0)


SIGNAL_TO_ANOTHER_THREAD = """
import signal, threading
import jq
from piapi_cli.cli import jqchild
idle = threading.Event()
other = threading.Thread(target=idle.wait, daemon=True)
other.start()
try:
    jqchild.values_apart(jq.compile("def f: f; f"), {},
                         started=lambda: signal.pthread_kill(other.ident, signal.SIGINT))
except KeyboardInterrupt:
    print("interrupted")
"""


def test_a_signal_another_thread_takes_still_stops_the_wait_for_the_filter() -> None:
    # the kernel may give a process's signal to any of its threads (a poll's, a journal's): the
    # main thread, waiting for the filter's child, must still see it (it waited on, forever)
    result = subprocess.run([sys.executable, "-c", SIGNAL_TO_ANOTHER_THREAD], capture_output=True, text=True,
                            timeout=30)  # fmt: skip
    assert result.stdout == "interrupted\n", result.stderr
