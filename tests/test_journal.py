"""The task journal: written before the create is sent, kept current, shared by processes."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from piapi_cli.api.tasks import Task
from piapi_cli.cli.output import Output
from piapi_cli.core.ids import resolve_task
from piapi_cli.core.journal import store as journal_store
from piapi_cli.core.journal.journal import Journal
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
    assert result.exit_code == 5 and "journaled as unknown (piapi tasks show '#1')" in result.stderr
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
        {"group": "Qubico/flux1-dev", "tasks": 2, "credits": 20000, "chats": 0, "tokens": 0},
        {"group": "midjourney", "tasks": 1, "credits": 20000, "chats": 0, "tokens": 0},
    ]
    assert cli("tasks", "usage").stdout == "all\t3\t40000\t0\t0\n"
    assert cli("tasks", "--since", "soon").exit_code == 2
    assert cli("tasks", "usage", "--by", "colour").exit_code == 2
    assert cli("tasks", "show", "nonesuch").exit_code == 2


def test_journal_can_be_turned_off(cli: Cli, isolated: Path) -> None:
    assert cli("--no-journal", *FLUX, "-i", "prompt=x").exit_code == 0
    assert cli(*FLUX, "-i", "prompt=x", env={"PIAPI_JOURNAL": "0"}).exit_code == 0
    assert not (isolated / "data" / "journal.sqlite3").exists()
    off = cli("--no-journal", "tasks")
    assert off.exit_code == 3 and "turned off" in off.stderr


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
    assert resolve_task("abc", journal).entry is not None and resolve_task("#1", journal).entry is not None
    assert resolve_task("zzzz", journal).entry is None


def test_get_records_what_it_sees(cli: Cli, clock: FakeClock, isolated: Path) -> None:
    task_id = cli(*FLUX, "-i", "prompt=x").stdout.strip()
    assert rows(isolated) == [(task_id, "pending", "Qubico/flux1-dev")]
    clock.sleep(60)
    cli("get", task_id)
    assert rows(isolated) == [(task_id, "completed", "Qubico/flux1-dev")]


# --- worlds, arguments, output -----------------------------------------------------------

API = "https://api.piapi.ai"


def test_the_sandbox_and_the_api_are_kept_apart(cli: Cli, clock: FakeClock) -> None:
    real = cli(*FLUX, "-i", "prompt=real", "--wait").stdout and cli("tasks", "--json").json()[0]["task_id"]
    for n in range(2):
        assert cli("--sandbox", *FLUX, "-i", f"prompt=try {n}", "--wait").exit_code == 0
    listed = cli("tasks", "--json").json()
    assert [(e["task_id"], e["world"]) for e in listed] == [(real, API)]
    sandbox = cli("--sandbox", "tasks", "--json").json()
    assert len(sandbox) == 2 and {e["world"] for e in sandbox} == {"sandbox"}
    assert len(cli("tasks", "--world", "all", "--json").json()) == 3
    assert len(cli("tasks", "--world", "sandbox", "--json").json()) == 2
    assert cli("tasks").stdout.splitlines()[0].split("\t")[-1] == API
    # usage counts the real API's credits only, unless asked otherwise
    assert cli("tasks", "usage").stdout == "all\t1\t20000\t0\t0\n"
    assert cli("--sandbox", "tasks", "usage").stdout == "all\t2\t40000\t0\t0\n"
    by_world = cli("tasks", "usage", "--world", "all", "--by", "world", "--json").json()
    assert by_world == [
        {"group": "sandbox", "tasks": 2, "credits": 40000, "chats": 0, "tokens": 0},
        {"group": API, "tasks": 1, "credits": 20000, "chats": 0, "tokens": 0},
    ]
    # an empty listing says where the other tasks are
    nothing = cli("tasks", "--world", "https://elsewhere.example/")
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert "no tasks of https://elsewhere.example in the journal match" in nothing.stderr
    assert "--world all" in nothing.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("tasks", "--since", "²d"),
        ("tasks", "usage", "--since", "٣d"),
        ("tasks", "--limit", "99999999999999999999"),
        ("tasks", "--limit", "0"),
        ("tasks", "show", "12345678901234567890123"),
        ("tasks", "--jq", ".[] | "),
        ("tasks", "show", "1", "--jq", "{"),
        ("get", "deadbeef", "--jq", ".["),
    ],
)
def test_bad_arguments_are_usage_errors(cli: Cli, args: tuple[str, ...]) -> None:
    cli(*FLUX, "-i", "prompt=x")
    result = cli(*args)
    assert result.exit_code == 2, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) <= 2  # a message, maybe a hint


def test_tasks_and_show_take_jq(cli: Cli) -> None:
    first = cli(*FLUX, "-i", "prompt=one").stdout.strip()
    second = cli(*FLUX, "-i", "prompt=two").stdout.strip()
    assert cli("tasks", "--jq", ".[].task_id").stdout.split() == [second, first]
    assert cli("tasks", "show", first[:10], "--jq", ".input.prompt").stdout == "one\n"
    assert cli("tasks", "show", "#2", "--jq", ".task_id").stdout == f"{second}\n"


def test_show_names_the_candidates_of_an_ambiguous_prefix(cli: Cli, isolated: Path) -> None:
    journal = Journal(isolated / "data" / "journal.sqlite3")
    for task_id in ("abc-1", "abc-2"):
        journal.created(journal.begin_create(API, "m", "t", {}, None), Task.from_api({"task_id": task_id}))
    journal.close()
    result = cli("tasks", "show", "abc-")
    assert result.exit_code == 2 and "'abc-' starts 2 journaled task IDs: abc-2, abc-1" in result.stderr
    assert cli("tasks", "show", "abc").exit_code == 2  # under 4 characters: not a prefix
    assert cli("tasks", "show", "abc-1", "--jq", ".task_id").stdout == "abc-1\n"


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_the_table_at_80_columns_never_splits_an_id_or_a_model(
    cli: Cli, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(isolated / "data" / "journal.sqlite3")
    long_ones = [
        ("Qubico/flux1-dev-advanced", "img2video-14b-control-camera"),
        ("Qubico/video-toolkit", "omni_video_generation"),
        ("midjourney", "imagine"),
    ]
    ids = []
    for n, (model, task_type) in enumerate(long_ones):
        row = journal.begin_create(API, model, task_type, {}, None)
        ids.append(f"{n}631d053-2352-4add-95cc-360fc52d5f89")
        usage = {"consume": 1_234_567, "type": "point"}
        journal.created(row, Task.from_api({"task_id": ids[-1], "status": "processing", "meta": {"usage": usage}}))
    unanswered = journal.begin_create(API, "Qubico/flux1-dev", "txt2img", {}, None)
    journal.close()
    monkeypatch.setattr(Output, "stdout_tty", property(lambda self: True))
    result = cli("tasks", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    lines = [ANSI.sub("", line) for line in result.stdout.splitlines()]
    assert max(len(line) for line in lines) <= 80
    rows = [line.split() for line in lines[1:] if line[:1].strip()]  # lines that start a row
    assert [row[0] for row in rows] == [f"#{unanswered}", ids[2][:8], ids[1][:8], ids[0][:8]]
    assert [row[3] for row in rows] == ["Qubico/flux1-dev", "midjourney", "Qubico/video-toolkit", long_ones[0][0]]
    shown = cli("tasks", "show", ids[0][:8], env={"COLUMNS": "80"})
    assert ids[0] in ANSI.sub("", shown.stdout)


# --- get with a prefix -------------------------------------------------------------------


def test_get_takes_a_unique_prefix_from_the_journal(cli: Cli, emulator: Emulator, isolated: Path) -> None:
    task_id = cli(*FLUX, "-i", "prompt=x").stdout.strip()
    shown = cli("get", task_id[:6], "--json")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()["task_id"] == task_id
    # an ambiguous prefix is refused before anything is sent
    journal = Journal(isolated / "data" / "journal.sqlite3")
    for other in (task_id[:6] + "-a", task_id[:6] + "-b"):
        journal.created(journal.begin_create(API, "m", "t", {}, None), Task.from_api({"task_id": other}))
    journal.close()
    sent: list[str] = []
    inner = transport_for(emulator)

    def counting(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return inner.handle_request(request)

    cli.transport = httpx.MockTransport(counting)
    ambiguous = cli("get", task_id[:6])
    assert ambiguous.exit_code == 2 and sent == []
    assert "starts 3 journaled task IDs" in ambiguous.stderr and task_id in ambiguous.stderr
    # a prefix of another API's task is not expanded: it is sent as given
    assert cli("--sandbox", "get", task_id[:8]).exit_code != 0 and sent == [f"/api/v1/task/{task_id[:8]}"]


# --- a journal that cannot be used --------------------------------------------------------


def counting_posts(emulator: Emulator) -> tuple[httpx.MockTransport, list[str]]:
    inner = transport_for(emulator)
    posts: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(str(request.url))
        return inner.handle_request(request)

    return httpx.MockTransport(handle), posts


def test_a_locked_journal_stops_a_create_before_it_is_sent(
    cli: Cli, emulator: Emulator, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli(*FLUX, "-i", "prompt=first")
    monkeypatch.setattr(journal_store, "BUSY_TIMEOUT", 0.05)
    cli.transport, posts = counting_posts(emulator)
    holder = sqlite3.connect(isolated / "data" / "journal.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = cli(*FLUX, "-i", "prompt=second")
        listed = cli("tasks")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 3 and posts == [] and result.stdout == ""
    [error, hint] = result.stderr.strip().splitlines()
    assert error.startswith("error: task journal ") and str(isolated / "data" / "journal.sqlite3") in error
    assert "another process holds its write lock" in error and "--no-journal" in hint
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 1  # reading goes on
    assert cli("--no-journal", *FLUX, "-i", "prompt=third").exit_code == 0


def test_a_damaged_journal_is_exit_3_and_get_goes_on_without_it(cli: Cli, emulator: Emulator, isolated: Path) -> None:
    task_id = cli(*FLUX, "-i", "prompt=x").stdout.strip()
    path = isolated / "data" / "journal.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(os.urandom(8192))
    listed = cli("tasks")
    assert listed.exit_code == 3 and "internal error" not in listed.stderr
    assert f"task journal {path}: it is damaged" in listed.stderr and "move it aside" in listed.stderr
    cli.transport, posts = counting_posts(emulator)
    assert cli(*FLUX, "-i", "prompt=y").exit_code == 3 and posts == []
    got = cli("get", task_id, "--jq", ".task_id")
    assert got.exit_code == 0 and got.stdout == f"{task_id}\n" and "going on without it" in got.stderr


def test_an_immutable_journal_refuses_creates_and_still_lists(cli: Cli, emulator: Emulator, isolated: Path) -> None:
    import shutil

    cli(*FLUX, "-i", "prompt=x")
    path = isolated / "data" / "journal.sqlite3"
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)], check=False).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        cli.transport, posts = counting_posts(emulator)
        result = cli(*FLUX, "-i", "prompt=y")
        listed = cli("tasks")
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)
    assert result.exit_code == 3 and posts == [] and "cannot be written" in result.stderr
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 1


def test_unreadable_rows_are_listed_with_a_note(cli: Cli, isolated: Path) -> None:
    cli(*FLUX, "-i", "prompt=good")
    cli(*FLUX, "-i", "prompt=bad")
    db = sqlite3.connect(isolated / "data" / "journal.sqlite3")
    db.execute("UPDATE tasks SET input = '{oops', task_json = ? WHERE id = 2", ("[" * 50_000,))
    db.commit()
    db.close()
    listed = cli("tasks")
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 2
    assert "journal #2: input is not valid JSON; task_json is not valid JSON (shown empty)" in listed.stderr
    shown = cli("tasks", "show", "#2", "--json")
    assert shown.exit_code == 0 and shown.json()["input"] == {} and shown.json()["problems"]


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_the_data_directory_and_journal_are_private(cli: Cli, isolated: Path) -> None:
    previous = os.umask(0o022)
    try:
        cli(*FLUX, "-i", "prompt=x")
    finally:
        os.umask(previous)
    data = isolated / "data"
    assert oct(os.stat(data).st_mode & 0o777) == "0o700"
    assert oct(os.stat(data / "journal.sqlite3").st_mode & 0o777) == "0o600"


def test_wait_pending_reports_a_create_whose_process_was_killed(cli: Cli, isolated: Path) -> None:
    path = isolated / "data" / "journal.sqlite3"
    victim = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from piapi_cli.core.journal.journal import Journal
        Journal(Path({str(path)!r})).begin_create({API!r}, "midjourney", "imagine", {{"prompt": "paid"}}, None)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", victim], check=False).returncode == -signal.SIGKILL
    result = cli("wait", "--pending")
    assert result.exit_code == 0
    assert "journal #1 (midjourney imagine)" in result.stderr and "may exist" in result.stderr
