"""The API's own HTTP/1.1 connection (api/http11.py) against the worst servers and networks,
through the installed ``piapi`` where the command line matters: interim answers before the
answer, chunk sizes that are no hex, a Content-Length short of its body on a kept-alive
connection, JSON that is not UTF-8, a TLS server that never shakes hands (the call's deadline
holds from the connect on), a certificate nobody trusts, and SSL_CERT_FILE / SSL_CERT_DIR."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from piapi_cli.api import factory
from piapi_cli.api.client import Client
from piapi_cli.api.errors import CreateOutcomeUnknown
from tests.conftest import TEST_KEY, FakeClock
from tests.test_http_engine import TASK, TASK_JSON, Listening, Raw, answer, client, create, json_answer
from tests.test_promises import FLUX, journal_rows

OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
TASK_ID = TASK["data"]["task_id"]


def piapi(base: str, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """A run of the installed entry point; its result and how long it took."""
    installed = Path(sys.executable).with_name("piapi")
    command = [str(installed)] if installed.exists() else [sys.executable, "-m", "piapi_cli"]
    started = time.monotonic()
    result = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net only
        env={**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": base, **env},
    )
    return result, time.monotonic() - started


@pytest.fixture
def serve() -> Iterator[Callable[..., Raw]]:
    made: list[Raw] = []
    yield lambda *replies: made.append(Raw(*replies)) or made[-1]
    for server in made:
        server.close()


# --- interim answers, chunk sizes, lengths, encodings ----------------------------------------


@pytest.mark.parametrize("interim", [b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n",
                                     b"HTTP/1.1 102 Processing\r\n\r\n" * 3])  # fmt: skip
def test_a_create_answered_after_interim_answers_keeps_its_task(
    serve: Callable[..., Raw], isolated: Path, interim: bytes
) -> None:
    server = serve(interim + OK_HEAD + b"content-length: %d\r\n\r\n" % len(TASK_JSON) + TASK_JSON)
    result, _ = piapi(server.base, *FLUX)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == TASK_ID and [row[0] for row in journal_rows(isolated)] == [TASK_ID]
    assert server.posts() == 1


def test_an_answer_over_the_size_allowed_is_fetched_once(
    serve: Callable[..., Raw], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piapi_cli.api import client as client_module
    from piapi_cli.api.errors import MalformedResponse

    monkeypatch.setattr(client_module, "MAX_ANSWER", 1 << 20)
    server = serve(answer(200, b'{"data": "' + b"x" * (2 << 20) + b'"}', "content-type: application/json"))
    with client(server, clock) as made, pytest.raises(MalformedResponse, match="over 1 MiB"):
        made.get_task(TASK_ID)
    assert len(server.requests) == 1  # a read is retried on a network fault, not on an answer too large


@pytest.mark.parametrize("size", [b"-1e", b"+%x", b"0x%x", b"%x_0", b" ", b"1" * 17])
def test_a_chunk_size_that_is_no_hex_is_refused_and_the_create_not_resent(
    serve: Callable[..., Raw], clock: FakeClock, size: bytes
) -> None:
    size = size % len(TASK_JSON) if b"%" in size else size
    server = serve(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n" + size + b"\r\n" + TASK_JSON + b"\r\n0\r\n\r\n")
    with client(server, clock) as made, pytest.raises(CreateOutcomeUnknown) as caught:
        create(made)
    assert "not a chunk size" in caught.value.message and server.posts() == 1


def test_bytes_past_a_content_length_never_become_the_next_answer(serve: Callable[..., Raw], clock: FakeClock) -> None:
    # a kept-alive answer whose body is longer than it said: the connection is not reused, and
    # the create that follows is read from its own connection, not from the leftovers
    short = answer(200, TASK_JSON + b"HTTP/1.1 500 X\r\n\r\n", length=len(TASK_JSON), keep=True)
    server = serve(short, json_answer(200, TASK, keep=True))
    with client(server, clock) as made:
        assert made.get_task("t").task_id == TASK_ID
        assert getattr(create(made), "task_id", None) == TASK_ID
    assert server.connections == 2 and server.posts() == 1


def test_a_create_answered_in_json_that_is_not_utf8_keeps_its_task(serve: Callable[..., Raw], isolated: Path) -> None:
    body = json.dumps({**TASK, "message": "cr\u00e9\u00e9"}).encode().replace(b"\\u00e9", b"\xe9")  # Latin-1
    server = serve(answer(200, body, "content-type: application/json"))
    result, _ = piapi(server.base, *FLUX)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == TASK_ID and [row[0] for row in journal_rows(isolated)] == [TASK_ID]


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate (and its key beside it) for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(folder / "key.pem"),
         "-out", str(folder / "cert.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder / "cert.pem"


class TlsHost(Listening):
    """An https server on 127.0.0.1: answers every request with the task, keeping the connection
    alive (``shake=False``: accepts, and never shakes hands)."""

    scheme = "https"

    def __init__(self, certificate: Path, shake: bool = True) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate, certificate.with_name("key.pem"))
        self.shake, self.requests = shake, 0
        super().__init__()

    def _one(self, conn: socket.socket) -> None:
        if not self.shake:
            self.release.wait(60)
            conn.close()
            return
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                while True:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        if not (chunk := tls.recv(65536)):
                            return
                        data += chunk
                    self.requests += 1
                    tls.sendall(answer(200, TASK_JSON, "content-type: application/json", keep=True))
        except OSError:
            return


@pytest.fixture
def tls_host(certificate: Path) -> Iterator[Callable[..., TlsHost]]:
    made: list[TlsHost] = []
    yield lambda shake=True: made.append(TlsHost(certificate, shake)) or made[-1]
    for host in made:
        host.close()


def test_a_certificate_nobody_trusts_is_refused_once_with_what_to_do(
    tls_host: Callable[..., TlsHost], isolated: Path
) -> None:
    host = tls_host()
    result, _ = piapi(host.base, *FLUX)
    assert result.returncode == 5 and "Traceback" not in result.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr and "SSL_CERT_FILE" in result.stderr
    assert host.connections == 1 and host.requests == 0  # not tried again: it would fail alike
    assert journal_rows(isolated) == [(None, "not_sent")]


def test_ssl_cert_file_and_dir_trust_a_certificate_and_its_connection_is_kept_alive(
    tls_host: Callable[..., TlsHost], certificate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = tls_host()
    result, _ = piapi(host.base, "get", "t", SSL_CERT_FILE=str(certificate))
    assert result.returncode == 0, result.stderr
    named = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(certificate)], capture_output=True)
    (tmp_path / "dir").mkdir()
    shutil.copy(certificate, tmp_path / "dir" / f"{named.stdout.decode().strip()}.0")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    result, _ = piapi(host.base, "get", "t", SSL_CERT_DIR=str(tmp_path / "dir"))
    assert result.returncode == 0, result.stderr
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    factory.tls_context.cache_clear()
    try:
        with client_for(host.base) as made:
            for _ in range(3):
                assert made.get_task("t").task_id == TASK_ID
    finally:
        factory.tls_context.cache_clear()
    assert host.connections == 3 and host.requests == 5  # the last three on one connection


def client_for(base: str) -> Client:
    return Client(TEST_KEY, base, sleep=FakeClock().sleep)


@pytest.mark.parametrize("content", [None, b"not a certificate"], ids=["missing", "not-pem"])
def test_an_ssl_cert_file_that_cannot_be_read_is_a_config_error(
    tls_host: Callable[..., TlsHost], tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    result, _ = piapi(tls_host().base, "get", "t", SSL_CERT_FILE=str(path))
    assert result.returncode == 3, result.stderr
    assert f"SSL_CERT_FILE={path}" in result.stderr and "internal error" not in result.stderr


def test_a_server_that_never_shakes_hands_holds_no_call_past_its_deadline(
    tls_host: Callable[..., TlsHost], isolated: Path
) -> None:
    # the connect timeout is 10 s: each run ending well before it proves the deadline holds
    host = tls_host(shake=False)
    result, took = piapi(host.base, "get", "t", PIAPI_REQUEST_TIMEOUT="1")
    assert result.returncode == 5 and "Traceback" not in result.stderr, result.stderr
    assert took < 8
    result, took = piapi(host.base, *FLUX, "--wait", "--timeout", "1")
    assert result.returncode == 5 and took < 8, result.stderr
    assert journal_rows(isolated) == [(None, "not_sent")]  # the create never left
