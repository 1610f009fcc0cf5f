"""The account's own history: the sandbox serves it as PiAPI documents it, ``tasks --remote``
lists it against the journal, ``tasks sync`` brings back what the journal lacks and finds the
task of a create whose answer was lost, and ``account`` shows what is running now."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli.sandbox import Emulator, MemoryStore, transport_for
from tests.conftest import TEST_KEY, Cli, FakeClock

FLUX = ["create", "-m", "Qubico/flux1-dev", "-t", "txt2img"]
KEY = {"x-api-key": TEST_KEY}


def call(emulator: Emulator, method: str, path: str) -> tuple[int, Any]:
    reply = emulator.handle(method, path, KEY)
    return reply.status, json.loads(reply.body)


def make(emulator: Emulator, clock: FakeClock, model: str, task_type: str, count: int, **extra: Any) -> list[str]:
    ids = []
    for n in range(count):
        body = {"model": model, "task_type": task_type, "input": {"prompt": f"p{n}", **extra}}
        reply = emulator.handle("POST", "/api/v1/task", KEY, json.dumps(body).encode())
        ids.append(json.loads(reply.body)["data"]["task_id"])
        clock.sleep(1)
    return ids


def journal_rows(isolated: Path) -> list[tuple[str | None, str]]:
    db = sqlite3.connect(isolated / "data" / "journal.sqlite3")
    found = db.execute("SELECT task_id, status FROM tasks ORDER BY id").fetchall()
    db.close()
    return found


# --- the sandbox serves the routes ------------------------------------------------------------


def test_history_pages_newest_first_with_family_and_time_filters(emulator: Emulator, clock: FakeClock) -> None:
    start = clock()
    flux = make(emulator, clock, "Qubico/flux1-dev", "txt2img", 5)
    mj = make(emulator, clock, "midjourney", "imagine", 3)
    status, first = call(emulator, "GET", "/api/open/tasks/histories?page=1&page_size=4")
    assert status == 200
    page = first["data"]["data"]
    assert [i["task_id"] for i in page] == list(reversed(flux + mj))[:4]
    assert set(page[0]) >= {"task_id", "task_model", "action", "status", "created_at"}
    _, second = call(emulator, "GET", "/api/open/tasks/histories?page=2&page_size=4")
    assert [i["task_id"] for i in second["data"]["data"]] == list(reversed(flux + mj))[4:8]
    _, only_mj = call(emulator, "GET", "/api/open/tasks/histories?model=mj&page_size=100")
    assert {i["task_id"] for i in only_mj["data"]["data"]} == set(mj)
    _, early = call(emulator, "GET", f"/api/open/tasks/histories?end_time={int(start + 2)}&page_size=100")
    assert {i["task_id"] for i in early["data"]["data"]} == set(flux[:3])


@pytest.mark.parametrize("query", ["page_size=101", "page=0", "page=x"])
def test_history_refuses_what_the_api_refuses(emulator: Emulator, query: str) -> None:
    status, body = call(emulator, "GET", f"/api/open/tasks/histories?{query}")
    assert status == 400 and "invalid request" in body["message"]


def test_the_account_routes_need_the_key(emulator: Emulator) -> None:
    for path in ("/api/open/tasks/histories", "/account/active_tasks"):
        assert emulator.handle("GET", path, {}).status == 401


def test_active_tasks_count_per_provider_and_cancel_many(emulator: Emulator, clock: FakeClock) -> None:
    make(emulator, clock, "kling", "video_generation", 2, prompt="[sandbox:staged] waves")
    make(emulator, clock, "midjourney", "imagine", 1, prompt="[sandbox:staged] a cat")
    _, active = call(emulator, "GET", "/account/active_tasks")
    kling = active["data"]["kling"]
    assert kling["pending_count"] + kling["processing_count"] + kling["staged_count"] == 2
    assert len(kling["active_tasks"]) == 2 and "mj" in active["data"]
    status, canceled = call(emulator, "DELETE", f"/api/v1/tasks?created_before={int(clock() + 10)}&model=kling")
    assert status == 200 and len(canceled["data"]["canceled"]) == 2
    _, after = call(emulator, "GET", "/account/active_tasks")
    assert "kling" not in after["data"]


# --- tasks --remote ----------------------------------------------------------------------------


def test_remote_lists_every_page_and_marks_what_the_journal_knows(
    cli: Cli, emulator: Emulator, clock: FakeClock
) -> None:
    mine = cli(*FLUX, "-i", "prompt=mine").stdout.strip()
    elsewhere = make(emulator, clock, "kling", "video_generation", 230)  # three pages of 100
    result = cli("tasks", "--remote", "--limit", "1000", "--json")
    assert result.exit_code == 0, result.stderr
    listed = {t["task_id"]: t for t in result.json()}
    assert set(listed) == {mine, *elsewhere}
    assert listed[mine]["in_journal"] is True and listed[mine]["journal_row"] == 1
    assert not any(listed[i]["in_journal"] for i in elsewhere)
    lines = cli("tasks", "--remote", "--model", "flux").stdout.splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"{mine}\t") and lines[0].endswith("\t1")


def test_remote_stops_when_a_server_ignores_the_page(cli: Cli) -> None:
    item = {"task_id": "a" * 36, "task_model": "kling", "action": "video_generation", "status": "completed"}
    pages: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        pages.append(request.url.params.get("page", ""))
        items = [item | {"task_id": f"{n:036d}"} for n in range(100)]
        return httpx.Response(200, json={"code": 200, "data": {"data": items}})

    cli.transport = httpx.MockTransport(handle)
    result = cli("tasks", "--remote", "--json", "--limit", "100000")
    assert result.exit_code == 0 and len(result.json()) == 100
    assert pages == ["1", "2"]


def test_remote_lists_a_task_the_history_repeats_once(cli: Cli) -> None:
    item = {"task_id": "b" * 36, "task_model": "flux", "action": "txt2img", "status": "completed"}
    cli.transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"code": 200, "data": {"data": [item] * 5}}))
    assert len(cli("tasks", "--remote").stdout.splitlines()) == 1
    assert [t["task_id"] for t in cli("tasks", "--remote", "--json").json()] == ["b" * 36]


@pytest.mark.parametrize("created", [1e300, -1e20, float("inf"), 10**40, "9999-99-99"])
def test_remote_with_a_creation_time_out_of_range_shows_the_task_without_one(cli: Cli, created: Any) -> None:
    item = {"task_id": "c" * 36, "task_model": "flux", "action": "txt2img", "status": "completed"}
    body = json.dumps({"code": 200, "data": {"data": [item | {"created_at": created}]}})
    cli.transport = httpx.MockTransport(
        lambda r: httpx.Response(200, text=body, headers={"content-type": "application/json"})
    )
    result = cli("tasks", "--remote")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("c" * 36 + "\t") and "internal error" not in result.stderr
    assert cli("tasks", "--remote", "--json").json()[0]["created_at"] is None


def test_remote_history_answered_with_html_is_an_error_not_a_traceback(cli: Cli) -> None:
    cli.transport = httpx.MockTransport(lambda r: httpx.Response(200, text="<html>proxy</html>"))
    result = cli("tasks", "--remote")
    assert result.exit_code == 5
    assert "Traceback" not in result.stderr and result.stdout == ""


# --- tasks sync -------------------------------------------------------------------------------


def test_sync_after_losing_the_journal_brings_every_task_back(cli: Cli, isolated: Path) -> None:
    made = [cli(*FLUX, "-i", f"prompt=cat {n}").stdout.strip() for n in range(3)]
    (isolated / "data" / "journal.sqlite3").unlink()
    assert cli("tasks", "--json").json() == []
    synced = cli("tasks", "sync")
    assert synced.exit_code == 0, synced.stderr
    assert sorted(synced.stdout.split()) == sorted(made)
    assert "added 3 tasks" in synced.stderr
    listed = cli("tasks", "--json").json()
    assert sorted(e["task_id"] for e in listed) == sorted(made)
    assert {e["input"]["prompt"] for e in listed} == {"cat 0", "cat 1", "cat 2"}
    waited = cli("wait", made[0])
    assert waited.exit_code == 0, waited.stderr
    again = cli("tasks", "sync")
    assert again.stdout == "" and "added 0 tasks" in again.stderr


def lose_create_answers(cli: Cli, emulator: Emulator) -> None:
    # the journal stamps rows with the wall clock; the sandbox's fake clock starts there too
    emulator.clock.now = time.time()  # type: ignore[attr-defined]
    inner = transport_for(emulator)

    def handle(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        if request.method == "POST" and request.url.path == "/api/v1/task":
            raise httpx.RemoteProtocolError("server disconnected without sending a response")
        return response

    cli.transport = httpx.MockTransport(handle)


def test_sync_finds_the_task_of_a_create_whose_answer_was_lost(cli: Cli, emulator: Emulator, isolated: Path) -> None:
    lose_create_answers(cli, emulator)
    lost = cli(*FLUX, "-i", "prompt=the lost one")
    assert lost.exit_code == 5 and journal_rows(isolated) == [(None, "unknown")]
    cli.transport = transport_for(emulator)
    other = cli(*FLUX, "-i", "prompt=another").stdout.strip()
    [task_id] = [r["task_id"] for r in emulator.store.all() if r["input"]["prompt"] == "the lost one"]
    synced = cli("tasks", "sync", "--json")
    assert synced.exit_code == 0, synced.stderr
    assert synced.json()["found"] == [{"journal_row": 1, "task_id": task_id}]
    assert synced.json()["added"] == []
    assert journal_rows(isolated)[0][0] == task_id and journal_rows(isolated)[1][0] == other
    assert cli("wait", "--pending").exit_code == 0


def test_two_lost_creates_alike_are_left_for_the_user(cli: Cli, emulator: Emulator, isolated: Path) -> None:
    lose_create_answers(cli, emulator)
    cli(*FLUX, "-i", "prompt=twin")
    cli(*FLUX, "-i", "prompt=twin")
    cli.transport = transport_for(emulator)
    synced = cli("tasks", "sync", "--json").json()
    assert synced["found"] == [] and {a["journal_row"] for a in synced["ambiguous"]} == {1, 2}
    assert journal_rows(isolated)[:2] == [(None, "unknown"), (None, "unknown")]


def test_a_lost_create_is_not_matched_to_a_task_of_another_input(cli: Cli, emulator: Emulator) -> None:
    lose_create_answers(cli, emulator)
    cli(*FLUX, "-i", "prompt=mine")
    emulator.store.put(next(iter(emulator.store.all())) | {"input": {"prompt": "someone else's"}})
    cli.transport = transport_for(emulator)
    synced = cli("tasks", "sync", "--json").json()
    assert synced["found"] == [] and len(synced["added"]) == 1


# --- account ----------------------------------------------------------------------------------


def test_account_shows_active_tasks_per_provider(cli: Cli) -> None:
    cli(*FLUX, "-i", "prompt=x")
    doc = cli("account", "--json").json()
    [flux] = doc["active_tasks"]
    assert flux["provider"] == "flux" and flux["pending"] + flux["processing"] + flux["staged"] == 1
    lines = cli("account").stdout.splitlines()
    assert any(line.startswith("active\tflux\t") for line in lines)
    assert "sandbox-key-never-shown" not in cli("account").stdout


def test_account_without_the_active_tasks_route_still_shows_the_account(cli: Cli, clock: FakeClock) -> None:
    inner = transport_for(Emulator(MemoryStore(), clock=clock))

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/account/active_tasks":
            return httpx.Response(404, json={"code": 404, "message": "not found"})
        return inner.handle_request(request)

    cli.transport = httpx.MockTransport(handle)
    result = cli("account", "--json")
    assert result.exit_code == 0 and "credits" in result.json()
    assert "active tasks not shown" in result.stderr


# --- batch runs find their lost creates in the history ------------------------------------------


def test_a_batch_rerun_adopts_the_task_the_history_shows_for_a_lost_create(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": f"r{n}", "input": {"prompt": f"cat {n}"}}) + "\n" for n in range(3)))
    emulator.clock.now = time.time()  # type: ignore[attr-defined]
    inner = transport_for(emulator)

    def lose_r1(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        if request.method == "POST" and b"cat 1" in request.content:
            raise httpx.ReadError("connection reset", request=request)
        return response

    cli.transport = httpx.MockTransport(lose_r1)
    first = cli("batch", "run", str(rows), "-m", "Qubico/flux1-dev", "-t", "txt2img")
    assert first.exit_code == 5 and len(list(emulator.store.all())) == 3
    cli.transport = transport_for(emulator)
    rerun = cli("batch", "run", str(rows), "-m", "Qubico/flux1-dev", "-t", "txt2img")
    assert rerun.exit_code == 0, rerun.stderr
    [lost] = [r["task_id"] for r in emulator.store.all() if r["input"]["prompt"] == "cat 1"]
    assert f"row r1: its create's answer was lost; the history shows task {lost}" in rerun.stderr
    found = {json.loads(line)["id"]: json.loads(line) for line in rerun.stdout.splitlines()}
    assert found["r1"]["task_id"] == lost
    assert len(list(emulator.store.all())) == 3  # nothing created twice


def test_a_batch_rerun_whose_history_cannot_be_read_keeps_the_row_maybe_created(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "only", "input": {"prompt": "LOST"}}) + "\n")
    emulator.clock.now = time.time()  # type: ignore[attr-defined]
    inner = transport_for(emulator)

    def lose(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        if request.method == "POST":
            raise httpx.ReadError("connection reset", request=request)
        return response

    cli.transport = httpx.MockTransport(lose)
    assert cli("batch", "run", str(rows), "-m", "Qubico/flux1-dev", "-t", "txt2img").exit_code == 5

    def no_history(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/open/"):
            return httpx.Response(404, json={"code": 404, "message": "no such route"})
        return inner.handle_request(request)

    cli.transport = httpx.MockTransport(no_history)
    rerun = cli("batch", "run", str(rows), "-m", "Qubico/flux1-dev", "-t", "txt2img")
    assert rerun.exit_code == 5 and "could not read the account's history" in rerun.stderr
    assert "--attach" in rerun.stderr
    assert len(list(emulator.store.all())) == 1


def test_sync_says_with_its_exit_code_that_tasks_could_not_be_fetched(cli: Cli, emulator: Emulator) -> None:
    made = make(emulator, emulator.clock, "kling", "video_generation", 2)  # type: ignore[arg-type]
    inner = transport_for(emulator)

    def lose_one(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(made[0]):
            return httpx.Response(404, json={"code": 404, "message": "task not found"})
        return inner.handle_request(request)

    cli.transport = httpx.MockTransport(lose_one)
    result = cli("tasks", "sync")
    assert result.exit_code == 4, result.stderr
    assert result.stdout.split() == [made[1]]  # what could be fetched is in
    assert f"{made[0]}: could not be fetched" in result.stderr
