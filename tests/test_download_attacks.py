"""Downloads against hostile servers and a second process: real HTTP on 127.0.0.1 only.

Each server is a few lines of http.server (tests/hostile.py). Real time is only ever an upper
bound (a wait that should end long before it), never part of a test's logic.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli.api.backoff import Backoff
from piapi_cli.api.tasks import Task
from piapi_cli.core.downloads.downloader import Downloader, DownloadInterrupted, download_client
from piapi_cli.core.downloads.streams import CHUNK, Decoder, EncodingRefused
from tests.conftest import FakeClock
from tests.hostile import Host, ranged, send

BLOB = bytes(range(256)) * 4096  # 1 MiB
OTHER = bytes(reversed(range(256))) * 4096
SHA = hashlib.sha256(BLOB).hexdigest()


def task_with(*urls: str) -> Task:
    return Task.from_api({"task_id": "t-1", "status": "completed", "model": "m", "task_type": "txt2img",
                          "output": {"images": list(urls)}})  # fmt: skip


#: which client ``downloader`` reads with in the running test
READER = {"which": "http.client"}


@pytest.fixture(autouse=True, params=["http.client", "httpx"])
def reader(request: pytest.FixtureRequest) -> None:
    """Each attack meets both ways of reading a file: the standard library's (the network,
    no proxy: what download_client gives) and httpx's (a proxy in the environment)."""
    READER["which"] = str(request.param)


def downloader(directory: Path, clock: FakeClock, **options: Any) -> Downloader:
    if READER["which"] == "httpx":
        http: Any = httpx.Client(headers={"accept-encoding": "identity"}, timeout=30, follow_redirects=True)
    else:
        http = download_client([])
    return Downloader(http, directory, sleep=clock.sleep, rng=lambda: 0.5, **options)


def leave_part(directory: Path, content: bytes, url: str, **record: Any) -> None:
    """What a killed download leaves: NAME.part and its record."""
    directory.mkdir(exist_ok=True)
    (directory / "t-1-0.png.part").write_bytes(content)
    (directory / "t-1-0.png.part.json").write_text(json.dumps({"url": url, **record}))


# --- two processes, one file --------------------------------------------------------------

