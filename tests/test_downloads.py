"""Downloads: streamed, resumed, retried, never outside DIR, never over a file; and uploads."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli.api.tasks import OutputURL, Task
from piapi_cli.cli.hints import advice
from piapi_cli.core.downloads.downloader import Downloader, LocalFile, Planned
from piapi_cli.core.downloads.naming import disposition_name, ext_from_type, safe_component
from piapi_cli.sandbox import Emulator, MemoryStore
from piapi_cli.sandbox.server import SandboxServer
from tests.conftest import Cli, FakeClock


def task_with(*urls: str, task_id: str = "t-1", model: str = "Qubico/flux1-dev") -> Task:
    return Task.from_api({"task_id": task_id, "status": "completed", "model": model, "task_type": "txt2img",
                          "output": {"images": list(urls)}, "input": {"prompt": "a cat"}})  # fmt: skip


class Flaky(httpx.SyncByteStream):
    """A body that breaks after ``cut`` bytes, as a dropped connection does."""

    def __init__(self, content: bytes, cut: int) -> None:
        self.content, self.cut = content, cut

    def __iter__(self) -> Iterator[bytes]:
        yield self.content[: self.cut]
        raise httpx.ReadError("connection reset by peer")


class Files:
    """A file host behind httpx.MockTransport: ranges, faults, headers on demand."""

    def __init__(self, files: dict[str, bytes], *, ranges: bool = True) -> None:
        self.files, self.ranges = files, ranges
        self.requests: list[httpx.Request] = []
        self.break_next: list[int] = []  # cut the next answers after this many bytes
        self.headers: dict[str, str] = {}
        self.if_range = False  # honour If-Range: a stale validator gets the whole file
        self.statuses: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.answer(request)
        self.statuses.append(response.status_code)
        return response

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        content = self.files.get(request.url.path)
        if content is None:
            return httpx.Response(404)
        start = 0
        wanted = request.headers.get("range")
        status = 200
        headers = {"content-type": "image/png", **self.headers}
        stale = self.if_range and request.headers.get("if-range") not in (None, headers.get("etag"))
        if wanted and self.ranges and not stale:
            start = int(wanted.split("=")[1].rstrip("-"))
            status = 206
            headers["content-range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
        body = content[start:]
        headers["content-length"] = str(len(body))
        if self.break_next:
            return httpx.Response(status, headers=headers, stream=Flaky(body, self.break_next.pop(0)))
        return httpx.Response(status, headers=headers, content=body)


def downloader(files: Files, directory: Path, clock: FakeClock, **options: Any) -> Downloader:
    return Downloader(httpx.Client(transport=httpx.MockTransport(files)), directory, sleep=clock.sleep, **options)


BLOB = bytes(range(256)) * 4096  # 1 MiB


def test_downloads_every_output_with_hash_and_size(tmp_path: Path, clock: FakeClock) -> None:
    files = Files({"/a.png": BLOB, "/b.png": b"small"})
    task = task_with("https://cdn.example/a.png", "https://cdn.example/b.png")
    report = downloader(files, tmp_path, clock).run(downloader(files, tmp_path, clock).plan([task]))
    assert [Path(f.path).name for f in report.files] == ["t-1-0.png", "t-1-1.png"]
    assert (tmp_path / "t-1-0.png").read_bytes() == BLOB
    assert report.files[0].sha256 == hashlib.sha256(BLOB).hexdigest() and report.files[0].bytes == len(BLOB)
    assert not list(tmp_path.glob("*.part"))
    assert all("x-api-key" not in r.headers for r in files.requests)


def test_an_interrupted_download_resumes_with_range(tmp_path: Path, clock: FakeClock) -> None:
    files = Files({"/a.png": BLOB})
    files.break_next = [300_000]
    d = downloader(files, tmp_path, clock)
    [saved] = d.run(d.plan([task_with("https://cdn.example/a.png")])).files
    assert (tmp_path / "t-1-0.png").read_bytes() == BLOB and saved.sha256 == hashlib.sha256(BLOB).hexdigest()
    assert [r.headers.get("range") for r in files.requests] == [None, "bytes=300000-"]
    assert len(clock.sleeps) == 1


def test_a_partial_file_left_by_an_earlier_run_is_resumed(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "t-1-0.png.part").write_bytes(BLOB[:1000])
    record = {"url": "https://cdn.example/a.png", "etag": '"v1"', "length": len(BLOB)}
    (tmp_path / "t-1-0.png.part.json").write_text(json.dumps(record))
    files = Files({"/a.png": BLOB})
    files.headers = {"etag": '"v1"'}
    d = downloader(files, tmp_path, clock)
    [saved] = d.run(d.plan([task_with("https://cdn.example/a.png")])).files
    assert (tmp_path / "t-1-0.png").read_bytes() == BLOB and saved.sha256 == hashlib.sha256(BLOB).hexdigest()
    assert [(r.headers.get("range"), r.headers.get("if-range")) for r in files.requests] == [("bytes=1000-", '"v1"')]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t-1-0.png"]  # part and its record are gone


@pytest.mark.parametrize("record", [
    None,  # no record: whose bytes are these?
    {"url": "https://cdn.example/other.png", "length": len(BLOB)},  # another object's
    {"url": "https://cdn.example/a.png", "etag": '"v0"', "length": len(BLOB)},  # an older version
    {"url": "https://cdn.example/a.png", "length": 999},  # shorter than the part
    {"url": "https://cdn.example/a.png", "length": len(BLOB), "encoding": "gzip"},  # decoded bytes
])  # fmt: skip
def test_a_partial_file_of_another_object_is_not_resumed(
    tmp_path: Path, clock: FakeClock, record: dict[str, Any] | None
) -> None:
    (tmp_path / "t-1-0.png.part").write_bytes(b"X" * 1000)
    if record is not None:
        (tmp_path / "t-1-0.png.part.json").write_text(json.dumps(record))
    files = Files({"/a.png": BLOB})
    files.headers = {"etag": '"v1"'}
    files.if_range = True
    d = downloader(files, tmp_path, clock)
    [saved] = d.run(d.plan([task_with("https://cdn.example/a.png")])).files
    assert (tmp_path / "t-1-0.png").read_bytes() == BLOB and saved.bytes == len(BLOB)
    assert files.requests[-1].headers.get("range") is None or files.statuses[-1] == 200


def test_without_range_support_it_restarts(tmp_path: Path, clock: FakeClock) -> None:
    files = Files({"/a.png": BLOB}, ranges=False)
    files.break_next = [5000]
    d = downloader(files, tmp_path, clock)
    [saved] = d.run(d.plan([task_with("https://cdn.example/a.png")])).files
    assert (tmp_path / "t-1-0.png").read_bytes() == BLOB and saved.bytes == len(BLOB)


def test_gives_up_after_the_retries_and_keeps_what_completed(tmp_path: Path, clock: FakeClock) -> None:
    files = Files({"/a.png": BLOB, "/b.png": b"fine"})
    d = downloader(files, tmp_path, clock, workers=1)
    files.break_next = [10, 10, 10, 10]
    report = d.run(d.plan([task_with("https://cdn.example/a.png", "https://cdn.example/b.png")]))
    assert [f.url for f in report.failures] == ["https://cdn.example/a.png"]
    assert "after 4 attempts" in report.failures[0].message
    assert (tmp_path / "t-1-1.png").read_bytes() == b"fine" and not (tmp_path / "t-1-0.png").exists()
    with pytest.raises(Exception) as caught:
        report.raise_for_failures()
    assert getattr(caught.value, "exit_code", None) == 9


def test_http_errors_are_not_retried_forever(tmp_path: Path, clock: FakeClock) -> None:
    files = Files({})
    d = downloader(files, tmp_path, clock)
    report = d.run(d.plan([task_with("https://cdn.example/gone.png")]))
    assert report.failures[0].message == "HTTP 404" and len(files.requests) == 1


def test_existing_files_are_never_overwritten_unless_asked(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "t-1-0.png").write_bytes(b"mine")
    files = Files({"/a.png": BLOB})
    task = task_with("https://cdn.example/a.png")
    d = downloader(files, tmp_path, clock)
    report = d.run(d.plan([task]))
    assert "exists; not overwritten" in report.failures[0].message and files.requests == []
    assert (tmp_path / "t-1-0.png").read_bytes() == b"mine"
    d = downloader(files, tmp_path, clock, skip_existing=True)
    assert [Path(s.path).name for s in d.run(d.plan([task])).skipped] == ["t-1-0.png"]
    d = downloader(files, tmp_path, clock, overwrite=True)
    d.run(d.plan([task]))
    assert (tmp_path / "t-1-0.png").read_bytes() == BLOB


@pytest.mark.parametrize("url", [
    "https://cdn.example/..%2F..%2Fetc%2Fpasswd",
    "https://cdn.example/a/../../../../tmp/evil",
    "https://cdn.example/%2Fetc%2Fcron.d%2Fevil",
    "https://cdn.example/\u202egnp.exe",
])  # fmt: skip
def test_url_paths_cannot_escape_the_directory(tmp_path: Path, clock: FakeClock, url: str) -> None:
    d = downloader(Files({}), tmp_path, clock, template="{name}.{ext}")
    target = d.target_for(Planned(task_with(url), 0, OutputURL("images[0]", url)), "bin", None)
    assert target.parent == tmp_path.resolve() and ".." not in target.name and "/" not in target.name


@pytest.mark.parametrize("header", [
    'attachment; filename="../../.bashrc"',
    "attachment; filename=/etc/passwd",
    "attachment; filename*=UTF-8''..%2F..%2Fevil%0A.sh",
    'attachment; filename="a\x07b\x1b[31m.png"',
])  # fmt: skip
def test_content_disposition_names_are_neutralised(tmp_path: Path, clock: FakeClock, header: str) -> None:
    files = Files({"/x": b"data"})
    files.headers = {"content-disposition": header}
    d = downloader(files, tmp_path / "out", clock, template="{name}.{ext}")
    [saved] = d.run(d.plan([task_with("https://cdn.example/x")])).files
    path = Path(saved.path)
    assert path.parent == (tmp_path / "out").resolve()
    assert all(ord(c) >= 32 for c in path.name) and not path.name.startswith(".")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_name_template_fields_and_metadata_sidecar(tmp_path: Path, clock: FakeClock) -> None:
    files = Files({"/v": b"video"})
    files.headers = {"content-type": "video/mp4"}
    task = task_with("https://cdn.example/v", model="kling")
    d = downloader(files, tmp_path, clock, template="{model}-{task_type}-{key}-{index}.{ext}", metadata=True)
    [saved] = d.run(d.plan([task])).files
    assert Path(saved.path).name == "kling-txt2img-images[0]-0.mp4"
    sidecar = json.loads(Path(saved.path + ".json").read_text())
    assert sidecar["task_id"] == "t-1" and sidecar["source_url"] == "https://cdn.example/v"
    assert sidecar["input"] == {"prompt": "a cat"} and sidecar["sha256"] == saved.sha256


def test_two_outputs_may_not_share_a_name(tmp_path: Path, clock: FakeClock) -> None:
    files = Files({"/a.png": b"1", "/b.png": b"2"})
    d = downloader(files, tmp_path, clock, template="{task_id}.{ext}", workers=1)
    report = d.run(d.plan([task_with("https://cdn.example/a.png", "https://cdn.example/b.png")]))
    failure = report.failures[0]
    assert len(report.files) == 1 and "add {index}" in advice(failure.advice or "") and "t-1.png" in failure.message


def test_an_unexpected_error_in_a_worker_is_raised_not_waited_for(tmp_path: Path, clock: FakeClock) -> None:
    def broken(item: Planned, name: str, total: int | None) -> None:
        raise RuntimeError("a bug in a progress display")

    files = Files({"/a.png": BLOB})
    d = downloader(files, tmp_path, clock, on_start=broken)
    with pytest.raises(RuntimeError, match="a bug"):
        d.run(d.plan([task_with("https://cdn.example/a.png")]))


def test_helpers() -> None:
    assert safe_component("../../x") == "_._x" or ".." not in safe_component("../../x")
    assert safe_component("") == "file" and safe_component("....") == "file"
    assert disposition_name('inline; filename="cat.png"') == "cat.png"
    assert disposition_name("attachment; filename*=UTF-8''na%C3%AFve.png") == "naïve.png"
    assert ext_from_type("image/jpeg; charset=binary") == "jpg" and ext_from_type("application/octet-stream") is None


# --- through the CLI, over real HTTP against the sandbox server -----------------------------


@pytest.fixture
def served(clock: FakeClock) -> Iterator[SandboxServer]:
    with SandboxServer(Emulator(MemoryStore(), clock=clock), "127.0.0.1", 0, webhooks=False) as server:
        yield server


def real(cli: Cli, server: SandboxServer) -> Cli:
    cli.transport = None  # type: ignore[assignment]  # the network: 127.0.0.1 only
    cli.env["PIAPI_BASE_URL"] = server.base_url
    return cli


def test_download_command_prints_paths_and_exit_9_names_what_failed(
    cli: Cli, served: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    cli = real(cli, served)
    task_id = cli("create", "-m", "midjourney", "-t", "imagine", "-i", "prompt=x").stdout.strip()
    clock.sleep(60)
    result = cli("download", task_id, "--dir", str(tmp_path / "out"), "-q")
    assert result.exit_code == 0, result.stderr
    paths = result.stdout.splitlines()
    assert len(paths) == 5 and all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in paths)
    again = cli("download", task_id, "--dir", str(tmp_path / "out"))
    assert again.exit_code == 9 and "exists; not overwritten" in again.stderr and again.stdout == ""
    assert cli("download", task_id, "--dir", str(tmp_path / "out"), "--skip-existing").exit_code == 0


def test_create_download_json_lists_local_files(cli: Cli, served: SandboxServer, tmp_path: Path) -> None:
    cli = real(cli, served)
    doc = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x", "--download", str(tmp_path),
              "--json").json()  # fmt: skip
    [local] = doc["local_files"]
    content = Path(local["path"]).read_bytes()
    assert local["bytes"] == len(content) and local["sha256"] == hashlib.sha256(content).hexdigest()
    assert local["url"] == doc["output"]["image_url"]


def test_truncated_downloads_are_resumed_over_http(
    cli: Cli, served: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    cli = real(cli, served)
    task_id = cli("create", "-m", "Qubico/ace-step", "-t", "txt2audio", "-i", "style_prompt=jazz").stdout.strip()
    clock.sleep(60)
    seen: list[str | None] = []
    original = served.emulator.handle

    def handle(method: str, path: str, headers: Any, body: bytes = b"") -> Any:
        if path.startswith("/files/"):
            seen.append({k.lower(): v for k, v in headers.items()}.get("range"))
            served.emulator.faults.truncate_downloads = len(seen) == 1  # only the first answer is cut
        return original(method, path, headers, body)

    served.emulator.handle = handle  # type: ignore[method-assign]
    result = cli("download", task_id, "--dir", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert seen[0] is None and seen[1] is not None and seen[1].startswith("bytes=")
    assert Path(result.stdout.strip()).read_bytes()[:4] == b"RIFF"


def test_download_of_a_failed_or_running_task(
    cli: Cli, served: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    cli = real(cli, served)
    failed = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x [sandbox:fail]").stdout.strip()
    running = cli(
        "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x [sandbox:seconds=999]"
    ).stdout.strip()
    clock.sleep(60)
    assert cli("download", failed, "--dir", str(tmp_path)).exit_code == 7
    result = cli("download", running, "--dir", str(tmp_path))
    assert result.exit_code == 8 and f"wait {running} --download" in result.stderr


def test_bad_name_template_is_a_usage_error(cli: Cli) -> None:
    result = cli("download", "x", "--name", "{task}.{ext}")
    assert result.exit_code == 2 and "unknown field task" in result.stderr


# --- uploads -------------------------------------------------------------------------------


def test_at_file_uploads_and_sends_the_url(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG not really")
    result = cli("create", "-m", "Qubico/image-toolkit", "-t", "upscale", "-i", f"image=@{image}", "--json")
    sent = result.json()["input"]["image"]
    assert sent.startswith(emulator.base_url + "/ephemeral/") and sent.endswith("/cat.png")
    assert [p for m, p in emulator.requests if m == "POST"] == ["/api/ephemeral_resource", "/api/v1/task"]


def test_inline_sends_a_data_uri(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"pixels")
    doc = cli(
        "create", "-m", "Qubico/image-toolkit", "-t", "upscale", "-i", f"image=@{image}", "--inline", "--json"
    ).json()
    assert doc["input"]["image"] == "data:image/png;base64," + base64.b64encode(b"pixels").decode()
    assert ("POST", "/api/ephemeral_resource") not in emulator.requests


def test_files_over_10_mb_are_refused_before_anything_is_sent(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate(10 * 1024 * 1024 + 1)
    result = cli("create", "-m", "Qubico/image-toolkit", "-t", "upscale", "-i", f"image=@{big}")
    assert result.exit_code == 2 and "upload limit is 10 MB" in result.stderr and emulator.requests == []


def test_missing_file_and_literal_at(cli: Cli, emulator: Emulator) -> None:
    result = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=@nobody")
    assert result.exit_code == 2 and "-i prompt=@nobody: no such file" in result.stderr
    doc = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=\\@somebody", "--dry-run").json()
    assert doc["input"]["prompt"] == "@somebody"


def test_dry_run_shows_files_without_uploading(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"x")
    doc = cli("create", "-m", "Qubico/image-toolkit", "-t", "upscale", "-i", f"image=@{image}", "--dry-run").json()
    assert doc["input"]["image"] == f"@{image}" and emulator.requests == []


def test_plan_refuses_403_upload_with_a_hint(cli: Cli, tmp_path: Path) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"code": 403, "message": "Insufficient plan level"})

    cli.transport = httpx.MockTransport(handle)
    image = tmp_path / "cat.png"
    image.write_bytes(b"x")
    result = cli("create", "-m", "Qubico/image-toolkit", "-t", "upscale", "-i", f"image=@{image}")
    assert result.exit_code == 3 and "Insufficient plan level" in result.stderr


def test_local_file_json_shape() -> None:
    assert LocalFile("u", "p", 1, "h", "t").to_json() == {"url": "u", "path": "p", "bytes": 1, "sha256": "h"}


class EvilHost:
    """A real HTTP server on 127.0.0.1 whose answers try to write outside the directory."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from threading import Thread

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                names = {"/a": "../../../../tmp/pwned.sh", "/b": "/etc/cron.d/pwned", "/c": "..\\..\\win.ini"}
                self.send_response(200)
                self.send_header("content-type", "application/octet-stream")
                self.send_header("content-disposition", f'attachment; filename="{names.get(self.path, "x")}"')
                self.send_header("content-length", "4")
                self.end_headers()
                self.wfile.write(b"evil")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_traversal_over_real_http_stays_inside_the_directory(tmp_path: Path, clock: FakeClock) -> None:
    host = EvilHost()
    try:
        urls = [f"{host.base}/a", f"{host.base}/b", f"{host.base}/c", f"{host.base}/..%2F..%2Fd"]
        out = tmp_path / "out"
        d = Downloader(httpx.Client(), out, template="{name}-{index}.{ext}", sleep=clock.sleep)
        report = d.run(d.plan([task_with(*urls)]))
    finally:
        host.httpd.shutdown()
    assert report.failures == [] and len(report.files) == 4
    assert sorted(p.parent for p in map(Path, (f.path for f in report.files))) == [out.resolve()] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert not Path("/tmp/pwned.sh").exists()


