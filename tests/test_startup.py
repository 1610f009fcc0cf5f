"""Start-up: a command runs without typer (the generated table reads its line exactly as typer
does), global options work after the command word, Ctrl-C while starting exits 130 quietly."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.cli import app as app_module
from piapi_cli.cli import runtime
from piapi_cli.cli.main import with_typer
from piapi_cli.cli.parsing import fastpath
from piapi_cli.sandbox import Emulator
from tests.conftest import TEST_KEY, Cli, Result, run_main

FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img"]

#: lines the generated table must read as typer does
READ_ALIKE = [
    ["get", "A"],
    ["get", "A", "B", "--json"],
    ["get", "A", "--jq", ".status", "--debug"],
    ["--sandbox", "create", *FLUX, "-i", "a=1", "-i", "b=2", "--wait", "--timeout", "5", "--interval", "0.5"],
    ["create", "-mQubico/flux1-dev", "-ttxt2img", "-qw", "--service-mode", "private", "--sandbox"],
    ["create", "--model=M", "--task-type=T", "--input-file", "-", "--download", "out", "--name", "{task_id}.{ext}"],
    ["create", *FLUX, "--overwrite", "--profile", "work", "--no-validate", "--inline", "--metadata", "--dry-run"],
    ["create", *FLUX, "-i", "prompt=--debug", "--name", "--sandbox", "--jq", "--no-color"],
    ["create", *FLUX, "--webhook", "https://example.com/hook", "--webhook-secret", "s3cret", "--json"],
    ["wait", "--pending", "--profile", "x"],
    ["wait", "A", "--timeout", "0", "--download", "d", "--skip-existing", "-q"],
    ["wait"],
    ["download", "A", "-d", "dir", "--skip-existing", "--metadata", "--no-journal"],
    ["--no-color", "--no-journal", "get", "x", "--base-url", "http://h"],
    ["--profile=w", "--base-url=http://h", "cancel", "A", "B"],
    ["tasks"],
    ["tasks", "--status", "failed", "-n", "5", "--since", "7d", "--json"],
    ["tasks", "show", "12", "--json", "--sandbox"],
    ["tasks", "--model", "M", "usage", "--by", "model"],
    ["tasks", "images", "--status", "unknown", "-n", "5", "--since", "7d", "--json"],
    ["tasks", "images", "-m", "gpt-image-1", "--world", "all", "--jq", ".[0].prompt", "--sandbox"],
    ["tasks", "images", "show", "3a0068", "--jq", ".files"],
    ["config", "show", "--json"],
    ["config", "set", "max_poll_interval", "20"],
    ["config", "set", "base_url", "--", "-x"],
    ["config", "unset", "base_url", "--profile", "old"],
    ["models", "--category", "video"],
    ["models", "Qubico/flux1-dev", "-t", "txt2img", "--json"],
    ["sandbox", "serve", "--port", "0", "--speed", "10", "-q", "--fail-rate", "0.5", "--no-webhooks"],
    ["account", "--jq", ".credits", "--debug"],
    ["completion", "bash"],
    ["tasks", "-n", "0"],  # the command refuses it (a one-line usage error), not the parser
    ["tasks", "--world", "all", "--jq", ".[0].task_id", "--since", "2w"],
    ["get", "1631", "--jq", ".status"],
    ["wait", "--pending", "--download", "out", "--metadata", "--timeout", "0"],
    [
        "listen",
        "-p",
        "0",
        "--secret",
        "s",
        "-f",
        "http://127.0.0.1:9/a",
        "-f",
        "http://127.0.0.1:9/b",
        "--exec",
        "cat",
        "--download",
        "out",
        "--events",
        "completed,failed",
        "--backstop",
        "30",
        "-q",
        "--no-journal",
    ],
    ["listen", "--print-secret", "--sandbox"],
    ["trigger", "http://127.0.0.1:9/hook", "-s", "failed", *FLUX, "--secret", "x", "--dry-run"],
    ["trigger", "http://127.0.0.1:9/hook", "--from-task", "abc", "--debug"],
]

#: lines only typer may decide: usage errors, help, values to refuse
TYPER_DECIDES = [
    [],
    ["--debug"],
    ["frobnicate"],
    ["get"],
    ["get", "--bogus"],
    ["get", "A", "--json=1"],
    ["get", "A", "--help"],
    ["--version", "get"],
    ["create", "-m", "M", "--from"],  # --from wants a value
    ["create", *FLUX, "--timeout", "-1"],
    ["create", *FLUX, "--timeout", "nan"],
    ["wait", "A", "--timeout", "inf"],
    ["create", *FLUX, "--interval", "0.05"],
    ["create", *FLUX, "--service-mode", "shared"],
    ["create", *FLUX, "-i"],
    ["tasks", "-n", "x"],
    ["tasks", "nope"],
    ["tasks", "images", "show"],
    ["tasks", "images", "-n", "x"],
    ["config"],
    ["models", "--category", "nope"],
    ["models", "a", "b"],
    ["sandbox", "serve", "--port", "70000"],
    ["completion", "tcsh"],
    ["listen", "--port", "70000"],
    ["trigger"],
]


class _Session:
    def close(self) -> None:
        pass


def _bound(function: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every argument of a call, defaults included, without the context."""
    signature = inspect.signature(function)
    bound = signature.bind_partial(**kwargs)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k != "ctx"}


