"""Deliveries stored together (``Intake.receive_many``, as the server hands over those that
arrive at once): a repeat inside one batch, a delivery whose write fails among good ones, a
batch SQLite rolls back whole, secrets scrubbed from the journal's row whatever field echoes
them, and the event's printed line the same JSON as its document."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.api.tasks import REDACTED, Task, redact
from piapi_cli.core.journal.events import StoredEvent, TaskJSON, WebhookEvent
from piapi_cli.core.journal.journal import Journal
from tests.test_listener import SECRET, delivery, make_listener

SHARED_FIXTURES = (make_listener,)  # test_listener.py's, used here by name
HEADERS = {"x-webhook-secret": SECRET, "content-type": "application/json"}
API_KEY = "sk-live-abcdefghijklmnop"


def journaled(journal: Journal, *task_ids: str) -> None:
    """Tasks created through piapi (``create --webhook``): each delivery brings its row up to date."""
    for task_id in task_ids:
        row = journal.begin_create("https://api.piapi.ai", "luma", "video_generation", {"prompt": "x"}, None)
        journal.created(row, Task.from_api({"task_id": task_id, "status": "pending"}))


def raw(task_id: str, ts: int = 1, status: str = "completed", *, escaped: bool = False, **data: Any) -> bytes:
    """A delivery's body, in UTF-8 (``escaped``: every character past ASCII written as ``\\u....``)."""
    body = delivery(task_id=task_id, status=status, ts=ts)
    body["data"].update(data)
    return json.dumps(body, ensure_ascii=escaped).encode()


def row(journal: Journal, task_id: str) -> tuple[str, dict[str, Any], list[str]]:
    found = journal.read("SELECT status, task_json, urls FROM tasks WHERE task_id = ?", (task_id,))[0]
    return found[0], json.loads(found[1]), json.loads(found[2])


def stored(journal: Journal) -> list[str]:
    return [r[0] for r in journal.read("SELECT task_id FROM events ORDER BY id")]