def test_a_compressed_answer_is_saved_decoded(tmp_path: Path, clock: FakeClock) -> None:
    import gzip

    def handle(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(BLOB)
        headers = {"content-encoding": "gzip", "content-length": str(len(body)), "content-type": "image/png"}
        return httpx.Response(200, headers=headers, content=body)

    d = Downloader(httpx.Client(transport=httpx.MockTransport(handle)), tmp_path, sleep=clock.sleep)
    [saved] = d.run(d.plan([task_with("https://cdn.example/a.png")])).files
    assert (tmp_path / "t-1-0.png").read_bytes() == BLOB and saved.bytes == len(BLOB)
    assert clock.sleeps == []  # no retry for a length mismatch that is only compression


def test_downloads_ask_for_files_as_stored(cli: Cli, emulator: Emulator, clock: FakeClock, tmp_path: Path) -> None:
    from piapi_cli.sandbox import transport_for

    seen: list[str] = []
    api = transport_for(emulator)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/files/"):
            seen.append(request.headers.get("accept-encoding", ""))
        return api.handle_request(request)

    cli.transport = httpx.MockTransport(handle)
    task_id = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x").stdout.strip()
    clock.sleep(60)
    assert cli("download", task_id, "--dir", str(tmp_path)).exit_code == 0
    assert seen == ["identity"]


def test_a_small_file_that_comes_whole_is_saved_without_a_resume_record(
    cli: Cli, served: SandboxServer, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piapi_cli.core.downloads import partfiles

    written: list[str] = []
    original = partfiles.write_file

    def write_file(path: Path, data: bytes, *, overwrite: bool) -> None:
        written.append(path.name)
        original(path, data, overwrite=overwrite)

    monkeypatch.setattr(partfiles, "write_file", write_file)
    cli = real(cli, served)
    task_id = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x").stdout.strip()
    clock.sleep(60)
    out = tmp_path / "out"
    result = cli("download", task_id, "--dir", str(out))
    assert result.exit_code == 0, result.stderr
    saved = Path(result.stdout.strip())
    assert saved.read_bytes()[:4] == b"\x89PNG"
    assert written == []  # the whole body came before any byte was written: no record of a part
    assert [p.name for p in out.iterdir()] == [saved.name]


def test_a_small_file_cut_short_keeps_what_came_with_its_record_and_resumes_with_range(
    cli: Cli, served: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    cli = real(cli, served)
    task_id = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x").stdout.strip()
    clock.sleep(60)
    served.emulator.faults.truncate_downloads = True  # every answer cut: the download fails
    out = tmp_path / "out"
    failed = cli("download", task_id, "--dir", str(out))
    assert failed.exit_code == 9
    [part] = out.glob("*.part")
    record = json.loads(part.with_name(part.name + ".json").read_text())
    assert 0 < part.stat().st_size < record["length"]  # what came, and what it is part of
    served.emulator.faults.truncate_downloads = False
    seen: list[str | None] = []
    original = served.emulator.handle

    def handle(method: str, path: str, headers: Any, body: bytes = b"") -> Any:
        if path.startswith("/files/"):
            seen.append({k.lower(): v for k, v in headers.items()}.get("range"))
        return original(method, path, headers, body)

    served.emulator.handle = handle  # type: ignore[method-assign]
    kept = part.stat().st_size
    result = cli("download", task_id, "--dir", str(out))
    assert result.exit_code == 0, result.stderr
    assert seen == [f"bytes={kept}-"]  # only the rest was asked for
    assert Path(result.stdout.strip()).read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in out.iterdir()] == [Path(result.stdout.strip()).name]
