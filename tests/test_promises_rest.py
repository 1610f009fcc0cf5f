"""The rest of the promises under attack: signals give their own exit codes, a restarted listener
forwards what it had stored, statuses only move forward, oversized rows are refused before
sending, and listen --download follows only public https URLs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.api.errors import DownloadError
from piapi_cli.api.tasks import Task
from piapi_cli.core.journal.events import EventStore
from piapi_cli.core.journal.journal import Journal
from piapi_cli.core.listener.forwarding import Route
from piapi_cli.sandbox import Emulator
from tests.conftest import TEST_KEY, Cli
from tests.test_batch import FLUX, creates, prompts, results, write_rows
from tests.test_listener import SECRET, Receiver, delivery, make_listener  # noqa: F401 - a fixture
from tests.test_promises import Answer, Hostile, send_json, slow_file_server, until

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


# --- 18. a row over the API's limit ---------------------------------------------------------------


def test_a_row_over_the_limit_is_refused_before_anything_is_sent_with_its_line(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    from piapi_cli.api.tasks import MAX_BODY

    rows = write_rows(tmp_path / "rows.jsonl", [*prompts(2), {"id": "huge", "input": {"prompt": "x" * MAX_BODY}}])
    result = cli("batch", "run", str(rows), *FLUX, "--no-validate")
    assert result.exit_code == 2 and "line 3" in result.stderr and "MiB" in result.stderr, result.stderr
    assert creates(emulator) == []


def refusing_unread(mode: str) -> Iterator[str]:
    """A server that answers 413 to a create without reading its body, then closes (``close``:
    at once, the client's send breaks; ``linger``: after reading the rest, as nginx does)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            body = json.dumps({"code": 413, "message": "request entity too large"}).encode()
            conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))  # fmt: skip
            if mode == "linger":
                conn.shutdown(socket.SHUT_WR)
                with contextlib.suppress(OSError):
                    while conn.recv(1 << 20):
                        pass
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.mark.parametrize("mode", ["close", "linger"])
def test_a_413_read_after_a_broken_pipe_is_refused_not_unknown(tmp_path: Path, isolated: Path, mode: str) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": "big", "input": {"prompt": "x" * (8 << 20)}}])
    for url in refusing_unread(mode):
        result = subprocess.run(
            [sys.executable, "-m", "piapi_cli", "batch", "run", str(rows), *FLUX, "--no-validate"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": url},
        )  # fmt: skip
        assert result.returncode == 4, result.stderr
        assert results(result.stdout)["big"]["status"] == "refused" and "413" in result.stderr


# --- 21. listen --download follows only public https URLs -----------------------------------------


def test_a_forged_event_cannot_make_listen_download_fetch_an_internal_service(
    make_listener: Callable[..., Any],  # noqa: F811 - the fixture
    hostile: Callable[[Answer], Hostile],
    tmp_path: Path,
) -> None:
    from piapi_cli.core.downloads.downloader import download_client

    internal = hostile(lambda server, handler, command, body: send_json(handler, 200, {"secret": "internal"}))
    out = tmp_path / "out"
    files = download_client([])
    running = make_listener(download_dir=out, download_http=files)
    forged = delivery(status="completed")
    forged["data"]["output"] = {"image_url": f"{internal.url}/admin", "video_url": "https://localhost/x.mp4",
                                "audio_url": "https://10.0.0.7/a.wav", "model_file": "https://[::1]/m.glb"}  # fmt: skip
    assert running.post(forged)[0] == 200
    running.listener.drain()
    running.listener.stop(grace=5)
    assert internal.received == []  # never asked
    assert not out.exists() or not any(out.iterdir())
    refused = [m for level, m in running.logs if level == "error"]
    assert len(refused) == 4 and all("not fetched" in m for m in refused)
    files.close()


def test_a_redirect_to_an_internal_address_is_refused_too(hostile: Callable[[Answer], Hostile]) -> None:
    from piapi_cli.core.downloads.downloader import download_client
    from piapi_cli.core.listener.fetch import guard, refused_url

    internal = hostile(lambda server, handler, command, body: send_json(handler, 200, {"secret": "internal"}))

    def redirect(server: Hostile, handler: BaseHTTPRequestHandler, command: str, body: bytes) -> None:
        handler.send_response(302)
        handler.send_header("location", f"{internal.url}/admin")
        handler.send_header("content-length", "0")
        handler.end_headers()

    public = hostile(redirect)  # stands for a public host: the check lets exactly its URL through
    files = download_client([])
    guard(files, lambda url: None if url.startswith(public.url) else refused_url(url))
    with pytest.raises(DownloadError, match="not fetched"), files.stream("GET", f"{public.url}/x.png"):
        pass
    assert internal.received == [] and len(public.received) == 1
    assert refused_url("https://127.0.0.1/x") and refused_url("http://example.com/x") == "not an https URL"


# --- 20. Ctrl-C while piapi starts ---------------------------------------------------------------------

#: a SIGINT delivered while piapi's own modules are imported (the moment ``name`` is imported)
CTRL_C_WHILE_IMPORTING = """
import os, signal, sys, runpy
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == {name!r}:
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
sys.argv = ["piapi", "models"]
runpy.run_module("piapi_cli", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("name", ["piapi_cli.cli", "piapi_cli.cli.main", "piapi_cli.cli.parsing.fastpath"])
def test_ctrl_c_while_piapi_starts_exits_130_without_a_traceback(isolated: Path, name: str) -> None:
    done = subprocess.run([sys.executable, "-c", CTRL_C_WHILE_IMPORTING.format(name=name)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PIAPI_SANDBOX": "1"})  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


#: a sitecustomize that sends SIGINT the moment ``name`` is first looked for: it runs inside
#: Python's own start-up (site), so the launcher the installer wrote runs after it, as it does
CTRL_C_AT_FIRST_IMPORT = """
import os, signal, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == {name!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
"""


@pytest.mark.parametrize("name", ["re", "piapi_cli", "piapi_cli.cli.main", "json"])
def test_ctrl_c_in_the_launcher_before_any_import_exits_130_without_a_traceback(
    isolated: Path, tmp_path: Path, name: str
) -> None:
    # an installer-written launcher imports `re` before piapi's code runs (a traceback for a
    # Ctrl-C in those milliseconds); the `piapi` script installed catches it before any import
    (tmp_path / "sitecustomize.py").write_text(CTRL_C_AT_FIRST_IMPORT.format(name=name))
    env = {**os.environ, "PIAPI_SANDBOX": "1", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([str(Path(sys.executable).with_name("piapi")), "models"], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr and done.stdout == ""


CTRL_C_AT_EXIT = """
import atexit, os, signal
atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))  # the last exit handler to run
"""


@pytest.mark.parametrize("how", ["script", "module"])
def test_ctrl_c_while_the_interpreter_shuts_down_exits_130_without_a_traceback(
    isolated: Path, tmp_path: Path, how: str
) -> None:
    # the command is over, its output written; a Ctrl-C landing in an exit handler (logging's,
    # threading's) printed "Exception ignored ... KeyboardInterrupt" with a traceback
    (tmp_path / "sitecustomize.py").write_text(CTRL_C_AT_EXIT)
    env = {**os.environ, "PIAPI_SANDBOX": "1", "PYTHONPATH": str(tmp_path)}
    launcher = (
        [str(Path(sys.executable).with_name("piapi"))] if how == "script" else [sys.executable, "-m", "piapi_cli"]
    )
    done = subprocess.run([*launcher, "models"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
    assert "midjourney" in done.stdout  # what the command printed was flushed before it ended
