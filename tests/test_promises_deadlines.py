"""Every command ends: a server trickling its answer a byte at a time (each read in time, the
whole never) holds no create, get, wait or download past its deadline, and --timeout bounds the
whole command. Each server here trickles for as long as the test runs: ending at all is the proof."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY
from tests.test_promises import FLUX, Answer, Hostile, journal_rows, send_json


@pytest.fixture
def hostile() -> Iterator[Callable[[Answer], Hostile]]:
    made: list[Hostile] = []
    yield lambda answer: made.append(Hostile(answer)) or made[-1]
    for server in made:
        server.close()


TASK = {"task_id": "t-1", "status": "processing", "model": "Qubico/flux1-dev", "task_type": "txt2img"}


def trickling(on: str) -> Answer:
    """Answers ``on`` (POST or GET) with a JSON body that never ends, a byte every 20 ms; the
    other method with a task."""

    def answer(server: Hostile, handler: BaseHTTPRequestHandler, command: str, body: bytes) -> None:
        if command != on:
            send_json(handler, 200, {"code": 200, "data": TASK})
            return
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", "100000")
        handler.end_headers()
        try:
            while not server.release.wait(0.02):
                handler.wfile.write(b" ")
                handler.wfile.flush()
        except OSError:
            return

    return answer


def run(server: Hostile, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "piapi_cli", *args],
        capture_output=True,
        text=True,
        timeout=120,  # a safety net only: the trickle would go on for ever
        cwd=cwd,
        env={**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": server.url, **env},
    )


def test_a_create_answered_a_byte_at_a_time_ends_at_its_deadline_as_maybe_created(
    hostile: Callable[[Answer], Hostile], isolated: Path
) -> None:
    server = hostile(trickling("POST"))
    result = run(server, *FLUX, PIAPI_REQUEST_TIMEOUT="1")
    assert result.returncode == 5, result.stderr
    assert "no whole answer within 1" in result.stderr and "may exist" in result.stderr
    assert journal_rows(isolated) == [(None, "unknown")]  # not left `sending`
    assert server.creates() == 1  # and not resent


def test_a_get_answered_a_byte_at_a_time_ends_at_its_deadline(hostile: Callable[[Answer], Hostile]) -> None:
    server = hostile(trickling("GET"))
    result = run(server, "get", "t-1", PIAPI_REQUEST_TIMEOUT="1")
    assert result.returncode == 5, result.stderr
    assert "no whole answer within 1" in result.stderr and "Traceback" not in result.stderr


def test_timeout_bounds_the_whole_create_wait_even_past_the_request_deadline(
    hostile: Callable[[Answer], Hostile],
) -> None:
    server = hostile(trickling("GET"))
    result = run(server, *FLUX, "--wait", "--timeout", "1", PIAPI_REQUEST_TIMEOUT="3600")
    assert result.returncode == 8, result.stderr
    assert "resume with: piapi wait t-1" in result.stderr


def test_timeout_bounds_a_create_that_trickles_too(hostile: Callable[[Answer], Hostile], isolated: Path) -> None:
    server = hostile(trickling("POST"))
    result = run(server, *FLUX, "--wait", "--timeout", "1", PIAPI_REQUEST_TIMEOUT="3600")
    assert result.returncode == 5 and "may exist" in result.stderr, result.stderr
    assert journal_rows(isolated) == [(None, "unknown")]


def stalling_file(hostile: Callable[[Answer], Hostile]) -> Hostile:
    """A completed task whose one output (1 MB) comes a byte every 20 ms after its first 1,000."""
    holder: list[Hostile] = []

    def answer(server: Hostile, handler: BaseHTTPRequestHandler, command: str, body: bytes) -> None:
        if handler.path.startswith("/api/v1/task/"):
            task = {**TASK, "status": "completed", "output": {"image_url": f"{holder[0].url}/files/t-1.png"}}
            send_json(handler, 200, {"code": 200, "data": task})
            return
        handler.send_response(200)
        handler.send_header("content-type", "image/png")
        handler.send_header("content-length", str(2**20))
        handler.end_headers()
        try:
            handler.wfile.write(b"\x89PNG" + b"\0" * 996)
            while not server.release.wait(0.02):
                handler.wfile.write(b"\0")
                handler.wfile.flush()
        except OSError:
            return

    holder.append(hostile(answer))
    return holder[0]


@pytest.mark.slow  # (about 5 s: a download process that waits out its stall limit)
def test_a_download_that_stalls_stops_keeps_its_part_and_prints_the_resume_command(
    hostile: Callable[[Answer], Hostile], tmp_path: Path
) -> None:
    server = stalling_file(hostile)
    result = run(server, "download", "t-1", "--dir", "out", cwd=tmp_path, PIAPI_DOWNLOAD_STALL="0.5")
    assert result.returncode == 9, result.stderr
    assert "stalled" in result.stderr
    part = tmp_path / "out" / "t-1-0.png.part"
    assert part.exists() and part.stat().st_size >= 1000  # kept for the next run to resume
    assert "piapi download t-1 --dir out" in result.stderr
