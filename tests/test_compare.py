"""piapi compare: one task per model for the same input, a row per model as each finishes,
an ordinary batch run underneath (journaled, resumable, never paid twice)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from piapi_cli.sandbox import Emulator
from tests.conftest import Cli
from tests.test_batch import creates

THREE = ["-m", "Qubico/flux1-dev", "-m", "midjourney", "-m", "kling"]
SCRIPT = Path(sys.executable).with_name("piapi")


def test_each_model_gets_one_task_and_a_row_with_what_it_does_not_take_dropped(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = cli("compare", *THREE, "-i", "prompt=a lighthouse", "-i", "width=768", "--download", str(out))
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert {row[0] for row in rows} == {"Qubico/flux1-dev", "midjourney", "kling"}
    for _model, status, seconds, credits, file in rows:
        assert status == "completed" and seconds.endswith("s") and int(credits.replace(",", "")) > 0
        assert Path(file.split(" (+")[0]).is_file()
    kling = next(row for row in rows if row[0] == "kling")
    assert kling[4].split(" (+")[0].endswith(".mp4")  # a video task's file is its video, not its cover
    sent = {r["model"]: (r["task_type"], r["input"]) for r in creates(emulator)}
    assert sent["Qubico/flux1-dev"] == ("txt2img", {"prompt": "a lighthouse", "width": 768})
    assert sent["midjourney"] == ("imagine", {"prompt": "a lighthouse"})
    assert sent["kling"][0] == "video_generation" and "width" not in sent["kling"][1]
    assert "midjourney imagine does not take width" in result.stderr


def test_the_same_comparison_again_is_never_paid_twice(cli: Cli, emulator: Emulator) -> None:
    first = cli("compare", *THREE, "-i", "prompt=a fox")
    assert first.exit_code == 0 and len(creates(emulator)) == 3
    again = cli("compare", "-m", "kling", "-m", "midjourney", "-m", "Qubico/flux1-dev", "-i", "prompt=a fox")
    assert again.exit_code == 0 and len(creates(emulator)) == 3
    assert sorted(again.stdout.splitlines()) == sorted(first.stdout.splitlines())
    fresh = cli("compare", *THREE, "-i", "prompt=a fox", "--run-id", "fox-take-2")
    assert fresh.exit_code == 0 and len(creates(emulator)) == 6


def test_a_lost_create_answer_is_not_sent_again(cli: Cli, emulator: Emulator) -> None:
    emulator.faults.drop_rate = 1.0  # every answer is cut: the creates happen, piapi never hears
    lost = cli("compare", "-m", "Qubico/flux1-dev", "-m", "midjourney", "-i", "prompt=a cat", "--timeout", "5")
    assert lost.exit_code != 0 and "Traceback" not in lost.stderr
    assert len(creates(emulator)) == 2
    emulator.faults.drop_rate = 0.0
    cli("compare", "-m", "Qubico/flux1-dev", "-m", "midjourney", "-i", "prompt=a cat")
    assert len(creates(emulator)) == 2


def test_json_is_one_array_with_time_and_credits(cli: Cli) -> None:
    result = cli("compare", "-m", "Qubico/flux1-dev", "-m", "Qubico/flux1-schnell", "-i", "prompt=a cat", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [d["id"] for d in doc] and {d["id"] for d in doc} == {"Qubico/flux1-dev", "Qubico/flux1-schnell"}
    assert all(d["status"] == "completed" and d["credits"] > 0 and d["seconds"] >= 0 for d in doc)


def test_a_failed_model_is_a_row_and_the_exit_code(cli: Cli) -> None:
    result = cli("compare", "-m", "Qubico/flux1-dev", "-m", "midjourney", "-i", "prompt=x [sandbox:fail]")
    assert result.exit_code == 7
    assert all(line.split("\t")[1] == "failed" for line in result.stdout.splitlines())


@pytest.mark.parametrize(("args", "message"), [
    (["-m", "Qubico/flux1-dev:", "-i", "prompt=a"], "expected MODEL or MODEL:TASK_TYPE"),
    (["-m", "Qubico/flux1-dev", "-m", "Qubico/flux1-dev:txt2img", "-i", "prompt=a"], "given twice"),
    (["-m", "no-such-model", "-i", "prompt=a"], "give its task type"),
    (["-m", "Qubico/flux1-dev", "-i", "width=5"], "no task type of it takes just these inputs"),
    (["-m", "Qubico/flux1-dev:img2img", "-i", "prompt=a"], "image"),
    (["-m", "Qubico/flux1-dev", "-i", "prompt=a", "-i", "widht=512"], "width"),
])  # fmt: skip
def test_a_bad_comparison_exits_2_with_nothing_sent(
    cli: Cli, emulator: Emulator, args: list[str], message: str
) -> None:
    result = cli("compare", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and creates(emulator) == []


def test_a_dry_run_shows_the_tasks_and_sends_nothing(cli: Cli, emulator: Emulator) -> None:
    result = cli("compare", *THREE, "-i", "prompt=a", "--dry-run")
    assert result.exit_code == 0 and "3 rows" in result.stdout and "kling video_generation" in result.stdout
    assert creates(emulator) == []


def test_on_a_terminal_the_rows_line_up_under_a_header(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from piapi_cli.cli.output import Output

    monkeypatch.setattr(Output, "stdout_tty", property(lambda self: True))
    result = cli("--no-color", "compare", "-m", "Qubico/flux1-dev", "-m", "midjourney", "-i", "prompt=a cat")
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["model", "status", "time", "credits", "file"]
    assert len(rows) == 2 and all(row.index("completed") == header.index("status") for row in rows)


def _page_data(page: Path) -> dict[str, object]:
    import re

    block = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', page.read_text(), re.S)
    assert block is not None
    data: dict[str, object] = json.loads(block.group(1))
    return data


def test_report_puts_the_models_side_by_side(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    out, page = tmp_path / "out", tmp_path / "page"
    result = cli("compare", *THREE, "-i", "prompt=a fox", "--download", str(out), "--report", str(page))
    assert result.exit_code == 0, result.stderr
    assert f"{page / 'index.html'}" in result.stderr and str(page) not in result.stdout  # stdout: the rows
    data = _page_data(page / "index.html")
    compare = data["compare"]
    assert isinstance(compare, dict) and compare["field"] == "model"
    assert sorted(compare["columns"]) == ["Qubico/flux1-dev", "kling", "midjourney"]
    assert len(compare["rows"]) == 1 and all(cell for cell in compare["rows"][0]["cells"])
    assert len(list((page / "thumbnails").iterdir())) >= 3


def test_a_report_folder_that_cannot_be_written_is_refused_before_sending(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "index.html").write_text("<html>someone's own page</html>")
    result = cli("compare", *THREE, "-i", "prompt=a fox", "--report", str(taken))
    assert result.exit_code == 2 and "not a piapi report" in result.stderr
    assert creates(emulator) == [] and "someone's own page" in (taken / "index.html").read_text()


@pytest.mark.parametrize("shown", [[], ["--json"]])
def test_a_closed_stdout_exits_141_and_names_the_tasks_on_stderr(shown: list[str]) -> None:
    # the reader went away before the first row (what `| head -c0` leaves behind): the flux task
    # ends first, its row finds no reader, and the kling video is left running
    read_end, write_end = os.pipe()
    os.close(read_end)
    command = [str(SCRIPT), "--sandbox", "compare", "-m", "Qubico/flux1-dev", "-m", "kling", "-i", "prompt=a fox",
               "--interval", "0.1", *shown]  # fmt: skip
    try:
        result = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                                env={**os.environ, "PIAPI_SANDBOX_SPEED": "10"})  # fmt: skip
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr
    journal = subprocess.run([str(SCRIPT), "--sandbox", "tasks", "--json", "--jq", ".[].task_id"],
                             capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    tasks = journal.stdout.split()
    [named] = [line for line in result.stderr.splitlines() if "but stdout was closed" in line]
    assert len(tasks) == 2 and all(task in named.split(": ", 1)[1] for task in tasks)  # both, to get them
