"""Load on the sandbox server: 10,000 tasks, get-task requests from 32 concurrent clients.

    python bench/sandbox_load.py [--tasks 10000] [--connections 32] [--seconds 10]

Starts `piapi sandbox serve` on a free loopback port, creates the tasks over HTTP, then
drives GET /api/v1/task/{id} for random IDs with wrk (Debian package `wrk`) when it is
installed, else with a thread pool of httpx clients (which costs the server CPU: the
2 cores are shared). Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import httpx

LUA = """
local ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/task/" .. ids[math.random(#ids)], {["x-api-key"] = "bench"})
end
"""


def start_server() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", "0", "--quiet",
         "--concurrency", "64"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def create_tasks(base: str, count: int) -> tuple[list[str], float]:
    ids = []
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers={"x-api-key": "bench"}) as client:
        for n in range(count):
            body = {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": f"task {n}"}}
            ids.append(client.post("/api/v1/task", json=body).json()["data"]["task_id"])
    return ids, time.perf_counter() - started


def load_with_wrk(base: str, ids: list[str], connections: int, seconds: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        id_file = os.path.join(folder, "ids.txt")
        with open(id_file, "w") as handle:
            handle.write("\n".join(ids) + "\n")
        script = os.path.join(folder, "get.lua")
        with open(script, "w") as handle:
            handle.write(LUA % id_file)
        result = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, base],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    return result.stdout


def load_with_threads(base: str, ids: list[str], connections: int, seconds: int) -> str:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    def worker() -> int:
        done = 0
        with httpx.Client(base_url=base, headers={"x-api-key": "bench"}) as client:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                client.get(f"/api/v1/task/{random.choice(ids)}").raise_for_status()
                latencies.append(time.perf_counter() - start)
                done += 1
        return done

    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        total = sum(pool.map(lambda _: worker(), range(connections)))
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    return f"{total / seconds:.0f} requests/s, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (python clients)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    process, base = start_server()
    try:
        ids, took = create_tasks(base, args.tasks)
        print(f"created {len(ids)} tasks in {took:.1f}s ({len(ids) / took:.0f} creates/s, one client)")
        if shutil.which("wrk"):
            print(load_with_wrk(base, ids, args.connections, args.seconds))
        else:
            print(load_with_threads(base, ids, args.connections, args.seconds))
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
