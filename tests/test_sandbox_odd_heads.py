"""Odd heads (a CR alone, a From line, a field without a name, a leading fold) read by the
sandbox server as http.server's email parser read them. Real HTTP on 127.0.0.1 only."""

from __future__ import annotations

import http.client
import io
import json
import socket
from collections.abc import Iterator

import pytest

from piapi_cli.sandbox import Emulator, MemoryStore
from piapi_cli.sandbox.heads import RequestHeaders
from piapi_cli.sandbox.server import SandboxServer
from tests.conftest import FakeClock

# --- the head, as http.server + http.client.parse_headers (the email parser) read it ----------

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
    expected = http.client.parse_headers(io.BytesIO(block + b"\r\n"))
    got = RequestHeaders.read(io.BytesIO(block).readlines())
    assert got.items() == expected.items()
    for name in ("x", "y", "content-length", "from"):
        assert got.get(name) == expected.get(name) and got.get_all(name) == expected.get_all(name)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[SandboxServer]:
    with SandboxServer(Emulator(MemoryStore(), clock=clock), "127.0.0.1", 0, webhooks=False) as running:
        yield running


def _exchange(server: SandboxServer, data: bytes) -> bytes:
    host, port = server.httpd.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


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
