"""The sandbox over real HTTP on 127.0.0.1 (ephemeral ports), and what it does when clients
misbehave: oversized, lying or half-sent requests, idle connections, clients that leave."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from piapi_cli.api.client import Client
from piapi_cli.api.errors import ConnectionFailed
from piapi_cli.sandbox import Emulator, Faults, MemoryStore
from piapi_cli.sandbox.server import SandboxServer
from tests.conftest import FakeClock


@pytest.fixture
def server(clock: FakeClock) -> Iterator[SandboxServer]:
    emulator = Emulator(MemoryStore(), clock=clock)
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False) as running:
        yield running


def raw(server: SandboxServer, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """A plain http.client call, as code written for api.piapi.ai would make it."""
    host, port = server.httpd.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=10)
    payload = json.dumps(body) if body is not None else None
    connection.request(method, path, body=payload, headers={"x-api-key": "my-key", "content-type": "application/json"})
    response = connection.getresponse()
    document = json.loads(response.read())
    connection.close()
    return response.status, document


def test_plain_http_client_works_with_only_the_base_url_changed(server: SandboxServer, clock: FakeClock) -> None:
    status, created = raw(server, "POST", "/api/v1/task",
                          {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "a cat"}})  # fmt: skip
    assert status == 200 and created["data"]["status"] == "pending"
    clock.sleep(60)
    status, got = raw(server, "GET", f"/api/v1/task/{created['data']['task_id']}")
    url = got["data"]["output"]["image_url"]
    assert url.startswith(server.base_url + "/files/")
    image = httpx.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png" and image.content[:4] == b"\x89PNG"
    assert raw(server, "GET", "/account/info")[1]["data"]["plan"] == "sandbox"


def test_the_cli_against_the_server(server: SandboxServer, clock: FakeClock) -> None:
    env = {**os.environ, "PIAPI_BASE_URL": server.base_url, "PIAPI_API_KEY": "any-key"}
    command = [sys.executable, "-m", "piapi_cli"]
    created = subprocess.run([*command, "create", "-m", "midjourney", "-t", "imagine", "-i", "prompt=x"],
                             capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert created.returncode == 0, created.stderr
    clock.sleep(60)
    got = subprocess.run([*command, "get", created.stdout.strip()], capture_output=True, text=True, env=env, timeout=60)
    assert got.returncode == 0 and len(got.stdout.splitlines()) == 5


def test_dropped_connections_are_retried_then_reported(clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, faults=Faults(drop_rate=1.0))
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False) as running:
        with Client("k", running.base_url, sleep=clock.sleep) as client, pytest.raises(ConnectionFailed):
            client.account_info()
    assert len(emulator.requests) == 4  # the first try and three retries


def test_truncated_download_is_cut_short_over_http(server: SandboxServer, clock: FakeClock) -> None:
    _, created = raw(server, "POST", "/api/v1/task",
                     {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "a cat"}})  # fmt: skip
    clock.sleep(60)
    url = raw(server, "GET", f"/api/v1/task/{created['data']['task_id']}")[1]["data"]["output"]["image_url"]
    whole = httpx.get(url).content
    server.emulator.faults.truncate_downloads = True
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url, headers={"range": "bytes=100-"})
    server.emulator.faults.truncate_downloads = False
    assert httpx.get(url).content == whole


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_and_stops_cleanly(stop: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(url + "/account/info", headers={"x-api-key": "k"})
        assert answer.status_code == 200 and answer.json()["data"]["plan"] == "sandbox"
        process.send_signal(stop)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0 and "stopped" in err and "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("quiet", [False, True])
def test_serve_logs_one_line_per_answer_and_every_line_before_it_stops(quiet: bool) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", "0", *(["--quiet"] if quiet else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        with httpx.Client(base_url=url, headers={"x-api-key": "k"}) as client:
            statuses = [client.get("/account/info").status_code for _ in range(200)]
            statuses.append(client.get("/api/v1/task/no-such-task").status_code)
        process.send_signal(signal.SIGTERM)  # at once: lines still queued are written before the exit
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert statuses == [200] * 200 + [404]
    answered = [line for line in err.splitlines() if '"GET /' in line]
    if quiet:
        assert answered == []
    else:
        assert len(answered) == 201 and all(re.match(r"\d\d:\d\d:\d\d 127\.0\.0\.1 ", line) for line in answered)
        assert answered[0].endswith('"GET /account/info HTTP/1.1" 200 ' + answered[0].rsplit(" ", 1)[1])
        assert '"GET /api/v1/task/no-such-task HTTP/1.1" 404 ' in answered[-1]


def test_ctrl_c_before_the_loop_begins_still_stops_the_server(clock: FakeClock) -> None:
    """Ctrl-C can land between the start of ``serve_forever`` and its loop: stopping then must
    not wait for a loop that never runs (``piapi sandbox serve`` hung there)."""
    server = SandboxServer(Emulator(MemoryStore(), clock=clock, sleep=clock.sleep), port=0)
    assert server.dispatcher is not None

    def interrupted() -> None:
        raise KeyboardInterrupt

    server.dispatcher.start = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        server.serve_forever()
    stopping = threading.Thread(target=server.stop, daemon=True)
    stopping.start()
    stopping.join(timeout=60)  # (a guard against a hang, not a time limit: it returns at once)
    assert not stopping.is_alive()
    assert server.httpd.socket.fileno() == -1  # its socket is closed (the port may be anyone's now)


def test_serve_refuses_a_busy_port(server: SandboxServer) -> None:
    port = str(server.httpd.server_address[1])
    result = subprocess.run([sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", port],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "cannot listen" in result.stderr and "Traceback" not in result.stderr


# --- limits: the server stays up whatever a client sends ------------------------------------


@pytest.fixture
def strict(clock: FakeClock) -> Iterator[SandboxServer]:
    """A server with small limits: 64 KiB bodies, 0.3 s of silence."""
    emulator = Emulator(MemoryStore(), clock=clock)
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False, max_body=64 * 1024, timeout=0.3) as running:
        yield running


def connect(server: SandboxServer) -> socket.socket:
    host, port = server.httpd.server_address[:2]
    return socket.create_connection((str(host), int(port)), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def answer_of(data: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


POST_HEAD = "POST /api/v1/task HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\ncontent-type: application/json\r\n"


@pytest.mark.parametrize("expect", ["", "Expect: 100-continue\r\n"])
def test_a_body_over_the_limit_gets_413_before_it_is_read(strict: SandboxServer, expect: str) -> None:
    with connect(strict) as sock:
        # 300 MB announced, none of it sent: the answer comes at once, nothing is buffered
        sock.sendall(f"{POST_HEAD}Content-Length: 300000000\r\n{expect}\r\n".encode())
        status, headers, body = answer_of(read_all(sock))
    assert status == 413 and headers["connection"] == "close" and headers["content-type"] == "application/json"
    assert body["code"] == 413 and "65536" in body["message"]
    assert strict.emulator.requests == []  # never reached the API


def test_a_body_within_the_limit_is_invited_with_100_continue(strict: SandboxServer) -> None:
    body = json.dumps({"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "x"}}).encode()
    with connect(strict) as sock:
        sock.sendall(
            f"{POST_HEAD}Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        status, _, answer = answer_of(read_all(sock))
    assert status == 200 and answer["data"]["status"] == "pending"


def test_a_refused_body_being_sent_still_gets_its_answer(strict: SandboxServer) -> None:
    with connect(strict) as sock:
        sock.sendall(f"{POST_HEAD}Content-Length: 2000000\r\n\r\n".encode() + b"x" * 200_000)
        status, _, _ = answer_of(read_all(sock))
    assert status == 413


def test_a_body_within_the_limit_is_served(strict: SandboxServer) -> None:
    with httpx.Client(base_url=strict.base_url, headers={"x-api-key": "k"}) as client:
        padded = {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "x" * 60_000}}
        assert client.post("/api/v1/task", json=padded).status_code == 200
        padded["input"]["prompt"] = "x" * 70_000
        refused = client.post("/api/v1/task", json=padded)
        assert refused.status_code == 413 and refused.json()["code"] == 413


def test_the_default_limit_takes_the_largest_upload(server: SandboxServer) -> None:
    assert server.httpd.max_body == 16 * 1024 * 1024
    data = base64.b64encode(bytes(10 * 1024 * 1024)).decode()
    answer = httpx.post(server.base_url + "/api/ephemeral_resource", headers={"x-api-key": "k"},
                        json={"file_name": "big.png", "file_data": "data:image/png;base64," + data}, timeout=30)  # fmt: skip
    assert answer.status_code == 200 and answer.json()["data"]["url"].startswith(server.base_url)


@pytest.mark.parametrize("length", ["abc", "-1", "+5", "1e3", "5, 6", "²", "5\r\nContent-Length: 6", "9" * 40])
def test_an_invalid_content_length_gets_400(strict: SandboxServer, length: str) -> None:
    with connect(strict) as sock:
        sock.sendall(f"{POST_HEAD}Content-Length: {length}\r\n\r\n{{}}".encode())
        status, headers, body = answer_of(read_all(sock))
    assert (status, body["code"]) in ((400, 400), (413, 413)) and headers["connection"] == "close"
    assert status == (413 if length == "9" * 40 else 400)


def test_a_chunked_body_is_refused_with_411(strict: SandboxServer) -> None:
    with connect(strict) as sock:
        sock.sendall(f"{POST_HEAD}Transfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n".encode())
        status, _, body = answer_of(read_all(sock))
    assert status == 411 and "Content-Length" in body["message"]


def test_a_malformed_request_gets_the_api_error_envelope(strict: SandboxServer) -> None:
    with connect(strict) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, _, body = answer_of(read_all(sock))
    assert status == 400 and body["code"] == 400


@pytest.mark.parametrize("sent", [
    b"",  # connected, then silent
    b"GET /account/info HTTP/1.1\r\nHost: x\r\n",  # headers never finished
])  # fmt: skip
def test_idle_and_half_sent_connections_are_closed(strict: SandboxServer, sent: bytes) -> None:
    with connect(strict) as sock:
        sock.sendall(sent)
        assert read_all(sock) == b""  # closed by the server after its 0.3 s timeout, no answer


def test_a_body_that_stops_arriving_gets_408_and_a_close(strict: SandboxServer) -> None:
    with connect(strict) as sock:
        sock.sendall(f'{POST_HEAD}Content-Length: 100\r\n\r\n{{"model"'.encode())
        status, headers, body = answer_of(read_all(sock))
    assert status == 408 and headers["connection"] == "close" and body["code"] == 408
    assert strict.emulator.requests == []


class Records(logging.Handler):
    """Log records of the sandbox, with a way to wait for one."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.lines.append(record.getMessage() + ("\n" + record.exc_text if record.exc_text else ""))
            self.changed.notify_all()

    def wait_for(self, text: str, timeout: float = 10) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: any(text in line for line in self.lines), timeout)


