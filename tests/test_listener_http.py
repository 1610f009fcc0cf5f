"""The listener's own HTTP/1.1: requests in a row on one connection, 100-continue, heads it
refuses, and deliveries that arrive together stored together (or not at all)."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from piapi_cli.core.listener.connections import ServerLimits
from piapi_cli.core.listener.http1 import MAX_HEAD, Answers, BadHead, parse_head
from tests.test_listener import SECRET, delivery, make_listener

SHARED_FIXTURES = (make_listener,)  # test_listener.py's, used here by name


def request(body: dict[str, Any], *, extra: str = "") -> bytes:
    raw = json.dumps(body).encode()
    head = (
        f"POST /webhook HTTP/1.1\r\nhost: x\r\nx-webhook-secret: {SECRET}\r\ncontent-length: {len(raw)}\r\n{extra}\r\n"
    )
    return head.encode() + raw


def answers(conn: socket.socket, count: int) -> list[bytes]:
    """The status lines of ``count`` whole answers read from ``conn``."""
    data, found = b"", []
    while len(found) < count:
        chunk = conn.recv(65536)
        assert chunk, f"closed after {found}"
        data += chunk
        while b"\r\n\r\n" in data:
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            if len(rest) < length:
                break
            found.append(head.split(b"\r\n")[0])
            data = rest[length:]
    return found


def test_requests_sent_in_a_row_on_one_connection_are_each_answered_in_order(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    with socket.create_connection(("127.0.0.1", running.port)) as conn:
        conn.settimeout(10)
        statuses = ["pending", "processing", "completed"]
        conn.sendall(b"".join(request(delivery(status=status, ts=n)) for n, status in enumerate(statuses)))
        assert answers(conn, 3) == [b"HTTP/1.1 200 OK"] * 3
        conn.sendall(request(delivery(status="completed", ts=2)))  # the same again: a repeat
        assert answers(conn, 1) == [b"HTTP/1.1 200 OK"]
    assert running.names() == [
        ("task.created", "58cb41b7"),
        ("task.processing", "58cb41b7"),
        ("task.completed", "58cb41b7"),
    ]


def test_a_sender_that_expects_100_continue_gets_it_before_sending_the_body(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    raw = request(delivery(), extra="expect: 100-continue\r\n")
    head, body = raw.split(b"\r\n\r\n", 1)
    with socket.create_connection(("127.0.0.1", running.port)) as conn:
        conn.settimeout(10)
        conn.sendall(head + b"\r\n\r\n")
        assert conn.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        assert answers(conn, 1) == [b"HTTP/1.1 200 OK"]
    assert running.names() == [("task.completed", "58cb41b7")]


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST /webhook HTTP/2.0\r\n\r\n", b"505"),
        (b"POST /webhook\r\n\r\n", b"400"),
        (b"POST /webhook HTTP/1.1\r\n" + b"x-a: b\r\n" * 101 + b"\r\n", b"431"),
        (b"POST /webhook HTTP/1.1\r\nx-long: " + b"a" * (MAX_HEAD + 10), b"431"),
        (b"POST /webhook HTTP/1.1\r\n no-name\r\n\r\n", b"400"),
        (b"POST /webhook HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n", b"400"),
    ],
)
def test_heads_that_are_not_http_1_are_refused_and_the_connection_closed(
    make_listener, head: bytes, status: bytes
) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    with socket.create_connection(("127.0.0.1", running.port)) as conn:
        conn.settimeout(10)
        conn.sendall(head)
        data = b""
        while chunk := conn.recv(65536):  # read to the end: the listener closes it
            data += chunk
        assert data.startswith(b"HTTP/1.1 " + status)
    assert running.post(delivery())[0] == 200


def test_a_head_is_read_with_its_first_header_of_a_name_lower_cased() -> None:
    head = parse_head(
        b"POST /webhook?x=1 HTTP/1.0\r\nX-Webhook-Secret:  s \r\nx-webhook-secret: t\r\nconnection: keep-alive\r\n\r\n"
    )
    assert (head.method, head.target, head.headers["x-webhook-secret"], head.keep_alive) == (
        "POST",
        "/webhook?x=1",
        "s",
        True,
    )
    assert not parse_head(b"POST / HTTP/1.1\nconnection: close\n\n").keep_alive
    with pytest.raises(BadHead):
        parse_head(b"GET\r\n\r\n")


def test_deliveries_stored_together_are_all_refused_when_their_commit_fails(
    make_listener, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    store = running.listener.store
    real = store.batch

    @contextmanager
    def failing() -> Iterator[None]:
        with real():
            yield
            raise sqlite3.OperationalError("database or disk is full")  # at the commit: all goes back

    monkeypatch.setattr(store, "batch", failing)
    with socket.create_connection(("127.0.0.1", running.port)) as conn:
        conn.settimeout(10)
        conn.sendall(request(delivery(ts=1)) + request(delivery(task_id="other-task", ts=1)))
        got = answers(conn, 2)
    assert got == [b"HTTP/1.1 500 Internal Server Error"] * 2
    assert running.names() == [] and running.journal.read("SELECT COUNT(*) FROM events")[0][0] == 0
    assert any("disk is full" in message for _, message in running.logs)
    monkeypatch.setattr(store, "batch", real)
    assert running.post(delivery(ts=1))[0] == 200  # sent again, as PiAPI does: stored once
    assert running.names() == [("task.completed", "58cb41b7")]


def counted_batches(running: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of deliveries of each batch the listener stores from now on."""
    intake, sizes = running.listener.intake, []
    real = intake.receive_many

    def counting(items: list[Any]) -> list[tuple[int, str]]:
        sizes.append(len(items))
        return real(items)

    monkeypatch.setattr(running.listener.server, "receive_many", counting)
    return sizes


