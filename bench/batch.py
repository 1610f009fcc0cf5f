"""`piapi batch run` against a bare asyncio + httpx script doing the same work, side by side.

    python bench/batch.py [--rows 1000] [--seconds 1] [--concurrency 64] [--runs 3]

Starts `piapi sandbox serve` on a free loopback port (tasks run at once: its concurrency is
set above the row count, so neither client is held back by `staged` tasks), writes ROWS rows
of flux txt2img tasks that each take SECONDS, then alternates the two, each with a fresh
output directory (and piapi with a fresh journal):

- bare: `python bench/batch_bare.py URL rows.jsonl DIR --concurrency N` (creates, polls on
  piapi's schedule, downloads with SHA-256; nothing else);
- piapi: the whole command, `piapi batch run rows.jsonl --concurrency N --download DIR
  --output results.jsonl` (start-up, checking every row, the journal, the results file).

Reports each one's wall time (median), their ratio, each one's CPU time per row (user + system,
GNU time's %U + %S: what a client takes from the server on a shared machine, and far less noisy
than wall time while other work runs), piapi's peak memory (GNU time's %M),
the share of piapi's wall time its journal spent committing and of that on the CPU (`batch
status --json`), and the same command with the journal's writes skipped
(`bench/batch_nojournal.py`): the difference is what the journal costs a run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def start_server(rows: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", "0", "--quiet", "--no-webhooks",
         "--concurrency", str(rows * 4)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def timed(
    command: list[str], env: dict[str, str], cwd: Path
) -> tuple[float, int, subprocess.CompletedProcess[str], int, float]:
    """Wall seconds, peak RSS (KiB), the most threads at once and CPU seconds (user + system) of one run."""
    report = cwd / "time.txt"
    wrapped = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(report), *command]
    start = time.perf_counter()
    process = subprocess.Popen(wrapped, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    threads = [0]

    def sample() -> None:  # the command's thread count, every 0.1 s (it is GNU time's child)
        while process.poll() is None:
            try:
                child = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()[0]
                status = Path(f"/proc/{child}/status").read_text()
                threads[0] = max(threads[0], int(status.split("Threads:")[1].split()[0]))
            except (OSError, IndexError, ValueError):
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    done = subprocess.CompletedProcess(wrapped, process.returncode, stdout, stderr)
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} exited {done.returncode}: {done.stderr[-2000:]}")
    rss, user, system = report.read_text().split()[-3:]
    return wall, int(rss), done, threads[0], float(user) + float(system)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--baseline",
        choices=["tuned", "bare"],
        default="tuned",
        help="bench/batch_tuned.py (8 clients x 8 kept-alive connections) or bench/batch_bare.py",
    )
    parser.add_argument("--no-journal-run", action="store_true", help="skip the run with the journal's writes skipped")
    args = parser.parse_args()
    if not Path("/usr/bin/time").exists():
        raise SystemExit("needs GNU time (/usr/bin/time)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("PIAPI_")}
    server, base = start_server(args.rows)
    bare: list[float] = []
    piapi: list[float] = []
    cpu: dict[str, list[float]] = {"bare": [], "piapi": []}
    memory: list[int] = []
    threads: list[int] = []
    journal: list[float] = []
    journal_cpu: list[float] = []
    unjournaled: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            rows = root / "rows.jsonl"
            with rows.open("w") as handle:
                for n in range(args.rows):
                    prompt = f"row {n} [sandbox:seconds={args.seconds:g}]"
                    handle.write(json.dumps({"id": f"row-{n}", "model": "Qubico/flux1-dev", "task_type": "txt2img",
                                             "input": {"prompt": prompt}}) + "\n")  # fmt: skip
            for run in range(args.runs):
                out = root / f"bare-{run}"
                wall, _, done, _, seconds = timed(
                    [sys.executable, str(HERE / f"batch_{args.baseline}.py"), base, str(rows), str(out),
                     "--concurrency", str(args.concurrency)],
                    env, root,
                )  # fmt: skip
                assert len(done.stdout.splitlines()) == args.rows
                bare.append(wall)
                cpu["bare"].append(seconds)
                shutil.rmtree(out)

                out = root / f"piapi-{run}"
                run_env = {
                    **env,
                    "PIAPI_BASE_URL": base,
                    "PIAPI_API_KEY": "bench",
                    "PIAPI_DATA_DIR": str(root / f"data-{run}"),
                    "PIAPI_CONFIG_DIR": str(root / "config"),
                }
                wall, rss, _, most, seconds = timed(
                    [sys.executable, "-m", "piapi_cli", "batch", "run", str(rows), "--concurrency",
                     str(args.concurrency), "--download", str(out), "--output", str(root / "results.jsonl"), "-q"],
                    run_env, root,
                )  # fmt: skip
                results = (root / "results.jsonl").read_text().splitlines()
                assert len(results) == args.rows and all(json.loads(r)["files"] for r in results)
                piapi.append(wall)
                cpu["piapi"].append(seconds)
                memory.append(rss)
                threads.append(most)
                status = subprocess.run([sys.executable, "-m", "piapi_cli", "batch", "status", "--json"], env=run_env,
                                        cwd=root, capture_output=True, text=True, check=True)  # fmt: skip
                last = json.loads(status.stdout)["last_invocation"]
                journal.append(last["journal_seconds"] / last["wall_seconds"])
                journal_cpu.append(last["journal_cpu_seconds"] / last["wall_seconds"])
                shutil.rmtree(out)

                out = root / f"nojournal-{run}"
                run_env["PIAPI_DATA_DIR"] = str(root / f"data-nojournal-{run}")
                if args.no_journal_run:
                    unjournaled.append(float("nan"))
                    print(f"run {run + 1}: {args.baseline} {bare[-1]:.2f}s  piapi {piapi[-1]:.2f}s  ratio "
                          f"{piapi[-1] / bare[-1]:.2f}  CPU {cpu['bare'][-1]:.2f}s / {cpu['piapi'][-1]:.2f}s  "
                          f"peak {rss / 1024:.0f} MB  threads {most}", flush=True)  # fmt: skip
                    continue
                wall, _, _, _, _ = timed(
                    [sys.executable, str(HERE / "batch_nojournal.py"), "batch", "run", str(rows), "--concurrency",
                     str(args.concurrency), "--download", str(out), "--output", str(root / "results.jsonl"), "-q"],
                    run_env, root,
                )  # fmt: skip
                unjournaled.append(wall)
                shutil.rmtree(out)
                print(f"run {run + 1}: {args.baseline} {bare[-1]:.2f}s  piapi {piapi[-1]:.2f}s  ratio "
                      f"{piapi[-1] / bare[-1]:.2f}  CPU {cpu['bare'][-1]:.2f}s / {cpu['piapi'][-1]:.2f}s"
                      f"  peak {rss / 1024:.0f} MB  threads {most}"
                      f"  journal {journal[-1]:.1%} (CPU {journal_cpu[-1]:.1%})"
                      f"  without journal {unjournaled[-1]:.2f}s", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
    ratio = statistics.median(p / b for p, b in zip(piapi, bare, strict=True))
    print(f"\n{args.rows} rows of {args.seconds:g}s tasks, --concurrency {args.concurrency}, with downloads")
    print(f"piapi threads at once, max {max(threads)}")
    print(
        f"{args.baseline} asyncio+httpx  median {statistics.median(bare):.2f}s  ({', '.join(f'{b:.2f}' for b in bare)})"
    )
    print(f"piapi batch run     median {statistics.median(piapi):.2f}s  ({', '.join(f'{p:.2f}' for p in piapi)})")
    print(f"ratio (median of runs) {ratio:.2f}  (target <= 0.9 against the tuned script)")
    per_row = {name: [1000 * c / args.rows for c in seconds] for name, seconds in cpu.items()}
    for name, label in (("bare", f"{args.baseline} asyncio+httpx"), ("piapi", "piapi batch run")):
        print(f"{label:20s}CPU per row (user+sys) median {statistics.median(per_row[name]):.2f} ms  "
              f"({', '.join(f'{c:.2f}' for c in per_row[name])})")  # fmt: skip
    cpu_ratio = statistics.median(p / b for p, b in zip(cpu["piapi"], cpu["bare"], strict=True))
    print(f"CPU ratio (median of runs) {cpu_ratio:.2f}")
    print(f"piapi peak memory   max {max(memory) / 1024:.0f} MB  (target < 80 MiB)")
    print(
        f"journal share       median {statistics.median(journal):.1%} of piapi's wall time committing, "
        f"{statistics.median(journal_cpu):.1%} on the CPU"
    )
    if args.no_journal_run:
        return
    cost = statistics.median(1 - n / p for n, p in zip(unjournaled, piapi, strict=True))
    print(
        f"without the journal median {statistics.median(unjournaled):.2f}s  "
        f"({', '.join(f'{n:.2f}' for n in unjournaled)}): the journal costs {cost:.1%} of the wall time"
    )


if __name__ == "__main__":
    main()
