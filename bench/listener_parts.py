"""The listener's CPU per delivery, part by part, on the CPU clock (load on the machine matters less).

    python bench/listener_parts.py [--requests 10000] [--deliveries 4000] [--part http|storing]

1. The HTTP server alone: ``DeliveryServer`` answering every delivery 200 without storing it,
   a client process keeping 1 and then 32 keep-alive connections busy (each sends its next
   request when answered). The server's CPU per request.
2. Storing alone, in-process: ``Intake.receive_many`` (check, parse, store in the journal with
   the task's row, queue the event) in batches of 1, 8 and 32, on a journal whose tasks were
   created beforehand; CPU and wall time per delivery, and the slowest batch, with the WAL
   checkpoints where SQLite runs them (in the committing thread) and on a thread of their own.

``PYTHONPATH=<another checkout>`` measures that checkout's server (``--part http``).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from listener_load import SECRET, _answered, body, journal_tasks, request_bytes  # noqa: E402


def client(port: int, total: int, connections: int) -> None:
    """Closed loop: each connection sends its next request when the last one is answered."""
    import selectors

    selector = selectors.DefaultSelector()
    sent = 0
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        selector.register(sock, selectors.EVENT_READ, [b""])
        sock.sendall(request_bytes(f"c-{sent}", sent))
        sent += 1
    done = 0
    while done < total:
        for key, _ in selector.select():
            key.data[0] += key.fileobj.recv(65536)  # type: ignore[union-attr]
            if _answered(key.data[0]) is None:
                continue
            key.data[0], done = b"", done + 1
            if sent < total:
                key.fileobj.sendall(request_bytes(f"c-{sent}", sent))  # type: ignore[union-attr]
                sent += 1


def http_alone(total: int, connections: int) -> float:
    from piapi_cli.core.listener.receiver import DeliveryServer

    server = DeliveryServer(
        ("127.0.0.1", 0), path="/webhook", authorise=lambda given: given == SECRET,
        receive=lambda headers, body: (200, "received"), report=lambda level, message: None,
    )  # fmt: skip
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    before = time.process_time()
    subprocess.run([sys.executable, __file__, "--client", str(port), str(total), str(connections)], check=True)
    used = time.process_time() - before
    server.close_gracefully(1)
    return used / total


def storing(count: int, batch: int, *, apart: bool) -> tuple[float, float, float]:
    """(CPU, wall time per delivery, the slowest batch) of ``count`` deliveries stored in batches."""
    from piapi_cli.core.journal.checkpoints import background_checkpoints
    from piapi_cli.core.journal.events import EventStore
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.core.listener.listener import Listener, ListenerOptions

    with tempfile.TemporaryDirectory() as folder:
        ids = [f"t-{n}" for n in range(count)]
        journal_tasks(Path(folder), ids)
        journal = Journal(Path(folder) / "data" / "journal.sqlite3")
        options = ListenerOptions(secret=SECRET, port=0, backstop_after=0)
        listener = Listener(options, EventStore(journal, SECRET), on_event=lambda event: None)
        bodies = [body(task_id, n) for n, task_id in enumerate(ids)]
        headers = {"x-webhook-secret": SECRET, "content-type": "application/json"}
        with background_checkpoints(journal) if apart else contextlib.nullcontext() as checkpoints:
            if checkpoints is not None:
                listener.intake.on_commit = checkpoints.nudge
            cpu, wall, slowest = time.process_time(), time.perf_counter(), 0.0
            for start in range(0, count, batch):
                began = time.perf_counter()
                listener.intake.receive_many([(headers, raw) for raw in bodies[start : start + batch]])
                slowest = max(slowest, time.perf_counter() - began)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        journal.close()
    return cpu / count, wall / count, slowest


def main() -> int:
    if sys.argv[1:2] == ["--client"]:
        client(*(int(arg) for arg in sys.argv[2:5]))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=4000)
    parser.add_argument("--part", choices=("http", "storing"))
    args = parser.parse_args()
    for connections in (1, 32) if args.part != "storing" else ():
        per = http_alone(args.requests, connections)
        print(f"HTTP server alone, {connections} connection(s): {1e6 * per:.0f} us of CPU per request")
    for batch in (1, 8, 32) if args.part != "http" else ():
        for apart in (False, True):
            cpu, wall, slowest = storing(args.deliveries, batch, apart=apart)
            where = "on their own thread" if apart else "in the committing thread"
            print(f"storing in batches of {batch:2d}, checkpoints {where:24s}: {1e6 * cpu:4.0f} us CPU,"
                  f" {1e6 * wall:4.0f} us wall per delivery; slowest batch {1000 * slowest:.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
