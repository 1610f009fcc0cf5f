"""Start-up time of the piapi command: median wall time of many runs.

    python bench/startup.py [--runs 30]

Runs the installed `piapi` entry point (the one on PATH beside this Python) as a script
would. Byte-code caching is left on (PYTHONDONTWRITEBYTECODE is removed), as on a user's
machine; a warm-up run writes the caches first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = [
    ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
    ("piapi --version", ["piapi", "--version"]),
    ("piapi --help", ["piapi", "--help"]),
    ("piapi create --help", ["piapi", "create", "--help"]),
    ("piapi models (piped)", ["piapi", "models"]),
    ("piapi --sandbox create --dry-run", ["piapi", "--sandbox", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img",
                                          "-i", "prompt=x", "--dry-run"]),
]  # fmt: skip


def measure(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    subprocess.run(argv, capture_output=True, env=env, check=False)  # warm-up: byte-code caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    if shutil.which("piapi", path=env["PATH"]) is None:
        raise SystemExit("install piapi first: pip install -e .")
    print(f"{'command':40} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for label, argv in CASES:
        times = measure([shutil.which(argv[0], path=env["PATH"]) or argv[0], *argv[1:]], args.runs, env)
        print(f"{label:40} {statistics.median(times):10.1f} {min(times):8.1f} {max(times):8.1f}")


if __name__ == "__main__":
    main()
