"""Downloading one large output from the sandbox server: piapi against curl, same file, in pairs.

    python bench/download.py [--size-mb 1024] [--runs 3] [--dir DIR]

Starts `piapi sandbox serve` on a free loopback port and creates two tasks: one whose output is
padded to the given size ([sandbox:bytes=N]) and a tiny one (1 KiB). Each round then runs, in
an order that alternates between rounds, `curl -s -o FILE URL` and the whole `piapi download ID
--dir DIR` command on both files, writing to the same disk, with an untimed `sync` before each
large run so neither pays for the other's write-back.

Per round: each tool's transfer rate is the large file's size over its large run's time less its
tiny run's time (the fixed cost: start-up, the get-task call, connecting), and the ratio is
piapi's rate over curl's; the whole-command ratio (curl's time over piapi's, fixed costs in) is
printed beside it. piapi's peak memory is GNU time's maximum RSS; each tool's CPU time (user and
system, from GNU time) per GiB is printed too, its tiny run's taken off: the figure that does not
depend on what else the 2 cores are doing. piapi also hashes the file (SHA-256) and fsyncs it
before giving it its name; curl does neither, so a third tool is timed in each round: curl, then
its file fsynced (`sync FILE`), the same durability as piapi's, and piapi's rate over it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def create(base: str, size: int) -> tuple[str, str]:
    body = {"model": "sora2", "task_type": "sora2-video", "input": {"prompt": f"file [sandbox:bytes={size}]"}}
    task_id = httpx.post(f"{base}/api/v1/task", json=body, headers={"x-api-key": "bench"}).json()["data"]["task_id"]
    time.sleep(1)  # the task completes in 0.06 s at --speed 100
    task = httpx.get(f"{base}/api/v1/task/{task_id}", headers={"x-api-key": "bench"}).json()["data"]
    return task_id, task["output"]["video"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    run = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - start, run.stderr


def usage(stderr: str) -> tuple[float, float]:
    """GNU time's last line (``%M %U %S``): peak memory in MiB and CPU seconds (user + system)."""
    peak, user, system = stderr.strip().splitlines()[-1].split()
    return int(peak) / 1024, float(user) + float(system)


def curl(url: str, folder: str, env: dict[str, str], size: int, durable: bool = False) -> tuple[float, float]:
    """curl's time and CPU seconds; ``durable``: then the file fsynced (coreutils ``sync FILE``),
    as piapi does before giving a file its name."""
    target = Path(folder, "curl.mp4")
    argv = ["curl", "-s", "-o", str(target), url]
    if durable:
        argv = ["sh", "-c", 'curl -s -o "$0" "$1" && sync "$0"', str(target), url]
    seconds, stderr = timed(["/usr/bin/time", "-f", "%M %U %S", *argv], env)
    assert target.stat().st_size == size or size < 1 << 20  # a tiny output is at least its MP4 header
    target.unlink()
    return seconds, usage(stderr)[1]


def piapi(task_id: str, folder: str, env: dict[str, str], size: int) -> tuple[float, float, float]:
    out = Path(folder, "piapi")
    argv = ["/usr/bin/time", "-f", "%M %U %S", sys.executable, "-m", "piapi_cli", "--no-journal", "download", task_id,
            "--dir", str(out), "--name", "{key}.{ext}", "-q", "--overwrite"]  # fmt: skip
    seconds, stderr = timed(argv, env)
    saved = [p for p in out.iterdir() if p.name.startswith("video")]
    assert saved and (saved[0].stat().st_size == size or size < 1 << 20)
    shutil.rmtree(out)
    peak, cpu = usage(stderr)
    return seconds, peak, cpu


