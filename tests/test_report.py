"""piapi report, through the CLI: which tasks it shows, the files and thumbnails it writes, what
it refuses, and that nothing a server or a user wrote can reach the page as markup."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, Cli, FakeClock

FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img"]
INJECTED = '"><script>document.title="pwned"</script><img src=x onerror="document.title=1">'


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs in a folder of its own: downloads and reports land there."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def made(cli: Cli, prompt: str, *extra: str, download: str | None = "out", model: list[str] = FLUX) -> str:
    args = ["create", *model, "-i", f"prompt={prompt}", *extra, "-q"]
    args += ["--download", download] if download else ["--wait"]
    result = cli(*args)
    assert result.exit_code in (0, 7), result.stderr
    return _task_id_of(cli)


def _task_id_of(cli: Cli) -> str:
    listed = cli("tasks", "--json", "-n", "1").json()
    return str(listed[0]["task_id"])


def page_data(page: Path) -> dict:
    text = page.read_text("utf-8")
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    assert block is not None
    return json.loads(block.group(1))


def test_a_report_shows_each_task_with_its_files_thumbnails_and_figures(cli: Cli, here: Path) -> None:
    cat = made(cli, "a little cat")
    failed = made(cli, "bad [sandbox:fail]", download=None)
    remote = made(cli, "never saved", download=None)
    result = cli("report")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "piapi-report/index.html\n"
    assert "report of 3 tasks, 3 outputs (1 thumbnail made, 0 reused)" in result.stderr
    data = page_data(here / "piapi-report" / "index.html")
    tasks = {t["task_id"]: t for t in data["tasks"]}
    saved = tasks[cat]["outputs"][0]
    assert saved["kind"] == "image" and saved["file"] == f"../out/{cat}-0.png"
    assert (here / "piapi-report" / saved["thumbnail"]).is_file()
    assert saved["thumbnail"].startswith("thumbnails/")
    assert tasks[cat]["recreate"] == f"piapi create --from {cat}"  # the emulator stands in for PiAPI here
    assert tasks[cat]["credits"] and tasks[cat]["prompt"] == "a little cat"
    assert tasks[failed]["status"] == "failed" and "asked to fail" in tasks[failed]["error"]
    assert tasks[remote]["outputs"][0]["missing"] == "not downloaded"
    assert tasks[remote]["outputs"][0]["url"].startswith("http")
    total = data["summary"]["total"]
    assert (total["tasks"], total["completed"], total["failed"]) == (3, 2, 1)
    assert total["failure_rate"] == pytest.approx(1 / 3)
    assert data["summary"]["models"][0]["model"] == "Qubico/flux1-dev"


def test_a_second_report_reuses_the_thumbnails(cli: Cli, here: Path) -> None:
    made(cli, "a little cat")
    made(cli, "a fox")
    assert cli("report").exit_code == 0
    thumbs = sorted((here / "piapi-report" / "thumbnails").iterdir())
    stamps = [t.stat().st_mtime_ns for t in thumbs]
    again = cli("report")
    assert again.exit_code == 0 and "(0 thumbnails made, 2 reused)" in again.stderr
    assert [t.stat().st_mtime_ns for t in sorted((here / "piapi-report" / "thumbnails").iterdir())] == stamps


def test_json_prints_the_records_the_page_shows(cli: Cli, here: Path) -> None:
    made(cli, "a little cat")
    printed = cli("report", "--json", "--out", "rep")
    assert printed.exit_code == 0, printed.stderr
    assert printed.json()["tasks"] == page_data(here / "rep" / "index.html")["tasks"]
    alone = cli("report", "--json")  # no --out: the data only, nothing written
    assert alone.exit_code == 0 and alone.json()["tasks"][0]["prompt"] == "a little cat"
    assert not (here / "piapi-report").exists()


def test_nothing_from_a_server_or_a_user_reaches_the_page_as_markup(cli: Cli, here: Path) -> None:
    made(cli, INJECTED)
    assert cli("report", "--out", "rep").exit_code == 0
    text = (here / "rep" / "index.html").read_text("utf-8")
    assert "<script>document.title" not in text and "<img src=x" not in text
    assert page_data(here / "rep" / "index.html")["tasks"][0]["prompt"] == INJECTED
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert policy is not None and "default-src 'none'" in policy.group(1)
    assert "unsafe-inline" not in policy.group(1) and "http" not in policy.group(1)
    assert not re.search(r"<[^>]+\son[a-z]+=", text)  # no inline event handlers anywhere


def test_the_output_file_may_be_a_named_html_file(cli: Cli, here: Path) -> None:
    made(cli, "a little cat")
    result = cli("report", "--out", "site/cats.html")
    assert result.exit_code == 0 and result.stdout == "site/cats.html\n"
    assert any((here / "site" / "thumbnails").iterdir())


def test_a_page_that_is_not_a_report_is_never_overwritten(cli: Cli, here: Path) -> None:
    made(cli, "a little cat")
    (here / "mine.html").write_text("my own page")
    refused = cli("report", "--out", "mine.html")
    assert refused.exit_code == 2 and "not a piapi report" in refused.stderr
    assert (here / "mine.html").read_text() == "my own page"
    (here / "afile").write_text("x")
    assert cli("report", "--out", "afile").exit_code == 2
    assert cli("report", "--out", "fine.html").exit_code == 0
    assert cli("report", "--out", "fine.html").exit_code == 0  # its own page: replaced


def test_selecting_tasks(cli: Cli, here: Path) -> None:
    first = made(cli, "a little cat")
    made(cli, "bad [sandbox:fail]", download=None)
    by_id = cli("report", first[:8], "--json")
    assert [t["task_id"] for t in by_id.json()["tasks"]] == [first]
    failed = cli("report", "--status", "failed", "--json").json()["tasks"]
    assert [t["status"] for t in failed] == ["failed"]
    assert cli("report", "--model", "midjourney", "--json").json()["tasks"] == []
    both = cli("report", first, "--since", "1d")
    assert both.exit_code == 2 and "give one of them" in both.stderr
    missing = cli("report", "--batch", "no-such-run")
    assert missing.exit_code == 2 and "no batch run" in missing.stderr
    unknown = cli("report", "ffffffff")
    assert unknown.exit_code == 2 and "no task" in unknown.stderr


def test_compare_by_an_input_puts_its_values_in_columns(cli: Cli, here: Path) -> None:
    for seed in ("1", "2", "3"):
        made(cli, "a fox", "-i", f"seed={seed}")
    made(cli, "a cat", "-i", "seed=2")
    data = cli("report", "--compare-by", "seed", "--json").json()["compare"]
    assert data["field"] == "seed" and data["columns"] == ["1", "2", "3"]
    prompts = [row["label"]["prompt"] for row in data["rows"]]
    assert sorted(prompts) == ["a cat", "a fox"]
    fox = data["rows"][prompts.index("a fox")]
    assert [len(cell) for cell in fox["cells"]] == [1, 1, 1]


def test_a_file_pillow_cannot_read_gets_no_thumbnail_and_the_report_is_written(cli: Cli, here: Path) -> None:
    task_id = made(cli, "a little cat")
    (here / "out" / f"{task_id}-0.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    result = cli("report")
    assert result.exit_code == 0
    assert "warning: no thumbnail for" in result.stderr
    output = page_data(here / "piapi-report" / "index.html")["tasks"][0]["outputs"][0]
    assert output["thumbnail"] is None and output["file"]  # the page shows the file itself


def test_a_file_removed_since_it_was_saved_is_shown_as_remote(cli: Cli, here: Path) -> None:
    task_id = made(cli, "a little cat")
    (here / "out" / f"{task_id}-0.png").unlink()
    output = cli("report", "--json").json()["tasks"][0]["outputs"][0]
    assert output["file"] is None and output["missing"] == f"saved as {task_id}-0.png, no longer there"


def test_no_thumbnails_links_the_full_size_files(cli: Cli, here: Path) -> None:
    made(cli, "a little cat")
    assert cli("report", "--no-thumbnails").exit_code == 0
    assert not (here / "piapi-report" / "thumbnails").exists()
    assert page_data(here / "piapi-report" / "index.html")["tasks"][0]["outputs"][0]["thumbnail"] is None


def test_open_without_a_desktop_says_where_the_page_is(cli: Cli, here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    made(cli, "a little cat")
    result = cli("report", "--open")
    assert result.exit_code == 0 and "no desktop browser here: open piapi-report/index.html" in result.stderr


def test_without_a_journal_there_is_nothing_to_report(cli: Cli, here: Path) -> None:
    result = cli("--no-journal", "report")
    assert result.exit_code == 3 and "journal is turned off" in result.stderr


def test_a_full_disk_leaves_the_last_page_whole_and_no_half_file(
    cli: Cli, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from piapi_cli.core.report import page

    made(cli, "a little cat")
    assert cli("report").exit_code == 0
    before = (here / "piapi-report" / "index.html").read_bytes()
    made(cli, "a fox")
    written = []

    def full(fd: int, data: bytes) -> int:
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(data))
        return os.write(fd, bytes(data)[:4096])  # the first piece lands, then the disk is full

    monkeypatch.setattr(page.os, "write", full)
    result = cli("report", "--no-thumbnails")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "could not write the report in piapi-report: No space left on device" in result.stderr
    assert (here / "piapi-report" / "index.html").read_bytes() == before
    assert sorted(p.name for p in (here / "piapi-report").iterdir()) == ["index.html", "thumbnails"]


def test_links_planted_in_the_report_folder_are_refused(cli: Cli, here: Path, tmp_path: Path) -> None:
    made(cli, "a little cat")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (here / "rep").mkdir()
    (here / "rep" / "thumbnails").symlink_to(elsewhere)
    refused = cli("report", "--out", "rep")
    assert refused.exit_code == 2 and "not a folder of thumbnails" in refused.stderr
    (here / "rep" / "thumbnails").unlink()
    (here / "rep" / "index.html").symlink_to(elsewhere / "victim.html")
    refused = cli("report", "--out", "rep")
    assert refused.exit_code == 2 and "not a piapi report" in refused.stderr
    assert list(elsewhere.iterdir()) == []


def test_two_reports_into_one_folder_at_once_both_finish(cli: Cli, here: Path) -> None:
    import os
    import subprocess
    import sys

    for prompt in ("one", "two", "three", "four"):
        made(cli, prompt)
    command = [sys.executable, "-m", "piapi_cli", "report", "--out", "shared"]
    env = {**os.environ, "PIAPI_API_KEY": "unused-here"}
    processes = [subprocess.Popen(command, cwd=here, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]  # fmt: skip
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0 and out == "shared/index.html\n", err
    data = page_data(here / "shared" / "index.html")
    assert len(data["tasks"]) == 4
    assert all((here / "shared" / t["outputs"][0]["thumbnail"]).is_file() for t in data["tasks"])
    assert not [p for p in (here / "shared").rglob("*.tmp")]


@pytest.mark.parametrize("given", ["env", "flag"])
def test_the_recreate_line_names_a_base_url_that_is_not_the_default_and_never_the_key(
    here: Path, clock: FakeClock, given: str
) -> None:
    """Tasks made against a sandbox server on 127.0.0.1: the report's command line makes them again
    there (--base-url), pasted as it is; the key stays out of it."""
    import shlex

    from piapi_cli.sandbox import Emulator, MemoryStore
    from piapi_cli.sandbox.server import SandboxServer

    emulator = Emulator(MemoryStore(), clock=clock)
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False) as server:
        base = server.base_url
        env = {"PIAPI_API_KEY": TEST_KEY} | ({"PIAPI_BASE_URL": base} if given == "env" else {})
        cli = Cli(clock=clock, transport=None, env=env)  # type: ignore[arg-type]
        world = [] if given == "env" else ["--base-url", base]
        created = cli(*world, "create", *FLUX, "-i", "prompt=a little cat", "--wait", "--json")
        assert created.exit_code == 0, created.stderr
        task_id = created.json()["task_id"]
        report = cli(*world, "report", "--json", task_id)
        assert report.exit_code == 0, report.stderr
        [task] = report.json()["tasks"]
        assert task["recreate"] == f"piapi --base-url {base} create --from {task_id}"
        assert TEST_KEY not in report.stdout
        assert cli(*world, "report", task_id, "--out", "page").exit_code == 0  # the page shows the same line
        [shown] = page_data(here / "page" / "index.html")["tasks"]
        assert shown["recreate"] == task["recreate"] and TEST_KEY not in (here / "page" / "index.html").read_text()
        before = sum(1 for _ in emulator.store.all())
        again = Cli(clock=clock, transport=None, env={"PIAPI_API_KEY": TEST_KEY})  # type: ignore[arg-type]
        pasted = again(*shlex.split(task["recreate"])[1:])  # (no PIAPI_BASE_URL: the line says where)
        assert pasted.exit_code == 0, pasted.stderr
        assert sum(1 for _ in emulator.store.all()) == before + 1  # made again on that server
