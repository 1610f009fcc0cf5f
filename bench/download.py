"""Downloading one large output from the sandbox server: piapi against curl, same file, same run.

    python bench/download.py [--size-mb 1024] [--runs 3]

Starts `piapi sandbox serve` on a free loopback port, creates a task whose output is padded
to the given size ([sandbox:bytes=N]), then alternates `curl -o FILE URL` and
`piapi download ID --dir DIR`, each writing to disk, with a sync (untimed) before every run
so that neither pays for the other's write-back. Reports the median throughput of each,
their ratio, and piapi's peak resident memory (GNU time's %M).
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
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
        body = {"model": "sora2", "task_type": "sora2-video", "input": {"prompt": f"big [sandbox:bytes={size}]"}}
        task_id = httpx.post(f"{base}/api/v1/task", json=body, headers={"x-api-key": "bench"}).json()["data"]["task_id"]
        time.sleep(1)  # the task completes in 0.06 s at --speed 100
        task = httpx.get(f"{base}/api/v1/task/{task_id}", headers={"x-api-key": "bench"}).json()["data"]
        url = task["output"]["video"]
        env.update(PIAPI_BASE_URL=base, PIAPI_API_KEY="bench")
        curl, piapi, memory = [], [], []
        with tempfile.TemporaryDirectory() as folder:
            for _ in range(args.runs):
                target = Path(folder, "curl.mp4")
                os.sync()  # each run starts with no dirty pages of the last one still being written back
                start = time.perf_counter()
                subprocess.run(["curl", "-s", "-o", str(target), url], check=True)
                curl.append(size / (time.perf_counter() - start) / 1e6)
                assert target.stat().st_size == size
                target.unlink()
                out = Path(folder, "piapi")
                os.sync()
                start = time.perf_counter()
                run = subprocess.run(
                    ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "piapi_cli", "--no-journal", "download",
                     task_id, "--dir", str(out), "--name", "{key}.{ext}", "-q", "--overwrite"],
                    capture_output=True, text=True, env=env, check=True,
                )  # fmt: skip
                piapi.append(size / (time.perf_counter() - start) / 1e6)
                memory.append(int(run.stderr.strip().splitlines()[-1]) / 1024)
                saved = [p for p in out.iterdir() if p.name.startswith("video")]
                assert saved and saved[0].stat().st_size == size
                shutil.rmtree(out)
        c, p = statistics.median(curl), statistics.median(piapi)
        print(f"file: {args.size_mb} MiB, {args.runs} runs each (median)")
        print(f"curl : {c:8.1f} MB/s")
        print(f"piapi: {p:8.1f} MB/s  ({p / c:.2f} of curl; includes piapi's start-up and the get-task call)")
        print(f"piapi peak memory: {max(memory):.1f} MB (max of runs)")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
