"""Every example the README and the commands' help give runs, as written, through the entry
point against the sandbox: no internal error (exit 1) and no traceback. The fast parser reads
each of those command lines as typer does, so the two cannot drift apart unseen."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.cli.parsing import fastpath
from tests.conftest import TEST_KEY, Cli, Result
from tests.examples_shell import Run, Shell, help_examples, is_synopsis, readme_examples
from tests.test_startup import _bound, _typer_calls
from tests.test_subprocess import SCRIPT

#: the task ID the examples show, and its short form
SHOWN_ID, SHOWN_PREFIX = "1631d053-2352-4add-95cc-360fc52d5f89", "1631d053"
#: the variables the examples use without setting them
_VARIABLES = ("ID", "ID1", "ID2", "SECRET", "KEY", "WORK_KEY", "EDITOR")
#: a receiver's address in an example (a listener, a web app, any host): all go to one local one
_RECEIVER = re.compile(r"https?://(?:localhost|127\.0\.0\.1|[\w.-]*example\.com)(?::(?!8787\b)\d+)?")


@pytest.fixture
def receiver() -> Iterator[str]:
    """A webhook receiver on 127.0.0.1 that takes every delivery."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with the files the examples name."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    row = '{"id": "fox-%d", "model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "a fox"}}\n'
    (work / "prompts.jsonl").write_text(row % 1 + row % 2)
    (work / "shots.csv").write_text("id,animal,style\n1,cat,watercolour\n2,fox,ink\n")
    (work / "on-done.sh").write_text("#!/bin/sh\ncat >/dev/null\n")
    (work / "on-done.sh").chmod(0o755)
    return work


def _blocking(argv: list[str]) -> bool:
    """A server: runs until Ctrl-C (``listen`` without --print-secret or --replay, ``sandbox serve``)."""
    words = fastpath.hoist_globals(argv)
    while words and words[0].startswith("-"):
        words = words[2:] if words[0] in ("--profile", "--base-url") else words[1:]
    if words[:1] == ["listen"]:
        return not {"--print-secret", "--replay"} & {w.split("=")[0] for w in words}
    return words[:2] == ["sandbox", "serve"]


def _shell(
    cli: Cli, receiver: str, task_id: str, results: list[tuple[str, Run, Result]], where: dict[str, str]
) -> Shell:

    def run(line: Run) -> tuple[int, str]:
        argv = [_RECEIVER.sub(receiver, word).replace(SHOWN_ID, task_id) for word in line.argv]
        argv = [task_id[:8] if word == SHOWN_PREFIX else word for word in argv]
        if is_synopsis(argv):
            return 0, ""
        result = cli(*argv, input=line.stdin, env={"PIAPI_WEBHOOK_SECRET": "examples-secret-0123", **line.env})
        results.append((where["line"], Run(argv, line.stdin, line.env), result))
        return result.exit_code, result.stdout

    variables = {"ID": task_id, "ID1": task_id, "ID2": task_id, "SECRET": "s3cret-0123456789", "KEY": TEST_KEY}
    variables |= {"WORK_KEY": TEST_KEY, "EDITOR": "true"}
    assert set(variables) == set(_VARIABLES)
    return Shell(run=run, variables=variables, blocking=_blocking)


def _run_all(cli: Cli, receiver: str) -> tuple[list[tuple[str, Run, Result]], Shell]:
    created = cli("--no-color", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x", "--wait",
                  "--jq", ".task_id")  # fmt: skip
    assert created.exit_code == 0, created.stderr
    results: list[tuple[str, Run, Result]] = []
    where = {"line": ""}
    shell = _shell(cli, receiver, created.stdout.strip(), results, where)
    for place, line in readme_examples() + help_examples():
        where["line"] = f"{place}: {line}"
        shell.line(line)
    return results, shell


def test_every_example_runs_and_both_parsers_read_it_alike(
    cli: Cli, receiver: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results, _ = _run_all(cli, receiver)
    assert len(results) >= 100  # (the README and the help show that many runnable lines)
    broken = [
        f"{where}\n  piapi {' '.join(run.argv)} -> exit {result.exit_code}\n{result.stderr}"
        for where, run, result in results
        if result.exit_code == 1 or "Traceback" in result.stderr or "internal error" in result.stderr
    ]
    assert broken == [], "\n".join(broken)
    compared = 0
    for where, run, _ in results:
        try:
            plan = fastpath.plan(run.argv)
        except fastpath.Decline:
            continue  # typer reads this line (it has the last word on usage errors)
        with monkeypatch.context() as patched:
            for name, value in run.env.items():
                patched.setenv(name, value)
            fast = [
                (fastpath._function(s.target), _bound(fastpath._function(s.target), s.kwargs), s.path, s.kwargs)
                for s in plan.steps
            ]
            typer_root, typer_calls = _typer_calls(run.argv, patched)
        assert {k: v for k, v in typer_root.items() if v} == {k: v for k, v in plan.root.items() if v}, where
        assert fast == typer_calls, where
        compared += 1
    assert compared >= 80


def _servers() -> list[list[str]]:
    """The examples that start a server (``listen``, ``sandbox serve``), each once."""
    shell = Shell(run=lambda line: (0, "an-id"), variables=dict.fromkeys(_VARIABLES, "x"), blocking=_blocking)
    for _, line in readme_examples() + help_examples():
        shell.line(line)
    return [list(argv) for argv in dict.fromkeys(tuple(argv) for argv in shell.held)]


@pytest.mark.parametrize("argv", _servers(), ids=" ".join)
def test_the_servers_of_the_examples_start_and_stop_on_ctrl_c(argv: list[str], receiver: str, workdir: Path) -> None:
    """The console script, in the sandbox, stopped with Ctrl-C once it has said where it
    listens. A port already taken (another run of the tests) is a usage error, never a crash."""
    process = subprocess.Popen(
        [str(SCRIPT), *[_RECEIVER.sub(receiver, word) for word in argv]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PIAPI_SANDBOX": "1"},
    )  # fmt: skip
    assert process.stderr is not None
    first = process.stderr.readline()  # where it listens, or why it cannot
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    errors = first + rest
    assert process.returncode in (0, 2, 130), (process.returncode, errors)
    assert "Traceback" not in errors and "internal error" not in errors, errors
    if process.returncode != 2:
        assert "127.0.0.1:" in first, errors