@pytest.fixture
def records() -> Iterator[Records]:
    logger = logging.getLogger("piapi.sandbox")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_client_leaving_mid_file_is_one_log_line(
    server: SandboxServer, clock: FakeClock, records: Records, capfd: pytest.CaptureFixture[str]
) -> None:
    _, created = raw(server, "POST", "/api/v1/task", {"model": "Qubico/flux1-dev", "task_type": "txt2img",
                                                      "input": {"prompt": "big [sandbox:bytes=50000000]"}})  # fmt: skip
    task_id = created["data"]["task_id"]
    clock.sleep(60)
    with connect(server) as sock:
        sock.sendall(f"GET /files/{task_id}/0.png HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    assert records.wait_for("went away mid-answer")
    assert raw(server, "GET", "/account/info")[0] == 200  # still serving
    gone = [line for line in records.lines if task_id in line or "went away" in line]
    assert len(gone) == 1 and "Traceback" not in gone[0] and "of 50000000 bytes sent" in gone[0]
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_leaving_mid_request_is_one_log_line(
    strict: SandboxServer, records: Records, capfd: pytest.CaptureFixture[str]
) -> None:
    with connect(strict) as sock:  # a third of the body, then the end of what it sends
        sock.sendall(f"{POST_HEAD}Content-Length: 300\r\n\r\n".encode() + b"x" * 100)
        sock.shutdown(socket.SHUT_WR)
        assert read_all(sock) == b""
    with connect(strict) as sock:  # half a request line, then a reset
        sock.sendall(b"GET /account/in")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert records.wait_for("100 of 300 bytes of body sent") and records.wait_for("ConnectionResetError")
    assert raw(strict, "GET", "/account/info")[0] == 200  # still serving
    assert strict.emulator.requests == [("GET", "/account/info")]
    assert "Traceback" not in capfd.readouterr().err and not any("Traceback" in line for line in records.lines)


def test_a_dropped_answer_is_logged_as_dropped_not_200(clock: FakeClock, records: Records) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, faults=Faults(drop_rate=1.0))
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False) as running:
        with pytest.raises(httpx.HTTPError):
            httpx.get(running.base_url + "/account/info", headers={"x-api-key": "k"})
        assert records.wait_for("dropped")
    logged = [line for line in records.lines if "/account/info" in line]
    assert len(logged) == 1 and "dropped: a 200 answer cut after" in logged[0] and '" 200 ' not in logged[0]


