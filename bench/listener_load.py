"""Load on `piapi listen`: paced deliveries from concurrent senders, then the same with slow clients.

    python bench/listener_load.py [--rate 500] [--senders 16] [--seconds 10] [--slow 200]

Starts `piapi listen --port 0` (its own config and data directories, the journal on, every
task of the run journaled beforehand as `piapi create` would have, so each delivery also updates
its task's row), then:

1. ``--senders`` keep-alive connections POST unique deliveries at ``--rate`` a second in total
   for ``--seconds``; one in ten is sent twice (PiAPI's retries). Checked: every unique delivery
   printed once on stdout and stored once in the events table; latency; the listener's memory
   (VmRSS) sampled every half second.
2. ``--slow`` connections are opened and held (half idle, half sending headers that promise a
   body which never comes), and phase 1 runs again beside them for half as long.

Only 127.0.0.1 is used. Prints a summary; exits 1 if a delivery was lost or doubled.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SECRET = "bench-secret-0123456789"


def journal_tasks(folder: Path, ids: list[str]) -> None:
    """Record the tasks as piapi create does, so deliveries update real journal rows."""
    from piapi_cli.api.tasks import Task
    from piapi_cli.core.journal.journal import Journal

    journal = Journal(folder / "data" / "journal.sqlite3")
    for task_id in ids:
        row = journal.begin_create("https://api.piapi.ai", "Qubico/flux1-dev", "txt2img", {"prompt": "x"}, None)
        journal.created(row, Task.from_api({"task_id": task_id, "status": "pending"}))
    journal.close()


def planned_ids(prefix: str, rate: float, senders: int, seconds: float) -> list[str]:
    count = int(rate / senders * seconds)
    return [f"{prefix}-{index}-{k}" for index in range(senders) for k in range(count)]


class Printed:
    """The lines the listener printed, in a file: the sender's process does not read them as they
    come (a thread reading 2,000 lines a second would share the sender's interpreter lock and
    delay its sends: the listener would be blamed for the sender's lateness)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").split("\n")[:-1]  # (whole lines only)


def start_listener(folder: Path, source: str | None = None) -> tuple[subprocess.Popen[str], int, Printed]:
    env = {**os.environ, "PIAPI_CONFIG_DIR": str(folder / "config"), "PIAPI_DATA_DIR": str(folder / "data")}
    if source:  # another source tree's listener (an older checkout)
        env["PYTHONPATH"] = source
    printed = Printed(folder / "printed.jsonl")
    with printed.path.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "piapi_cli", "listen", "--port", "0", "--backstop", "0", "--secret", SECRET],
            stdout=out, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
    assert process.stderr is not None
    first = process.stderr.readline()
    while "http://127.0.0.1:" not in first and first:  # (a warning may come first)
        first = process.stderr.readline()
    port = int(first.split("http://127.0.0.1:")[1].split("/")[0])
    threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()  # type: ignore[union-attr]
    return process, port, printed


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def switches(pid: int) -> int:
    """Context switches of every thread of a process (voluntary and not) so far."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        total += sum(int(line.split()[1]) for line in text.splitlines() if "ctxt_switches:" in line)
    return total


def body(task_id: str, n: int) -> bytes:
    data = {
        "task_id": task_id, "model": "Qubico/flux1-dev", "task_type": "txt2img", "status": "completed",
        "config": {"webhook_config": {"endpoint": "http://127.0.0.1/webhook", "secret": SECRET}},
        "input": {"prompt": f"load {n}"}, "output": {"image_url": f"https://img.example/{task_id}.png"},
        "meta": {"created_at": "2025-01-01T00:00:00Z", "usage": {"type": "quota", "frozen": 0, "consume": 20000}},
        "detail": None, "logs": [], "error": {"code": 0, "raw_message": "", "message": "", "detail": None},
    }  # fmt: skip
    return json.dumps({"timestamp": 1_750_000_000 + n, "data": data}).encode()


def request_bytes(task_id: str, n: int) -> bytes:
    payload = body(task_id, n)
    head = (f"POST /webhook HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"x-webhook-secret: {SECRET}\r\ncontent-length: {len(payload)}\r\n\r\n")  # fmt: skip
    return head.encode() + payload


class _Connection:
    """One keep-alive sender: its planned requests, each due at its own moment."""

    def __init__(self, port: int, plan: list[tuple[str, bytes]], due: list[float]) -> None:
        self.port, self.plan, self.due = port, plan, due
        self.sock = self._open()
        self.next = 0  # the request to send next
        self.repeat = False  # sending the copy of a delivery (one in ten is sent twice)
        self.began = 0.0
        self.buffer = b""

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return sock

    def reopen(self) -> None:
        self.sock.close()
        self.sock = self._open()
        self.buffer = b""


def send_paced(port: int, prefix: str, rate: float, senders: int, seconds: float) -> dict[str, object]:
    """``senders`` keep-alive connections, each sending on its own schedule (``rate`` a second in
    all), driven by one thread with non-blocking sockets: the senders' own threads would queue
    for this process's GIL and fall behind for reasons of their own. Each request's latency is
    timed from its sending and from the moment it was due: a listener that falls behind makes
    the next sends of a connection late, which only the second figure shows."""
    import selectors

    per_sender = rate / senders
    count = int(per_sender * seconds)
    # every request is made, and every connection open, before the schedule is fixed: making
    # 60,000 requests takes the sender half a second, which was counted as the listener's lateness
    conns = [
        _Connection(port, [(f"{prefix}-{n}-{k}", request_bytes(f"{prefix}-{n}-{k}", k)) for k in range(count)], [])
        for n in range(senders)
    ]
    start = time.perf_counter() + 0.2
    for n, conn in enumerate(conns):
        conn.due = [start + (k + n / senders) / per_sender for k in range(count)]
    selector = selectors.DefaultSelector()
    timings: list[tuple[float, float, float]] = []  # (from the send, when sent, from the moment due)
    failures: list[str] = []
    waiting = set(range(senders))  # connections with no request in flight
    active = senders
    while active:
        now = time.perf_counter()
        for n in sorted(waiting):
            conn = conns[n]
            if conn.next >= count:
                waiting.discard(n)
                active -= 1
                continue
            if conn.due[conn.next] <= now or conn.repeat:
                conn.began = time.perf_counter()
                conn.sock.sendall(conn.plan[conn.next][1])  # small: the socket buffer takes it whole
                selector.register(conn.sock, selectors.EVENT_READ, n)
                waiting.discard(n)
        due = [conns[n].due[conns[n].next] for n in waiting if conns[n].next < count]
        timeout = max(0.0, min(due) - time.perf_counter()) if due else None
        if not selector.get_map():  # nothing in flight: sleep until the next is due
            if timeout:
                time.sleep(timeout)
            continue
        for key, _ in selector.select(timeout):
            conn = conns[key.data]
            try:
                chunk = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                chunk, failures = b"", [*failures, str(exc)]
            conn.buffer += chunk
            status = _answered(conn.buffer) if chunk else 0
            if status is None:
                continue
            ended = time.perf_counter()
            selector.unregister(conn.sock)
            if not chunk:
                failures.append("closed by the listener")
                conn.reopen()
            elif status != 200:
                failures.append(f"HTTP {status}")
            conn.buffer = b""
            timings.append((ended - conn.began, conn.began - start, ended - conn.due[conn.next]))
            if conn.next % 10 == 0 and not conn.repeat:
                conn.repeat = True  # PiAPI's retries: the same delivery again, at once
            else:
                conn.repeat = False
                conn.next += 1
            waiting.add(key.data)
    elapsed = time.perf_counter() - start
    for conn in conns:
        conn.sock.close()
    latencies = sorted(took for took, _, _ in timings)
    late = sorted(behind for _, _, behind in timings)
    return {
        "sent": [task_id for conn in conns for task_id, _ in conn.plan],
        "requests": len(timings),
        "elapsed": elapsed,
        "failures": failures,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "max_ms": 1000 * latencies[-1],
        "max_at": max(timings)[1],
        "sched_p50_ms": 1000 * late[len(late) // 2],
        "sched_p99_ms": 1000 * late[int(len(late) * 0.99)],
        "sched_max_ms": 1000 * late[-1],
        "sched_max_at": max(timings, key=lambda t: t[2])[1],
    }


def _answered(data: bytes) -> int | None:
    """The status of a whole answer in ``data``, or None while it is still arriving."""
    head, found, rest = data.partition(b"\r\n\r\n")
    if not found:
        return None
    length = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
    if len(rest) < (int(length.group(1)) if length else 0):
        return None
    return int(head[9:12])


def hold_slow_connections(port: int, count: int) -> list[socket.socket]:
    held = []
    for n in range(count):
        conn = socket.create_connection(("127.0.0.1", port))
        if n % 2:
            head = f"POST /webhook HTTP/1.1\r\nx-webhook-secret: {SECRET}\r\ncontent-length: 4000\r\n\r\n"
            conn.sendall(head.encode() + b"{")  # the body that never comes
        held.append(conn)
    return held


def wait_for_lines(printed: Printed, count: int, timeout: float = 60) -> list[str]:
    deadline = time.time() + timeout
    lines = printed.lines()
    while len(lines) < count and time.time() < deadline:
        time.sleep(0.2)
        lines = printed.lines()
    return lines


def check(lines: list[str], sent: list[str], prefix: str) -> tuple[int, int]:
    printed = [json.loads(line)["task_id"] for line in lines]
    mine = [task_id for task_id in printed if task_id.startswith(prefix + "-")]
    lost = len(set(sent) - set(mine))
    doubled = len(mine) - len(set(mine))
    return lost, doubled


def report(title: str, result: dict[str, object], lost: int, doubled: int, memory: list[int]) -> None:
    sent = result["sent"]
    assert isinstance(sent, list)
    print(f"\n== {title}")
    print(f"unique deliveries {len(sent)}, requests {result['requests']} (with repeats) in {result['elapsed']:.1f} s"
          f" = {len(sent) / float(result['elapsed']):.0f} unique/s")  # type: ignore[arg-type]  # fmt: skip
    print(f"lost {lost}, doubled {doubled}, failed requests {len(result['failures'])}")  # type: ignore[arg-type]
    print(f"latency from the send: p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, max"
          f" {result['max_ms']:.1f} ms (at {result['max_at']:.1f} s)")  # fmt: skip
    print(f"latency from the schedule: p50 {result['sched_p50_ms']:.1f} ms, p99 {result['sched_p99_ms']:.1f} ms,"
          f" max {result['sched_max_ms']:.1f} ms (due at {result['sched_max_at']:.1f} s)")  # fmt: skip
    if memory:
        mib = [m / 1024 for m in memory]
        print(f"listener RSS MiB: start {mib[0]:.1f}, max {max(mib):.1f}, end {mib[-1]:.1f}")
        every = max(1, len(memory) // 10)
        print("RSS over time (MiB): " + " ".join(f"{m:.1f}" for m in mib[::every]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--source", help="run the listener of another source tree (PYTHONPATH), e.g. an older checkout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        journal_tasks(Path(folder), planned_ids("a", args.rate, args.senders, args.seconds)
                      + planned_ids("b", args.rate, args.senders, args.seconds / 2))  # fmt: skip
        process, port, printed = start_listener(Path(folder), args.source)
        memory: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.5):
                memory.append(rss_kib(process.pid))

        threading.Thread(target=sample, daemon=True).start()
        cpu_before, switched = cpu_seconds(process.pid), switches(process.pid)
        result = send_paced(port, "a", args.rate, args.senders, args.seconds)
        sent_a = result["sent"]
        assert isinstance(sent_a, list)
        lines = wait_for_lines(printed, len(sent_a))
        user, system = (after - before for after, before in zip(cpu_seconds(process.pid), cpu_before, strict=True))
        cpu_used, switched = user + system, switches(process.pid) - switched
        lost, doubled = check(lines, sent_a, "a")
        title = f"{args.rate:.0f}/s from {args.senders} senders for {args.seconds:.0f} s"
        report(title, result, lost, doubled, list(memory))
        elapsed = float(result["elapsed"])  # type: ignore[arg-type]
        print(f"listener CPU {cpu_used:.1f} s over {elapsed:.1f} s ({100 * cpu_used / elapsed:.0f}% of one core),"
              f" {1000 * cpu_used / len(sent_a):.3f} ms per unique delivery"
              f" ({1000 * cpu_used / int(result['requests']):.3f} ms per request; user {user:.1f} s, system"
              f" {system:.1f} s; {switched / int(result['requests']):.1f} context switches per request)")  # type: ignore[call-overload]  # fmt: skip
        bad = lost + doubled

        held = hold_slow_connections(port, args.slow)
        before = len(lines)
        mark = len(memory)
        result_b = send_paced(port, "b", args.rate, args.senders, args.seconds / 2)
        memory_b = memory[mark:]
        sent_b = result_b["sent"]
        assert isinstance(sent_b, list)
        lines = wait_for_lines(printed, before + len(sent_b))
        lost_b, doubled_b = check(lines, sent_b, "b")
        report(f"the same beside {args.slow} held connections (half idle, half half-sent)", result_b, lost_b,
               doubled_b, memory_b)  # fmt: skip
        bad += lost_b + doubled_b
        for conn in held:
            conn.close()
        sampling.set()
        process.terminate()
        process.wait(timeout=60)
        db = sqlite3.connect(Path(folder) / "data" / "journal.sqlite3")
        stored, keys = db.execute("SELECT COUNT(*), COUNT(DISTINCT delivery_key) FROM events").fetchone()
        expected = len(sent_a) + len(sent_b)
        done = db.execute("SELECT COUNT(*) FROM tasks WHERE status = 'completed'").fetchone()[0]
        print(f"\nevents table: {stored} rows, {keys} distinct delivery keys, {expected} unique deliveries sent;"
              f" journal rows brought to completed: {done}")  # fmt: skip
        db.close()
        bad += abs(stored - expected) + abs(done - expected)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
