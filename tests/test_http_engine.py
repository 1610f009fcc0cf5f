"""The client's promises on the network path: without a transport handed in, the API client
talks through its own HTTP/1.1 connection (api/http.py, api/http11.py), so each answer a
hostile server can give is sent here over a real socket on 127.0.0.1, byte for byte: what a
create proves, what is retried, the size cap, encodings, lies about lengths, hangs, refused
connections; what ``http.client`` accepted is accepted (100 Continue, HTTP/1.0, a body to the
close, chunk extensions and trailers, folded headers), what it refused is refused (endless
headers, lines over 64 KiB, a status line that is no HTTP, a chunk longer than it said)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import zlib
from collections.abc import Callable, Iterator

import pytest

from piapi_cli.api import client as client_module
from piapi_cli.api.backoff import Backoff
from piapi_cli.api.client import Client
from piapi_cli.api.errors import (
    APIStatusError,
    AuthenticationError,
    ConnectionFailed,
    CreateOutcomeUnknown,
    MalformedResponse,
    NotFoundError,
    RateLimitError,
    UsageError,
)
from piapi_cli.api.http11 import split_url
from tests.conftest import TEST_KEY, FakeClock, fixture

TASK = fixture("flux-img2img-created.json")
TASK_JSON = json.dumps(TASK).encode()


def answer(status: int, body: bytes, *headers: str, length: int | None = None, keep: bool | None = False) -> bytes:
    """A raw HTTP/1.1 answer; ``length`` may lie about the body. The server closes the
    connection after it, saying so, unless ``keep`` (None: it closes without a word)."""
    lines = [f"HTTP/1.1 {status} X", f"content-length: {len(body) if length is None else length}", *headers]
    if keep is not None:
        lines.append("connection: keep-alive" if keep else "connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def json_answer(status: int, doc: object, *headers: str, keep: bool | None = False) -> bytes:
    return answer(status, json.dumps(doc).encode(), "content-type: application/json", *headers, keep=keep)


class Listening:
    """A server on 127.0.0.1 (``base``) that serves each connection on a thread of its own
    (``_one``); ``release`` ends what waits for it, ``close`` stops it."""

    scheme = "http"

    def __init__(self) -> None:
        self.connections = 0
        self.release = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base = f"{self.scheme}://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.release.set()
        self.sock.close()


class Raw(Listening):
    """A server on 127.0.0.1 that writes each answer byte for byte from a script (the last
    one repeats; None hangs) and records every request it read. It closes the connection
    after an answer unless the answer says keep-alive."""

    def __init__(self, *replies: bytes | None) -> None:
        self.replies = list(replies)
        self.requests: list[bytes] = []
        self.closed = threading.Semaphore(0)  # released as each connection is closed
        super().__init__()

    def _one(self, conn: socket.socket) -> None:
        try:
            self._answer(conn)
        finally:
            conn.close()
            self.closed.release()

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while True:  # requests on one kept-alive connection, one after another
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            length = next(
                (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
                0,
            )  # fmt: skip
            while len(data) < length:
                data += conn.recv(65536)
            request, data = head + b"\r\n\r\n" + data[:length], data[length:]
            self.requests.append(request)
            raw = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
            if raw is None:  # hang until the test ends
                self.release.wait(30)
                return
            try:
                conn.sendall(raw)
            except OSError:
                return
            if b"connection: keep-alive" not in raw.lower():
                return  # (an answer without "connection: close" says nothing of it)

    def posts(self) -> int:
        return sum(1 for r in self.requests if r.startswith(b"POST "))


@pytest.fixture
def serve() -> Iterator[Callable[..., Raw]]:
    made: list[Raw] = []

    def make(*replies: bytes | None) -> Raw:
        made.append(Raw(*replies))
        return made[-1]

    yield make
    for server in made:
        server.close()


def client(server: Raw, clock: FakeClock, **options: object) -> Client:
    made = Client(TEST_KEY, server.base, sleep=clock.sleep, rng=lambda: 0.5, **options)  # type: ignore[arg-type]
    assert type(made._http).__name__ == "PlainEngine"  # the network path, not httpx
    return made


def create(made: Client) -> object:
    return made.create_task("Qubico/flux1-dev", "txt2img", {"prompt": "a cat"})


def bomb() -> bytes:
    return gzip.compress(b"{" + b" " * (8 << 20) + b"}")  # 8 MiB of spaces in about 8 KiB


# --- a create is sent once; an answer that does not prove refusal is "may exist" -------------


@pytest.mark.parametrize(
    "reply",
    [
        json_answer(500, {"code": 500, "message": "internal"}),
        answer(502, b"<html><body>Bad gateway</body></html>", "content-type: text/html"),
        answer(200, b""),
        answer(200, TASK_JSON[:40], length=len(TASK_JSON)),  # cut: fewer bytes than announced
        answer(200, b"{not json", "content-type: application/json"),
        json_answer(200, {"code": 200, "data": None, "message": "success"}),
        json_answer(200, {"code": 500, "data": None, "message": "failed to create"}),
        answer(400, b"Bad Request"),  # a 4xx without the API's message
        answer(200, b"\x00not gzip", "content-encoding: gzip"),
        answer(200, bomb(), "content-encoding: gzip"),
        answer(200, b"[" * 200_000 + b"]" * 200_000),
        # chunked, cut before the last chunk
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\n{\"code\": 200, \"d\r\n",
    ],
    ids=["500", "html-502", "empty", "cut", "not-json", "data-null", "code-500-in-200", "400-bare",
         "bad-gzip", "gzip-bomb", "deep", "chunked-cut"],
)  # fmt: skip
def test_a_create_whose_answer_proves_nothing_is_unknown_and_sent_once(
    serve: Callable[..., Raw], clock: FakeClock, reply: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_ANSWER", 1 << 20)
    server = serve(reply)
    with client(server, clock) as made, pytest.raises(CreateOutcomeUnknown):
        create(made)
    assert server.posts() == 1 and clock.sleeps == []


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (json_answer(401, {"code": 401, "message": "Invalid API key"}), AuthenticationError),
        (answer(403, b"Forbidden"), AuthenticationError),
        (answer(404, b""), NotFoundError),
        (answer(405, b"<html>Method Not Allowed</html>", "content-type: text/html"), APIStatusError),
        (json_answer(400, {"code": 400, "message": "model not found"}), APIStatusError),
    ],
    ids=["401", "403", "404-empty", "405-html", "400-api-message"],
)
def test_a_create_clearly_refused_is_refused_and_not_resent(
    serve: Callable[..., Raw], clock: FakeClock, reply: bytes, error: type[Exception]
) -> None:
    server = serve(reply)
    with client(server, clock) as made, pytest.raises(error) as caught:
        create(made)
    assert not isinstance(caught.value, CreateOutcomeUnknown)
    assert server.posts() == 1


def test_a_create_refused_with_429_is_retried_honouring_retry_after(
    serve: Callable[..., Raw], clock: FakeClock
) -> None:
    server = serve(json_answer(429, {"code": 429, "message": "slow down"}, "retry-after: 3"), json_answer(200, TASK))
    with client(server, clock) as made:
        task = create(made)
    assert getattr(task, "task_id", None) == TASK["data"]["task_id"]
    assert server.posts() == 2 and clock.sleeps == [3.0]


def test_a_create_is_retried_when_nothing_could_be_sent(clock: FakeClock) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there: the connection is refused before anything is sent
    with Client(TEST_KEY, base, sleep=clock.sleep, rng=lambda: 0.5) as made, pytest.raises(ConnectionFailed):
        create(made)
    assert len(clock.sleeps) == Backoff().attempts - 1  # every try, since none was sent


def test_a_create_whose_answer_never_comes_is_unknown_after_the_read_timeout(
    serve: Callable[..., Raw], clock: FakeClock
) -> None:
    server = serve(None)  # reads the create, never answers
    with client(server, clock, timeout=0.2) as made, pytest.raises(CreateOutcomeUnknown) as caught:
        create(made)
    assert server.posts() == 1 and "may exist" in caught.value.message


def test_nan_is_refused_before_anything_is_sent(serve: Callable[..., Raw], clock: FakeClock) -> None:
    server = serve(json_answer(200, TASK))
    with client(server, clock) as made, pytest.raises(UsageError):
        made.create_task("Qubico/flux1-dev", "txt2img", {"guidance_scale": float("nan")})
    assert server.requests == []


# --- reads are retried on 429 and 5xx; the answer is capped and decoded ----------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_read_is_retried_after_a_passing_failure(serve: Callable[..., Raw], clock: FakeClock, status: int) -> None:
    server = serve(json_answer(status, {"code": status, "message": "busy"}), json_answer(200, TASK))
    with client(server, clock) as made:
        assert made.get_task("t").task_id == TASK["data"]["task_id"]
    assert len(server.requests) == 2 and len(clock.sleeps) == 1


def test_a_read_is_not_retried_on_a_refusal(serve: Callable[..., Raw], clock: FakeClock) -> None:
    server = serve(json_answer(404, {"code": 404, "message": "task not found"}))
    with client(server, clock) as made, pytest.raises(NotFoundError):
        made.get_task("t")
    assert len(server.requests) == 1


def test_a_read_still_rate_limited_after_the_retries_is_a_rate_limit(
    serve: Callable[..., Raw], clock: FakeClock
) -> None:
    server = serve(json_answer(429, {"code": 429, "message": "slow down"}))
    with client(server, clock) as made, pytest.raises(RateLimitError):
        made.get_task("t")
    assert len(server.requests) == Backoff().attempts


def test_a_gzip_bomb_is_cut_off_at_the_cap(
    serve: Callable[..., Raw], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_ANSWER", 1 << 20)
    server = serve(answer(200, bomb(), "content-encoding: gzip"))
    with client(server, clock) as made, pytest.raises(MalformedResponse) as caught:
        made.get_task("t")
    assert "over 1 MiB" in caught.value.message


def test_a_plain_answer_over_the_cap_is_cut_off_too(
    serve: Callable[..., Raw], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_ANSWER", 1000)
    server = serve(answer(200, b" " * 5000 + TASK_JSON))
    with client(server, clock) as made, pytest.raises(MalformedResponse) as caught:
        made.get_task("t")
    assert "over 1000 bytes" in caught.value.message


@pytest.mark.parametrize(
    "encode",
    [
        lambda body: (gzip.compress(body), "gzip"),
        lambda body: (zlib.compress(body), "deflate"),
        lambda body: (zlib.compress(body)[2:-4], "deflate"),  # raw deflate, without the zlib header
        lambda body: (gzip.compress(gzip.compress(body)), "gzip, gzip"),
    ],
    ids=["gzip", "deflate", "raw-deflate", "gzip-twice"],
)
def test_an_encoded_answer_is_decoded_as_httpx_would(
    serve: Callable[..., Raw], clock: FakeClock, encode: Callable[[bytes], tuple[bytes, str]]
) -> None:
    body, coding = encode(TASK_JSON)
    server = serve(answer(200, body, f"content-encoding: {coding}"))
    with client(server, clock) as made:
        assert made.get_task("t").task_id == TASK["data"]["task_id"]


def test_an_undecodable_answer_is_malformed_after_the_retries(serve: Callable[..., Raw], clock: FakeClock) -> None:
    server = serve(answer(200, b"\x00not gzip", "content-encoding: gzip"))
    with client(server, clock) as made, pytest.raises(MalformedResponse):
        made.get_task("t")
    assert len(server.requests) == Backoff().attempts


def test_a_hanging_read_times_out_and_says_so(serve: Callable[..., Raw], clock: FakeClock) -> None:
    server = serve(None)
    with (
        client(server, clock, timeout=0.1, retry=Backoff(attempts=2)) as made,
        pytest.raises(ConnectionFailed) as caught,
    ):
        made.get_task("t")
    assert "timed out" in caught.value.message and len(server.requests) == 2


def test_kept_alive_connections_are_reused_and_closed_ones_replaced(
    serve: Callable[..., Raw], clock: FakeClock
) -> None:
    server = serve(json_answer(200, TASK, keep=True))
    with client(server, clock) as made:
        for _ in range(3):
            made.get_task("t")
        assert server.connections == 1
    server = serve(json_answer(200, TASK))
    with client(server, clock) as made:
        for _ in range(3):
            made.get_task("t")
    assert server.connections == 3
    server = serve(json_answer(200, TASK, keep=None))  # closed while idle, without saying so
    with client(server, clock) as made:
        for _ in range(3):
            made.get_task("t")
            assert server.closed.acquire(timeout=10)
        made.create_task("Qubico/flux1-dev", "txt2img", {"prompt": "a cat"})  # never on a closed one
    assert server.connections == 4 and server.posts() == 1 and clock.sleeps == []


def test_the_request_carries_the_key_and_the_body_as_json(serve: Callable[..., Raw], clock: FakeClock) -> None:
    server = serve(json_answer(200, TASK))
    with client(server, clock) as made:
        create(made)
    [request] = server.requests
    head, _, body = request.partition(b"\r\n\r\n")
    assert f"x-api-key: {TEST_KEY}".encode() in head
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "a cat"}}


# --- what http.client read, read alike; what it refused, refused --------------------------

OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n" + OK_HEAD + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(TASK_JSON)
        + TASK_JSON,
        b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n" + TASK_JSON,  # to the close
        OK_HEAD + b"transfer-encoding: chunked\r\n\r\n10;name=value\r\n" + TASK_JSON[:16] + b"\r\n"
        + b"%x\r\n" % (len(TASK_JSON) - 16) + TASK_JSON[16:] + b"\r\n0\r\ntrailer: x\r\n\r\n",
        OK_HEAD + b"x-folded: one\r\n  two\r\ncontent-length: %d\r\n\r\n" % len(TASK_JSON) + TASK_JSON,
    ],
    ids=["100-continue", "http-1.0-to-close", "chunked-extensions-trailers", "folded-header"],
)  # fmt: skip
def test_answers_http_client_read_are_read(serve: Callable[..., Raw], clock: FakeClock, reply: bytes) -> None:
    server = serve(reply)
    with client(server, clock) as made:
        assert made.get_task("t").task_id == TASK["data"]["task_id"]


@pytest.mark.parametrize(
    "reply",
    [
        OK_HEAD + b"".join(b"x-%d: y\r\n" % n for n in range(101)) + b"content-length: 2\r\n\r\n{}",
        OK_HEAD + b"x-long: " + b"y" * 70_000 + b"\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        OK_HEAD + b"transfer-encoding: chunked\r\n\r\n2\r\n" + TASK_JSON[:40] + b"\r\n0\r\n\r\n",
        OK_HEAD + b"transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"",  # closed without a word
    ],
    ids=["101-headers", "long-header", "not-http", "bad-status", "chunk-too-long", "bad-chunk-size", "no-answer"],
)
def test_a_create_answered_with_what_http_client_refused_is_unknown_and_sent_once(
    serve: Callable[..., Raw], clock: FakeClock, reply: bytes
) -> None:
    server = serve(reply)
    with client(server, clock) as made, pytest.raises(CreateOutcomeUnknown):
        create(made)
    assert server.posts() == 1 and clock.sleeps == []


def test_the_request_says_host_length_and_identity_as_http_client_did(
    serve: Callable[..., Raw], clock: FakeClock
) -> None:
    server = serve(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(json.dumps(TASK)) + json.dumps(TASK).encode())
    with client(server, clock) as made:
        create(made)
    head = server.requests[0].partition(b"\r\n\r\n")[0].decode()
    port = server.base.rsplit(":", 1)[1]
    assert head.startswith("POST /api/v1/task HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}" in head and "Accept-Encoding: identity" in head and "Content-Length: " in head
    assert f"x-api-key: {TEST_KEY}" in head and "user-agent: piapi-cli/" in head


def test_a_header_that_would_break_the_request_is_never_sent(serve: Callable[..., Raw], clock: FakeClock) -> None:
    server = serve(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
    with client(server, clock) as made, pytest.raises(Exception):  # noqa: B017 - whichever error, nothing sent
        made._http.request("GET", "/x", content=None, headers={"x-evil": "a\r\nx-injected: 1"}, max_answer=100)
    assert not any(b"x-injected" in r for r in server.requests)


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://127.0.0.1:8787/api/v1/task?x=1#frag", ("http", "127.0.0.1", 8787, "/api/v1/task?x=1")),
        ("HTTPS://API.PiAPI.ai", ("https", "api.piapi.ai", 443, "/")),
        ("http://user:pw@[::1]:81?q", ("http", "::1", 81, "/?q")),
        ("http://host:/p", ("http", "host", 80, "/p")),
    ],
)
def test_urls_split_as_urlsplit_reads_them(url: str, parts: tuple[str, str, int, str]) -> None:
    assert split_url(url) == parts


@pytest.mark.parametrize("url", ["ftp://x/", "http:///p", "http://h:99999/", "http://h:x/", "/relative"])
def test_urls_that_are_no_http_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        split_url(url)


def test_a_read_past_the_call_deadline_is_cut_by_it(serve: Callable[..., Raw], clock: FakeClock) -> None:
    # the deadline comes before the read timeout could: the watchdog cuts the request (its
    # socket waits with no timeout of its own, one system call per read)
    server = serve(None)
    with (
        client(server, clock, call_timeout=0.2, retry=Backoff(attempts=1)) as made,
        pytest.raises(ConnectionFailed) as caught,
    ):
        made.get_task("t")
    assert "within 0.2s" in caught.value.message and len(server.requests) == 1


def test_a_connection_reused_without_a_deadline_gets_its_read_timeout_back(
    serve: Callable[..., Raw], clock: FakeClock
) -> None:
    server = serve(json_answer(200, TASK, keep=True), None)  # then silence, on the same connection
    failed: list[BaseException] = []
    with client(server, clock, timeout=0.2, call_timeout=0.1, retry=Backoff(attempts=1)) as made:
        assert made.get_task("t").task_id == TASK["data"]["task_id"]  # within the deadline: no read timeout needed

        def without_deadline() -> None:
            made.call_timeout = None
            try:
                made.get_task("t")
            except ConnectionFailed as exc:
                failed.append(exc)

        waiting = threading.Thread(target=without_deadline, daemon=True)
        waiting.start()
        waiting.join(timeout=10)
        assert not waiting.is_alive(), "a read with neither deadline nor timeout waited forever"
    assert server.connections == 1 and len(failed) == 1 and "timed out" in str(failed[0])
