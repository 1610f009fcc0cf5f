"""`piapi wait` on many tasks against a bare asyncio + httpx poller, side by side in one run.

Starts `piapi sandbox serve --latency L` on a free loopback port, then, alternating:
- the bare script: creates N tasks of S seconds, then polls every unfinished task each
  `--bare-interval` seconds with 64 requests in flight, until all are done;
- piapi: the same N creates (also by the bare script's creator, untimed), then the whole
  `piapi wait ID...` command timed from start to exit.

Both waits start right after their creates, so both pay for the same task durations. Prints each
run and the ratio piapi / bare (the target is <= 1.2), and piapi's GET count per task.

    python bench/wait.py --tasks 200 --seconds 5 --latency 0.1 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import httpx

HERE = os.path.dirname(os.path.abspath(__file__))
PIAPI = [sys.executable, "-m", "piapi_cli"]


def serve(latency: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*PIAPI, "sandbox", "serve", "--port", "0", "--latency", str(latency), "--concurrency", "100000", "--quiet",
         "--no-webhooks"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    return process, url


async def create(client: httpx.AsyncClient, count: int, seconds: float) -> list[str]:
    limit = asyncio.Semaphore(64)

    async def one(index: int) -> str:
        async with limit:
            body = {
                "model": "Qubico/flux1-schnell",
                "task_type": "txt2img",
                "input": {"prompt": f"bench {index} [sandbox:seconds={seconds}]"},
            }
            answer = await client.post("/api/v1/task", json=body)
            return str(answer.json()["data"]["task_id"])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def bare_wait(client: httpx.AsyncClient, ids: list[str], interval: float) -> int:
    """Poll every unfinished task each ``interval`` seconds, 64 in flight; returns GETs sent."""
    limit = asyncio.Semaphore(64)
    pending = set(ids)
    gets = 0

    async def poll(task_id: str) -> None:
        nonlocal gets
        async with limit:
            gets += 1
            answer = await client.get(f"/api/v1/task/{task_id}")
            if answer.json()["data"]["status"] in ("completed", "failed"):
                pending.discard(task_id)

    while pending:
        started = time.monotonic()
        await asyncio.gather(*(poll(t) for t in list(pending)))
        if pending:
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    return gets


async def created_ids(url: str, count: int, seconds: float) -> list[str]:
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": "bench"}, timeout=60) as client:
        return await create(client, count, seconds)


async def bare_run(url: str, count: int, seconds: float, interval: float) -> tuple[float, int]:
    async with httpx.AsyncClient(
        base_url=url, headers={"x-api-key": "bench"}, timeout=60, limits=httpx.Limits(max_connections=64)
    ) as client:
        ids = await create(client, count, seconds)
        began = time.monotonic()
        gets = await bare_wait(client, ids, interval)
        return time.monotonic() - began, gets


def piapi_run(url: str, ids: list[str], env: dict[str, str]) -> float:
    began = time.monotonic()
    result = subprocess.run([*PIAPI, "wait", *ids, "--quiet"], capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - began
    if result.returncode != 0:
        raise SystemExit(f"piapi wait failed ({result.returncode}): {result.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bare-interval", type=float, default=1.0, help="the bare script's poll interval")
    args = parser.parse_args()

    server, url = serve(args.latency)
    env = {**os.environ, "PIAPI_BASE_URL": url, "PIAPI_API_KEY": "bench", "PIAPI_JOURNAL": "0"}
    bare: list[float] = []
    ours: list[float] = []
    try:
        for run in range(1, args.runs + 1):
            elapsed, gets = asyncio.run(bare_run(url, args.tasks, args.seconds, args.bare_interval))
            bare.append(elapsed)
            ids = asyncio.run(created_ids(url, args.tasks, args.seconds))
            ours.append(piapi_run(url, ids, env))
            print(
                f"run {run}: bare {bare[-1]:.2f}s ({gets / args.tasks:.1f} GETs/task)   piapi wait {ours[-1]:.2f}s   "
                f"ratio {ours[-1] / bare[-1]:.2f}",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(10)
    ratio = statistics.median(o / b for o, b in zip(ours, bare, strict=True))
    print(
        f"\n{args.tasks} tasks of {args.seconds:g}s, latency {args.latency:g}s: bare median "
        f"{statistics.median(bare):.2f}s, piapi wait median {statistics.median(ours):.2f}s, ratio {ratio:.2f} "
        "(target <= 1.2)"
    )


if __name__ == "__main__":
    main()