def test_serve_refuses_a_max_body_that_is_not_a_size(cli: Any) -> None:
    for bad in ("lots", "12X", "100"):
        result = cli("sandbox", "serve", "--port", "0", "--max-body", bad)
        assert result.exit_code == 2 and "--max-body" in result.stderr


# --- reading the head without the email package ------------------------------------------

HEAD_BLOCKS = [
    b"Host: x\r\nX-Api-Key: k\r\n",
    b"host:x\r\nx-api-key:   k  \r\n",  # no blank after the colon; blanks after the value kept
    b"A: 1\r\na: 2\r\nContent-Length: 5\r\ncontent-length: 6\r\n",  # repeats, any case
    b"X-Long: one\r\n  two\r\n\tthree\r\nY: 4\r\n",  # folded lines
    b"X: caf\xe9\r\nY: \xff\xfe\r\n",  # latin-1 bytes
    b"X: 1\r\nnot a header line\r\nY: 2\r\n",  # the first line that is no field ends the fields
    b"Bad Name: 1\r\nY: 2\r\n",
    b"X: 1\nY: 2\n",  # bare LF line ends
    b"X:\r\nY: \r\n",  # empty values
    b"X-Colons: a:b:c\r\n",
    b"\x01weird: 1\r\n",
    b"",
]


