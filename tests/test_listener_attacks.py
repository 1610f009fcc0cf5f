"""The listener's one thread against hostile clients: a head that breaks the parser, requests
pipelined while others are stored, more connections than the process may open, a head dripped
byte by byte, and the signals that stop it with connections open."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.core.listener.http1 import head_end
from piapi_cli.core.listener.receiver import DeliveryServer
from tests.test_listener import SECRET, delivery, lines_of, make_listener, wait_until
from tests.test_listener_http import answers, request

SHARED_FIXTURES = (make_listener,)  # test_listener.py's, used here by name


def read_to_end(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize(
    "head",
    [
        b"POST http://[x HTTP/1.1\r\n\r\n",  # a target urlsplit refuses, before any secret is asked
        request(delivery()).replace(b"content-length: ", b"content-length: \xb2", 1),  # '\xb2'.isdigit()
    ],
)
def test_a_head_that_breaks_the_parser_is_refused_and_the_listener_serves_on(make_listener, head: bytes) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    with socket.create_connection(("127.0.0.1", running.port)) as conn:
        conn.settimeout(30)  # (a guard against a hang)
        conn.sendall(head)
        assert read_to_end(conn).startswith(b"HTTP/1.1 400")
    assert running.post(delivery())[0] == 200  # the one thread that serves everyone is still there


def test_a_body_framed_by_transfer_encoding_is_refused_whatever_its_coding(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    for coding in (b"chunked", b"identity", b"gzip, chunked"):
        smuggled = request(delivery()).replace(b"host: x\r\n", b"transfer-encoding: " + coding + b"\r\n")
        with socket.create_connection(("127.0.0.1", running.port)) as conn:
            conn.settimeout(30)
            conn.sendall(smuggled)
            assert read_to_end(conn).startswith(b"HTTP/1.1 411"), coding
    assert running.names() == []


def test_a_request_pipelined_while_others_are_stored_is_taken_once(tmp_path: Path) -> None:
    """A, B in one write, C while A is being stored: B was whole twice (parsed from the buffer,
    then read again), taken twice, and C's head read as B's second body: C was refused, lost."""
    taken: list[bytes] = []
    storing, go_on = threading.Event(), threading.Event()

    def receive_many(items: list[tuple[Mapping[str, str], bytes]]) -> list[tuple[int, str]]:
        if not taken:
            storing.set()
            assert go_on.wait(30)
        taken.extend(body for _, body in items)
        return [(200, "received")] * len(items)

    server = DeliveryServer(("127.0.0.1", 0), path="/webhook", authorise=lambda s: s == SECRET,
                            receive=lambda h, b: (500, "unused"), receive_many=receive_many,
                            report=lambda level, message: None)  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bodies = [delivery(ts=n) for n in range(3)]
    try:
        with socket.create_connection(server.server_address[:2]) as conn:
            conn.settimeout(30)
            conn.sendall(request(bodies[0]) + request(bodies[1]))
            assert storing.wait(30)
            conn.sendall(request(bodies[2]))  # on loopback: in the listener's socket when sendall returns
            go_on.set()
            assert answers(conn, 3) == [b"HTTP/1.1 200 OK"] * 3
        wait_until(lambda: len(taken) >= 3)
        assert [json.loads(body)["timestamp"] for body in taken] == [0, 1, 2]
        assert server._busy == 0
    finally:
        server.close_gracefully(1)
        thread.join(30)


def test_a_client_reset_after_pipelining_leaves_the_listener_serving() -> None:
    """A and B in one write, the client reset right after A's answer: B, whole in the buffer, was
    handed over after its connection was gone, and the one thread serving everyone died on it."""
    taken: list[bytes] = []

    def receive_many(items: list[tuple[Mapping[str, str], bytes]]) -> list[tuple[int, str]]:
        taken.extend(body for _, body in items)
        return [(200, "received")] * len(items)

    server = DeliveryServer(("127.0.0.1", 0), path="/webhook", authorise=lambda s: s == SECRET,
                            receive=lambda h, b: (500, "unused"), receive_many=receive_many,
                            report=lambda level, message: None)  # fmt: skip
    client = socket.create_connection(server.server_address[:2])
    answer = server._answer

    def answer_then_reset(conn: Any, status: int, message: str, **options: Any) -> None:
        answer(conn, status, message, **options)
        if client.fileno() >= 0:  # a reset, in the listener's socket when close returns (loopback)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()

    server._answer = answer_then_reset  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client.sendall(request(delivery(ts=0)) + request(delivery(ts=1)))
        wait_until(lambda: client.fileno() < 0)
        with socket.create_connection(server.server_address[:2]) as other:
            other.settimeout(30)
            other.sendall(request(delivery(ts=2)))
            assert answers(other, 1) == [b"HTTP/1.1 200 OK"]
        assert [json.loads(body)["timestamp"] for body in taken] == [0, 2]  # B: nobody to answer
        assert server._busy == 0
    finally:
        server.close_gracefully(1)
        thread.join(30)


def test_a_head_dripped_byte_by_byte_is_searched_once() -> None:
    head = b"POST /webhook HTTP/1.1\nhost: x\nx-a: b\r\n\r\nbody"
    searched, end = 0, -1
    for size in range(1, len(head) + 1):
        end = head_end(head[:size], searched)
        if end >= 0:
            break
        searched = size
    assert end == head.index(b"body")
    assert head_end(b"POST / HTTP/1.1\nhost: x\n\r\nbody") == len(b"POST / HTTP/1.1\nhost: x\n\r\n")  # LF, then CRLF


def listen(
    tmp_path: Path, *extra: str, files: int | None = None, nohup: bool = False
) -> tuple[subprocess.Popen[str], int, Any]:
    """``piapi listen --port 0`` (allowed ``files`` descriptors; ``nohup``: started with SIGHUP
    ignored, as `nohup` starts it): the process, its port, its stderr lines."""
    env = {**os.environ, "PIAPI_CONFIG_DIR": str(tmp_path / "c"), "PIAPI_DATA_DIR": str(tmp_path / "d")}
    limit = None if files is None else (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (files, files)))
    if nohup:
        limit = lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)  # noqa: E731
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "listen", "--port", "0", "--secret", SECRET, "--backstop", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=limit,
    )  # fmt: skip
    assert process.stderr is not None
    notes = lines_of(process.stderr)
    seen = []
    while "receiving deliveries at" not in (line := notes.get(timeout=60)):
        seen.append(line)
    for note in seen:
        notes.put(note)
    return process, int(line.split("127.0.0.1:")[1].split("/")[0]), notes


def test_more_connections_than_the_process_may_open_get_503_and_it_says_why(tmp_path: Path) -> None:
    """At ulimit -n 100, accept() failed with EMFILE: the listening socket stayed ready, the loop
    spun at full CPU, and the connections over the limit waited unanswered, deliveries among them."""
    process, port, notes = listen(tmp_path, files=100)
    held: list[socket.socket] = []
    try:
        for _ in range(150):
            conn = socket.create_connection(("127.0.0.1", port), timeout=30)
            held.append(conn)
        stderr = "".join(notes.get(timeout=5) for _ in range(notes.qsize()))  # what came before it listened
        assert "ulimit -n" in stderr and "connections at once" in stderr
        room = int(stderr.split("at most ")[1].split()[0])
        for conn in held[room:]:  # accepted in the order they came: these are over what it holds
            assert conn.recv(100).startswith(b"HTTP/1.1 503")
        for conn in held[:room]:  # held: idle connections it serves
            conn.setblocking(False)
            with pytest.raises(BlockingIOError):
                conn.recv(1)
        for conn in held:
            conn.close()
        held.clear()
        body = json.dumps(delivery()).encode()
        wait_until(lambda: _post(port, body) == 200, timeout=60)  # the held ones closed: served again
    finally:
        for conn in held:
            conn.close()
        process.kill()
        process.wait()


def _post(port: int, body: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request(json.loads(body)))
        return int(conn.recv(100).split(b" ")[1])


def test_out_of_descriptors_it_stops_asking_for_connections_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of descriptors for another reason (the journal, --exec): no loop at full CPU."""
    logs: list[str] = []
    server = DeliveryServer(("127.0.0.1", 0), path="/webhook", authorise=lambda s: True,
                            receive=lambda h, b: (200, "ok"), report=lambda level, message: logs.append(message))  # fmt: skip
    accepts: list[float] = []

    class Full:
        def __init__(self, real: socket.socket) -> None:
            self.real = real

        def accept(self) -> tuple[socket.socket, Any]:
            accepts.append(time.monotonic())
            raise OSError(errno.EMFILE, "Too many open files")

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    server.socket = Full(server.socket)  # type: ignore[assignment]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = socket.create_connection(server.server_address[:2])
        wait_until(lambda: len(accepts) >= 3, timeout=60)  # asked again, a while after each refusal
        gaps = [b - a for a, b in zip(accepts, accepts[1:], strict=False)]
        assert min(gaps[:2]) >= 0.2  # not again and again: it waits for a descriptor to be freed
        assert sum("out of file descriptors" in message for message in logs) == 1  # said once
        client.close()
    finally:
        server.close_gracefully(1)
        thread.join(30)


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"),
                                                   (signal.SIGHUP, 129, "terminated"),
                                                   (signal.SIGINT, 130, "interrupted")])  # fmt: skip
