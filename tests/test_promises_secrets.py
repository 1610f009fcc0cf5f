"""Secrets under attack: a password in a --forward-to URL, a webhook secret or the API key echoed
back by a server are kept nowhere (journal, events, output), and listen never prints a secret
the user gave it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_KEY, Cli, fixture
from tests.test_listener import lines_of
from tests.test_promises import FLUX, Hostile, send_json
from tests.test_subprocess import SCRIPT, on_a_terminal

PASSWORD = "hunter2-forward-password"
WEBHOOK_SECRET = "whsec-echoed-back-0123456789"
PIAPI = [sys.executable, "-m", "piapi_cli"]


def on_disk(data: Path) -> bytes:
    """Everything the journal keeps, its WAL included."""
    return b"".join(p.read_bytes() for p in data.glob("journal.sqlite3*"))


@pytest.fixture
def receiver() -> Iterator[Hostile]:
    """A forwarding target that refuses every delivery (500), noting its Authorization header."""

    def answer(server: Hostile, handler: BaseHTTPRequestHandler, command: str, body: bytes) -> None:
        server.received.append(("auth", handler.headers.get("authorization") or ""))
        send_json(handler, 500, {"code": 500, "message": "down"})

    server = Hostile(answer)
    yield server
    server.close()


def start_listener(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], Any, str, str]:
    listen = subprocess.Popen([*PIAPI, "listen", "--port", "0", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert listen.stderr is not None
    notes = lines_of(listen.stderr)
    seen = ""
    while "receiving deliveries at " not in seen:
        seen += notes.get(timeout=30)
    url = seen.split("receiving deliveries at ")[1].split()[0]
    return listen, notes, seen, url


def stop(listen: subprocess.Popen[str], notes: Any) -> str:
    listen.send_signal(signal.SIGTERM)
    listen.wait(timeout=60)
    return "".join(notes.get(timeout=5) for _ in range(notes.qsize()))


# --- 8. the password of a --forward-to URL ----------------------------------------------------


@pytest.mark.slow  # (about 13 s: a listener process, its forward and two replays)
def test_a_forward_url_password_is_used_but_never_shown_nor_stored(receiver: Hostile, tmp_path: Path) -> None:
    env = {**os.environ, "PIAPI_CONFIG_DIR": str(tmp_path / "c"), "PIAPI_DATA_DIR": str(tmp_path / "d")}
    target = receiver.url.replace("http://", f"http://user:{PASSWORD}@") + "/hook"
    listen, notes, _, url = start_listener(env, "--secret", "s3cret-listener-0123", "--forward-to", target)
    try:
        body = json.dumps(fixture("webhook-delivery.json")).encode()
        request = urllib.request.Request(url, data=body, headers={"x-webhook-secret": "s3cret-listener-0123"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
        from tests.test_promises import until

        until(lambda: any(kind == "auth" for kind, _ in receiver.received))
    finally:
        err = stop(listen, notes)
    import base64

    assert ("auth", "Basic " + base64.b64encode(f"user:{PASSWORD}".encode()).decode()) in receiver.received
    assert PASSWORD not in err and "user:***@" in err  # the failed forward is logged, its password hidden
    assert PASSWORD.encode() not in on_disk(tmp_path / "d")
    replay = subprocess.run([*PIAPI, "listen", "--replay", "failed"], capture_output=True, text=True, env=env,
                            timeout=60)  # fmt: skip
    assert PASSWORD not in replay.stdout + replay.stderr
    assert "password is not kept" in replay.stdout  # it cannot be sent again without it...
    again = subprocess.run([*PIAPI, "listen", "--replay", "failed", "--forward-to", target], capture_output=True,
                           text=True, env=env, timeout=60)  # fmt: skip
    assert PASSWORD not in again.stdout + again.stderr and "user:***@" in again.stdout  # ...which it is given here
    assert PASSWORD.encode() not in on_disk(tmp_path / "d")


# --- 9, 10. what a server echoes of a secret -------------------------------------------------


def echoing(secret: str) -> Callable[[httpx.Request], httpx.Response]:
    """An API that echoes ``secret`` back inside the task: its error, its logs, its input."""

    def handle(request: httpx.Request) -> httpx.Response:
        task = {"task_id": "t-echo", "status": "failed", "model": "Qubico/flux1-dev", "task_type": "txt2img",
                "input": {"prompt": f"a cat {secret}"}, "logs": [f"auth with {secret}"],
                "error": {"code": 10000, "message": f"webhook refused secret {secret}"},
                "config": {"webhook_config": {"endpoint": "https://hooks.example.test/x", "secret": secret}}}  # fmt: skip
        return httpx.Response(200, json={"code": 200, "data": task})

    return handle


def test_a_webhook_secret_echoed_by_the_server_is_kept_nowhere(cli: Cli, isolated: Path) -> None:
    cli.transport = httpx.MockTransport(echoing(WEBHOOK_SECRET))
    flags = ["--webhook", "https://hooks.example.test/x", "--webhook-secret", WEBHOOK_SECRET]
    created = cli(*FLUX, "-i", "prompt=a cat", *flags, "--json")
    assert created.exit_code == 0 and WEBHOOK_SECRET not in created.stdout + created.stderr
    shown = cli("tasks", "show", "t-echo")
    assert shown.exit_code == 0 and WEBHOOK_SECRET not in shown.stdout + shown.stderr
    assert "webhook refused secret ***" in shown.stdout
    assert WEBHOOK_SECRET.encode() not in on_disk(isolated / "data")
    # a later command that was never given the secret: piapi listen's own is scrubbed as well
    own = cli("listen", "--print-secret").stdout.strip()
    cli.transport = httpx.MockTransport(echoing(own))
    later = cli("get", "t-echo", "--json")
    assert own not in later.stdout and "***" in later.stdout


@pytest.mark.parametrize("flags", [["--json"], ["--jq", "."], ["--jq", ".input.prompt"], []])
def test_the_api_key_echoed_inside_a_task_is_never_printed(cli: Cli, flags: list[str]) -> None:
    cli.transport = httpx.MockTransport(echoing(TEST_KEY))
    result = cli("get", "t-echo", *flags)
    assert TEST_KEY not in result.stdout + result.stderr
    assert "***" in result.stdout or not flags  # (plain, a failed task shows its ID and status only)


# --- 11. listen's own secret is shown once; the user's never ------------------------------------


@pytest.mark.parametrize("given", ["flag", "env", "file"])
def test_listen_never_prints_a_secret_the_user_gave(tmp_path: Path, given: str) -> None:
    secret = "users-own-secret-0123456789"
    env = {**os.environ, "PIAPI_CONFIG_DIR": str(tmp_path / "c"), "PIAPI_DATA_DIR": str(tmp_path / "d")}
    args: list[str] = []
    if given == "flag":
        args = ["--secret", secret]
    elif given == "env":
        env["PIAPI_WEBHOOK_SECRET"] = secret
    else:
        (tmp_path / "secret.txt").write_text(secret + "\n")
        args = ["--secret-file", str(tmp_path / "secret.txt")]
    listen, notes, seen, _ = start_listener(env, *args)
    err = seen + stop(listen, notes)
    assert secret not in err and "not shown" in err
    assert listen.stdout is not None and secret not in listen.stdout.read()


def test_listen_shows_its_own_secret_once_on_stderr_and_q_hides_it(tmp_path: Path) -> None:
    env = {**os.environ, "PIAPI_CONFIG_DIR": str(tmp_path / "c"), "PIAPI_DATA_DIR": str(tmp_path / "d")}
    own = subprocess.run([*PIAPI, "listen", "--print-secret"], capture_output=True, text=True, env=env,
                         timeout=60).stdout.strip()  # fmt: skip
    listen, notes, seen, _ = start_listener(env)
    err = seen + stop(listen, notes)
    assert err.count(own) == 1 and "-q hides" in err
    assert listen.stdout is not None and own not in listen.stdout.read()
    quiet = subprocess.Popen([*PIAPI, "listen", "--port", "0", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)  # fmt: skip
    quiet.send_signal(signal.SIGTERM)
    _, quiet_err = quiet.communicate(timeout=60)
    assert own not in quiet_err


# --- 12. a key typed at the prompt is scrubbed as one from anywhere else -----------------------

PROMPTED_KEY = "pk-typed-at-the-prompt-0123456789abcdef"


@pytest.mark.slow  # (about 6 s: five processes)
def test_a_key_typed_at_the_prompt_is_kept_nowhere_and_never_shown(isolated: Path) -> None:
    env = dict(os.environ)  # (isolated: its own config and data dirs, no PIAPI_API_KEY)
    code, typed = on_a_terminal(["config", "set-key"], PROMPTED_KEY.encode() + b"\r")
    assert code == 0, typed
    assert PROMPTED_KEY not in typed  # hidden as it is typed
    assert PROMPTED_KEY in (isolated / "config" / "config.toml").read_text()  # where it is meant to be, alone

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(SCRIPT), "--sandbox", *args], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert PROMPTED_KEY not in done.stdout + done.stderr, args
        return done

    # the key inside the input; the sandbox's answer echoes the input back, the key with it
    created = run(*FLUX, "-i", f"prompt=a cat holding {PROMPTED_KEY}", "--wait", "--json")
    assert "a cat holding ***" in created.stdout
    shown = run("tasks", "show", "#1")
    assert "a cat holding ***" in shown.stdout
    answer = json.loads(run("tasks", "show", "#1", "--json").stdout)
    assert answer["input"]["prompt"] == answer["task"]["input"]["prompt"] == "a cat holding ***"
    report = json.loads(run("report", "--json").stdout)
    assert [t["input"]["prompt"] for t in report["tasks"]] == ["a cat holding ***"]
    assert PROMPTED_KEY.encode() not in on_disk(isolated / "data")  # nor in the journal's input column


def test_a_row_written_with_the_key_before_is_shown_without_it(cli: Cli, isolated: Path) -> None:
    """A journal written before its rows were scrubbed: what is read back is scrubbed all the same."""
    from piapi_cli.core.journal.journal import Journal

    journal = Journal(isolated / "data" / "journal.sqlite3")  # knows no secret: keeps the input as given
    journal.begin_create("sandbox", "Qubico/flux1-dev", "txt2img", {"prompt": f"a cat {TEST_KEY}"}, None)
    journal.close()
    for args in (["tasks", "show", "#1"], ["tasks", "--json"], ["report", "--json"]):
        result = cli("--sandbox", *args)
        assert result.exit_code == 0, result.stderr
        assert TEST_KEY not in result.stdout + result.stderr and "a cat ***" in result.stdout, args