def _typer_calls(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], list[Any]]:
    from typer.testing import CliRunner

    seen: dict[str, Any] = {}
    calls: list[Any] = []

    def start(obj: Any = None, **options: Any) -> runtime.State:
        seen.update(options)
        return runtime.State(_Session(), None)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime, "start", start)

    def call(function: Any, context_name: str | None, kwargs: dict[str, Any], ctx: Any) -> None:
        calls.append((function, _bound(function, kwargs), ctx.path, ctx.given))

    monkeypatch.setattr(app_module, "call", call)
    result = CliRunner().invoke(app_module.build_app(only=app_module.command_word(args)), args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return seen, calls


@pytest.mark.parametrize("args", READ_ALIKE, ids=" ".join)
def test_the_generated_table_reads_a_line_as_typer_does(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plan = fastpath.plan(args)
    fast = [
        (fastpath._function(s.target), _bound(fastpath._function(s.target), s.kwargs), s.path, s.kwargs)
        for s in plan.steps
    ]
    typer_root, typer_calls = _typer_calls(args, monkeypatch)
    assert {k: v for k, v in typer_root.items() if v} == {k: v for k, v in plan.root.items() if v}
    assert fast == typer_calls


@pytest.mark.parametrize("args", TYPER_DECIDES, ids=lambda a: " ".join(a) or "(none)")
def test_lines_the_table_cannot_judge_go_to_typer(args: list[str]) -> None:
    with pytest.raises(fastpath.Decline):
        fastpath.plan(args)


def test_an_environment_value_is_read_as_click_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    line = ["sandbox", "serve"]
    monkeypatch.setenv("PIAPI_SANDBOX_KEY", "k1")
    assert fastpath.plan(line).steps[0].kwargs["api_key"] == "k1"
    monkeypatch.setenv("PIAPI_SANDBOX_KEY", "")  # empty is absent
    assert "api_key" not in fastpath.plan(line).steps[0].kwargs


@pytest.mark.parametrize(
    ("line", "hoisted"),
    [
        (["create", "--sandbox", "-m", "M"], ["--sandbox", "create", "-m", "M"]),
        (["get", "ID", "--debug", "--profile", "w"], ["--debug", "--profile", "w", "get", "ID"]),
        (["--no-color", "wait", "ID", "--profile=w"], ["--no-color", "--profile=w", "wait", "ID"]),
        (["tasks", "show", "3", "--sandbox"], ["--sandbox", "tasks", "show", "3"]),
        # values of the command's own options stay where they are, whatever they look like
        (["create", "--name", "--debug", "-i", "--sandbox"], ["create", "--name", "--debug", "-i", "--sandbox"]),
        (["create", "-qi", "--debug"], ["create", "-qi", "--debug"]),
        (["get", "ID", "--", "--debug"], ["get", "ID", "--", "--debug"]),
        (["frobnicate", "--debug"], ["frobnicate", "--debug"]),
    ],
)
def test_global_options_after_the_command_word_move_before_it(line: list[str], hoisted: list[str]) -> None:
    assert fastpath.hoist_globals(line) == hoisted


def test_global_options_after_the_command_word_through_typer(cli: Cli, emulator: Emulator) -> None:
    created = _typer(cli, "create", *FLUX, "-i", "prompt=a cat", "--no-journal", "--debug")
    assert created.exit_code == 0, created.stderr
    session = cli.sessions[-1]
    assert session.debug and session.no_journal and session.journal is None
    task_id = created.stdout.strip()
    got = _typer(cli, "get", task_id, "--debug", "--jq", ".status")
    assert got.exit_code == 0 and cli.sessions[-1].debug
    waited = _typer(cli, "wait", task_id, "--profile", "default", "--interval", "0.2")
    assert waited.exit_code == 0, waited.stderr
    assert cli.sessions[-1].profile == "default"
    shown = _typer(cli, "tasks", "--sandbox", "--json")  # a group's options and a global, mixed
    assert shown.exit_code == 0 and cli.sessions[-1].sandbox


def _session(cli: Cli) -> Any:
    from piapi_cli.cli.session import Session

    session = Session(
        environ={**os.environ, **cli.env}, transport=cli.transport, clock=cli.clock, sleep=cli.clock.sleep
    )
    cli.sessions.append(session)
    return session


def _fast(cli: Cli, *args: str) -> Result:
    """The same run as ``cli(...)``, through the generated table alone (never typer)."""

    def table_only(args: list[str], session: Any) -> int:
        code = fastpath.run(args, obj=session)
        assert code is not None, f"the table declined {args}"
        return code

    return run_main(list(args), _session(cli), env=cli.env, through=table_only)


def _typer(cli: Cli, *args: str) -> Result:
    """The same run as ``cli(...)``, with typer reading the line instead of the table."""
    return run_main(list(args), _session(cli), env=cli.env, through=with_typer)


def test_both_ways_of_running_give_the_same_results(cli: Cli) -> None:
    task_id = cli("create", *FLUX, "-i", "prompt=a cat").stdout.strip()
    lines = [
        ["get", task_id, "--json"],
        ["get", task_id, "--jq", ".model"],
        ["get", "no-such-task"],
        ["create", *FLUX, "-i", "prompt=x", "--dry-run"],
        ["create", *FLUX, "-i", "width=wide"],
        ["models", "--category", "3d"],
        ["tasks", "--json"],
        ["tasks", "-n", "0"],
        ["config", "show", "--json"],
        ["create", *FLUX, "-i", "prompt=x", "--timeout", "5", "--interval", "2", "--dry-run"],
        ["wait", task_id, "--jq", ".status", "-q", "--timeout", "60"],
        ["listen", "--print-secret"],
    ]
    for line in lines:
        typer_run, fast_run = _typer(cli, *line), _fast(cli, *line)
        assert (fast_run.exit_code, fast_run.stdout, fast_run.stderr) == (
            typer_run.exit_code,
            typer_run.stdout,
            typer_run.stderr,
        ), line


def _piapi(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "piapi_cli", *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PIAPI_SANDBOX_SPEED": "100", **env},
    )  # fmt: skip


def test_global_options_after_the_command_word_in_a_real_run() -> None:
    created = _piapi("create", "--sandbox", *FLUX, "-i", "prompt=a cat")
    assert created.returncode == 0, created.stderr
    task_id = created.stdout.strip()
    waited = _piapi("wait", task_id, "--sandbox", "--interval", "0.2")
    assert waited.returncode == 0 and waited.stdout.strip().endswith(".png"), waited.stderr
    got = _piapi("get", task_id, "--debug", "--sandbox", "--jq", ".status")
    assert got.returncode == 0 and got.stdout == "completed\n"
    assert "debug:" in got.stderr  # --debug took effect after the command word
    assert _piapi("--sandbox", "tasks", "show", task_id, "--json").returncode == 0


def test_a_run_of_a_command_imports_neither_typer_nor_httpx() -> None:
    program = (
        "import sys, io; from piapi_cli.cli.main import main; sys.stdout = io.StringIO(); "
        "main(['--sandbox', 'create', '-m', 'Qubico/flux1-dev', '-t', 'txt2img', '-i', 'prompt=x', '--dry-run']); "
        "main(['models', 'Qubico/flux1-dev', '--json']); main(['--sandbox', 'batch', 'list', '--json']); "
        "sys.stdout = sys.__stdout__; "
        "print(sorted(m for m in ('typer', 'click', 'rich', 'httpx', 'httpcore') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.fixture
def served(isolated: Path) -> Iterator[dict[str, str]]:
    """``piapi sandbox serve`` on a free loopback port: the environment of a run that uses it
    as a user's API (plain http, as a local proxy would be)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", "0", "--quiet", "--speed", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    try:
        yield {**os.environ, "PIAPI_BASE_URL": server.stdout.readline().strip(), "PIAPI_API_KEY": TEST_KEY}
    finally:
        server.terminate()
        server.wait(timeout=10)


def _modules_after(args: list[str], names: tuple[str, ...], env: dict[str, str]) -> tuple[int, str, list[str]]:
    """A run of ``args`` in a process of its own: its exit code, its output, which of ``names``
    it imported."""
    program = (
        "import sys, io; from piapi_cli.cli.main import main; sys.stdout = io.StringIO(); "
        f"code = main({args!r}); out = sys.stdout.getvalue(); sys.stdout = sys.__stdout__; "
        f"found = sorted(m for m in {names!r} if m in sys.modules); "
        "import json; print(json.dumps([code, out, found]))"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    code, out, found = json.loads(result.stdout)
    return code, out, found


#: what the commands a script calls most need not import (each was on their way once):
#: ``contextlib`` (api/scoped has its contextmanager), sqlite3's Python half (journal/sql),
#: the ``importlib`` package (fastpath imports a command with ``__import__``)
NOT_FOR_A_SHORT_RUN = ("contextlib", "sqlite3.dbapi2", "importlib", "typer", "httpx")


def test_a_create_that_does_not_wait_imports_no_more_than_it_needs(served: dict[str, str]) -> None:
    # and no waiting, downloading, advice tables or weak references: a create that prints its ID
    names = (*NOT_FOR_A_SHORT_RUN, "weakref", "piapi_cli.core.waiting", "piapi_cli.cli.hints", "random")
    code, out, found = _modules_after(["create", *FLUX, "-i", "prompt=a cat"], names, served)
    task_id = out.strip()
    assert code == 0 and task_id and " " not in task_id, out  # the ID alone on stdout
    assert found == []
    code, out, found = _modules_after(["get", task_id, "--json"], NOT_FOR_A_SHORT_RUN, served)
    assert code == 0 and json.loads(out)["task_id"] == task_id
    assert found == []
    code, out, found = _modules_after(["config", "show"], (*NOT_FOR_A_SHORT_RUN, "threading"), served)
    assert code == 0 and "base_url" in out
    assert found == []


GC_WATCH = """
import atexit, gc, sys
seen = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "piapi_cli.cli.parsing.fastpath":  # piapi's start-up, before the command
            seen.append(gc.isenabled())
        return None
sys.meta_path.insert(0, Watch())
atexit.register(lambda: print("gc:", seen, gc.isenabled(), gc.get_freeze_count() > 0, file=sys.stderr))
"""


@pytest.mark.parametrize("how", ["script", "module"])
def test_start_up_runs_without_the_cyclic_collector_and_the_command_with_it(
    isolated: Path, tmp_path: Path, how: str
) -> None:
    # a long command (listen, batch run) must still collect its garbage; start-up's objects,
    # which live as long as the process, are set aside (frozen) rather than collected again and again
    (tmp_path / "sitecustomize.py").write_text(GC_WATCH)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    launcher = (
        [str(Path(sys.executable).with_name("piapi"))] if how == "script" else [sys.executable, "-m", "piapi_cli"]
    )
    done = subprocess.run([*launcher, "config", "path"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "gc: [False] True True" in done.stderr


def test_pillow_is_imported_only_by_a_report_that_makes_thumbnails(tmp_path: Path) -> None:
    program = (
        "import sys, io; from piapi_cli.cli.main import main; sys.stdout = io.StringIO(); "
        "main(['--sandbox', 'create', '-m', 'Qubico/flux1-dev', '-t', 'txt2img', '-i', 'prompt=x', '--wait']); "
        "main(['--sandbox', 'tasks', '--json']); main(['models', '--json']); main(['--sandbox', 'report', '--json']); "
        "sys.stdout = sys.__stdout__; print('PIL' in sys.modules)"
    )
    env = {**os.environ, "PIAPI_DATA_DIR": str(tmp_path), "PIAPI_SANDBOX_SPEED": "100"}
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=env)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("lines_after_start", [0, 2, 8, 30, 100, 10_000])
def test_ctrl_c_while_starting_exits_130_without_a_traceback(lines_after_start: int, tmp_path: Path) -> None:
    # -X importtime reports each import on stderr as it completes: a clock of the start-up.
    # SIGINT goes out once piapi's own code runs, then N imports later (10,000: once the
    # command has started waiting), so each run is interrupted somewhere else.
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "piapi_cli", "--sandbox", "create", *FLUX,
         "-i", "prompt=x [sandbox:seconds=3600]", "--wait", "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PIAPI_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert process.stderr is not None
    seen_main, count, kept = False, 0, []
    for line in process.stderr:
        if not line.startswith("import time:"):
            kept.append(line)
            if "processing" in line or "pending" in line:
                break  # the command is waiting: the app's own Ctrl-C handling takes over
            continue
        seen_main = seen_main or "piapi_cli.cli.main" in line
        count += seen_main
        if seen_main and count > lines_after_start:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=30)
    errors = "".join(kept) + "".join(line for line in rest.splitlines(True) if not line.startswith("import time:"))
    assert process.returncode == 130, errors
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors


def test_both_ways_of_running_report_downloads_stopped_by_ctrl_c(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from piapi_cli.core.downloads.downloader import Downloader
    from piapi_cli.core.downloads.results import DownloadInterrupted, Partial, Report

    task_id = cli("create", *FLUX, "-i", "prompt=a cat").stdout.strip()
    assert cli("wait", task_id, "-q").exit_code == 0

    def interrupted(self: Downloader, planned: object) -> Report:
        raise DownloadInterrupted(Report(partial=[Partial("http://x/0.png", "out/0.png.part", 10, task_id)]))

    monkeypatch.setattr(Downloader, "run", interrupted)
    typer_run, fast_run = _typer(cli, "download", task_id, "-d", "out"), _fast(cli, "download", task_id, "-d", "out")
    assert (fast_run.exit_code, fast_run.stdout, fast_run.stderr) == (
        typer_run.exit_code,
        typer_run.stdout,
        typer_run.stderr,
    )
    assert typer_run.exit_code == 130 and "Traceback" not in typer_run.stderr
    assert "interrupted\npartial files kept (resumed by the next run): out/0.png.part" in typer_run.stderr


def test_both_ways_of_running_scrub_and_sanitise_debug_tracebacks(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from piapi_cli.api.client import Client
    from tests.conftest import TEST_KEY

    def leak(self: Client, *args: object, **kwargs: object) -> object:
        raise RuntimeError(f"boom with {TEST_KEY} inside\x1b]0;pwned\x07\x1b[2J")

    monkeypatch.setattr(Client, "get_task", leak)
    for run in (_typer(cli, "--debug", "get", "some-task"), _fast(cli, "get", "some-task", "--debug")):
        assert run.exit_code == 1 and "Traceback" in run.stderr and "boom with ***" in run.stderr
        assert TEST_KEY not in run.stderr and "\x1b" not in run.stderr and "\x07" not in run.stderr


def test_the_ascii_shortcuts_of_safe_text_agree_with_its_patterns() -> None:
    """Plain ASCII skips the regular expressions (compiled on first use, not at import)."""
    import re

    from piapi_cli.cli import terminal

    for code in range(0x3000):
        char = chr(code)
        for text in (char, f"a{char}b", f"{char}\u00e9"):
            assert terminal._unsafe(text) == (re.search(terminal._UNSAFE, text) is not None), hex(code)
        as_json = terminal.json_text({"k": f"a{char}"})
        assert as_json == re.sub(terminal._JSON_UNSAFE, lambda m: f"\\u{ord(m.group()):04x}", as_json)
        assert json.loads(as_json) == {"k": f"a{char}"}