def test_a_signal_stops_the_listener_with_connections_open_and_its_exit_code(
    tmp_path: Path, sig: int, code: int, word: str
) -> None:
    process, port, notes = listen(tmp_path)
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(20)]
    try:
        held[0].sendall(request(delivery())[:40])  # half a head
        body = json.dumps(delivery(ts=7)).encode()
        assert _post(port, body) == 200
        process.send_signal(sig)
        assert process.wait(timeout=60) == code
        assert process.stdout is not None
        assert [json.loads(line)["timestamp"] for line in process.stdout] == [7]
        stderr = "".join(notes.get(timeout=5) for _ in range(notes.qsize()))
        assert "stopped; 1 events" in stderr and word in stderr and "Traceback" not in stderr
    finally:
        for conn in held:
            conn.close()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_listener_started_under_nohup_outlives_a_closed_terminal(tmp_path: Path) -> None:
    # `nohup piapi listen &`: the hangup of the terminal it was started from is ignored, as
    # nohup asks (it stopped the listener: its own handlers replaced the ignored disposition)
    process, port, notes = listen(tmp_path, nohup=True)
    try:
        process.send_signal(signal.SIGHUP)
        assert _post(port, json.dumps(delivery(ts=8)).encode()) == 200  # still receiving
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)  # what is not ignored still stops it, gracefully
        assert process.wait(timeout=60) == 143
        assert process.stdout is not None
        assert [json.loads(line)["timestamp"] for line in process.stdout] == [8]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


