"""Batch runs in-process: rows read and checked, resumed, never paid twice, paced, limited, split."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli.core.batch.rows import in_shard, parse_shard
from piapi_cli.sandbox import Emulator, Faults, MemoryStore, transport_for
from tests.conftest import Cli, FakeClock

FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img"]


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def prompts(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": f"r{n}", "input": {"prompt": f"a cat number {n}"}, **extra} for n in range(count)]


def creates(emulator: Emulator) -> list[dict[str, Any]]:
    """The tasks the API created, oldest first (one per create it carried out)."""
    return sorted(emulator.store.all(), key=lambda r: r["created"])


def results(stdout: str) -> dict[str, dict[str, Any]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    found = {line["id"]: line for line in lines}
    assert len(found) == len(lines), "a row was reported twice"
    return found


def journal(isolated: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(isolated / "data" / "journal.sqlite3")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


# --- reading and checking rows ---------------------------------------------------------


def test_every_row_becomes_one_task_with_the_defaults_and_its_own_values_winning(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [
        {"id": "a", "input": {"prompt": "a fox"}},
        {"id": 7, "input": {"prompt": "a lynx", "width": 512}},
        {"id": "c", "model": "Qubico/flux1-schnell", "task_type": "txt2img", "input": {"prompt": "x", "batch_size": 2}},
    ])  # fmt: skip
    result = cli("batch", "run", str(rows), *FLUX, "-i", "width=1024", "-i", "height=768")
    assert result.exit_code == 0, result.stderr
    done = results(result.stdout)
    assert set(done) == {"a", "7", "c"} and {r["status"] for r in done.values()} == {"completed"}
    sent = {r["input"]["prompt"]: r for r in creates(emulator)}
    assert len(sent) == 3
    assert sent["a fox"]["input"] == {"prompt": "a fox", "width": 1024, "height": 768}
    assert sent["a lynx"]["input"]["width"] == 512  # the row's own value wins
    assert sent["x"]["model"] == "Qubico/flux1-schnell" and sent["x"]["input"]["batch_size"] == 2
    line = done["a"]
    assert line["task_id"] == sent["a fox"]["task_id"] and line["model"] == "Qubico/flux1-dev"
    assert line["outputs"] and line["usage"]["consume"] > 0 and line["error"] is None and line["files"] == []


def test_csv_columns_are_coerced_nested_and_fill_the_template(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = tmp_path / "shots.csv"
    rows.write_text(
        "\ufeffid,animal,style,width,camera_control.type,model,task_type\n"
        "1,cat,watercolour,512,,,\n"
        '2,"dog, small",oil,,simple,kling,video_generation\n'
    )
    result = cli("batch", "run", str(rows), *FLUX, "--template", "a {animal} in {style}", "--timeout", "0")
    assert result.exit_code == 0, result.stderr
    first, second = sorted(creates(emulator), key=lambda r: r["model"] == "kling")
    assert first["input"] == {"prompt": "a cat in watercolour", "width": 512}
    assert second["model"] == "kling" and second["input"] == {
        "prompt": "a dog, small in oil",
        "camera_control": {"type": "simple"},
    }


def test_a_local_file_named_by_many_rows_is_uploaded_once(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    rows = tmp_path / "rows.csv"
    rows.write_text("id,prompt\n1,a cat\n2,a cat in snow\n3,a cat at night\n")
    args = [
        "batch",
        "run",
        str(rows),
        "-m",
        "Qubico/flux1-dev",
        "-t",
        "img2img",
        "-i",
        f"image=@{tmp_path / 'cat.png'}",
    ]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    uploads = [path for method, path in emulator.requests if method == "POST" and path == "/api/ephemeral_resource"]
    assert len(uploads) == 1
    images = {r["input"]["image"] for r in creates(emulator)}
    assert len(images) == 1 and images.pop().endswith("/cat.png")
    again = cli(*args)  # the file's URL differs from run to run; the rows did not change
    assert again.exit_code == 0, again.stderr
    assert len(creates(emulator)) == 3


def test_bad_rows_send_nothing_and_each_is_named_with_its_line(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"id": "ok", "input": {"prompt": "fine"}}\n'
        "\n"
        '{"id": "ok", "input": {"prompt": "again"}}\n'
        '{"input": {"prompt": "no id"}}\n'
        '{"id": "w", "input": {"prompt": "x", "width": "wide"}}\n'
        '{"id": "typo", "input": {"prompt": "x", "widht": 512}}\n'
        '{"id": "range", "input": {"prompt": "x", "guidance_scale": 99}}\n'
        "not json\n"
        '{"id": "extra", "inputs": {}}\n'
    )
    result = cli("batch", "run", str(rows), *FLUX)
    assert result.exit_code == 2
    assert emulator.requests == []  # nothing reached the API
    err = result.stderr
    assert "7 of 8 rows cannot be sent; nothing was sent" in err
    for expected in (
        "line 3 (id ok): id: duplicate of line 1",
        "line 4: id: missing",
        "line 5 (id w): invalid input for Qubico/flux1-dev txt2img: width: expected integer",
        "line 6 (id typo): invalid input for Qubico/flux1-dev txt2img: widht: unknown input; did you mean width?",
        "line 7 (id range): invalid input for Qubico/flux1-dev txt2img: guidance_scale: 99 is out of range",
        "line 8: not valid JSON",
        "line 9 (id extra): unknown field 'inputs'",
    ):
        assert expected in err, (expected, err)
    assert "Traceback" not in err


def test_no_validate_sends_unknown_fields_with_one_warning(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": n, "input": {"prompt": "x", "new_knob": n}} for n in range(3)])
    result = cli("batch", "run", str(rows), *FLUX, "--no-validate")
    assert result.exit_code == 0 and len(creates(emulator)) == 3
    assert result.stderr.count("new_knob") <= 1


def test_a_missing_model_or_an_unreadable_file_is_a_usage_error(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(2))
    result = cli("batch", "run", str(rows))
    assert result.exit_code == 2 and "no model" in result.stderr and emulator.requests == []
    result = cli("batch", "run", str(tmp_path / "missing.jsonl"), *FLUX)
    assert result.exit_code == 2 and "cannot read" in result.stderr
    result = cli("batch", "run", str(rows), *FLUX, "--shard", "4/3")
    assert result.exit_code == 2 and "--shard" in result.stderr


def test_rows_from_stdin(cli: Cli, emulator: Emulator) -> None:
    text = "".join(json.dumps(row) + "\n" for row in prompts(2))
    result = cli("batch", "run", "-", *FLUX, input=text)
    assert result.exit_code == 0, result.stderr
    assert set(results(result.stdout)) == {"r0", "r1"}
    again = cli("batch", "run", "-", *FLUX, input=text)  # the same rows again: the same run
    assert again.exit_code == 0 and len(creates(emulator)) == 2


# --- the plan and resuming -------------------------------------------------------------


def test_dry_run_prints_the_plan_and_sends_nothing(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(4))
    assert cli("batch", "run", str(rows), *FLUX).exit_code == 0
    rows = write_rows(tmp_path / "rows.jsonl", prompts(6))
    before = len(emulator.requests)
    result = cli("batch", "run", str(rows), *FLUX, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert len(emulator.requests) == before
    plan = result.json()
    assert plan["rows"] == 6 and plan["actions"]["done"] == 4 and plan["actions"]["send"] == 2
    [kind] = plan["kinds"]
    assert kind["model"] == "Qubico/flux1-dev" and kind["credits_each"] == 20000
    assert plan["estimated_credits"] == 40000
    text = cli("batch", "run", str(rows), *FLUX, "--dry-run")
    assert "2 to create, 4 done" in text.stdout and "~20,000 credits each" in text.stdout


def test_running_it_again_resumes_and_never_creates_a_row_twice(
    cli: Cli, emulator: Emulator, tmp_path: Path, isolated: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(5))
    first = cli("batch", "run", str(rows), *FLUX, "--download", str(tmp_path / "out"))
    assert first.exit_code == 0, first.stderr
    assert len(creates(emulator)) == 5
    again = cli("batch", "run", str(rows), *FLUX, "--download", str(tmp_path / "out"))
    assert again.exit_code == 0, again.stderr
    assert len(creates(emulator)) == 5  # nothing created again
    assert results(again.stdout) == results(first.stdout)  # the whole result set, from the journal
    assert sorted(os.listdir(tmp_path / "out")) == [f"r{n}-0.png" for n in range(5)]
    run_ids = journal(isolated, "SELECT DISTINCT run_id FROM tasks")
    assert len(run_ids) == 1 and run_ids[0][0].startswith("rows-")


def test_a_row_whose_task_is_still_running_is_waited_for(
    cli: Cli, emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": "slow", "input": {"prompt": "x [sandbox:seconds=600]"}}])
    first = cli("batch", "run", str(rows), *FLUX, "--timeout", "30")
    assert first.exit_code == 8 and "1 task(s) still running" in first.stderr
    assert "resume with: piapi batch run" in first.stderr and first.stdout == ""
    clock.sleep(700)
    again = cli("batch", "run", str(rows), *FLUX)
    assert again.exit_code == 0 and results(again.stdout)["slow"]["status"] == "completed"
    assert len(creates(emulator)) == 1


def lose_answers(emulator: Emulator, marker: str) -> httpx.MockTransport:
    """The API carries out creates whose prompt holds ``marker``, but their answer is lost."""
    inner = transport_for(emulator)

    def handle(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        if request.method == "POST" and marker.encode() in request.content:
            raise httpx.ReadError("connection reset", request=request)
        return response

    return httpx.MockTransport(handle)


def test_a_maybe_created_row_is_sent_again_only_with_resubmit_unknown(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [*prompts(2), {"id": "lost", "input": {"prompt": "LOST"}}])
    cli.transport = lose_answers(emulator, "LOST")
    first = cli("batch", "run", str(rows), *FLUX)
    assert first.exit_code == 5
    done = results(first.stdout)
    assert done["lost"]["status"] == "unknown" and done["lost"]["task_id"] is None
    assert "may have been created (not resent): lost" in first.stderr and "--resubmit-unknown" in first.stderr
    assert len(creates(emulator)) == 3  # the API did create it
    cli.transport = transport_for(emulator)
    for flags in ([], ["--retry-failed"], ["--force"]):
        again = cli("batch", "run", str(rows), *FLUX, *flags)
        assert again.exit_code == 5 and results(again.stdout)["lost"]["status"] == "unknown"
        assert len(creates(emulator)) == 3  # never resent
    resent = cli("batch", "run", str(rows), *FLUX, "--resubmit-unknown")
    assert "--resubmit-unknown: creating 1 new task(s)" in resent.stderr
    assert resent.exit_code == 0 and results(resent.stdout)["lost"]["status"] == "completed"
    assert [r["input"]["prompt"] for r in creates(emulator)].count("LOST") == 2


def test_attach_gives_a_maybe_created_row_the_task_found_on_the_dashboard(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": "lost", "input": {"prompt": "LOST"}}])
    cli.transport = lose_answers(emulator, "LOST")
    assert cli("batch", "run", str(rows), *FLUX).exit_code == 5
    cli.transport = transport_for(emulator)
    [task] = creates(emulator)
    wrong = cli("batch", "run", str(rows), *FLUX, "--attach", "nope=" + task["task_id"])
    assert wrong.exit_code == 2 and "has no journaled create" in wrong.stderr
    result = cli("batch", "run", str(rows), *FLUX, "--attach", f"lost={task['task_id']}")
    assert result.exit_code == 0, result.stderr
    assert results(result.stdout)["lost"]["task_id"] == task["task_id"]
    assert len(creates(emulator)) == 1  # completed without a second create
    twice = cli("batch", "run", str(rows), *FLUX, "--attach", f"lost={task['task_id']}")
    assert twice.exit_code == 2 and "not maybe-created" in twice.stderr


def test_a_task_the_journal_could_not_record_still_reaches_the_results(
    cli: Cli, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piapi_cli.api.errors import ConfigError
    from piapi_cli.core.journal.journal import Journal

    record = Journal.created

    def failing(self: Journal, row: int, task: Any) -> None:
        if task.input.get("prompt") == "unlucky":
            raise ConfigError("the task journal could not record a created task: disk I/O error")
        record(self, row, task)

    monkeypatch.setattr(Journal, "created", failing)
    rows = write_rows(tmp_path / "rows.jsonl", [*prompts(2), {"id": "u", "input": {"prompt": "unlucky"}}])
    result = cli("batch", "run", str(rows), *FLUX)
    [task] = [r for r in creates(emulator) if r["input"]["prompt"] == "unlucky"]
    line = results(result.stdout)["u"]
    assert line["task_id"] == task["task_id"] and line["status"] == "completed" and "disk I/O" in line["error"]
    assert f"--attach u={task['task_id']}" in result.stderr
    assert result.exit_code == 10  # partly done: the task exists, its ID is in its line


def test_failed_rows_are_created_again_only_with_retry_failed(
    cli: Cli, emulator: Emulator, tmp_path: Path, isolated: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [*prompts(1), {"id": "bad", "input": {"prompt": "x [sandbox:fail]"}}])
    first = cli("batch", "run", str(rows), *FLUX)
    assert first.exit_code == 7 and results(first.stdout)["bad"]["status"] == "failed"
    assert "1 row(s) failed: bad; create them again with --retry-failed" in first.stderr
    assert cli("batch", "run", str(rows), *FLUX).exit_code == 7
    assert len(creates(emulator)) == 2
    retried = cli("batch", "run", str(rows), *FLUX, "--retry-failed")
    assert "--retry-failed: creating 1 new task(s) for rows whose task failed (paid again)" in retried.stderr
    assert retried.exit_code == 7 and len(creates(emulator)) == 3  # it fails again: it asks to
    keys = journal(isolated, "SELECT row_key FROM tasks WHERE row_key LIKE 'bad%' ORDER BY id")
    assert [k for (k,) in keys] == ["bad\x1e1", "bad"]  # the first attempt is kept as history


def test_a_row_that_changed_since_its_task_was_created_is_refused_unless_force(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(2))
    assert cli("batch", "run", str(rows), *FLUX).exit_code == 0
    changed = prompts(2)
    changed[1]["input"]["prompt"] = "a different cat"
    write_rows(rows, changed)
    refused = cli("batch", "run", str(rows), *FLUX)
    assert refused.exit_code == 2 and "line 2 (id r1): changed since its task" in refused.stderr
    assert "--force" in refused.stderr and len(creates(emulator)) == 2
    assert cli("batch", "run", str(rows), *FLUX, "-i", "width=512").exit_code == 2  # a new default changes rows too
    forced = cli("batch", "run", str(rows), *FLUX, "--force")
    assert forced.exit_code == 0 and "--force: creating 1 new task(s) for rows that changed" in forced.stderr
    assert [r["input"]["prompt"] for r in creates(emulator)][-1] == "a different cat"
    assert len(creates(emulator)) == 3


# --- money and pace ------------------------------------------------------------------


def test_max_credits_starts_no_row_past_the_limit(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(10))
    # flux tasks cost 20,000 each in the sandbox; the cost is unknown until the first answers
    result = cli("batch", "run", str(rows), *FLUX, "--max-credits", "100000", "-c", "8")
    assert result.exit_code == 8, result.stderr
    assert len(creates(emulator)) == 5 and len(results(result.stdout)) == 5
    assert "5 row(s) not started because of --max-credits 100,000: left for a later run" in result.stderr
    resume = f"resume with: piapi batch run {rows} --model Qubico/flux1-dev --task-type txt2img --max-credits 100000"
    assert f"{resume}\n" in result.stderr
    same = cli("batch", "run", str(rows), *FLUX, "--max-credits", "100000")
    assert same.exit_code == 8 and len(creates(emulator)) == 5  # the run's credits count across invocations
    more = cli("batch", "run", str(rows), *FLUX, "--max-credits", "150000")
    assert more.exit_code == 8 and len(creates(emulator)) == 7
    rest = cli("batch", "run", str(rows), *FLUX)
    assert rest.exit_code == 0 and len(creates(emulator)) == 10


def test_the_resume_command_repeats_what_the_rows_depend_on_and_never_a_secret(cli: Cli, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(3))
    secret = "s3cret-webhook-value-0123"
    result = cli("batch", "run", str(rows), *FLUX, "-i", "width=512", "--webhook", "https://example.com/hook",
                 "--webhook-secret", secret, "--max-credits", "20000", "--retry-failed", "--download",
                 str(tmp_path / "out"))  # fmt: skip
    assert result.exit_code == 8, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("resume with:")]
    assert "--input width=512" in line and "--webhook https://example.com/hook" in line
    assert f"--download {tmp_path / 'out'}" in line and "--max-credits 20000" in line
    assert secret not in result.stderr + result.stdout and "--retry-failed" not in line


def rate_limited(emulator: Emulator, every: int) -> httpx.MockTransport:
    """Every ``every``-th create is refused with 429 (nothing created)."""
    inner = transport_for(emulator)
    count = {"posts": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            count["posts"] += 1
            if count["posts"] % every == 0:
                return httpx.Response(429, json={"code": 429, "message": "slow down"}, headers={"retry-after": "2"})
        return inner.handle_request(request)

    return httpx.MockTransport(handle)


def test_429s_lower_the_pace_and_every_row_is_still_created_once(
    cli: Cli, emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(30))
    cli.transport = rate_limited(emulator, every=2)
    result = cli("batch", "run", str(rows), *FLUX, "-c", "8")
    assert result.exit_code == 0, result.stderr
    sent = [r["input"]["prompt"] for r in creates(emulator)]
    assert sorted(sent) == sorted(f"a cat number {n}" for n in range(30))  # each exactly once
    assert 2.0 in clock.sleeps  # Retry-After honoured


def test_staged_tasks_hold_back_new_creates(tmp_path: Path, clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, sleep=clock.sleep, concurrency=2)
    cli = Cli(clock=clock, transport=transport_for(emulator), env={"PIAPI_API_KEY": "pk-test-0123456789abcdef"})
    rows = write_rows(tmp_path / "rows.jsonl", prompts(40))
    result = cli("batch", "run", str(rows), *FLUX, "-c", "4")
    assert result.exit_code == 0, result.stderr
    records = creates(emulator)
    assert len(records) == 40
    # when each task was created, how many created before it were staged (held for a free slot)
    staged = [sum(1 for o in records if o["staged"] and o["created"] <= r["created"] < o["start"]) for r in records]
    assert max(staged) <= 4 + 4  # at most N staged, plus the creates already in flight (not 38)


def test_an_unreachable_api_stops_starting_rows(cli: Cli, tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    cli.transport = httpx.MockTransport(refuse)
    rows = write_rows(tmp_path / "rows.jsonl", prompts(20))
    result = cli("batch", "run", str(rows), *FLUX, "-c", "2")
    assert result.exit_code == 5
    assert "could not connect" in result.stderr and "not started because of the API being unreachable" in result.stderr


def test_a_refused_key_stops_the_run(cli: Cli, tmp_path: Path) -> None:
    emulator = Emulator(MemoryStore(), api_key="the-right-key-0123456789")
    cli.transport = transport_for(emulator)
    rows = write_rows(tmp_path / "rows.jsonl", prompts(10))
    result = cli("batch", "run", str(rows), *FLUX)
    assert result.exit_code == 3 and "401" in result.stderr
    assert sum(1 for method, _ in emulator.requests if method == "POST") <= 8


# --- shards, files, status -------------------------------------------------------------


def test_shards_together_run_every_row_exactly_once(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(60))
    seen: list[str] = []
    for k in (1, 2, 3):
        result = cli("batch", "run", str(rows), *FLUX, "--shard", f"{k}/3")
        assert result.exit_code == 0, result.stderr
        mine = list(results(result.stdout))
        assert 5 < len(mine) < 40
        seen += mine
    assert sorted(seen) == sorted(f"r{n}" for n in range(60))
    assert len(creates(emulator)) == 60


def test_the_shard_of_a_row_is_stable() -> None:
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x/2", "3", "1/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    # the same split on every machine and Python version
    assert [k for k in (1, 2, 3) if in_shard("row-1", (k, 3))] == [3]
    assert [k for k in (1, 2, 3) if in_shard("a cat", (k, 3))] == [3]
    assert [k for k in (1, 2, 3, 4) if in_shard("42", (k, 4))] == [2]


def test_results_file_and_file_names_from_the_row(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [
        {"id": "fox", "input": {"prompt": "a fox", "seed": 7}},
        {"id": "owl", "input": {"prompt": "an owl", "seed": 8}},
    ])  # fmt: skip
    out = tmp_path / "results.jsonl"
    result = cli("batch", "run", str(rows), *FLUX, "--download", str(tmp_path / "out"),
                 "--name", "{seed}-{id}-{index}.{ext}", "--output", str(out))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and not (tmp_path / "results.jsonl.part").exists()
    done = results(out.read_text())
    assert sorted(os.listdir(tmp_path / "out")) == ["7-fox-0.png", "8-owl-0.png"]
    [saved] = done["fox"]["files"]
    assert saved["path"].endswith("7-fox-0.png") and saved["bytes"] == os.path.getsize(saved["path"])


def test_two_rows_that_would_write_the_same_file_are_refused(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": n, "input": {"prompt": "x", "seed": 1}} for n in range(2)])
    result = cli("batch", "run", str(rows), *FLUX, "--download", str(tmp_path / "out"), "--name", "{seed}.{ext}")
    assert result.exit_code == 2 and "gives the same file names as row 0" in result.stderr
    assert emulator.requests == []
    bogus = cli("batch", "run", str(rows), *FLUX, "--download", str(tmp_path / "out"), "--name", "{nope}.{ext}")
    assert bogus.exit_code == 2 and "no field 'nope'" in bogus.stderr and emulator.requests == []


def test_batch_needs_the_journal(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(1))
    result = cli("--no-journal", "batch", "run", str(rows), *FLUX)
    assert result.exit_code == 3 and "need the task journal" in result.stderr and emulator.requests == []


def test_status_and_list_show_progress_and_what_needs_attention(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [*prompts(3), {"id": "bad", "input": {"prompt": "x [sandbox:fail]"}}])
    assert cli("batch", "run", str(rows), *FLUX).exit_code == 7
    status = cli("batch", "status", "--json")
    assert status.exit_code == 0, status.stderr
    doc = status.json()
    assert doc["counts"]["completed"] == 3 and doc["counts"]["failed"] == 1 and doc["rows"] == 4
    assert doc["credits_consumed"] == 60000
    [attention] = doc["attention"]
    assert attention["id"] == "bad" and "--retry-failed" in attention["advice"]
    assert doc["last_invocation"]["counts"] == {"completed": 3, "failed": 1}
    text = cli("batch", "status", doc["run_id"])
    assert "3 completed, 1 failed" in text.stdout and "bad: failed" in text.stdout
    listed = cli("batch", "list", "--jq", ".[].run_id")
    assert listed.stdout.strip() == doc["run_id"]
    assert "3/4 done" in cli("batch", "list").stdout
    assert cli("batch", "status", "nope").exit_code == 2


def test_a_row_another_process_is_sending_is_left_to_it(
    cli: Cli, emulator: Emulator, tmp_path: Path, isolated: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", prompts(2))
    assert cli("batch", "run", str(rows), *FLUX, "--dry-run").exit_code == 0  # creates the journal
    run_id = cli("batch", "run", str(rows), *FLUX, "--dry-run", "--json").json()["run_id"]
    import socket

    db = sqlite3.connect(isolated / "data" / "journal.sqlite3")
    with db:  # a live process (this test's parent) is sending r1 right now
        db.execute(
            "INSERT INTO tasks (world, model, task_type, input, config, status, created_at, updated_at, run_id,"
            " row_key, fingerprint, pid, host) VALUES (?, 'Qubico/flux1-dev', 'txt2img', '{}', '{}', 'sending',"
            " strftime('%s', 'now'), strftime('%s', 'now'), ?, 'r1', NULL, ?, ?)",
            (cli.sessions[-1].world, run_id, os.getppid(), socket.gethostname()),
        )
    db.close()
    result = cli("batch", "run", str(rows), *FLUX)
    assert result.exit_code == 8 and "being sent by another process running this run: r1" in result.stderr
    assert [r["input"]["prompt"] for r in creates(emulator)] == ["a cat number 0"]


def test_faults_on_every_request_still_create_each_row_at_most_once(tmp_path: Path, clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, sleep=clock.sleep, faults=Faults(fail_rate=0.2, drop_rate=0.1))
    cli = Cli(clock=clock, transport=transport_for(emulator), env={"PIAPI_API_KEY": "pk-test-0123456789abcdef"})
    rows = write_rows(tmp_path / "rows.jsonl", prompts(30))
    for _ in range(4):
        cli("batch", "run", str(rows), *FLUX)
    sent = [r["input"]["prompt"] for r in creates(emulator)]
    assert len(sent) == len(set(sent))  # at most once each, whatever the server did
    final = cli("batch", "run", str(rows), *FLUX)
    done = results(final.stdout)
    assert len(done) == 30
    assert {r["status"] for r in done.values()} <= {"completed", "unknown"}


# --- the journal's batch access ----------------------------------------------------------


def test_the_batch_columns_are_added_once_to_a_journal_of_the_first_release(tmp_path: Path) -> None:
    from piapi_cli.core.journal import schema
    from piapi_cli.core.journal.journal import Journal

    db = sqlite3.connect(tmp_path / "j.sqlite3", isolation_level=None)
    for statement in schema.statements(schema.MIGRATIONS[0]):
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO tasks (world, model, task_type, input, config, status, created_at, updated_at)"
               " VALUES ('w', 'm', 't', '{}', '{}', 'completed', 1, 1)")  # fmt: skip
    for _ in range(2):  # a second time changes nothing
        Journal(tmp_path / "j.sqlite3").close()
    columns = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
    assert {"run_id", "row_key", "fingerprint", "pid", "host"} <= columns
    assert db.execute("PRAGMA user_version").fetchone()[0] >= 2  # the journal may be newer (webhook events)
    assert db.execute("SELECT status, run_id FROM tasks").fetchall() == [("completed", None)]
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_writes_from_many_threads_commit_together_and_a_failing_one_alone(tmp_path: Path) -> None:
    import threading

    from piapi_cli.core.batch.queries import run_entries
    from piapi_cli.core.journal.journal import AlreadyJournaled, Journal

    journal = Journal(tmp_path / "j.sqlite3")
    outcomes: dict[str, Any] = {}

    def begin(name: str, key: str) -> None:
        try:
            outcomes[name] = journal.begin_create("w", "m", "t", {"n": name}, None, run_id="run", row_key=key)
        except AlreadyJournaled as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=begin, args=(f"t{n}", f"k{n}")) for n in range(40)]
    threads += [threading.Thread(target=begin, args=("twin", "k7"))]  # the same row as t7
    with journal.group_commit():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    taken = [name for name, outcome in outcomes.items() if isinstance(outcome, AlreadyJournaled)]
    assert len(taken) == 1 and taken[0] in ("t7", "twin")
    current, _ = run_entries(journal, "run")
    assert sorted(current) == sorted(f"k{n}" for n in range(40))
    assert all(entry.status == "sending" and entry.pid == os.getpid() for entry in current.values())
    assert journal.busy > 0  # the writes went through group commit
    journal.close()


def test_on_a_terminal_one_progress_bar_with_counts_and_credits(
    cli: Cli, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piapi_cli.cli.output import Output

    monkeypatch.setattr(Output, "stderr_tty", property(lambda self: True))
    rows = write_rows(tmp_path / "rows.jsonl", [*prompts(9), {"id": "bad", "input": {"prompt": "x [sandbox:fail]"}}])
    result = cli("batch", "run", str(rows), *FLUX)
    assert result.exit_code == 7
    assert "10/10" in result.stderr and "180,000 credits" in result.stderr
    assert "completed 9" in result.stderr and "failed 1" in result.stderr
    assert len(results(result.stdout)) == 10  # stdout is still one JSON line per row
