"""Batch runs as real processes against `piapi sandbox serve` over HTTP: killed at random
moments, split over three processes, stopped by signals."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli.sandbox import Emulator, Faults, MemoryStore
from piapi_cli.sandbox.server import SandboxServer

FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img"]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    # tasks take 30 ms (a flux task's 3 s at speed 100); every task starts at once
    emulator = Emulator(MemoryStore(), speed=100, concurrency=100_000)
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False) as running:
        yield running


def environment(server: SandboxServer, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIAPI_")}
    return env | {"PIAPI_BASE_URL": server.base_url, "PIAPI_API_KEY": "pk-sandbox-0123456789",
                  "PIAPI_DATA_DIR": str(data), "PIAPI_CONFIG_DIR": str(data / "config")}  # fmt: skip


def batch(*args: str) -> list[str]:
    return [sys.executable, "-m", "piapi_cli", "batch", *args]


def write_rows(path: Path, count: int, prompt: str = "row {n}") -> Path:
    path.write_text("".join(json.dumps({"id": f"r{n}", "input": {"prompt": prompt.format(n=n)}}) + "\n"
                            for n in range(count)))  # fmt: skip
    return path


def created_prompts(server: SandboxServer) -> Counter[str]:
    return Counter(r["input"]["prompt"] for r in server.emulator.store.all())


def wait_for(condition: Any, process: subprocess.Popen[str], limit: float = 60.0) -> None:
    end = time.monotonic() + limit
    while not condition() and process.poll() is None:
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


@pytest.mark.slow  # (about 15 s: a dozen processes killed and rerun)
def test_kill_9_at_random_moments_then_rerun_until_done(tmp_path: Path) -> None:
    # the server's faults on as well: some answers dropped (the create was carried out), some 500s
    # and 429s (it was not), on creates, polls and downloads alike
    faults = Faults(drop_rate=0.02, fail_rate=0.02, rate_limit_rate=0.02, retry_after=0)
    emulator = Emulator(MemoryStore(), speed=100, concurrency=100_000, faults=faults)
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False) as server:
        rows = write_rows(tmp_path / "rows.jsonl", 200)
        env = environment(server, tmp_path / "data")
        out, results = tmp_path / "out", tmp_path / "results.jsonl"
        command = batch("run", str(rows), *FLUX, "--download", str(out), "--output", str(results),
                        "--interval", "0.1", "-c", "8")  # fmt: skip
        requests = emulator.requests
        rng = random.Random(20250611)
        kills = 0
        for _ in range(5):
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = len(requests) + rng.randint(5, 150)  # somewhere among creates, polls and downloads
            wait_for(lambda: len(requests) >= target, process)  # noqa: B023 - waited on at once
            if process.poll() is None:
                process.kill()
                kills += 1
            process.wait(timeout=30)
        assert kills >= 3

        extra: list[str] = []
        for _ in range(8):
            done = subprocess.run([*command, *extra], env=env, capture_output=True, text=True, timeout=120)
            if done.returncode == 0:
                break
            status = json.loads(subprocess.run(batch("status", "--json"), env=env, capture_output=True, text=True,
                                               check=True).stdout)  # fmt: skip
            maybe = [a["id"] for a in status["attention"] if a["state"] == "maybe_created"]
            # each one looked up on "the dashboard" (the server's own records), as a user would
            by_prompt = {r["input"]["prompt"]: r["task_id"] for r in emulator.store.all()}
            found = [f"{key}={by_prompt[f'row {key[1:]}']}" for key in maybe if f"row {key[1:]}" in by_prompt]
            extra = [word for pair in found for word in ("--attach", pair)]
            if len(found) < len(maybe):  # not there: nothing was created, so send them again
                extra.append("--resubmit-unknown")
        assert done.returncode == 0, done.stderr

        counts = created_prompts(server)
        assert sorted(counts) == sorted(f"row {n}" for n in range(200))
        assert set(counts.values()) == {1}, "a row was created twice"
        lines = [json.loads(line) for line in results.read_text().splitlines()]
        assert len(lines) == 200 and {line["status"] for line in lines} == {"completed"}
        emulator.faults = Faults()
        with httpx.Client() as http:
            for line in lines:
                [saved] = line["files"]
                [url] = line["outputs"]
                expected = hashlib.sha256(http.get(url).content).hexdigest()
                assert saved["sha256"] == expected
                assert hashlib.sha256(Path(saved["path"]).read_bytes()).hexdigest() == expected
        assert sorted(os.listdir(out)) == sorted(f"r{n}-0.png" for n in range(200))  # no .part left


def test_three_shards_as_three_processes_run_every_row_once(server: SandboxServer, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 90)
    processes = []
    for k in (1, 2, 3):  # three machines of a CI matrix: each its own journal
        env = environment(server, tmp_path / f"machine-{k}")
        command = batch("run", str(rows), *FLUX, "--shard", f"{k}/3", "--interval", "0.1",
                        "--output", str(tmp_path / f"results-{k}.jsonl"))  # fmt: skip
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True))  # fmt: skip
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    ids = [json.loads(line)["id"] for k in (1, 2, 3) for line in (tmp_path / f"results-{k}.jsonl").read_text().split()]
    assert sorted(ids) == sorted(f"r{n}" for n in range(90))
    assert set(created_prompts(server).values()) == {1} and len(created_prompts(server)) == 90


def test_a_reader_that_goes_away_stops_the_run_cleanly(server: SandboxServer, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 400)  # enough that rows are left when the reader goes
    env = environment(server, tmp_path / "data")
    command = " ".join(batch("run", str(rows), *FLUX, "-c", "4", "--interval", "0.1"))
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {command} | head -1"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert len(done.stdout.splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.returncode == 141  # as any command whose reader went away; the tasks still running named
    assert "not started because of stdout being closed" in done.stderr and "but stdout was closed" in done.stderr
    status = json.loads(subprocess.run(batch("status", "--json"), env=env, capture_output=True, text=True,
                                       check=True).stdout)  # fmt: skip
    assert status["counts"]["sending"] == 0 and status["counts"]["maybe_created"] == 0  # every create journaled


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_signal_starts_no_new_row_and_prints_the_resume_command(
    server: SandboxServer, tmp_path: Path, signum: int, code: int
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", 40, "row {n} [sandbox:seconds=3600]")
    env = environment(server, tmp_path / "data")
    process = subprocess.Popen(batch("run", str(rows), *FLUX, "-c", "2"), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(lambda: len(created_prompts(server)) >= 3, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == code, err
    made = len(created_prompts(server))
    assert made < 40 and "Traceback" not in err
    assert f"resume with: piapi batch run {rows}" in err
    assert f"{40 - made} row(s) not started" in err and f"{made} task(s) still running" in err
    status = json.loads(subprocess.run(batch("status", "--json"), env=env, capture_output=True, text=True,
                                       check=True).stdout)  # fmt: skip
    assert status["counts"]["running"] == made and status["counts"]["maybe_created"] == 0  # every answer journaled
    assert status["counts"]["sending"] == 0


def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    # no answer comes while the test runs: the first Ctrl-C waits for the creates in flight, the
    # second does not (the run ends with those two creates still unanswered)
    emulator = Emulator(MemoryStore(), speed=100, concurrency=100_000, faults=Faults(latency=3600.0))
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False) as server:
        rows = write_rows(tmp_path / "rows.jsonl", 10)
        env = environment(server, tmp_path / "data")
        process = subprocess.Popen(batch("run", str(rows), *FLUX, "-c", "2"), env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        wait_for(lambda: any(method == "POST" for method, _ in emulator.requests), process)
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        said = [process.stderr.readline()]
        while "stopping" not in said[-1] and said[-1]:  # the first Ctrl-C was heard
            said.append(process.stderr.readline())
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)  # (a guard against a hang: the answers never come)
        err = "".join(said) + rest
        assert process.returncode == 130, err
        assert "stopping: no new row starts" in err and "resume with: piapi batch run" in err
        assert "Traceback" not in err
        # the creates that were in flight may exist: reported, never resent
        again = subprocess.run(batch("run", str(rows), *FLUX, "--dry-run", "--json"), env=env, capture_output=True,
                               text=True, check=True)  # fmt: skip
        plan = json.loads(again.stdout)
        assert plan["actions"]["maybe"] == 2 and plan["actions"]["send"] == 8