def sha256_seconds(size: int) -> float:
    """What SHA-256 alone costs this machine for ``size`` bytes now (piapi hashes every file)."""
    import hashlib

    block, digest = bytes(1 << 20), hashlib.sha256()
    start = time.perf_counter()
    for _ in range(size >> 20):
        digest.update(block)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", help="where both tools write (default: the system's temporary directory)")
    args = parser.parse_args()
    size, tiny = args.size_mb * 1024 * 1024, 1024
    if not shutil.which("curl") or not Path("/usr/bin/time").exists():
        raise SystemExit("needs curl and GNU time (/usr/bin/time)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    server = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", "0", "--quiet", "--speed", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert server.stdout is not None
    base = server.stdout.readline().strip()
    try:
        (big_id, big_url), (tiny_id, tiny_url) = create(base, size), create(base, tiny)
        env.update(PIAPI_BASE_URL=base, PIAPI_API_KEY="bench")
        rows = []
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            piapi(tiny_id, folder, env, tiny)  # warm-up: byte-code caches
            for round_ in range(args.runs):
                times: dict[str, float] = {}
                cpu: dict[str, float] = {}
                memory = 0.0
                order = ["curl", "curl+fsync", "piapi"]
                for tool in order if round_ % 2 == 0 else order[::-1]:
                    os.sync()  # no dirty pages of the last run still being written back
                    if tool.startswith("curl"):
                        durable = tool == "curl+fsync"
                        times[tool], cpu[tool] = curl(big_url, folder, env, size, durable)
                        times[f"{tool} tiny"], cpu[f"{tool} tiny"] = curl(tiny_url, folder, env, tiny, durable)
                    else:
                        times["piapi"], memory, cpu["piapi"] = piapi(big_id, folder, env, size)
                        times["piapi tiny"], _, cpu["piapi tiny"] = piapi(tiny_id, folder, env, tiny)
                # CPU seconds per GiB moved, each tool's tiny run (its fixed cost) taken off
                gib = size / (1 << 30)
                curl_cpu = (cpu["curl"] - cpu["curl tiny"]) / gib
                piapi_cpu = (cpu["piapi"] - cpu["piapi tiny"]) / gib
                hashing = sha256_seconds(size)
                curl_rate = size / (times["curl"] - times["curl tiny"]) / 1e6
                piapi_rate = size / (times["piapi"] - times["piapi tiny"]) / 1e6
                durable_rate = size / (times["curl+fsync"] - times["curl+fsync tiny"]) / 1e6
                rows.append((curl_rate, piapi_rate, piapi_rate / curl_rate, times["curl"] / times["piapi"], memory,
                             curl_cpu, piapi_cpu, durable_rate, piapi_rate / durable_rate))  # fmt: skip
                print(f"round {round_ + 1}: curl {times['curl']:.2f} s (tiny {times['curl tiny']:.3f}), "
                      f"piapi {times['piapi']:.2f} s (tiny {times['piapi tiny']:.3f}); rates {curl_rate:.0f} / "
                      f"{piapi_rate:.0f} MB/s: ratio {piapi_rate / curl_rate:.2f}, whole command "
                      f"{times['curl'] / times['piapi']:.2f}; piapi peak {memory:.1f} MiB; CPU s/GiB curl "
                      f"{curl_cpu:.2f}, piapi {piapi_cpu:.2f}; SHA-256 of the file alone {hashing:.2f} s; curl "
                      f"then fsync {durable_rate:.0f} MB/s, ratio {piapi_rate / durable_rate:.2f}",
                      flush=True)  # fmt: skip
        print(f"file: {args.size_mb} MiB, {args.runs} rounds, written under {args.dir or tempfile.gettempdir()}")
        names = ["curl MB/s", "piapi MB/s", "transfer ratio", "whole-command ratio", "peak MiB"]
        names += ["curl CPU s/GiB", "piapi CPU s/GiB", "curl+fsync MB/s", "ratio to curl+fsync"]
        for index, name in enumerate(names):
            values = [row[index] for row in rows]
            print(f"{name:20} median {statistics.median(values):8.2f}   range {min(values):.2f}-{max(values):.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
