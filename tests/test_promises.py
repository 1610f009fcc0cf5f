"""The promises under attack: nothing lost, nothing paid twice, exit 2 means nothing was sent,
deadlines hold, and an interrupted run says where things stand. Hostile servers are a few
lines of http.server on 127.0.0.1; real processes are killed at the worst moment."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli.sandbox import Emulator
from tests.conftest import TEST_KEY, Cli

FLUX = ["create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat"]


Answer = Callable[["Hostile", BaseHTTPRequestHandler, str, bytes], None]


class Hostile:
    """A server whose every answer a test decides; it records what it received."""

    def __init__(self, answer: Answer) -> None:
        self.received: list[tuple[str, str]] = []
        self.release = threading.Event()
        self.hung_up = threading.Event()  # a hanging answer (hang_on) has ended
        self.sent_all = threading.Event()  # a slow file (slow_file_server) was sent whole
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.received.append((self.command, self.path))
                answer(outer, self, self.command, body)

            do_GET = do_POST = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def creates(self) -> int:
        return sum(1 for method, _ in self.received if method == "POST")


def send_json(handler: BaseHTTPRequestHandler, status: int, doc: Any) -> None:
    body = json.dumps(doc).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def hostile() -> Iterator[Callable[[Answer], Hostile]]:
    made: list[Hostile] = []

    def make(answer: Answer) -> Hostile:
        made.append(Hostile(answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


def hang_on(method: str) -> Answer:
    """An answer that hangs on ``method`` until the test ends, and answers a task otherwise."""

    def answer(server: Hostile, handler: BaseHTTPRequestHandler, command: str, body: bytes) -> None:
        if command == method:
            server.release.wait(60)
            server.hung_up.set()
            return
        send_json(handler, 200, {"code": 200, "data": {"task_id": "t-1", "status": "processing"}})

    return answer


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIAPI_API_KEY": TEST_KEY, **(env or {})},
    )


def until(condition: Callable[[], bool], limit: float = 30.0) -> None:
    """Polls a condition that another process makes true (an upper bound, not a sleep)."""
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def journal_rows(isolated: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(isolated / "data" / "journal.sqlite3") as db:
        return db.execute("SELECT task_id, status FROM tasks ORDER BY id").fetchall()


# --- 1. the task ID reaches stdout whatever happens to the journal -------------------------


def test_a_journal_write_failing_after_the_answer_still_prints_the_id(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piapi_cli.core.journal.journal import Journal

    def full(self: Journal, row: int, task: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Journal, "created", full)
    result = cli(*FLUX)
    assert result.exit_code == 0
    [task_id] = result.stdout.split()
    assert "disk is full" in result.stderr and task_id in result.stderr


def test_a_server_reusing_a_task_id_does_not_lose_the_second(cli: Cli) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 200, "data": {"task_id": "dup-1", "status": "pending"}})

    cli.transport = httpx.MockTransport(handle)
    assert cli(*FLUX).stdout == "dup-1\n"
    second = cli(*FLUX, "-i", "seed=2")
    assert second.exit_code == 0 and second.stdout == "dup-1\n"
    assert "journal" in second.stderr


# --- 2. a create in flight when the process dies is never forgotten ------------------------


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_a_create_killed_in_flight_is_reported_as_maybe_created(
    hostile: Callable[[Answer], Hostile], isolated: Path, sig: int
) -> None:
    server = hostile(hang_on("POST"))
    process = spawn(*FLUX, env={"PIAPI_BASE_URL": server.url})
    until(lambda: server.creates() == 1)
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 128 + sig and "Traceback" not in err
        assert "may exist" in err
    pending = subprocess.run(
        [sys.executable, "-m", "piapi_cli", "wait", "--pending"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": server.url},
    )
    assert pending.returncode == 0
    assert "may exist" in pending.stderr and "not resent" in pending.stderr
    assert server.creates() == 1  # and nothing was sent again


# --- 3. exit 2 means nothing was sent -------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        ["--jq", ".task_id["],
        ["--download", "out", "--name", "{bogus}"],
        ["--download", "out", "--name", "{index:>99999999999}"],
        ["--download", "out", "--name", "{index"],
        ["--download", "a-file"],
    ],
)
def test_every_check_runs_before_the_create_is_sent(
    cli: Cli, emulator: Emulator, extra: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a directory")
    result = cli(*FLUX, *extra)
    assert result.exit_code == 2, result.stderr
    assert list(emulator.store.all()) == []
    assert "Traceback" not in result.stderr


# --- 5. wait --pending --download finishes what a crash left ---------------------------------


def test_wait_pending_download_saves_completed_tasks_never_downloaded(cli: Cli, tmp_path: Path) -> None:
    created = cli(*FLUX, "--wait")  # completed, but never downloaded (as if killed before saving)
    assert created.exit_code == 0
    out = tmp_path / "out"
    result = cli("wait", "--pending", "--download", str(out))
    assert result.exit_code == 0, result.stderr
    [saved] = result.stdout.split()
    assert Path(saved).parent == out and Path(saved).stat().st_size > 0
    again = cli("wait", "--pending", "--download", str(out))
    assert again.stdout == "" and "no unfinished tasks" in again.stderr


# --- 6. interrupted: the IDs and a resume command that never creates a second task ----------


def test_ctrl_c_during_create_download_suggests_download_not_create(isolated: Path) -> None:
    process = spawn(
        "--sandbox", *FLUX[:-2], "-i", "prompt=long [sandbox:seconds=3600]", "--download", "out", "--interval", "0.2"
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    task_id = line.split()[0]
    assert process.returncode == 130 and "Traceback" not in err
    assert f"resume with: piapi --sandbox download {task_id} --dir out" in err
    assert " create " not in err.split("resume with:")[1]


def test_ctrl_c_during_wait_names_the_tasks_and_the_resume_command(isolated: Path) -> None:
    created = subprocess.run(
        [sys.executable, "-m", "piapi_cli", "--sandbox", *FLUX[:-2], "-i", "prompt=x [sandbox:seconds=3600]"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    task_id = created.stdout.strip()
    process = spawn("--sandbox", "wait", task_id, "--interval", "0.2")
    assert process.stderr is not None
    process.stderr.readline()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert f"tasks still running (not cancelled): {task_id}" in err
    assert f"resume with: piapi --sandbox wait {task_id}" in err


def test_ctrl_c_during_the_create_request_says_the_task_may_exist(
    hostile: Callable[[Answer], Hostile], isolated: Path
) -> None:
    server = hostile(hang_on("POST"))
    process = spawn(*FLUX, env={"PIAPI_BASE_URL": server.url})
    until(lambda: server.creates() == 1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "Traceback" not in err
    assert "create request was in flight: the task may exist" in err
    assert journal_rows(isolated) == [(None, "unknown")]


# --- 7. a deadline is a deadline ----------------------------------------------------------------


def test_a_hanging_poll_does_not_stretch_the_deadline(hostile: Callable[[Answer], Hostile], isolated: Path) -> None:
    server = hostile(hang_on("GET"))
    result = subprocess.run(
        [sys.executable, "-m", "piapi_cli", "wait", "t-1", "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": server.url},
    )
    assert not server.hung_up.is_set()  # ended at its deadline, while the poll still hung
    assert result.returncode == 8, result.stderr
    assert "resume with: piapi wait t-1" in result.stderr


def test_a_failed_task_outranks_one_that_ran_out_of_time(cli: Cli) -> None:
    failing = cli(*FLUX[:-2], "-i", "prompt=x [sandbox:fail]").stdout.strip()
    slow = cli(*FLUX[:-2], "-i", "prompt=x [sandbox:seconds=3600]").stdout.strip()
    result = cli("wait", failing, slow, "--timeout", "60")
    assert result.exit_code == 7
    assert failing in result.stderr and slow in result.stderr
    assert "1 task(s) failed and 1 ran out of time" in result.stderr


# --- 13, 15. secrets ---------------------------------------------------------------------------


def test_a_webhook_secret_from_the_environment_does_not_break_plain_creates(cli: Cli) -> None:
    result = cli(*FLUX, env={"PIAPI_WEBHOOK_SECRET": "whsec-0123456789abcdef"})
    assert result.exit_code == 0 and result.stdout.strip()


def test_a_webhook_url_is_checked_before_sending(cli: Cli, emulator: Emulator) -> None:
    for bad in ("not a url", "ftp://x/y", "http://"):
        result = cli(*FLUX, "--webhook", bad)
        assert result.exit_code == 2 and "--webhook" in result.stderr
    assert list(emulator.store.all()) == []


def test_a_webhook_without_a_secret_gets_one_made_up(cli: Cli) -> None:
    result = cli(*FLUX, "--webhook", "https://hooks.example.test/piapi", "--json")
    assert result.exit_code == 0
    listener = cli("listen", "--print-secret").stdout.strip()
    assert f"webhook secret: {listener}" in result.stderr  # the one piapi listen checks by default
    again = cli(*FLUX, "--webhook", "https://hooks.example.test/piapi")
    assert again.exit_code == 0 and listener not in again.stdout + again.stderr  # kept, shown once: when made


def test_secrets_are_scrubbed_from_debug_tracebacks(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from piapi_cli.api.client import Client

    def leak(self: Client, *args: object, **kwargs: object) -> object:
        raise RuntimeError(f"boom with {TEST_KEY} inside")

    monkeypatch.setattr(Client, "get_task", leak)
    result = cli("--debug", "get", "some-task")
    assert result.exit_code == 1 and "Traceback" in result.stderr
    assert TEST_KEY not in result.stderr and "***" in result.stderr


def test_the_webhook_secret_setting_applies_only_with_a_webhook_and_the_flag_wins(cli: Cli, emulator: Emulator) -> None:
    env = {"PIAPI_WEBHOOK_SECRET": "whsec-0123456789"}
    assert cli(*FLUX, env=env).exit_code == 0
    assert cli(*FLUX, "--webhook", "https://hooks.example.test/p", env=env).exit_code == 0
    flag = ["--webhook-secret", "flag-secret-1"]
    assert cli(*FLUX, "--webhook", "https://hooks.example.test/p", *flag, env=env).exit_code == 0
    assert cli(*FLUX, *flag).exit_code == 2  # the flag alone still needs --webhook
    secrets = [(record.get("config") or {}).get("webhook_config", {}).get("secret") for record in emulator.store.all()]
    assert sorted(s for s in secrets if s) == ["flag-secret-1", "whsec-0123456789"]


# --- 6. Ctrl-C during downloads stops within about a second and keeps the .part files ---------


def slow_file_server(hostile: Callable[[Answer], Hostile]) -> Hostile:
    """A completed task whose one output trickles out: 100 MB at a few MB a second."""
    holder: list[Hostile] = []

    def answer(server: Hostile, handler: BaseHTTPRequestHandler, command: str, body: bytes) -> None:
        if handler.path.startswith("/api/v1/task/"):
            task = {"task_id": "t-1", "status": "completed", "model": "m", "task_type": "t",
                    "output": {"video_url": f"{holder[0].url}/files/t-1.mp4"}}  # fmt: skip
            send_json(handler, 200, {"code": 200, "data": task})
            return
        size = 100 * 2**20
        handler.send_response(200)
        handler.send_header("content-type", "video/mp4")
        handler.send_header("content-length", str(size))
        handler.end_headers()
        chunk = b"\0" * 65536
        try:
            for _ in range(size // len(chunk)):
                if server.release.wait(0.01):
                    return
                handler.wfile.write(chunk)
            server.sent_all.set()
        except OSError:
            return

    holder.append(hostile(answer))
    return holder[0]


@pytest.mark.parametrize("command", [["download", "t-1", "--dir", "out"], ["wait", "t-1", "--download", "out"]])
def test_ctrl_c_during_a_download_stops_within_a_second_and_keeps_the_part(
    hostile: Callable[[Answer], Hostile], tmp_path: Path, command: list[str]
) -> None:
    server = slow_file_server(hostile)
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", *command],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": server.url},
    )
    part = tmp_path / "out" / "t-1-0.mp4.part"
    until(lambda: part.exists() and part.stat().st_size > 0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert not server.sent_all.is_set()  # it stopped while the file was still coming
    assert process.returncode == 130 and "Traceback" not in err
    assert part.exists() and part.stat().st_size > 0
    assert "resume with: piapi download t-1 --dir out" in err


# --- 21. create --from: try again, or vary a past task ---------------------------------------


def test_create_from_a_past_task_changes_only_what_i_says(cli: Cli, emulator: Emulator) -> None:
    first = cli(*FLUX[:-2], "-i", "prompt=a cat", "-i", "width=512").stdout.strip()
    again = cli("create", "--from", first[:8], "-i", "prompt=a dog")
    assert again.exit_code == 0 and again.stdout.strip() != first
    sent = [r["input"] for r in emulator.store.all()]
    assert {"prompt": "a dog", "width": 512}.items() <= sent[-1].items()
    assert cli("create", "--from", "no-such-task").exit_code == 4  # not journaled: asked of the API, which refuses
    assert cli("create").exit_code == 2  # neither --model/--task-type nor --from: nothing sent


def test_a_file_that_exists_is_not_offered_a_resume_that_would_fail_again(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    task_id = cli(*FLUX, "--download", str(out)).stdout.strip().rsplit("/", 1)[-1].split("-0.")[0]
    again = cli("download", task_id, "--dir", str(out))
    assert again.exit_code == 9 and "exists" in again.stderr
    assert "resume the downloads" not in again.stderr