def test_a_repeat_inside_one_batch_is_stored_and_printed_once(make_listener, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    journal = Journal(tmp_path / "journal.sqlite3")
    journaled(journal, "task-a", "task-b")
    running = make_listener(journal=journal)
    batch = [raw("task-a"), raw("task-a"), raw("task-b"), raw("task-a", ts=2, status="processing")]
    answers = running.listener.intake.receive_many([(HEADERS, body) for body in batch])
    assert answers == [(200, "received"), (200, "duplicate: already received"), (200, "received"), (200, "received")]
    assert running.names() == [
        ("task.completed", "task-a"),
        ("task.completed", "task-b"),
    ]  # the late one is kept, not printed
    assert stored(journal) == ["task-a", "task-b", "task-a"]
    assert row(journal, "task-a")[0] == "completed"  # the late "processing" did not turn it back
    assert running.listener.stats["duplicates"] == 1


def test_a_delivery_whose_write_fails_fails_alone_and_is_taken_when_sent_again(make_listener, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    journal = Journal(tmp_path / "journal.sqlite3")
    journaled(journal, "good-1", "bad", "good-2")
    # the task's row refuses the update, after the event was inserted: the event must go again
    journal.read(
        "CREATE TRIGGER refuse BEFORE UPDATE ON tasks WHEN NEW.task_id = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    running = make_listener(journal=journal)
    batch = [raw("good-1"), raw("bad"), raw("good-2")]
    answers = running.listener.intake.receive_many([(HEADERS, body) for body in batch])
    assert [status for status, _ in answers] == [200, 500, 200]
    assert running.names() == [("task.completed", "good-1"), ("task.completed", "good-2")]
    assert stored(journal) == ["good-1", "good-2"]
    assert row(journal, "bad")[0] == "pending"
    journal.read("DROP TRIGGER refuse")
    assert running.listener.intake.receive_many([(HEADERS, raw("bad"))]) == [(200, "received")]  # not a "duplicate"
    assert running.names()[-1] == ("task.completed", "bad") and row(journal, "bad")[0] == "completed"


def test_a_batch_that_sqlite_rolls_back_whole_is_answered_500_whole(make_listener, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    journal = Journal(tmp_path / "journal.sqlite3")
    journaled(journal, "good-1", "bad", "good-2")
    # (as a full disk may: SQLite ends the transaction itself; what came before in it is gone too)
    journal.read(
        "CREATE TRIGGER gone BEFORE UPDATE ON tasks WHEN NEW.task_id = 'bad' BEGIN SELECT RAISE(ROLLBACK, 'gone'); END"
    )
    running = make_listener(journal=journal)
    batch = [raw("good-1"), raw("bad"), raw("good-2"), raw("good-1")]
    answers = running.listener.intake.receive_many([(HEADERS, body) for body in batch])
    assert [status for status, _ in answers] == [500, 500, 500, 500]
    assert running.names() == [] and stored(journal) == []
    assert any("gone" in message for _, message in running.logs)
    journal.read("DROP TRIGGER gone")
    answers = running.listener.intake.receive_many([(HEADERS, body) for body in batch])  # PiAPI sends them again
    assert answers[:3] == [(200, "received")] * 3 and answers[3] == (200, "duplicate: already received")
    assert running.names() == [("task.completed", "good-1"), ("task.completed", "bad"), ("task.completed", "good-2")]


def test_secrets_echoed_anywhere_in_a_body_are_scrubbed_from_the_journal_row(make_listener, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.secrets = lambda: [API_KEY, SECRET]
    journaled(journal, "echoes", "clean", "unicode")
    running = make_listener(journal=journal)
    url = f"https://cdn.example/{API_KEY}/video.mp4"
    batch = [
        raw("echoes", input={"prompt": f"key {API_KEY} and {SECRET}"}, output={"video": {"url": url}}),
        raw("clean"),
        raw("unicode", input={"prompt": '日本語 \ud800 "quoted"'}, escaped=True),  # a lone surrogate: kept
    ]
    answers = running.listener.intake.receive_many([(HEADERS, body) for body in batch])
    assert [status for status, _ in answers] == [200, 200, 200]
    text = " ".join(r[0] + r[1] for r in journal.read("SELECT task_json, urls FROM tasks"))
    assert API_KEY not in text and SECRET not in text
    status, task_json, urls = row(journal, "echoes")
    assert task_json["input"]["prompt"] == "key *** and ***" and urls == ["https://cdn.example/***/video.mp4"]
    assert task_json["config"]["webhook_config"]["secret"] == REDACTED
    assert row(journal, "clean")[1] == redact(json.loads(raw("clean"))["data"])
    assert row(journal, "unicode")[1]["input"]["prompt"] == '日本語 \ud800 "quoted"'
    running.listener.drain()
    assert [e["task"]["config"]["webhook_config"]["secret"] for e in running.events] == [REDACTED] * 3
    # the events reported show what the journal keeps, not the secrets the server echoed
    assert running.events[0]["task"]["input"]["prompt"] == "key *** and ***"
    assert API_KEY not in json.dumps(running.events) and SECRET not in json.dumps(running.events)


def test_the_line_printed_for_an_event_shows_no_secret_the_server_echoed() -> None:
    task = Task.from_api(json.loads(raw("echoes", input={"prompt": f"key {API_KEY}"}))["data"])
    fields = {"id": 7, "received_at": 1724511853.25, "event": "task.completed", "task_id": task.task_id,
              "status": task.status, "timestamp": 1724511853, "source": "webhook", "body": b"", "headers": {}}  # fmt: skip
    line = WebhookEvent(StoredEvent(**fields), task, TaskJSON(task, [API_KEY, SECRET])).line()
    assert API_KEY not in line and json.loads(line)["task"]["input"]["prompt"] == "key ***"


def event(task: Task, **stored: Any) -> WebhookEvent:
    fields = {"id": 7, "received_at": 1724511853.25, "event": "task.completed", "task_id": task.task_id,
              "status": task.status, "timestamp": 1724511853, "source": "webhook", "body": b"", "headers": {}}  # fmt: skip
    return WebhookEvent(StoredEvent(**(fields | stored)), task)


@pytest.mark.parametrize(
    ("data", "stored"),
    [
        ({}, {}),
        ({"model": '日本語 "q" \\ \u2028', "task_type": "t\x01"}, {"timestamp": None}),
        ({"input": {"prompt": "é", "api_key": "k", "list": [{"Secret": "s"}, {"secret": ""}]}}, {"source": "backstop"}),
        ({}, {"timestamp": 1.5}),  # not as the listener stores it: written by json.dumps all the same
    ],
)
def test_the_printed_line_is_the_event_document_as_compact_json(data: dict[str, Any], stored: dict[str, Any]) -> None:
    task = Task.from_api(json.loads(raw("line-task"))["data"] | data)
    made = event(task, **stored)
    assert made.line() == json.dumps(made.to_json(), ensure_ascii=False, separators=(",", ":"))
    assert made.to_json()["task"] == task.to_json()


def test_redaction_replaces_secret_keys_at_any_depth_and_copies() -> None:
    value = {
        "Secret": {"nested": 1},
        "API_KEY": "",
        "apikey": None,
        "x-api-key": "k",
        "list": [{"secret": "s", "keep": [1, {"SeCrEt": 0}]}, "text", 3],
        5: "a number key",
    }
    assert redact(value) == {
        "Secret": REDACTED,
        "API_KEY": "",
        "apikey": None,
        "x-api-key": REDACTED,
        "list": [{"secret": REDACTED, "keep": [1, {"SeCrEt": REDACTED}]}, "text", 3],
        5: "a number key",
    }
    copy = redact(value)
    copy["list"][0]["keep"].append(2)
    assert value["list"][0]["keep"] == [1, {"SeCrEt": 0}]  # a deep copy


def test_a_failing_update_is_not_caught_by_sqlite_alone(tmp_path: Path) -> None:
    # (what the compensating delete relies on: a statement that fails leaves the transaction open)
    db = sqlite3.connect(tmp_path / "x.sqlite3", isolation_level=None)
    db.execute("CREATE TABLE t (x)")
    db.execute("CREATE TRIGGER no BEFORE INSERT ON t WHEN NEW.x = 2 BEGIN SELECT RAISE(ABORT, 'no'); END")
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO t VALUES (2)")
    assert db.in_transaction
    db.execute("COMMIT")
    assert db.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_events_are_queued_in_storage_order_those_ready_together_as_one_item() -> None:
    from piapi_cli.core.listener.ordering import StoredOrder

    order: StoredOrder[str] = StoredOrder()
    tickets = [order.ticket() for _ in range(5)]
    for ticket in tickets:
        ticket.take()
    order.release([(tickets[1], "b"), (tickets[2], None), (tickets[3], "d")])  # the first is not stored yet
    assert order.queue.empty()
    tickets[0].release("a")
    assert order.queue.get_nowait() == ["a", "b", "d"]  # the reporting thread wakes once for them
    order.release([(tickets[4], None)])  # a repeat: nothing to report
    assert order.queue.empty()
    late = order.ticket()
    order.release([(late, "never taken")])  # no number taken: it was never stored
    assert order.queue.empty()
