"""piapi image: inline images decoded straight to files (never held in memory), URLs through
the downloader, edits sent as a form from disk; the call journaled, never resent, never
written over a file; servers that lie about base64 or cut the answer leave no half file."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import tracemalloc
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli.api.inline_images import InlineImages, NotBase64
from piapi_cli.core import images
from piapi_cli.core.journal import image_calls
from piapi_cli.core.journal.journal import Journal
from piapi_cli.sandbox import Emulator, transport_for
from tests.conftest import TEST_KEY, Cli, FakeClock
from tests.hostile import Host, send

PNG = b"\x89PNG\r\n\x1a\n"


class Recording(httpx.BaseTransport):
    def __init__(self, emulator: Emulator) -> None:
        self.inner = transport_for(emulator)
        self.requests: list[tuple[httpx.Headers, bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/"):
            self.requests.append((request.headers, request.read()))
        return self.inner.handle_request(request)


@pytest.fixture
def recording(emulator: Emulator) -> Recording:
    return Recording(emulator)


@pytest.fixture
def image_cli(clock: FakeClock, recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(clock=clock, transport=recording, env={"PIAPI_API_KEY": TEST_KEY})


def journal_row(call_id: str, isolated: Path) -> dict[str, Any] | None:
    with Journal(isolated / "data" / "journal.sqlite3") as journal:
        return image_calls.find(journal, call_id)


# --- the inline image reader ------------------------------------------------------------------


def answer_bytes(*pictures: bytes, escaped: bool = False) -> bytes:
    items = []
    for picture in pictures:
        text = base64.b64encode(picture).decode()
        if escaped:  # as some encoders write it: slashes escaped, lines broken
            text = "\\n".join(text[i : i + 76] for i in range(0, len(text), 76))
            text = text.replace("/", "\\/")
        items.append('{"b64_json": "' + text + '", "revised_prompt": "say \\"b64_json\\": no"}')
    data = ", ".join(items)
    return ('{"created": 1, "note": "b64_json", "data": [' + data + '], "usage": {"total_tokens": 5}}').encode()


def read_all(body: bytes, cuts: list[int]) -> tuple[dict[str, Any], list[bytes]]:
    got: list[bytearray] = []

    class Sink:
        def write(self, data: bytes) -> None:
            got[-1].extend(data)

    def opened(index: int) -> Sink:
        got.append(bytearray())
        return Sink()

    reader = InlineImages(opened, lambda index, size: None)
    for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True):
        reader.feed(body[start:end])
    return reader.finish(), [bytes(g) for g in got]


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("escaped", [False, True])
def test_inline_images_decode_the_same_however_the_answer_is_cut(seed: int, escaped: bool) -> None:
    rng = random.Random(seed)
    pictures = [rng.randbytes(rng.randint(1, 3000)) for _ in range(rng.randint(1, 3))]
    body = answer_bytes(*pictures, escaped=escaped)
    cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 60))))
    answer, got = read_all(body, cuts)
    assert got == pictures
    assert answer["data"][0] == {"b64_json": None, "image": 0, "revised_prompt": 'say "b64_json": no'}
    assert answer["note"] == "b64_json" and answer["usage"] == {"total_tokens": 5}


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [{"b64_json": "not base64 at all!"}]}',
        b'{"data": [{"b64_json": "QQ==QUFB"}]}',
        b'{"data": [{"b64_json": "QUFBQ"}]}',
        b'{"data": [{"b64_json": "QUFB\\u0041"}]}',
        b'{"data": [{"b64_json": ""}]}',
        b'{"data": [{"b64_json": "QUFB',
        b'{"data": [{"b64_json": "QUFB"}]',
        b"<html>502</html>",
    ],
)
def test_inline_images_refuse_what_is_not_base64_or_not_whole(body: bytes) -> None:
    with pytest.raises(NotBase64):
        read_all(body, [])


# --- piapi image ------------------------------------------------------------------------------


def test_inline_images_are_saved_as_tasks_outputs_are(image_cli: Cli, recording: Recording, isolated: Path) -> None:
    result = image_cli("image", "a red fox", "-n", "2", "--size", "1024x1024", "--quality", "high")
    assert result.exit_code == 0, result.stderr
    paths = [Path(p) for p in result.stdout.splitlines()]
    assert len(paths) == 2 and all(p.read_bytes().startswith(PNG) for p in paths)
    call_id = paths[0].name.rsplit("-", 1)[0]
    assert [p.name for p in paths] == [f"{call_id}-0.png", f"{call_id}-1.png"] and call_id.startswith("img-")
    assert "tokens" in result.stderr
    headers, body = recording.requests[0]
    assert headers["authorization"] == f"Bearer {TEST_KEY}"
    sent = json.loads(body)
    assert sent == {"model": "gpt-image-1.5", "prompt": "a red fox", "n": 2, "size": "1024x1024", "quality": "high"}
    row = journal_row(call_id, isolated)
    assert row is not None and row["status"] == "completed" and len(row["files"]) == 2
    assert row["files"][1]["sha256"] == hashlib.sha256(paths[1].read_bytes()).hexdigest()


def test_urls_are_printed_and_downloaded_with_download(image_cli: Cli, tmp_path: Path) -> None:
    printed = image_cli("image", "a fox", "--response-format", "url")
    assert printed.exit_code == 0 and printed.stdout.startswith("http://sandbox.piapi.invalid/files/openai/")
    saved = image_cli("image", "a fox", "--response-format", "url", "--download", "out", "--json")
    assert saved.exit_code == 0, saved.stderr
    item = saved.json()["data"][0]
    assert item["url"].startswith("http") and Path(item["path"]).read_bytes().startswith(PNG)
    assert Path(item["path"]).parent == tmp_path / "out"


def test_an_edit_is_a_form_with_the_files_read_from_disk(image_cli: Cli, recording: Recording, tmp_path: Path) -> None:
    first = Path(image_cli("image", "a house").stdout.strip())
    second = tmp_path / "second.png"
    second.write_bytes(first.read_bytes())
    result = image_cli("image", "add snow", "--edit", str(first), "--edit", str(second), "--json")
    assert result.exit_code == 0, result.stderr
    headers, body = recording.requests[-1]
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert body.count(b'name="image[]"') == 2 and first.read_bytes() in body
    assert b'name="prompt"\r\n\r\nadd snow' in body
    assert result.json()["usage"]["input_tokens_details"]["image_tokens"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--edit", "missing.png"], "No such file"),
        (["--edit", "notes.txt"], "not a PNG, JPEG or WEBP"),
        (["-n", "11"], "1 to 10"),
        (["--size", "big"], "WIDTHxHEIGHT"),
        (["--format", "gif"], "png, jpeg or webp"),
        (["--jq", ".["], "jq"),
    ],
)
def test_refusals_send_nothing(
    image_cli: Cli, recording: Recording, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = image_cli("image", "x", *args)
    assert result.exit_code == 2 and message in result.stderr and recording.requests == []


def test_an_existing_file_is_never_overwritten(
    image_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    monkeypatch.setattr(images, "new_call_id", lambda: "img-fixed")
    (tmp_path / "img-fixed-0.png").write_bytes(b"mine")
    result = image_cli("image", "a fox")
    assert result.exit_code == 9 and "exists; not overwritten" in result.stderr
    assert (tmp_path / "img-fixed-0.png").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["img-fixed-0.png"]  # no temporary left
    row = journal_row("img-fixed", isolated)
    assert row is not None and row["status"] == "unknown"  # made and paid: kept, never resent


def test_a_refused_call_is_not_kept(
    clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    emulator = Emulator(clock=clock, sleep=clock.sleep)
    cli = Cli(clock=clock, transport=transport_for(emulator), env={"PIAPI_API_KEY": TEST_KEY})
    monkeypatch.setattr(images, "new_call_id", lambda: "img-refused")
    result = cli("image", "x", "--quality", "ultra")
    assert result.exit_code == 4 and "Invalid 'quality'" in result.stderr
    assert journal_row("img-refused", isolated) is None  # refused: nothing was made, nothing kept
    assert list(tmp_path.glob("img-*")) == []


# --- servers that lie ---------------------------------------------------------------------------


def served(answer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> tuple[Cli, Host]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(images, "new_call_id", lambda: "img-hostile")
    host = Host(answer)  # serves once entered (``with host:``)
    return Cli(clock=clock, transport=None, env={"PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": host.base}), host  # type: ignore[arg-type]


def test_base64_that_is_not_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock, isolated: Path
) -> None:
    body = b'{"created": 1, "data": [{"b64_json": "iVBORw0K%%%%"}]}'
    cli, host = served(lambda h: send(h, 200, body, content_type="application/json"), tmp_path, monkeypatch, clock)
    with host:
        result = cli("image", "x")
    assert result.exit_code == 5 and "not base64" in result.stderr and result.stdout == ""
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == []
    assert journal_row("img-hostile", isolated)["status"] == "failed"  # type: ignore[index]


def test_a_cut_answer_leaves_no_half_file_and_is_not_resent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock, isolated: Path
) -> None:
    whole = answer_bytes(PNG + bytes(300_000))

    def cut(handler: BaseHTTPRequestHandler) -> None:
        send(handler, 200, whole[: len(whole) // 2], content_type="application/json", content_length=str(len(whole)))
        handler.close_connection = True

    cli, host = served(cut, tmp_path, monkeypatch, clock)
    with host:
        result = cli("image", "x")
    assert result.exit_code == 5 and "cut" in result.stderr and len(host.requests) == 1
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == []
    assert journal_row("img-hostile", isolated)["status"] == "unknown"  # type: ignore[index]


def test_html_instead_of_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    page = b"<html><body>Bad gateway</body></html>"
    cli, host = served(lambda h: send(h, 200, page, content_type="text/html"), tmp_path, monkeypatch, clock)
    with host:
        result = cli("image", "x")
    assert result.exit_code == 5 and "HTML page" in result.stderr


def test_a_huge_inline_image_goes_to_disk_without_being_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    picture = PNG + random.Random(1).randbytes(24 * 2**20)
    encoded = base64.b64encode(picture)
    head, tail = b'{"created": 1, "data": [{"b64_json": "', b'"}], "usage": {"total_tokens": 3}}'

    def huge(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(head) + len(encoded) + len(tail)))
        handler.end_headers()
        handler.wfile.write(head)
        for start in range(0, len(encoded), 1 << 20):
            handler.wfile.write(encoded[start : start + (1 << 20)])
        handler.wfile.write(tail)

    cli, host = served(huge, tmp_path, monkeypatch, clock)
    tracemalloc.start()
    try:
        with host:
            result = cli("image", "x")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.stderr
    saved = tmp_path / "img-hostile-0.png"
    assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(picture).digest()
    # the server's own copy (32 MiB of base64) is traced too: the client adds little beside it
    assert peak < len(encoded) + 8 * 2**20


def test_urls_that_are_not_http_are_named_and_fail_the_download(image_cli: Cli, tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"created": 1, "data": [{"url": "file:///etc/passwd"}, {"url": "javascript:alert(1)"}]}
        return httpx.Response(200, json=body)

    image_cli.transport = httpx.MockTransport(answer)
    result = image_cli("image", "a fox", "--download", "out")
    assert result.exit_code == 9, result.stderr
    assert "could not download 'file:///etc/passwd': not an http(s) URL" in result.stderr
    assert "javascript:alert(1)" in result.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


# --- Ctrl-C during the call -----------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before the answer", "after one image came whole"])
def test_ctrl_c_during_an_image_call_exits_130_and_journals_the_call_as_maybe_paid(
    tmp_path: Path, isolated: Path, when: str
) -> None:
    """The console script against a server that hangs: SIGINT ends it with 130, no traceback; the
    call stays journaled as unknown (it may have been made and paid), never sent again; an image
    that came whole is kept, and recorded with the call; none is left half written."""
    import os
    import signal
    import subprocess
    import threading

    from tests.test_promises import until
    from tests.test_subprocess import SCRIPT

    release = threading.Event()
    first = PNG + bytes(1000)
    whole = answer_bytes(first, PNG + bytes(200_000))

    def hang(handler: BaseHTTPRequestHandler) -> None:
        if when != "before the answer":  # the first image and part of the second, then nothing
            handler.send_response(200)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(whole)))
            handler.end_headers()
            handler.wfile.write(whole[: len(whole) // 2])
            handler.wfile.flush()
        release.wait(60)

    work = tmp_path / "work"
    work.mkdir()
    with Host(hang) as host:
        env = {**os.environ, "PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": host.base}
        process = subprocess.Popen([str(SCRIPT), "image", "a fox"], cwd=work, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert host.arrived.wait(60)
        if when != "before the answer":
            until(lambda: any(p.suffix == ".png" for p in work.iterdir()))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        release.set()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and out == ""
    with Journal(isolated / "data" / "journal.sqlite3") as journal:
        [call_id] = [row["call_id"] for row in journal.read("SELECT call_id FROM image_calls")]
        row = image_calls.find(journal, call_id)
    assert row is not None and row["status"] == "unknown" and "may have been made (and paid)" in row["message"]
    assert f"the image call {call_id} was in flight" in err and "never sent again" in err
    assert len(host.requests) == 1  # not asked for again
    kept = sorted(p.name for p in work.iterdir())
    if when == "before the answer":
        assert kept == [] and row["files"] == []
    else:  # the image that came whole is kept, and the journal says where; no half of the second
        assert kept == [f"{call_id}-0.png"] and (work / kept[0]).read_bytes() == first
        assert [Path(f["path"]).name for f in row["files"]] == kept
