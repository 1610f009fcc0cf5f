"""Start-up and per-command time of the piapi command: every command that runs, as a multiple
of `python -c pass`, median of many runs, all cases interleaved in one sitting.

    python bench/startup.py [--runs 21] [--before DIR]

Runs the installed `piapi` entry point (the one beside this Python) as a script would,
against `piapi sandbox serve` on a free loopback port (the network commands) with a fresh
config and journal. Byte-code caching is left on (PYTHONDONTWRITEBYTECODE is removed), as on a
user's machine; a warm-up run writes the caches first. ``--before DIR`` runs every command a
second time from another source tree (an older checkout: PYTHONPATH=DIR), in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent
FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a little cat"]


@contextmanager
def sandbox_server(env: dict[str, str]) -> Iterator[str]:
    """`piapi sandbox serve` on a free port; yields its base URL."""
    server = subprocess.Popen(
        [str(BIN / "piapi"), "sandbox", "serve", "--port", "0", "--quiet", "--speed", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert server.stdout is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


def bench_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("PIAPI_")}
    env |= {"PIAPI_CONFIG_DIR": str(tmp / "config"), "PIAPI_DATA_DIR": str(tmp / "data"), "NO_COLOR": "1"}
    return env


def interleaved(cases: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    """Wall time of each case in ms; one run of every case per round, so load hits all alike."""
    for argv in cases.values():  # warm-up: byte-code caches, the server's first answers
        subprocess.run(argv, capture_output=True, env=env, check=False)
    times: dict[str, list[float]] = {label: [] for label in cases}
    for round_ in range(runs):
        labels = list(cases)
        labels = labels[round_ % len(labels) :] + labels[: round_ % len(labels)]  # rotate the order
        for label in labels:
            start = time.perf_counter()
            subprocess.run(cases[label], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
            times[label].append((time.perf_counter() - start) * 1000)
    return times


def report(times: dict[str, list[float]], floor: str, extra: dict[str, str] | None = None) -> None:
    base = statistics.median(times[floor])
    print(f"{'command':52} {'median ms':>9} {'x floor':>8} {'min':>7} {'max':>7}  {'':10}")
    for label, values in times.items():
        median = statistics.median(values)
        note = (extra or {}).get(label, "")
        print(f"{label:52} {median:9.1f} {median / base:8.2f} {min(values):7.1f} {max(values):7.1f}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--before", metavar="DIR", help="source tree of an older piapi to compare with")
    args = parser.parse_args()
    piapi = str(BIN / "piapi")
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_env(Path(tmp))
        with sandbox_server(env) as url:
            env |= {"PIAPI_BASE_URL": url, "PIAPI_API_KEY": "bench-key"}
            done = subprocess.run([piapi, "create", *FLUX, "--wait", "--json", "--jq", ".task_id"], env=env,
                                  capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
            out = str(Path(tmp) / "out")
            cases = {
                "python -c pass (the floor)": [sys.executable, "-c", "pass"],
                "piapi --version": [piapi, "--version"],
                "piapi --help": [piapi, "--help"],
                "piapi create --help": [piapi, "create", "--help"],
                "piapi get ID --json": [piapi, "get", done, "--json"],
                "piapi create ...": [piapi, "create", *FLUX],
                "piapi create ... --wait (polls start at 1 s)": [piapi, "create", *FLUX, "--wait"],
                "piapi --sandbox create ... --dry-run": [piapi, "--sandbox", "create", *FLUX, "--dry-run"],
                "piapi wait ID (completed)": [piapi, "wait", done],
                "piapi download ID --overwrite (one small file)": [piapi, "download", done, "-d", out, "--overwrite"],
                "piapi cancel ID (refused: completed)": [piapi, "cancel", done],
                "piapi account": [piapi, "account"],
                "piapi models": [piapi, "models"],
                "piapi models Qubico/flux1-dev": [piapi, "models", "Qubico/flux1-dev"],
                "piapi completion bash": [piapi, "completion", "bash"],
                "piapi tasks": [piapi, "tasks"],
                "piapi tasks show ID": [piapi, "tasks", "show", done],
                "piapi tasks usage": [piapi, "tasks", "usage"],
                "piapi config show": [piapi, "config", "show"],
                "piapi config path": [piapi, "config", "path"],
                "piapi tasks --world all": [piapi, "tasks", "--world", "all"],
                "piapi wait --pending (none left)": [piapi, "wait", "--pending"],
                "piapi listen --print-secret": [piapi, "listen", "--print-secret"],
                "piapi trigger URL --dry-run": [piapi, "trigger", "http://127.0.0.1:9/hook", "--dry-run"],
                "piapi get (usage error: typer builds the tree)": [piapi, "get"],
            }
            notes = {}
            if args.before:
                older = ["env", f"PYTHONPATH={Path(args.before).resolve()}"]
                for label, argv in list(cases.items())[1:]:
                    cases[f"before: {label}"] = [*older, *argv]
            times = interleaved(cases, args.runs, env)
            if args.before:
                for label in list(times)[1:]:
                    if not label.startswith("before: ") and f"before: {label}" in times:
                        ratio = statistics.median(times[label]) / statistics.median(times[f"before: {label}"])
                        notes[label] = f"{ratio:.2f}x before"
    print(f"{args.runs} interleaved runs, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    report(times, "python -c pass (the floor)", notes)


if __name__ == "__main__":
    main()
