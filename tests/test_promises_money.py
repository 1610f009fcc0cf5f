"""Money under attack: a full disk mid-run loses no task ID, a filter failing on a paid answer
does not claim nothing was sent, two rows never pay for one file, and --attach adopts only the
task its row created."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.sandbox import Emulator, transport_for
from tests.conftest import Cli
from tests.test_batch import FLUX, creates, lose_answers, prompts, results, write_rows


def sandbox_task_ids(data: Path) -> set[str]:
    """Every task the in-process sandbox created (its store: one file per task)."""
    return {p.stem for p in (data / "sandbox" / "tasks").glob("*.json")}


def with_file_size_limit(limit: int) -> None:
    """A disk that fills: writes past ``limit`` bytes fail with EFBIG (SIGXFSZ ignored)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


# --- 1. a full disk in a batch run loses no task ID -------------------------------------------


def test_a_journal_filling_up_mid_run_loses_no_task_id(isolated: Path, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(60))
    # a first run makes the journal; then it may grow by little: it fills up mid-run
    env = {**os.environ, "PIAPI_SANDBOX_SPEED": "100"}
    base = [sys.executable, "-m", "piapi_cli", "--sandbox"]
    first = subprocess.run([*base, "create", *FLUX, "-i", "prompt=x"], env=env, capture_output=True, text=True,
                           check=True, timeout=60)  # fmt: skip
    limit = (isolated / "data" / "journal.sqlite3").stat().st_size + 120_000
    out = tmp_path / "results.jsonl"
    run = subprocess.run(
        [*base, "batch", "run", str(rows), *FLUX, "--output", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: with_file_size_limit(limit),
    )
    created = sandbox_task_ids(isolated / "data") - {first.stdout.strip()}
    printed = {json.loads(line)["task_id"] for line in (out.read_text() + run.stdout).splitlines() if line}
    assert len(created) > 2, run.stderr  # the journal filled up after some creates were carried out
    assert created <= printed, run.stderr  # every task the server accepted is in a result line
    assert run.returncode == 10, run.stderr  # partly done
    assert "Traceback" not in run.stderr, run.stderr
    # the disk fills while a created task's ID is written (not recorded: printed anyway) or while
    # the next create's intent is (that create is not sent): either way stderr says which
    assert "could not record" in run.stderr or "(while recording a create)" in run.stderr, run.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_results_file_that_cannot_be_written_sends_every_line_to_stdout(cli: Cli, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(5))
    result = cli("batch", "run", str(rows), *FLUX, "--output", "/dev/full")
    assert set(results(result.stdout)) == {f"r{n}" for n in range(5)}
    assert "cannot write /dev/full: the disk is full" in result.stderr
    assert result.exit_code == 10
    assert Path("/dev/full").is_char_device()  # written into, never replaced


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 64 KiB file system (tmpfs), where mounting is allowed."""
    place = tmp_path / "small"
    place.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(place)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mount is not allowed here")
    yield place
    subprocess.run(["umount", str(place)], capture_output=True)


def test_a_results_file_on_a_full_disk_gives_its_lines_to_stdout_once(
    cli: Cli, tmp_path: Path, small_disk: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(300))
    result = cli("batch", "run", str(rows), *FLUX, "--output", str(small_disk / "results.jsonl"))
    assert set(results(result.stdout)) == {f"r{n}" for n in range(300)}  # each once (results() checks)
    assert "the disk is full" in result.stderr and result.exit_code == 10
    assert list(small_disk.iterdir()) == []  # no partial file left


# --- 2. a --jq filter failing on a paid answer -------------------------------------------------


def test_a_jq_filter_failing_on_the_answer_names_the_task_and_does_not_exit_2(cli: Cli, emulator: Emulator) -> None:
    result = cli("create", *FLUX, "-i", "prompt=a cat", "--jq", ".task_id | tonumber")
    [task] = creates(emulator)
    assert result.exit_code == 11, result.stderr
    assert f"task {task['task_id']} was created" in result.stderr
    assert result.stdout == task["task_id"] + "\n"  # ID=$(piapi create ... --jq ...) gets it all the same
    assert cli("tasks", "--json").json()[0]["task_id"] == task["task_id"]  # journaled as well
    dry = cli("create", *FLUX, "-i", "prompt=a cat", "--jq", ".model | tonumber", "--dry-run")
    assert dry.exit_code == 2 and len(creates(emulator)) == 1  # nothing sent: still a usage error


# --- 3. output names clash as they land on disk -------------------------------------------------


@pytest.mark.parametrize(
    "ids",
    [
        ["x/1", "x_1"],
        [unicodedata.normalize("NFC", "caf\u00e9"), unicodedata.normalize("NFD", "caf\u00e9")],
        ["\u00e9" * 150 + "1", "\u00e9" * 150 + "2"],  # the same first 255 bytes
        ["..hidden", "hidden"],
        ["Cat", "cat"],  # one name on a file system that ignores case
    ],
)
def test_rows_whose_files_would_land_on_one_name_are_refused_before_sending(
    cli: Cli, emulator: Emulator, tmp_path: Path, ids: list[str]
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": i, "input": {"prompt": f"p{n}"}} for n, i in enumerate(ids)])
    result = cli("batch", "run", str(rows), *FLUX, "--download", str(tmp_path / "out"))
    assert result.exit_code == 2, result.stderr
    assert "same file names" in result.stderr
    assert creates(emulator) == []


# --- 4. --attach adopts only the task its row created --------------------------------------------


@pytest.mark.parametrize(
    ("other", "field"),
    [
        ({"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "something else"}}, "'prompt'"),
        (
            {
                "model": "Qubico/flux1-dev",
                "task_type": "img2img",
                "input": {"prompt": "LOST", "image": "https://example.test/a.png"},
            },
            "task_type",
        ),  # fmt: skip
    ],
)
def test_attach_refuses_a_task_whose_input_differs_from_the_row(
    cli: Cli, emulator: Emulator, tmp_path: Path, other: dict[str, Any], field: str
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": "lost", "input": {"prompt": "LOST"}}])
    cli.transport = lose_answers(emulator, "LOST")
    assert cli("batch", "run", str(rows), *FLUX).exit_code == 5
    cli.transport = transport_for(emulator)
    made = cli("create", "-m", other["model"], "-t", other["task_type"],
               *[f"-i{k}={v}" for k, v in other["input"].items()])  # fmt: skip
    wrong = made.stdout.strip()
    refused = cli("batch", "run", str(rows), *FLUX, "--attach", f"lost={wrong}")
    assert refused.exit_code == 2 and field in refused.stderr and "differs" in refused.stderr
    lost = creates(emulator)[0]  # the create whose answer was lost
    right = cli("batch", "run", str(rows), *FLUX, "--attach", f"lost={lost['task_id']}")
    assert right.exit_code == 0 and results(right.stdout)["lost"]["task_id"] == lost["task_id"]
    assert len(creates(emulator)) == 2  # the lost create and the other task: nothing resent


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["create", *FLUX, "-i", "prompt=a cat"], ["batch", "run", "ROWS", *FLUX, "-q"]])
def test_stdout_on_a_full_disk_still_names_every_task_on_stderr_and_exits_10(
    isolated: Path, tmp_path: Path, command: list[str]
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(3))
    args = [str(rows) if arg == "ROWS" else arg for arg in command]
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "piapi_cli", "--sandbox", *args], stdout=full,
                             stderr=subprocess.PIPE, text=True, timeout=120,
                             env={**os.environ, "PIAPI_SANDBOX_SPEED": "100"})  # fmt: skip
    assert run.returncode == 10, run.stderr
    assert "cannot write stdout: the disk is full" in run.stderr and "Traceback" not in run.stderr
    created = sandbox_task_ids(isolated / "data")
    assert created and all(task_id in run.stderr for task_id in created)


def test_a_journal_that_stops_taking_rows_mid_run_is_partly_done_not_a_set_up_error(
    cli: Cli, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # whichever write meets the full disk first (a create's intent, or its answer), a run
    # that created tasks ends "partly done" with each of their IDs printed
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.core.journal.store import JournalError

    begin = Journal.begin_create
    calls: list[int] = []

    def full_after_three(self: Journal, *args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) > 3:
            raise JournalError(self.path, "recording a create", "database or disk is full", kind="disk_full")
        return begin(self, *args, **kwargs)

    monkeypatch.setattr(Journal, "begin_create", full_after_three)
    rows = write_rows(tmp_path / "rows.jsonl", prompts(8))
    result = cli("batch", "run", str(rows), *FLUX, "--concurrency", "1")
    created = {r["task_id"] for r in emulator.store.all()}
    assert len(created) == 3
    printed = {line["task_id"] for line in results(result.stdout).values() if line.get("task_id")}
    assert created <= printed
    assert result.exit_code == 10, result.stderr
    assert "database or disk is full" in result.stderr


def test_a_journal_that_takes_no_row_at_all_is_still_a_set_up_error(
    cli: Cli, emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.core.journal.store import JournalError

    def full(self: Journal, *args: Any, **kwargs: Any) -> int:
        raise JournalError(self.path, "recording a create", "database or disk is full", kind="disk_full")

    monkeypatch.setattr(Journal, "begin_create", full)
    rows = write_rows(tmp_path / "rows.jsonl", prompts(3))
    result = cli("batch", "run", str(rows), *FLUX)
    assert list(emulator.store.all()) == []
    assert result.exit_code == 3, result.stderr