def test_a_whole_request_waits_for_those_of_the_next_moments_and_they_are_stored_together(
    make_listener, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # a long wait, as the next request might come any time: the batch is handed over when full
    running = make_listener(limits=ServerLimits(gather=60.0, gather_max=3))
    sizes = counted_batches(running, monkeypatch)
    conns = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(3)]
    try:
        first, *rest = conns
        first.sendall(request(delivery(task_id="task-0")))
        first.settimeout(0.3)
        with pytest.raises(TimeoutError):  # not answered alone: it waits for the others
            first.recv(1)
        for n, conn in enumerate(rest, 1):
            conn.sendall(request(delivery(task_id=f"task-{n}")))
        for conn in (first, *rest):
            conn.settimeout(10)
            assert answers(conn, 1) == [b"HTTP/1.1 200 OK"]
    finally:
        for conn in conns:
            conn.close()
    assert sizes == [3]  # one transaction for the three
    assert sorted(task for _, task in running.names()) == ["task-0", "task-1", "task-2"]


def test_a_client_that_half_closes_does_not_keep_the_wait_spinning(
    make_listener, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # the end of what a client sends stays readable: the wait for more requests must not take
    # it for news again and again until its deadline (a busy loop for every such delivery)
    running = make_listener(limits=ServerLimits(gather=30.0, gather_max=64))
    selector = running.listener.server._selector
    real, waits = selector.select, []

    def counted(timeout: float | None = None) -> Any:
        waits.append(timeout)
        return real(timeout)

    monkeypatch.setattr(selector, "select", counted)
    with socket.create_connection(("127.0.0.1", running.port)) as conn:
        conn.settimeout(10)
        before = len(waits)
        conn.sendall(request(delivery(task_id="half-closed")))
        conn.shutdown(socket.SHUT_WR)
        assert answers(conn, 1) == [b"HTTP/1.1 200 OK"]  # answered at once, not after the 30 s
        assert len(waits) - before < 20
    assert [task for _, task in running.names()] == ["half-clo"]


def test_answers_are_made_once_a_second_and_say_what_they_are_asked_to() -> None:
    now = [1_750_000_000.2]
    made = Answers(clock=lambda: now[0])
    first = made.make(200, "received")
    assert made.make(200, "received") is first  # the same second: made once
    assert first.startswith(b"HTTP/1.1 200 OK\r\ndate: Sun, 15 Jun 2025 15:06:40 GMT\r\n")
    assert first.endswith(b'\r\n\r\n{"ok": true, "message": "received"}')
    assert b"connection: close" in made.make(200, "received", close=True)
    assert made.make(500, "x").startswith(b"HTTP/1.1 500 ") and b'"ok": false' in made.make(500, "x")
    assert b"allow: POST\r\n" in made.make(405, "deliveries are POSTed", headers={"allow": "POST"})
    for n in range(100):  # refusals naming what they refuse: the answers kept stay few
        assert made.make(400, f"not a delivery {n}").endswith(f'"not a delivery {n}"}}'.encode())
    now[0] += 1
    later = made.make(200, "received")
    assert later != first and b"date: Sun, 15 Jun 2025 15:06:41 GMT" in later
