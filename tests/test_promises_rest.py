"""The rest of the promises under attack: signals give their own exit codes, a restarted listener
forwards what it had stored, statuses only move forward, oversized rows are refused before
sending, and listen --download follows only public https URLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.api.tasks import Task
from piapi_cli.core.journal.events import EventStore
from piapi_cli.core.journal.journal import Journal
from piapi_cli.core.listener.forwarding import Route
from tests.conftest import TEST_KEY
from tests.test_listener import SECRET, Receiver, delivery, make_listener  # noqa: F401 - a fixture
from tests.test_promises import Answer, Hostile, slow_file_server, until

# --- 15. SIGTERM and SIGHUP during a download ------------------------------------------------------


@pytest.fixture
def hostile() -> Iterator[Callable[[Answer], Hostile]]:
    made: list[Hostile] = []
    yield lambda answer: made.append(Hostile(answer)) or made[-1]
    for server in made:
        server.close()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_download_stopped_by_a_signal_exits_128_plus_its_number(
    hostile: Callable[[Answer], Hostile], tmp_path: Path, sig: int, code: int
) -> None:
    server = slow_file_server(hostile)
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "download", "t-1", "--dir", "out"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": server.url},
    )
    part = tmp_path / "out" / "t-1-0.mp4.part"
    until(lambda: part.exists() and part.stat().st_size > 0)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert ("terminated" if sig != signal.SIGINT else "interrupted") in err and "Traceback" not in err
    assert part.exists() and "resume with: piapi download t-1 --dir out" in err


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


# --- 16. a restarted listener forwards what it stored -----------------------------------------------


def test_a_restarted_listener_forwards_what_was_stored_in_order_once(
    make_listener: Callable[..., Any],  # noqa: F811 - the fixture
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    url = receiver.base + "/hook"
    journal = Journal(tmp_path / "journal.sqlite3")
    store = EventStore(journal, SECRET)
    statuses = ["pending", "processing", "completed"]
    for n, status in enumerate(statuses):  # stored, then the listener died before forwarding them
        body = delivery(status=status, ts=100 + n)
        store.record(task=Task.from_api(body["data"]), timestamp=body["timestamp"], body=json.dumps(body).encode(),
                     headers={}, received_at=float(n), source="webhook", forward_to=lambda name: [url])  # fmt: skip
    journal.close()
    running = make_listener(routes=[Route(url)])
    assert running.listener.resumed == (3, 0)
    until(lambda: len(receiver.got) >= 3)
    running.listener.stop(grace=5)
    sent = [json.loads(body)["data"]["status"] for _, body, _ in receiver.got]
    assert sent == statuses  # in order, each once
    assert EventStore(running.journal, SECRET).pending() == []
    again = make_listener(routes=[Route(url)])  # a second restart sends nothing again
    assert again.listener.resumed == (0, 0)


# --- 17. statuses only move forward -------------------------------------------------------------------


def test_a_late_processing_after_completed_is_journaled_and_dropped(
    make_listener: Callable[..., Any],  # noqa: F811 - the fixture
    receiver: Receiver,
) -> None:
    running = make_listener(routes=[Route(receiver.base + "/hook")])
    running.post(delivery(status="completed", ts=200))
    running.post(delivery(status="processing", ts=300))  # a later timestamp, but a status behind
    running.post(delivery(status="pending", ts=150))
    assert [name for name, _ in running.names()] == ["task.completed"]
    stored = EventStore(running.journal, SECRET).of_task(delivery()["data"]["task_id"])
    assert [e.status for e in stored] == ["completed", "processing", "pending"]  # all journaled
    running.listener.stop(grace=5)
    assert [json.loads(body)["data"]["status"] for _, body, _ in receiver.got] == ["completed"]


# --- 19. a raw U+2028 inside a JSONL row: tests/test_batch_matrix.py keeps it (lines split at LF only)
