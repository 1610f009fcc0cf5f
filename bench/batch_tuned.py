"""The tuned yardstick for `piapi batch run`: the same work as bench/batch_bare.py, with its
connections tuned: 8 API clients and 8 file clients, each keeping 8 connections alive (64 in all,
as many as requests in flight), rows spread over them in turn; each file read 1 MiB at a time.

    python bench/batch_tuned.py BASE_URL ROWS.jsonl OUT_DIR [--concurrency 64] [--clients 8]

For each row: one create, then polls on the schedule piapi uses (1 s, then a tenth of the
task's age, at most 10 s), then each output streamed to ``OUT_DIR/{id}-{index}.{ext}.part``
with its SHA-256, renamed when complete; one JSON line per row on stdout. At most N
requests in flight. No journal, no validation, no resume: only what must happen on the wire
and on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def urls(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node] if node.startswith(("http://", "https://")) else []
    if isinstance(node, dict):
        return [u for value in node.values() for u in urls(value)]
    if isinstance(node, list):
        return [u for value in node for u in urls(value)]
    return []


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("rows")
    parser.add_argument("out")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines() if line.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gate = asyncio.Semaphore(args.concurrency)
    # every connection kept alive: each client holds its share of the requests in flight
    share = max(1, args.concurrency // args.clients)
    limits = httpx.Limits(max_connections=share, max_keepalive_connections=share)
    timeout = httpx.Timeout(60.0)
    headers = {"x-api-key": "bench"}
    apis = [httpx.AsyncClient(base_url=args.base_url, headers=headers, limits=limits, timeout=timeout)
            for _ in range(args.clients)]  # fmt: skip
    fileses = [httpx.AsyncClient(limits=limits, timeout=timeout, headers={"accept-encoding": "identity"})
               for _ in range(args.clients)]  # fmt: skip
    try:

        async def one(number: int, row: dict[str, Any]) -> None:
            api, files = apis[number % args.clients], fileses[number % args.clients]
            body = {"model": row["model"], "task_type": row["task_type"], "input": row["input"]}
            async with gate:
                task = (await api.post("/api/v1/task", json=body)).json()["data"]
            born = time.monotonic()
            while task["status"] not in ("completed", "failed"):
                await asyncio.sleep(min(10.0, max(1.0, 0.1 * (time.monotonic() - born))))
                async with gate:
                    task = (await api.get(f"/api/v1/task/{task['task_id']}")).json()["data"]
            saved = []
            for index, url in enumerate(urls(task["output"])):
                target = out / f"{row['id']}-{index}.{url.rsplit('.', 1)[-1]}"
                part = target.with_name(target.name + ".part")
                digest = hashlib.sha256()
                size = 0
                async with gate, files.stream("GET", url) as answer:
                    with open(part, "wb") as handle:
                        async for chunk in answer.aiter_raw(1024 * 1024):
                            handle.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                os.replace(part, target)
                saved.append({"path": str(target), "bytes": size, "sha256": digest.hexdigest()})
            line = {"id": row["id"], "task_id": task["task_id"], "status": task["status"], "files": saved}
            sys.stdout.write(json.dumps(line) + "\n")

        await asyncio.gather(*(one(number, row) for number, row in enumerate(rows)))
    finally:
        for client in (*apis, *fileses):
            await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
