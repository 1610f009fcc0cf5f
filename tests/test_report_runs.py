"""Reports and runs together: ``batch run --report DIR`` (at the end, and after Ctrl-C for what
finished), the marks a reader exports fed back to ``batch run --only`` and ``download
--ids-from``, and every way a marks file can be wrong (exit 2, nothing sent)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from piapi_cli.sandbox.server import SandboxServer
from tests.conftest import Cli
from tests.test_batch import prompts, results, write_rows
from tests.test_batch_process import batch, created_prompts, environment, server, wait_for
from tests.test_report import page_data

__all__ = ["server"]  # the fixture, shared with the batch process tests

FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img"]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def created(cli: Cli) -> int:
    return len(cli("tasks", "--json", "-n", "1000").json())


def test_a_batch_run_writes_its_report_when_it_ends(cli: Cli, here: Path) -> None:
    rows = write_rows(here / "rows.jsonl", prompts(3))
    run = cli("batch", "run", str(rows), *FLUX, "--download", "out", "--report", "out")
    assert run.exit_code == 0, run.stderr
    assert "report: out/index.html" in run.stderr
    data = page_data(here / "out" / "index.html")
    assert sorted(t["row"] for t in data["tasks"]) == ["r0", "r1", "r2"]
    assert all(t["outputs"][0]["file"].startswith("r") and t["outputs"][0]["thumbnail"] for t in data["tasks"])
    assert data["title"].startswith("piapi report: ")


def test_a_bad_report_target_stops_the_run_before_anything_is_sent(cli: Cli, here: Path) -> None:
    rows = write_rows(here / "rows.jsonl", prompts(2))
    (here / "mine").mkdir()
    (here / "mine" / "index.html").write_text("not a report")
    refused = cli("batch", "run", str(rows), *FLUX, "--report", "mine")
    assert refused.exit_code == 2 and "not a piapi report" in refused.stderr
    alone = cli("batch", "run", str(rows), *FLUX, "--open")
    assert alone.exit_code == 2 and "--open goes with --report" in alone.stderr
    assert created(cli) == 0


def test_marked_rows_run_again_and_marked_tasks_download(cli: Cli, here: Path) -> None:
    rows = write_rows(here / "rows.jsonl", prompts(4))
    first = cli("batch", "run", str(rows), *FLUX, "--report", "rep")
    assert first.exit_code == 0, first.stderr
    tasks = page_data(here / "rep" / "index.html")["tasks"]
    picked = [t for t in tasks if t["row"] in ("r1", "r3")]
    marks = here / "marks.jsonl"
    marks.write_text(
        "".join(json.dumps({k: t[k] for k in ("task_id", "run_id", "row", "model")}) + "\n" for t in picked)
    )
    again = cli("batch", "run", str(rows), *FLUX, "--only", str(marks), "--run-id", "picked")
    assert again.exit_code == 0, again.stderr
    assert sorted(results(again.stdout)) == ["r1", "r3"]
    assert created(cli) == 6  # four, then the two marked rows as new tasks
    saved = cli("download", "--ids-from", str(marks), "--dir", "picked")
    assert saved.exit_code == 0, saved.stderr
    assert sorted(Path(p).name for p in saved.stdout.split()) == sorted(f"{t['task_id']}-0.png" for t in picked)


def test_marks_naming_rows_a_file_lacks(cli: Cli, here: Path) -> None:
    rows = write_rows(here / "rows.jsonl", prompts(2))
    marks = here / "marks.jsonl"
    marks.write_text('{"row": "r1"}\n{"row": "gone"}\n')
    partly = cli("batch", "run", str(rows), *FLUX, "--only", str(marks))
    assert partly.exit_code == 0 and "1 marked row(s) not in" in partly.stderr and "gone" in partly.stderr
    assert sorted(results(partly.stdout)) == ["r1"]
    marks.write_text('{"row": "gone"}\n')
    none = cli("batch", "run", str(rows), *FLUX, "--only", str(marks), "--run-id", "other")
    assert none.exit_code == 2 and "none of the rows it names" in none.stderr
    assert created(cli) == 1


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b'{"task_id": 12}\n', "line 1: task_id must be text"),
        (b'{"task_id": "a"}\n[1, 2]\n', "line 2: expected a JSON object or a task ID"),
        (b'{"task_id": "a"\n', "line 1: not valid JSON"),
        (b'{"model": "x"}\n', "line 1: names neither a task_id nor a row"),
        (b"two words\n", "line 1: expected a JSON object or a task ID"),
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b"[" * 100_000, "line 1: expected a JSON object or a task ID"),
        (b"{" * 100_000, "line 1: not valid JSON"),
    ],
)
def test_a_marks_file_that_is_wrong_sends_nothing(cli: Cli, here: Path, content: bytes, complaint: str) -> None:
    rows = write_rows(here / "rows.jsonl", prompts(2))
    (here / "marks.jsonl").write_bytes(content)
    for line in (
        ["batch", "run", str(rows), *FLUX, "--only", "marks.jsonl"],
        ["download", "--ids-from", "marks.jsonl"],
    ):
        refused = cli(*line)
        assert refused.exit_code == 2 and complaint in refused.stderr, (line, refused.stderr)
        assert "Traceback" not in refused.stderr
    assert created(cli) == 0


def test_download_takes_plain_task_ids_and_needs_some(cli: Cli, here: Path) -> None:
    assert cli("create", *FLUX, "-i", "prompt=a cat", "--wait", "-q").exit_code == 0
    task_id = cli("tasks", "--json", "-n", "1").json()[0]["task_id"]
    (here / "ids.txt").write_text(f"# picked by hand\n\n{task_id}\n{task_id}\n")
    saved = cli("download", "--ids-from", "ids.txt", "--dir", "d")
    assert saved.exit_code == 0 and [Path(p).name for p in saved.stdout.split()] == [f"{task_id}-0.png"]
    empty = cli("download", "--ids-from", "/dev/null")
    assert empty.exit_code == 2 and "no task to download" in empty.stderr
    missing = cli("download", "--ids-from", "no-such-file")
    assert missing.exit_code == 2 and "cannot be read" in missing.stderr


def test_ctrl_c_writes_the_report_of_what_finished(server: SandboxServer, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(json.dumps({"id": f"r{n}", "input": {"prompt": f"row {n}" + (" [sandbox:seconds=3600]" if n else "")}})
                + "\n" for n in range(6))
    )  # fmt: skip
    env = environment(server, tmp_path / "data")
    report = tmp_path / "report"
    process = subprocess.Popen(
        batch("run", str(rows), *FLUX, "-c", "2", "--download", str(tmp_path / "out"), "--report", str(report),
              "--interval", "0.1"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    wait_for(lambda: (tmp_path / "out" / "r0-0.png").exists() and len(created_prompts(server)) >= 2, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"report: {report / 'index.html'}" in err
    tasks = {t["row"]: t for t in page_data(report / "index.html")["tasks"]}
    assert tasks["r0"]["status"] == "completed" and tasks["r0"]["outputs"][0]["thumbnail"]
    assert all(t["status"] != "completed" for key, t in tasks.items() if key != "r0")
