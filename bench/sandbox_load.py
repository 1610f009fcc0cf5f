"""Load on the sandbox server: 10,000 tasks, get-task requests from 32 concurrent clients;
then webhooks to a fast and a slow receiver at once.

    python bench/sandbox_load.py [--tasks 10000] [--connections 32] [--seconds 10]
                                 [--webhook-tasks 200] [--slow-receiver 0.2]

Starts `piapi sandbox serve` on a free loopback port, creates the tasks over HTTP, then
drives GET /api/v1/task/{id} for random IDs with wrk (Debian package `wrk`) when it is
installed, else with a thread pool of httpx clients (which costs the server CPU: the
2 cores are shared). The server's own CPU time per request is read from /proc (Linux), a
figure that other load on the machine disturbs less than requests per second.

The webhook phase starts a second server (speed 10) and creates tasks whose endpoints
alternate between a receiver that answers at once and one that takes --slow-receiver
seconds per delivery; it reports how long the fast receiver waited for the last of its
tasks to be delivered as completed. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

LUA = """
local ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/task/" .. ids[math.random(#ids)], {["x-api-key"] = "bench"})
end
"""


def start_server(*extra: str, quiet: bool = True) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", "0", *(["--quiet"] if quiet else []), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), or None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_tasks(base: str, count: int) -> tuple[list[str], float]:
    ids = []
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers={"x-api-key": "bench"}) as client:
        for n in range(count):
            body = {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": f"task {n}"}}
            ids.append(client.post("/api/v1/task", json=body).json()["data"]["task_id"])
    return ids, time.perf_counter() - started


def load_with_wrk(base: str, ids: list[str], connections: int, seconds: int) -> tuple[str, int]:
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
    done = next(int(line.split()[0]) for line in result.stdout.splitlines() if "requests in" in line)
    return result.stdout, done


def load_with_threads(base: str, ids: list[str], connections: int, seconds: int) -> tuple[str, int]:
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
    text = f"{total / seconds:.0f} requests/s, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (python clients)"
    return text, total


class Receiver:
    """A webhook endpoint that answers after ``delay`` seconds and notes completed tasks."""

    def __init__(self, delay: float) -> None:
        self.completed: set[str] = set()
        self.deliveries = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                data: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["content-length"])))["data"]
                if delay:
                    time.sleep(delay)
                with receiver.lock:
                    receiver.deliveries += 1
                    if data["status"] == "completed":
                        receiver.completed.add(data["task_id"])
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def webhook_phase(count: int, slow_delay: float) -> str:
    fast, slow = Receiver(0.0), Receiver(slow_delay)
    process, base = start_server("--speed", "10", "--concurrency", str(count))
    try:
        started = time.perf_counter()
        fast_ids = []
        with httpx.Client(base_url=base, headers={"x-api-key": "bench"}) as client:
            for n in range(count):
                receiver = fast if n % 2 == 0 else slow
                body = {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": f"hook {n}"},
                        "config": {"webhook_config": {"endpoint": receiver.url, "secret": "bench"}}}  # fmt: skip
                task_id = client.post("/api/v1/task", json=body).json()["data"]["task_id"]
                if receiver is fast:
                    fast_ids.append(task_id)
        created = time.perf_counter() - started
        deadline = started + 300
        while time.perf_counter() < deadline:
            with fast.lock:
                if fast.completed >= set(fast_ids):
                    break
            time.sleep(0.05)
        took = time.perf_counter() - started
        with fast.lock, slow.lock:
            got = len(fast.completed & set(fast_ids))
            return (
                f"webhooks: {count} tasks (0.3 s each) created in {created:.1f}s; the fast receiver had "
                f"{got}/{len(fast_ids)} completions after {took:.1f}s ({fast.deliveries} deliveries), "
                f"while the {slow_delay:g} s receiver had taken {slow.deliveries}"
            )
    finally:
        process.terminate()
        process.wait(timeout=10)
        fast.httpd.shutdown()
        slow.httpd.shutdown()


def start_bare(template: dict[str, Any], count: int) -> tuple[subprocess.Popen[str], str, list[str]]:
    """bench/bare_server.py holding ``count`` tasks shaped like ``template``: (process, URL, IDs)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(template, handle)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_server.py")
    process = subprocess.Popen([sys.executable, script, handle.name, str(count)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    ids = list(iter(lambda: process.stdout.readline().strip(), ""))  # type: ignore[union-attr]
    os.unlink(handle.name)
    return process, url, ids


def versus_bare(count: int, connections: int, seconds: int, rounds: int) -> None:
    """The sandbox (its log on) against bench/bare_server.py: get-task from ``connections``
    wrk connections, ``rounds`` pairs in alternating order; requests/s and the ratio per pair."""
    sandbox, base = start_server("--concurrency", "64", "--no-webhooks", "--speed", "1000", quiet=False)
    bare = None
    try:
        ids, _ = create_tasks(base, count)
        answer = httpx.get(f"{base}/api/v1/task/{ids[0]}", headers={"x-api-key": "bench"}).json()["data"]
        bare, bare_url, bare_ids = start_bare(answer, count)
        ratios = []
        for round_ in range(rounds):
            rates, cpu = {}, {}
            for name in ("sandbox", "bare") if round_ % 2 == 0 else ("bare", "sandbox"):
                url, keys, pid = (base, ids, sandbox.pid) if name == "sandbox" else (bare_url, bare_ids, bare.pid)
                before = cpu_seconds(pid)
                _, done = load_with_wrk(url, keys, connections, seconds)
                after = cpu_seconds(pid)
                rates[name] = done / seconds
                cpu[name] = (after - before) / max(done, 1) * 1e6 if before is not None and after is not None else 0
            ratios.append(rates["sandbox"] / rates["bare"])
            print(f"round {round_ + 1}: sandbox {rates['sandbox']:,.0f} /s, bare threading server "
                  f"{rates['bare']:,.0f} /s: ratio {ratios[-1]:.2f}; server CPU per get {cpu['sandbox']:.0f} "
                  f"against {cpu['bare']:.0f} µs", flush=True)  # fmt: skip
        ratios.sort()
        print(f"ratio sandbox / bare: median {ratios[len(ratios) // 2]:.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}")
    finally:
        for process in (sandbox, bare):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--webhook-tasks", type=int, default=200, help="0 skips the webhook phase")
    parser.add_argument("--slow-receiver", type=float, default=0.2, help="seconds the slow receiver takes")
    parser.add_argument("--versus-bare", type=int, default=0, metavar="ROUNDS",
                        help="only: the sandbox (log on) against a bare threading server, ROUNDS pairs")  # fmt: skip
    args = parser.parse_args()
    if args.versus_bare:
        if not shutil.which("wrk"):
            raise SystemExit("--versus-bare needs wrk (apt-get install wrk)")
        versus_bare(args.tasks, args.connections, args.seconds, args.versus_bare)
        return
    process, base = start_server("--concurrency", "64")
    try:
        before = cpu_seconds(process.pid)
        ids, took = create_tasks(base, args.tasks)
        middle = cpu_seconds(process.pid)
        print(f"created {len(ids)} tasks in {took:.1f}s ({len(ids) / took:.0f} creates/s, one client)")
        if shutil.which("wrk"):
            text, done = load_with_wrk(base, ids, args.connections, args.seconds)
        else:
            text, done = load_with_threads(base, ids, args.connections, args.seconds)
        print(text)
        after = cpu_seconds(process.pid)
        if before is not None and middle is not None and after is not None:
            print(f"server CPU: {(middle - before) / len(ids) * 1e3:.2f} ms per create, "
                  f"{(after - middle) / max(done, 1) * 1e3:.2f} ms per get-task")  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=10)
    if args.webhook_tasks:
        print(webhook_phase(args.webhook_tasks, args.slow_receiver))


if __name__ == "__main__":
    main()
