"""piapi chat against servers that misbehave, on a real socket: HTML instead of events, a
stream cut mid-answer, an error object mid-stream, a trickle, a stream gone quiet, a line
without end; and Ctrl-C in a real process, which keeps what arrived."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KEY, Cli, FakeClock
from tests.hostile import Host, send

Answer = Callable[[BaseHTTPRequestHandler], None]


def chunk(text: str, finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    doc: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}],
    }  # fmt: skip
    if usage:
        doc["usage"] = usage
    return b"data: " + json.dumps(doc).encode() + b"\n\n"


WHOLE = [chunk("Hello"), b": keep-alive\n\n", chunk(", world"), b"\n", chunk("", "stop", {"total_tokens": 9}),
         b"data: [DONE]\n\n"]  # fmt: skip


def events(handler: BaseHTTPRequestHandler, pieces: Iterable[bytes], *, chunked: bool = True, end: bool = True) -> None:
    """An event stream, each piece flushed as it is written; without ``end``, the connection
    closes where a chunked body would go on (a cut)."""
    handler.send_response(200)
    handler.send_header("content-type", "text/event-stream")
    handler.send_header("transfer-encoding" if chunked else "connection", "chunked" if chunked else "close")
    handler.end_headers()
    for piece in pieces:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        handler.wfile.flush()
    if chunked and end:
        handler.wfile.write(b"0\r\n\r\n")
    handler.close_connection = True


@pytest.fixture
def against(clock: FakeClock) -> Iterator[Callable[[Answer], tuple[Cli, Host]]]:
    hosts: list[Host] = []

    def serve(answer: Answer) -> tuple[Cli, Host]:
        host = Host(answer).__enter__()
        hosts.append(host)
        env = {"PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": host.base}
        return Cli(clock=clock, transport=None, env=env), host  # type: ignore[arg-type]

    yield serve
    for host in hosts:
        host.__exit__(None, None, None)


def test_a_whole_stream_with_keepalives(against: Any) -> None:
    cli, host = against(lambda h: events(h, WHOLE))
    result = cli("chat", "hi")
    assert (result.exit_code, result.stdout) == (0, "Hello, world\n"), result.stderr
    assert host.requests[0]["authorization"] == f"Bearer {TEST_KEY}"
    assert json.loads(host.requests[0]["body"])["stream"] is True


def test_a_trickle_one_byte_at_a_time(against: Any) -> None:
    cli, _ = against(lambda h: events(h, [bytes([b]) for b in b"".join(WHOLE)]))
    result = cli("chat", "hi")
    assert (result.exit_code, result.stdout) == (0, "Hello, world\n"), result.stderr


def test_html_instead_of_events_is_a_network_error_and_prints_nothing(against: Any) -> None:
    page = b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"
    cli, host = against(lambda h: send(h, 200, page, content_type="text/html"))
    result = cli("chat", "hi")
    assert result.exit_code == 5 and result.stdout == ""
    assert "HTML page" in result.stderr and "not resent" in result.stderr and "Traceback" not in result.stderr
    assert len(host.requests) == 1


@pytest.mark.parametrize("chunked", [True, False])
def test_a_stream_cut_mid_answer_exits_10_with_what_arrived(against: Any, chunked: bool) -> None:
    cli, host = against(lambda h: events(h, WHOLE[:3], chunked=chunked, end=False))
    result = cli("chat", "hi")
    assert result.exit_code == 12 and result.stdout == "Hello, world\n"
    assert "cut the stream" in result.stderr or "ended before its end mark" in result.stderr
    assert len(host.requests) == 1  # never resent: the tokens were paid for


def test_an_error_object_mid_stream(against: Any) -> None:
    error = b'data: {"error": {"message": "model overloaded", "type": "server_error"}}\n\n'
    cli, _ = against(lambda h: events(h, [WHOLE[0], error]))
    result = cli("chat", "hi", "--json")
    assert result.exit_code == 12 and "model overloaded" in result.stderr
    assert result.json()["choices"][0]["message"]["content"] == "Hello"  # what arrived, as JSON


def test_a_line_without_end_is_cut_off_not_kept_in_memory(against: Any) -> None:
    cli, _ = against(lambda h: events(h, [WHOLE[0], b"data: " + b"x" * (5 * 2**20)]))
    result = cli("chat", "hi")
    assert result.exit_code == 12 and result.stdout == "Hello\n" and "over 4 MiB" in result.stderr


def test_a_stream_quiet_past_read_timeout_stops_one_within_it_goes_on(against: Any) -> None:
    release = threading.Event()

    def quiet(handler: BaseHTTPRequestHandler) -> None:
        events(handler, [WHOLE[0]], end=False)
        release.wait(60)

    cli, _ = against(quiet)
    stopped = cli("chat", "hi", env={"PIAPI_READ_TIMEOUT": "0.3"})
    release.set()
    assert stopped.exit_code == 12 and stopped.stdout == "Hello\n"
    assert "went quiet for 0.3 seconds" in stopped.stderr and "read_timeout" in stopped.stderr

    def slow(handler: BaseHTTPRequestHandler) -> None:
        threading.Event().wait(0.5)  # quiet for longer than the first server's timeout above
        events(handler, WHOLE)

    cli, _ = against(slow)
    assert cli("chat", "hi", env={"PIAPI_READ_TIMEOUT": "30"}).stdout == "Hello, world\n"


def test_rate_limited_is_tried_again_a_server_error_is_not(against: Any) -> None:
    def limited(handler: BaseHTTPRequestHandler) -> None:
        if len(host.requests) == 1:
            send(handler, 429, b'{"error": {"message": "slow down"}}', retry_after="0")
        else:
            events(handler, WHOLE)

    cli, host = against(limited)
    assert cli("chat", "hi").stdout == "Hello, world\n" and len(host.requests) == 2
    cli, failing = against(lambda h: send(h, 500, b'{"error": {"message": "boom"}}'))
    result = cli("chat", "hi")
    assert result.exit_code == 5 and "boom" in result.stderr and len(failing.requests) == 1


def test_ctrl_c_mid_stream_keeps_what_arrived(tmp_path: Path) -> None:
    release = threading.Event()

    def answer(handler: BaseHTTPRequestHandler) -> None:
        if len(host.requests) == 1:
            events(handler, WHOLE[:3], end=False)
            release.wait(60)
        else:
            events(handler, WHOLE)

    env = {**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_DATA_DIR": str(tmp_path / "data")}
    with Host(answer) as host:
        env["PIAPI_BASE_URL"] = host.base
        process = subprocess.Popen([sys.executable, "-m", "piapi_cli", "chat", "hi"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        assert process.stdout is not None
        arrived = b""
        while b"world" not in arrived:
            piece = os.read(process.stdout.fileno(), 100)
            assert piece, "the process ended before the answer arrived"
            arrived += piece
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        release.set()
        assert process.returncode == 130
        assert (arrived + out).decode() == "Hello, world\n"
        assert b"interrupted" in err and b"kept in conversation 1" in err and b"Traceback" not in err
        again = subprocess.run([sys.executable, "-m", "piapi_cli", "chat", "--continue", "go on"], env=env,
                               capture_output=True, timeout=60)  # fmt: skip
        assert again.returncode == 0, again.stderr
        sent = json.loads(host.requests[-1]["body"])["messages"]
        assert sent[1] == {"role": "assistant", "content": "Hello, world"}


def test_an_endless_answer_is_cut_at_16_mib_and_memory_stays_bounded(tmp_path: Path) -> None:
    """A server that streams text forever: piapi stops at 16 MiB of it, prints and keeps that
    much, says why and exits 12; the process's peak memory is measured beside a short answer's."""
    from piapi_cli.api.openai_routes import MAX_ANSWER
    from tests.test_subprocess import SCRIPT

    piece = chunk("x" * 65_535 + "\n")

    def endless(handler: BaseHTTPRequestHandler) -> None:
        if json.loads(host.requests[-1]["body"])["messages"][-1]["content"] == "short":
            events(handler, WHOLE)
            return
        events(handler, itertools.repeat(piece))  # (ends when piapi hangs up)

    def run(prompt: str) -> tuple[int, int, str, int]:
        """exit code, bytes on stdout, stderr, peak RSS in bytes: of this one process (wait4)."""
        with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
            process = subprocess.Popen([str(SCRIPT), "chat", prompt], env=env, stdout=out, stderr=err)
            _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        return process.returncode, (tmp_path / "out").stat().st_size, (tmp_path / "err").read_text(), peak

    env = {**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_DATA_DIR": str(tmp_path / "data")}
    with Host(endless) as host:
        env["PIAPI_BASE_URL"] = host.base
        code, printed, err, peak = run("go on forever")
        short_code, _, _, baseline = run("short")
    assert code == 12, err
    assert "the answer passed 16 MiB, the most piapi takes of one; it stopped reading" in err
    assert "Traceback" not in err and "kept in conversation 1" in err
    assert MAX_ANSWER - len(piece) <= printed <= MAX_ANSWER + 1  # all it took, and no more (+ the last newline)
    assert short_code == 0
    # what it holds of the answer is a few copies of 16 MiB at most, not a growing stream
    print(f"peak RSS {peak / 2**20:.0f} MiB, a short answer's {baseline / 2**20:.0f} MiB")
    assert peak - baseline < 6 * MAX_ANSWER, (peak, baseline)
    with sqlite3.connect(tmp_path / "data" / "journal.sqlite3") as db:
        [(kept,)] = db.execute("SELECT length(content) FROM messages WHERE role = 'assistant' AND state = 'cut'")
    assert MAX_ANSWER - len(piece) <= kept <= MAX_ANSWER
