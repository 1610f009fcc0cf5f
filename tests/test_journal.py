"""The task journal: written before the create is sent, kept current, shared by processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from piapi_cli.api.tasks import Task
from piapi_cli.core.journal import Journal, parse_since
from piapi_cli.sandbox import Emulator, transport_for
from tests.conftest import TEST_KEY, Cli, FakeClock

FLUX = ["create", "-m", "Qubico/flux1-dev", "-t", "txt2img"]


def rows(isolated: Path) -> list[tuple[str | None, str, str]]:
    db = sqlite3.connect(isolated / "data" / "journal.sqlite3")
    found = db.execute("SELECT task_id, status, model FROM tasks ORDER BY id").fetchall()
    db.close()
    return found


def test_the_row_is_written_before_the_create_is_sent(cli: Cli, emulator: Emulator, isolated: Path) -> None:
    inner = transport_for(emulator)
    seen_at_post: list[list[tuple[str | None, str, str]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            seen_at_post.append(rows(isolated))
        return inner.handle_request(request)

    cli.transport = httpx.MockTransport(handle)
    task_id = cli(*FLUX, "-i", "prompt=x").stdout.strip()
    assert seen_at_post == [[(None, "sending", "Qubico/flux1-dev")]]
    assert rows(isolated) == [(task_id, "pending", "Qubico/flux1-dev")]


def test_a_create_that_fails_mid_flight_is_journaled_unknown(cli: Cli, isolated: Path) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("server disconnected without sending a response")

    cli.transport = httpx.MockTransport(handle)
    result = cli(*FLUX, "-i", "prompt=x")
    assert result.exit_code == 5 and "journaled as unknown (piapi tasks show 1)" in result.stderr
    assert rows(isolated) == [(None, "unknown", "Qubico/flux1-dev")]
    listed = cli("tasks", "--status", "unknown").stdout
    assert listed.startswith("-\tunknown\tQubico/flux1-dev\ttxt2img")
    pending = cli("wait", "--pending")
    assert "answer was lost" in pending.stderr and "not resent" in pending.stderr


@pytest.mark.parametrize(("failure", "state"), [
    (httpx.Response(400, json={"code": 400, "message": "bad"}), "refused"),
    (httpx.ConnectError("refused"), "not_sent"),
])  # fmt: skip
def test_refused_and_unsent_creates_are_recorded_as_such(cli: Cli, isolated: Path, failure: object, state: str) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(failure, Exception):
            raise failure
        assert isinstance(failure, httpx.Response)
        return failure

    cli.transport = httpx.MockTransport(handle)
    assert cli(*FLUX, "-i", "prompt=x").exit_code in (4, 5)
    assert rows(isolated)[0][1] == state


def test_waiting_keeps_the_journal_current(cli: Cli, isolated: Path) -> None:
    task_id = cli(*FLUX, "-i", "prompt=x", "--wait").stdout and rows(isolated)[0][0]
    shown = cli("tasks", "show", str(task_id)[:8], "--json").json()
    assert shown["status"] == "completed" and shown["credits"] == 20000
    assert shown["output_urls"] == [shown["task"]["output"]["image_url"]]
    assert shown["input"] == {"prompt": "x"}


def test_wait_pending_reattaches_to_unfinished_tasks_of_this_world(cli: Cli, clock: FakeClock) -> None:
    done = cli(*FLUX, "-i", "prompt=quick", "--wait").exit_code
    slow = cli(*FLUX, "-i", "prompt=slow [sandbox:seconds=100]").stdout.strip()
    other = cli(*FLUX, "-i", "prompt=other [sandbox:seconds=100]").stdout.strip()
    assert done == 0
    # the same tasks seen from another API address are another world: not re-attached there
    elsewhere = cli("wait", "--pending", env={"PIAPI_BASE_URL": "https://elsewhere.example"})
    assert elsewhere.exit_code == 0 and "no unfinished tasks" in elsewhere.stderr
    result = cli("wait", "--pending", "--json")
    assert result.exit_code == 0, result.stderr
    assert sorted(t["task_id"] for t in result.json()) == sorted([slow, other])
    assert cli("wait", "--pending").stderr.strip() == "no unfinished tasks in the journal"


def test_two_processes_write_the_journal_at_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    worker = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from piapi_cli.core.journal import Journal
        from piapi_cli.api.tasks import Task
        journal = Journal(Path({str(path)!r}))
        for n in range(150):
            row = journal.begin_create("sandbox", "m", "t", {{"n": n}}, None)
            journal.created(row, Task.from_api({{"task_id": f"{{sys.argv[1]}}-{{n}}", "status": "pending"}}))
            journal.update(Task.from_api({{"task_id": f"{{sys.argv[1]}}-{{n}}", "status": "completed"}}))
    """)
    processes = [subprocess.Popen([sys.executable, "-c", worker, name]) for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    journal = Journal(path)
    entries = journal.entries(limit=1000)
    assert len(entries) == 300 and {e.status for e in entries} == {"completed"}
    assert len({e.task_id for e in entries}) == 300


def test_tasks_list_filters_and_usage(cli: Cli, clock: FakeClock) -> None:
    cli(*FLUX, "-i", "prompt=a", "--wait")
    cli("create", "-m", "midjourney", "-t", "imagine", "-i", "prompt=b", "--wait")
    cli(*FLUX, "-i", "prompt=c [sandbox:fail]", "--wait")
    listed = cli("tasks", "--json").json()
    assert [e["status"] for e in listed] == ["failed", "completed", "completed"]  # newest first
    assert [e["model"] for e in cli("tasks", "--model", "midjourney", "--json").json()] == ["midjourney"]
    assert len(cli("tasks", "--status", "failed", "--json").json()) == 1
    assert len(cli("tasks", "--limit", "1", "--json").json()) == 1
    assert cli("tasks", "--since", "1h", "--json").json() == listed
    clock.sleep(7200)
    usage = cli("tasks", "usage", "--by", "model", "--json").json()
    assert usage == [
        {"group": "Qubico/flux1-dev", "tasks": 2, "credits": 20000},
        {"group": "midjourney", "tasks": 1, "credits": 20000},
    ]
    assert cli("tasks", "usage").stdout == "all\t3\t40000\n"
    assert cli("tasks", "--since", "soon").exit_code == 2
    assert cli("tasks", "usage", "--by", "colour").exit_code == 2
    assert cli("tasks", "show", "nonesuch").exit_code == 2


def test_journal_can_be_turned_off(cli: Cli, isolated: Path) -> None:
    assert cli("--no-journal", *FLUX, "-i", "prompt=x").exit_code == 0
    assert cli(*FLUX, "-i", "prompt=x", env={"PIAPI_JOURNAL": "0"}).exit_code == 0
    assert not (isolated / "data" / "journal.sqlite3").exists()
    off = cli("--no-journal", "tasks")
    assert off.exit_code == 3 and "turned off" in off.stderr


def test_parse_since() -> None:
    assert parse_since("90s", 1000.0) == 910.0 and parse_since("2w", 2e6) == 2e6 - 1209600


def test_account_never_shows_the_key(cli: Cli, emulator: Emulator) -> None:
    result = cli("account")
    assert "plan\tsandbox" in result.stdout.splitlines()
    assert "sandbox-key-never-shown" not in result.stdout and "api_key\t<redacted>" in result.stdout
    assert cli("account", "--jq", ".plan").stdout == "sandbox\n"

    def echo_key(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 200, "data": {"apikey": TEST_KEY, "note": TEST_KEY}})

    cli.transport = httpx.MockTransport(echo_key)
    leaked = cli("account", "--json")
    assert TEST_KEY not in leaked.stdout + leaked.stderr


def test_journal_entry_from_a_task_object(tmp_path: Path, clock: FakeClock) -> None:
    journal = Journal(tmp_path / "j.sqlite3", clock=clock)
    row = journal.begin_create("sandbox", "m", "t", {"prompt": "x"}, {"webhook_config": {"secret": "s3cret"}})
    journal.created(row, Task.from_api({"task_id": "abc", "status": "pending"}))
    db = sqlite3.connect(tmp_path / "j.sqlite3")
    assert "s3cret" not in db.execute("SELECT config FROM tasks").fetchone()[0]
    assert journal.find("ab") is not None and journal.find("1") is not None and journal.find("zz") is None


def test_get_records_what_it_sees(cli: Cli, clock: FakeClock, isolated: Path) -> None:
    task_id = cli(*FLUX, "-i", "prompt=x").stdout.strip()
    assert rows(isolated) == [(task_id, "pending", "Qubico/flux1-dev")]
    clock.sleep(60)
    cli("get", task_id)
    assert rows(isolated) == [(task_id, "completed", "Qubico/flux1-dev")]