@pytest.mark.parametrize("block", HEAD_BLOCKS)
def test_the_head_reads_as_http_server_s_email_parser_reads_it(block: bytes) -> None:
    import io

    from piapi_cli.sandbox.heads import RequestHeaders

    expected = http.client.parse_headers(io.BytesIO(block + b"\r\n"))
    lines = [line for line in io.BytesIO(block).readlines()]
    got = RequestHeaders.read(lines)
    assert got.items() == expected.items()
    for name in ("x", "X", "y", "a", "content-length", "x-api-key", "host", "x-long", "missing"):
        assert got.get(name) == expected.get(name)
        assert got.get_all(name) == expected.get_all(name)
    assert dict(got.items()) == dict(expected.items())  # what the emulator is handed


def _exchange(server: SandboxServer, data: bytes) -> bytes:
    host, port = server.httpd.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_header_line_too_long_or_too_many_headers_get_431_in_the_envelope(server: SandboxServer) -> None:
    long_line = _exchange(server, b"GET /account/info HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n")
    assert long_line.startswith(b"HTTP/1.1 431 ") and b'"Line too long"' in long_line
    many = b"".join(b"X-%d: 1\r\n" % n for n in range(101))
    too_many = _exchange(server, b"GET /account/info HTTP/1.1\r\n" + many + b"\r\n")
    assert too_many.startswith(b"HTTP/1.1 431 ") and b'"Too many headers"' in too_many
    close = b"GET /account/info HTTP/1.1\r\nx-api-key: k\r\nconnection: close\r\n"
    # as http.client counts: the blank line that ends the head is one of the 100
    over = _exchange(server, close + b"".join(b"X-%d: 1\r\n" % n for n in range(98)) + b"\r\n")
    assert over.startswith(b"HTTP/1.1 431 ")
    fine = _exchange(server, close + b"".join(b"X-%d: 1\r\n" % n for n in range(97)) + b"\r\n")
    assert fine.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"GET /account/info HTTP/2.0", b"505"),
        (b"GET /account/info HTTP/1.x", b"400"),
        (b"GET /account/info FTP/1.1", b"400"),
        (b"GET /account/info HTTP/1.1 extra", b"400"),
        (b"POST /api/v1/task", b"400"),  # HTTP/0.9 knows only GET
    ],
)
def test_a_bad_request_line_is_refused_in_the_envelope(server: SandboxServer, line: bytes, status: bytes) -> None:
    answer = _exchange(server, line + b"\r\nx-api-key: k\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == status and json.loads(body)["code"] == int(status)


def test_keep_alive_follows_the_version_and_the_connection_header(server: SandboxServer) -> None:
    request = b"GET /account/info HTTP/1.1\r\nx-api-key: k\r\n\r\n"
    host, port = server.httpd.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as sock:
        sock.sendall(request + request)  # kept alive: both answered on one connection
        data = b""
        while data.count(b"HTTP/1.1 200 ") < 2:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    closed = _exchange(server, b"GET /account/info HTTP/1.1\r\nx-api-key: k\r\nConnection: Close\r\n\r\n")
    assert closed.startswith(b"HTTP/1.1 200 ")  # (_exchange reads until the server closes)
    old = _exchange(server, b"GET /account/info HTTP/1.0\r\nx-api-key: k\r\n\r\n")
    assert b" 200 " in old.split(b"\r\n")[0]
    date = re.search(rb"(?im)^date: (.+)\r$", closed)
    assert date and date.group(1).endswith(b" GMT")


# --- odd heads: a CR alone, a From line, a field without a name, a leading fold ------------

ODD_HEADS = [
    b"X: 1\rY: 2\r\n",  # a CR alone ends a line for the email parser
    b"Content-Length: 5\rjunk\r\n",
    b"X: 1\r\n \rY: 2\r\n",  # a fold whose CR ends it
    b"From someone\r\nX: 1\r\n",  # a mailbox's "From " line: skipped, not the end of the fields
    b"X: 1\r\nFrom someone\r\nY: 2\r\n",
    b"X: 1\r\nFrom someone\r\n folded\r\nY: 2\r\n",  # (its folds are dropped with it)
    b": no name\r\nX: 1\r\n",  # an empty name: that line skipped, the fields go on
    b"X: 1\r\n: no name\r\n folded\r\nY: 2\r\n",
    b" folded first\r\nX: 1\r\n",  # a fold with nothing to continue: skipped
    b"\tfolded first\r\nX: 1\r\n",
    b"X: 1\r\r\nY: 2\r\n",  # "\r" then "\r\n": a blank line, the fields end there
]


@pytest.mark.parametrize("block", ODD_HEADS)
def test_odd_head_lines_read_as_the_email_parser_reads_them(block: bytes) -> None:
    import io

    expected = http.client.parse_headers(io.BytesIO(block + b"\r\n"))
    from piapi_cli.sandbox.heads import RequestHeaders

    got = RequestHeaders.read(io.BytesIO(block).readlines())
    assert got.items() == expected.items()
    for name in ("x", "y", "content-length", "from"):
        assert got.get(name) == expected.get(name) and got.get_all(name) == expected.get_all(name)


def test_a_from_line_in_the_head_does_not_hide_the_headers_after_it(server: SandboxServer) -> None:
    # http.server's parser skipped the line: the key and the Connection header still counted
    answer = _exchange(server, b"GET /account/info HTTP/1.1\r\nFrom me\r\nx-api-key: k\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_body_announced_after_an_odd_line_is_read_as_the_body(server: SandboxServer) -> None:
    # with the Content-Length lost, the body would be taken for the next request on the connection
    body = json.dumps({"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "a cat"}}).encode()
    head = b"POST /api/v1/task HTTP/1.1\r\nx-api-key: k\r\n: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
    answer = _exchange(server, head % len(body) + body)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1 ") == 1