BROKEN_SERVER = """
import sys
from piapi_cli.core.listener.receiver import DeliveryServer
def broken(self, now):
    raise RuntimeError("a bug")
DeliveryServer._expire = broken  # run once a second, whatever comes
from piapi_cli.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_server_that_fails_ends_listen_with_an_error_not_a_process_that_answers_nobody(tmp_path: Path) -> None:
    """The thread serving every connection ended on an exception while the process lived on,
    looking alive to a supervisor, refusing every delivery."""
    env = {**os.environ, "PIAPI_CONFIG_DIR": str(tmp_path / "c"), "PIAPI_DATA_DIR": str(tmp_path / "d")}
    command = [sys.executable, "-c", BROKEN_SERVER, "listen", "--port", "0", "--secret", SECRET, "--backstop", "0"]
    try:  # (the timeout: a guard against the hang it tests)
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("listen went on with nothing serving")
    assert done.returncode == 1
    assert "HTTP server failed (RuntimeError: a bug)" in done.stderr and "Traceback" not in done.stderr


def test_a_client_that_half_closes_after_its_requests_still_gets_every_answer(tmp_path: Path) -> None:
    """`printf ... | nc -N`, an HTTP/1.0 client: the request, then the end of what it sends
    (shutdown SHUT_WR), then it reads the answer. The end came while the whole request waited
    for others to join its batch, read as a client gone away: the connection was closed, the
    delivery neither stored nor answered."""
    process, port, notes = listen(tmp_path)
    try:
        for n in range(5):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
                conn.sendall(request(delivery(task_id=f"half-{n}", ts=n)))
                conn.shutdown(socket.SHUT_WR)
                assert read_to_end(conn).startswith(b"HTTP/1.1 200 OK"), n
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:  # two pipelined, then the end
            conn.sendall(request(delivery(task_id="half-5", ts=5)) + request(delivery(task_id="half-6", ts=6)))
            conn.shutdown(socket.SHUT_WR)
            assert answers(conn, 2) == [b"HTTP/1.1 200 OK"] * 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143
        assert process.stdout is not None
        assert [json.loads(line)["timestamp"] for line in process.stdout] == list(range(7))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