ONE_DOWNLOAD = """
import json, sys, httpx
from pathlib import Path
from piapi_cli.api.tasks import Task
from piapi_cli.core.downloads.downloader import Downloader
url, directory = sys.argv[1], Path(sys.argv[2])
task = Task.from_api({"task_id": "t-1", "status": "completed", "model": "m", "task_type": "x",
                      "output": {"images": [url]}})
d = Downloader(httpx.Client(timeout=30), directory, overwrite="--overwrite" in sys.argv)
report = d.run(d.plan([task]))
print(json.dumps({"files": [f.to_json() for f in report.files], "failures": [f.message for f in report.failures]}))
"""


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_second_process_never_writes_into_a_part_being_written(tmp_path: Path, overwrite: bool) -> None:
    release = threading.Event()

    def slow(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-length", str(len(BLOB)))
        handler.end_headers()
        handler.wfile.write(BLOB[:300_000])
        handler.wfile.flush()
        release.wait(30)  # the first download stays mid-body until the second process has tried
        handler.wfile.write(BLOB[300_000:])

    out = tmp_path / "out"
    with Host(slow) as host:
        command = [sys.executable, "-c", ONE_DOWNLOAD, host.url("/a.png"), str(out)] + ["--overwrite"] * overwrite
        first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            assert host.arrived.wait(30)
            second = subprocess.run(command, capture_output=True, text=True, timeout=60)
        finally:
            release.set()
            stdout, _ = first.communicate(timeout=60)
    first_report, second_report = json.loads(stdout), json.loads(second.stdout)
    assert [f["sha256"] for f in first_report["files"]] == [SHA]
    assert second_report["files"] == [] and "being written by another process" in second_report["failures"][0]
    assert (out / "t-1-0.png").read_bytes() == BLOB
    assert sorted(p.name for p in out.iterdir()) == ["t-1-0.png"]
    assert len(host.requests) == 1  # the second process did not even ask


# --- resuming only the same object ----------------------------------------------------------


def test_a_206_that_does_not_start_where_asked_is_never_appended(tmp_path: Path, clock: FakeClock) -> None:
    def liar(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("range"):  # asked for the rest, sends it all again
            send(handler, 206, BLOB, etag='"v1"', content_range=f"bytes 0-{len(BLOB) - 1}/{len(BLOB)}")
        else:
            send(handler, 200, BLOB, etag='"v1"')

    with Host(liar) as host:
        leave_part(tmp_path, BLOB[:1000], host.url("/a.png"), etag='"v1"', length=len(BLOB))
        d = downloader(tmp_path, clock)
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files
    assert (tmp_path / "t-1-0.png").read_bytes() == BLOB and saved.sha256 == SHA
    assert [r.get("range") for r in host.requests] == ["bytes=1000-", None]


@pytest.mark.parametrize("answer", ["other total", "other etag", "no content-range"])
def test_a_206_of_another_object_restarts_from_zero(tmp_path: Path, clock: FakeClock, answer: str) -> None:
    def changed(handler: BaseHTTPRequestHandler) -> None:
        # the object changed under the same URL; this server ignores If-Range
        if handler.headers.get("range"):
            start = int(handler.headers["range"].split("=")[1].rstrip("-"))
            headers = {"etag": '"v2"', "content_range": f"bytes {start}-{len(OTHER) - 1}/{len(OTHER)}"}
            if answer == "other total":
                headers = {"etag": '"v1"', "content_range": f"bytes {start}-{len(OTHER) - 1}/{len(OTHER) + 7}"}
            elif answer == "no content-range":
                headers = {"etag": '"v1"'}
            send(handler, 206, OTHER[start:], **headers)
        else:
            send(handler, 200, OTHER, etag='"v2"')

    with Host(changed) as host:
        leave_part(tmp_path, BLOB[:1000], host.url("/a.png"), etag='"v1"', length=len(BLOB))
        d = downloader(tmp_path, clock)
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files
    assert (tmp_path / "t-1-0.png").read_bytes() == OTHER and saved.sha256 == hashlib.sha256(OTHER).hexdigest()
    assert host.requests[0].get("if-range") == '"v1"' and host.requests[-1].get("range") is None


def test_a_part_killed_before_its_rename_is_finished_without_downloading_again(
    tmp_path: Path, clock: FakeClock
) -> None:
    with Host(lambda handler: ranged(handler, BLOB)) as host:
        leave_part(tmp_path, BLOB, host.url("/a.png"), etag='"v1"', length=len(BLOB))
        d = downloader(tmp_path, clock)
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files
    assert saved.sha256 == SHA and (tmp_path / "t-1-0.png").read_bytes() == BLOB
    assert [r.get("range") for r in host.requests] == [f"bytes={len(BLOB)}-"]  # answered 416 */N


def test_a_cut_download_resumes_over_http_with_if_range(tmp_path: Path, clock: FakeClock) -> None:
    def cut_once(handler: BaseHTTPRequestHandler) -> None:
        if len(host.requests) == 1:
            handler.send_response(200)
            handler.send_header("content-length", str(len(BLOB)))
            handler.send_header("etag", '"v1"')
            handler.end_headers()
            handler.wfile.write(BLOB[:400_000])
            handler.close_connection = True  # and hang up
            return
        ranged(handler, BLOB)

    with Host(cut_once) as host:
        d = downloader(tmp_path, clock)
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files
    assert saved.sha256 == SHA
    assert [(r.get("range"), r.get("if-range")) for r in host.requests] == [(None, None), ("bytes=400000-", '"v1"')]


# --- links planted in the directory ----------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    precious = tmp_path / "precious.txt"
    precious.write_bytes(b"precious")
    return precious


@pytest.mark.parametrize("planted", ["t-1-0.png.part", "t-1-0.png"])
def test_a_link_planted_at_the_part_or_target_is_never_followed(
    tmp_path: Path, clock: FakeClock, outside: Path, planted: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / planted).symlink_to(outside)
    (out / "dangling.png.part").symlink_to(tmp_path / "created-outside")
    with Host(lambda handler: ranged(handler, BLOB)) as host:
        d = downloader(out, clock, template="{name}.{ext}")
        report = d.run(d.plan([task_with(host.url("/t-1-0.png"), host.url("/dangling.png"))]))
    assert outside.read_bytes() == b"precious" and not (tmp_path / "created-outside").exists()
    assert (out / planted).is_symlink() and len(report.failures) == 2
    assert any(word in report.failures[0].message for word in ("symbolic link", "exists; not overwritten"))


def test_overwrite_replaces_a_planted_link_not_its_target(tmp_path: Path, clock: FakeClock, outside: Path) -> None:
    (tmp_path / "t-1-0.png").symlink_to(outside)
    (tmp_path / "t-1-0.png.json").symlink_to(outside)
    (tmp_path / "t-1-0.png.part.json").symlink_to(outside)
    with Host(lambda handler: ranged(handler, BLOB)) as host:
        d = downloader(tmp_path, clock, overwrite=True, metadata=True)
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files
    assert outside.read_bytes() == b"precious"
    assert not (tmp_path / "t-1-0.png").is_symlink() and (tmp_path / "t-1-0.png").read_bytes() == BLOB
    assert json.loads((tmp_path / "t-1-0.png.json").read_text())["sha256"] == saved.sha256
    assert not os.path.lexists(tmp_path / "t-1-0.png.part.json")


def test_a_hard_link_planted_at_the_part_is_not_written_through(
    tmp_path: Path, clock: FakeClock, outside: Path
) -> None:
    os.link(outside, tmp_path / "t-1-0.png.part")
    with Host(lambda handler: ranged(handler, BLOB)) as host:
        d = downloader(tmp_path, clock)
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files
    assert saved.sha256 == SHA and outside.read_bytes() == b"precious"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_planted_at_the_part_does_not_hang_the_download(tmp_path: Path, clock: FakeClock) -> None:
    os.mkfifo(tmp_path / "t-1-0.png.part")
    with Host(lambda handler: ranged(handler, BLOB)) as host:
        d = downloader(tmp_path, clock)
        [failure] = d.run(d.plan([task_with(host.url("/a.png"))])).failures
    assert "not a regular file" in failure.message


def test_metadata_sidecars_are_never_overwritten_unless_asked(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "t-1-0.png.json").write_text("mine")
    with Host(lambda handler: ranged(handler, BLOB)) as host:
        d = downloader(tmp_path, clock, metadata=True)
        [failure] = d.run(d.plan([task_with(host.url("/a.png"))])).failures
        assert "t-1-0.png.json exists; not overwritten" in failure.message and host.requests == []
        d = downloader(tmp_path, clock, metadata=True, skip_existing=True)
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files  # the file is new; its sidecar is kept
    assert (tmp_path / "t-1-0.png.json").read_text() == "mine" and saved.sha256 == SHA


# --- encodings piapi did not ask for; bodies of unknown length --------------------------------


def test_a_gzip_bomb_is_refused_after_a_few_megabytes(tmp_path: Path, clock: FakeClock) -> None:
    bomb = gzip.compress(bytes(16 * 1024 * 1024))  # 16 KB that decode to 16 MiB

    with Host(lambda handler: send(handler, 200, bomb, content_encoding="gzip")) as host:
        d = downloader(tmp_path, clock)
        [failure] = d.run(d.plan([task_with(host.url("/a.png"))])).failures
    assert "gzip-encoded body" in failure.message and "refused" in failure.message
    assert list(tmp_path.iterdir()) == []  # neither a file nor a part of decoded zeros


def test_the_decoder_holds_one_chunk_at_a_time_and_stops_at_its_cap() -> None:
    bomb = gzip.compress(bytes(16 * 1024 * 1024))
    decoder, produced, largest = Decoder("gzip"), 0, 0
    with pytest.raises(EncodingRefused):
        for piece in decoder.feed(bomb):
            produced, largest = produced + len(piece), max(largest, len(piece))
    assert largest <= CHUNK and produced <= 2 * CHUNK
    capped = Decoder("gzip", limit=100_000)
    with pytest.raises(EncodingRefused, match="over 100,000 bytes"):
        list(capped.feed(gzip.compress(os.urandom(300_000))))  # not a bomb: just over the cap


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
def test_an_unasked_compressed_file_within_the_cap_is_saved_decoded(
    tmp_path: Path, clock: FakeClock, encoding: str
) -> None:
    content = os.urandom(200_000) + bytes(300_000)
    if encoding == "gzip":
        body = gzip.compress(content)
    else:  # "deflate" is meant to be zlib-wrapped, and is often sent raw
        packer = zlib.compressobj(wbits=15 if encoding == "deflate" else -15)
        body = packer.compress(content) + packer.flush()
    header = encoding.split()[-1]
    with Host(lambda handler: send(handler, 200, body, content_encoding=header)) as host:
        d = downloader(tmp_path, clock)
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files
    assert (tmp_path / "t-1-0.png").read_bytes() == content and saved.bytes == len(content)


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip"])
def test_an_encoding_piapi_cannot_decode_is_refused(tmp_path: Path, clock: FakeClock, encoding: str) -> None:
    with Host(lambda handler: send(handler, 200, b"\x8b\x00 compressed", content_encoding=encoding)) as host:
        d = downloader(tmp_path, clock)
        [failure] = d.run(d.plan([task_with(host.url("/a.png"))])).failures
    assert "neither asked for nor decodes" in failure.message and len(host.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_body_without_length_cut_by_the_server_is_not_saved(tmp_path: Path, clock: FakeClock) -> None:
    def cut(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("connection", "close")  # no Content-Length: the body ends when it closes
        handler.end_headers()
        handler.wfile.write(BLOB[:300_000])
        handler.close_connection = True

    with Host(cut) as host:
        d = downloader(tmp_path, clock)
        report = d.run(d.plan([task_with(host.url("/a.png"))]))
    assert report.files == [] and "could not be confirmed complete" in report.failures[0].message
    assert not (tmp_path / "t-1-0.png").exists() and (tmp_path / "t-1-0.png.part").stat().st_size == 300_000


def test_a_body_without_length_is_saved_once_the_server_confirms_its_end(tmp_path: Path, clock: FakeClock) -> None:
    def no_length(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("range"):
            ranged(handler, BLOB)  # 416: bytes */N
            return
        handler.send_response(200)
        handler.send_header("connection", "close")
        handler.send_header("etag", '"v1"')
        handler.end_headers()
        handler.wfile.write(BLOB)
        handler.close_connection = True

    with Host(no_length) as host:
        d = downloader(tmp_path, clock)
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files
    assert saved.sha256 == SHA and [r.get("range") for r in host.requests] == [None, f"bytes={len(BLOB)}-"]
    assert clock.sleeps == []


def test_a_cut_compressed_body_is_not_saved(tmp_path: Path, clock: FakeClock) -> None:
    whole = gzip.compress(os.urandom(200_000))

    def cut(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-encoding", "gzip")
        handler.send_header("connection", "close")
        handler.end_headers()
        handler.wfile.write(whole[:100_000])
        handler.close_connection = True

    with Host(cut) as host:
        d = downloader(tmp_path, clock)
        report = d.run(d.plan([task_with(host.url("/a.png"))]))
    assert report.files == [] and "cut short" in report.failures[0].message
    assert not (tmp_path / "t-1-0.png").exists()


# --- cancelling -------------------------------------------------------------------------------


class Stalling:
    """Sends the first 300 kB of each file, then nothing until released (or 30 s pass);
    ``resumed`` is set once it sends again."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.resumed = threading.Event()

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-length", str(len(BLOB)))
        handler.send_header("etag", '"v1"')
        handler.end_headers()
        handler.wfile.write(BLOB[:300_000])
        handler.wfile.flush()
        self.release.wait(30)
        self.resumed.set()
        handler.wfile.write(BLOB[300_000:])


def test_cancel_stops_within_a_second_and_keeps_the_parts(tmp_path: Path, clock: FakeClock) -> None:
    server = Stalling()
    arrived = threading.Event()
    cancelled_at: list[float] = []
    received: list[int] = []

    def progress(item: Any, n: int) -> None:
        received.append(n)
        if sum(received) == 300_000:  # all the server sends before it stalls
            arrived.set()

    with Host(server) as host:
        d = downloader(tmp_path, clock, workers=1, on_bytes=progress)
        planned = d.plan([task_with(host.url("/a.png"), host.url("/b.png"))])

        def cancel() -> None:  # as a signal handler or another thread would
            if arrived.wait(30):
                cancelled_at.append(time.monotonic())
                d.cancel()

        threading.Thread(target=cancel, daemon=True).start()
        report = d.run(planned)
        returned_while_stalled = not server.resumed.is_set()
        server.release.set()
    assert cancelled_at and returned_while_stalled  # not after the 30 s the stalled body would take
    [first, second] = report.partial
    assert first.part == str(tmp_path / "t-1-0.png.part") and first.bytes == 300_000
    assert (tmp_path / "t-1-0.png.part").stat().st_size == 300_000
    assert json.loads((tmp_path / "t-1-0.png.part.json").read_text())["etag"] == '"v1"'
    assert second.part is None and report.files == [] and report.failures == []
    with pytest.raises(DownloadInterrupted) as caught:
        report.raise_for_failures()
    assert caught.value.exit_code == 130 and caught.value.partial == [first.part]


def test_cancel_does_not_wait_for_a_server_that_never_answers(tmp_path: Path, clock: FakeClock) -> None:
    release, answered = threading.Event(), threading.Event()
    cancelled_at: list[float] = []

    def never(handler: BaseHTTPRequestHandler) -> None:
        release.wait(30)
        answered.set()

    with Host(never) as host:
        d = downloader(tmp_path, clock)

        def cancel() -> None:
            if host.arrived.wait(30):
                cancelled_at.append(time.monotonic())
                d.cancel()

        threading.Thread(target=cancel, daemon=True).start()
        report = d.run(d.plan([task_with(host.url("/a.png"))]))
        returned_while_waiting = not answered.is_set()
        release.set()
    assert cancelled_at and returned_while_waiting  # not the read timeout, nor the server's 30 s
    assert [p.part for p in report.partial] == [None] and report.interrupted


def test_ctrl_c_during_downloads_raises_interrupted_with_the_paths(tmp_path: Path, clock: FakeClock) -> None:
    import _thread

    (tmp_path / "done").mkdir()
    server = Stalling()
    interrupted = threading.Event()

    def progress(item: Any, n: int) -> None:
        if item.index == 1 and not interrupted.is_set():
            interrupted.set()
            _thread.interrupt_main()  # what Ctrl-C does to the main thread

    def answer(handler: BaseHTTPRequestHandler) -> None:
        if handler.path == "/a.png":
            send(handler, 200, BLOB)
        else:
            server(handler)

    with Host(answer) as host:
        d = downloader(tmp_path, clock, workers=1, on_bytes=progress)
        planned = d.plan([task_with(host.url("/a.png"), host.url("/b.png"))])
        try:
            with pytest.raises(DownloadInterrupted) as caught:
                d.run(planned)
        finally:
            server.release.set()
    assert caught.value.saved == [str(tmp_path / "t-1-0.png")]
    assert caught.value.partial == [str(tmp_path / "t-1-1.png.part")]


# --- retries ----------------------------------------------------------------------------------


def test_retries_use_the_shared_backoff_and_honour_retry_after(tmp_path: Path, clock: FakeClock) -> None:
    def busy(handler: BaseHTTPRequestHandler) -> None:
        if len(host.requests) == 1:
            send(handler, 503, b"busy", retry_after="7")
        elif len(host.requests) in (2, 3):
            send(handler, 500, b"oops")
        else:
            send(handler, 200, BLOB)

    with Host(busy) as host:
        d = downloader(tmp_path, clock, backoff=Backoff(attempts=5))
        [saved] = d.run(d.plan([task_with(host.url("/a.png"))])).files
    assert saved.sha256 == SHA
    assert clock.sleeps == [7.0, Backoff().delay(1, rng=lambda: 0.5), Backoff().delay(2, rng=lambda: 0.5)]


# --- redirects and the disk -----------------------------------------------------------------


def test_a_redirect_loop_fails_the_file_instead_of_spinning(tmp_path: Path, clock: FakeClock) -> None:
    def loop(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("location", "/again" if handler.path != "/again" else "/start")
        handler.send_header("content-length", "0")
        handler.end_headers()

    with Host(loop) as host:
        d = downloader(tmp_path, clock)
        report = d.run(d.plan([task_with(host.url("/start"))]))
    [failure] = report.failures
    assert "redirect" in failure.message.lower() and report.files == []
    assert not list(tmp_path.glob("*.png"))


def test_the_file_is_on_the_disk_before_it_gets_its_name(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[int, bool]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # what the descriptor holds, and whether the final name exists yet
        synced.append((os.fstat(fd).st_size, (tmp_path / "t-1-0.png").exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with Host(lambda handler: ranged(handler, BLOB * 3)) as host:
        d = downloader(tmp_path, clock)
        report = d.run(d.plan([task_with(host.url("/a.png"))]))
    assert [f.bytes for f in report.files] == [len(BLOB) * 3]
    assert (len(BLOB) * 3, False) in synced


def test_a_file_in_a_transfer_coding_not_read_is_never_saved_as_sent(tmp_path: Path, clock: FakeClock) -> None:
    # "gzip, chunked": the chunks' framing and the gzip stream are no part of the file (http.client
    # reads only a plain "chunked"; h11 refuses any other)
    packed = gzip.compress(BLOB)
    framed = b"".join(
        b"%x\r\n%s\r\n" % (len(packed[i : i + 9000]), packed[i : i + 9000]) for i in range(0, len(packed), 9000)
    )

    def coded(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("transfer-encoding", "gzip, chunked")
        handler.end_headers()
        handler.wfile.write(framed + b"0\r\n\r\n")
        handler.close_connection = True

    with Host(coded) as host:
        d = downloader(tmp_path, clock)
        report = d.run(d.plan([task_with(host.url("/a.png"))]))
    assert report.files == [] and "Transfer-Encoding" in report.failures[0].message, report.failures
    assert not (tmp_path / "t-1-0.png").exists()
