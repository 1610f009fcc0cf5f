"""piapi listen and piapi trigger: deliveries from the sandbox server end to end, the secret,
duplicates, forwarding byte for byte, --exec, downloads, the backstop, and a hostile HTTP side."""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.api.client import Client
from piapi_cli.api.errors import UsageError
from piapi_cli.api.tasks import Task, TaskRequest
from piapi_cli.cli.hints import noted
from piapi_cli.core.ids import resolve_task
from piapi_cli.core.journal.events import EventStore, event_name
from piapi_cli.core.journal.journal import Journal
from piapi_cli.core.listener.forwarding import Forwarder, Route, forward_client, replay
from piapi_cli.core.listener.listener import Listener, ListenerOptions
from piapi_cli.core.listener.receiver import ServerLimits
from piapi_cli.core.listener.secret import stored_webhook_secret
from piapi_cli.core.runner import Runner
from piapi_cli.sandbox import Emulator, MemoryStore
from piapi_cli.sandbox.server import SandboxServer, WebhookDispatcher
from tests.conftest import Cli, FakeClock, fixture

SECRET = "s3cret-0123456789abcdef"


# --- helpers ---------------------------------------------------------------------------


class Receiver:
    """A local endpoint for forwarded deliveries: records raw bodies and headers."""

    def __init__(self, statuses: list[int] | None = None, headers: dict[str, str] | None = None) -> None:
        self.got: list[tuple[str, bytes, dict[str, str]]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.got.append((self.path, body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Running:
    listener: Listener
    journal: Journal
    events: list[dict[str, Any]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.listener.server is not None
        return int(self.listener.server.server_address[1])

    def post(
        self,
        body: bytes | dict[str, Any],
        secret: str | None = SECRET,
        *,
        path: str = "/webhook",
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = {"content-type": "application/json", **(headers or {})}
        if secret is not None:
            sent["x-webhook-secret"] = secret
        connection.request(method, path, body=raw, headers=sent)
        answer = connection.getresponse()
        answer.read()
        connection.close()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}

    def names(self) -> list[tuple[str, str]]:
        self.listener.drain()
        return [(e["event"], e["task_id"][:8]) for e in self.events]


@pytest.fixture
def make_listener(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def make(
        journal: Journal | None = None,
        clock: Callable[[], float] = time.time,
        get_task: Callable[[str], Task] | None = None,
        download_http: Any = None,
        **options: Any,
    ) -> Running:
        journal = journal or Journal(tmp_path / "journal.sqlite3")
        secret = options.pop("secret", SECRET)
        options.setdefault("backstop_after", 0)
        running = Running(None, journal)  # type: ignore[arg-type]
        forwarder = None
        if options.get("routes"):

            def wait(seconds: float) -> bool:
                running.waits.append(seconds)
                return False

            forwarder = Forwarder(forward_client([r.url for r in options["routes"]]), wait=wait)
        listener = Listener(
            ListenerOptions(secret=secret, port=0, **options),
            EventStore(journal, secret),
            on_event=lambda event: running.events.append(json.loads(json.dumps(event.to_json()))),
            on_log=lambda level, message: running.logs.append((level, message)),
            world="sandbox-world",
            get_task=get_task,
            download_http=download_http,
            environ=dict(os.environ),
            clock=clock,
            forwarder=forwarder,
        )
        running.listener = listener.start()
        started.append(running)
        return running

    yield make
    for running in started:
        running.listener.stop(grace=2)
        running.journal.close()


def delivery(
    task_id: str = "58cb41b7-556d-46c0-b82e-1e116aa1a31a", status: str = "completed", ts: int = 1724511853
) -> dict[str, Any]:
    body = fixture("webhook-delivery.json")
    body["timestamp"] = ts
    body["data"]["task_id"] = task_id
    body["data"]["status"] = status
    return body


@pytest.fixture
def sandbox() -> Iterator[tuple[SandboxServer, FakeClock, WebhookDispatcher]]:
    """``piapi sandbox serve`` in a thread, on its own clock; deliveries made when the test says."""
    clock = FakeClock(start=time.time())
    server = SandboxServer(Emulator(MemoryStore(), clock=clock), "127.0.0.1", 0, webhooks=False).start()
    yield server, clock, WebhookDispatcher(server.emulator, sleep=clock.sleep)
    server.stop()


def hooked(running: Running, secret: str = SECRET) -> dict[str, Any]:
    return {"webhook_config": {"endpoint": running.listener.url, "secret": secret}}


def create(client: Client, journal: Journal, world: str, prompt: str, config: dict[str, Any], model: str = "Qubico/flux1-dev",
           task_type: str = "txt2img") -> Task:  # fmt: skip
    """A create journaled first, as piapi create does."""
    request = TaskRequest(model, task_type, {"prompt": prompt}, config)
    return Runner(client, journal=journal, world=world).submit(request).task


# --- end to end against the sandbox server ----------------------------------------------


def test_sandbox_deliveries_are_printed_in_order_and_update_the_journal(make_listener, sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, clock, dispatcher = sandbox
    running = make_listener()
    journal = running.journal
    with Client("any", server.base_url, sleep=clock.sleep) as client:
        ids = [create(client, journal, "w", f"cat {n}", hooked(running)).task_id for n in range(3)]
        for _ in range(12):
            dispatcher.scan()
            dispatcher.drain()
            clock.sleep(0.5)
    running.listener.drain()
    for task_id in ids:
        mine = [e["event"] for e in running.events if e["task_id"] == task_id]
        assert mine == ["task.created", "task.processing", "task.completed"]
    assert [e["id"] for e in running.events] == sorted(e["id"] for e in running.events)
    done = running.events[-1]
    assert set(done) == {
        "id",
        "received_at",
        "event",
        "task_id",
        "status",
        "model",
        "task_type",
        "timestamp",
        "source",
        "task",
    }
    assert done["model"] == "Qubico/flux1-dev" and done["source"] == "webhook"
    assert done["task"]["config"]["webhook_config"]["secret"] == "<redacted>"
    assert all(resolve_task(task_id, journal).entry.status == "completed" for task_id in ids)  # type: ignore[union-attr]


def lines_of(stream: Any) -> queue.Queue[str]:
    """The lines a child process writes, readable with a timeout (a test must never hang)."""
    found: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [found.put(line) for line in stream], daemon=True).start()
    return found


def test_the_cli_listener_prints_what_sandbox_serve_delivers(tmp_path: Path) -> None:
    env = {**os.environ, "PIAPI_CONFIG_DIR": str(tmp_path / "c"), "PIAPI_DATA_DIR": str(tmp_path / "d")}
    piapi = [sys.executable, "-m", "piapi_cli"]
    # speed 2: a Flux task is pending 0.22 s, longer than the sandbox's 0.1 s delivery tick
    sandbox = subprocess.Popen([*piapi, "sandbox", "serve", "--port", "0", "--speed", "2", "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
    assert sandbox.stdout is not None
    env |= {"PIAPI_BASE_URL": lines_of(sandbox.stdout).get(timeout=30).strip(), "PIAPI_API_KEY": "any"}
    listen = subprocess.Popen([*piapi, "listen", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)  # fmt: skip
    try:
        assert listen.stderr is not None and listen.stdout is not None
        notes, events = lines_of(listen.stderr), lines_of(listen.stdout)
        ready = [notes.get(timeout=30) for _ in range(2)][1]
        options = ready.split("give create or batch run: ")[1].split()
        assert options[0] == "--webhook" and options[2] == "--webhook-secret"
        created = subprocess.run([*piapi, "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat", *options],
                                 capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        assert created.returncode == 0, created.stderr
        lines = [json.loads(events.get(timeout=30)) for _ in range(3)]
        assert [line["event"] for line in lines] == ["task.created", "task.processing", "task.completed"]
        assert {line["task_id"] for line in lines} == {created.stdout.strip()}
        listen.send_signal(signal.SIGTERM)
        listen.wait(timeout=30)
        err = "".join(notes.get(timeout=5) for _ in range(notes.qsize()))
        assert listen.returncode == 143 and "stopped; 3 events" in err and "Traceback" not in err
    finally:
        for process in (listen, sandbox):
            if process.poll() is None:
                process.kill()
                process.wait()


# --- the secret -------------------------------------------------------------------------


def test_a_wrong_or_missing_secret_gets_401_and_goes_nowhere(make_listener, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    running = make_listener(routes=[Route(receiver.base + "/all")])
    compared: list[tuple[bytes, bytes]] = []
    import hmac

    real = hmac.compare_digest
    monkeypatch.setattr(
        "piapi_cli.core.listener.listener.hmac.compare_digest", lambda a, b: compared.append((a, b)) or real(a, b)
    )
    assert running.post(delivery(), secret="wrong")[0] == 401
    assert running.post(delivery(), secret=None)[0] == 401
    assert running.post(delivery(), secret=SECRET[:-1])[0] == 401
    running.listener.drain()
    assert (
        running.events == []
        and receiver.got == []
        and tuple(running.journal.read("SELECT COUNT(*) FROM events")[0]) == (0,)
    )
    assert compared and all(b == SECRET.encode() for _, b in compared)  # compared in constant time
    assert sum("401" in message for _, message in running.logs) == 3
    assert running.post(delivery())[0] == 200
    assert running.names() == [("task.completed", "58cb41b7")]
    receiver.close()


def test_the_listener_secret_is_made_once_private_and_kept(cli: Cli, isolated: Path) -> None:
    first = cli("listen", "--print-secret")
    assert first.exit_code == 0 and len(first.stdout.strip()) == 48
    path = isolated / "config" / "webhook-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cli("listen", "--print-secret").stdout == first.stdout == stored_webhook_secret(path.parent) + "\n"
    assert cli("trigger", "http://127.0.0.1:9/x", "--dry-run").exit_code == 0
    assert cli("listen", "--print-secret", "--secret", "mine-123").stdout == "mine-123\n"
    assert cli("listen", "--print-secret", env={"PIAPI_WEBHOOK_SECRET": "env-secret"}).stdout == "env-secret\n"
    (isolated / "f").write_text("from-file\r\n")
    assert cli("listen", "--print-secret", "--secret-file", str(isolated / "f")).stdout == "from-file\n"
    both = cli("listen", "--secret", "a", "--secret-file", str(isolated / "f"))
    assert both.exit_code == 2 and "not both" in both.stderr
    assert cli("listen", "--secret", "has space").exit_code == 2


def test_secrets_are_sealed_in_the_journal_and_restored_for_replay(make_listener, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    body = delivery()
    body["data"]["config"]["webhook_config"]["secret"] = SECRET
    raw = json.dumps(body, indent=1).encode()
    assert running.post(raw)[0] == 200
    running.listener.drain()
    running.journal._db.execute("PRAGMA wal_checkpoint(FULL)")
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite3*"))
    assert SECRET.encode() not in on_disk
    stored = running.listener.store.get(running.events[0]["id"])
    assert stored is not None and stored.body == raw


# --- duplicates and naming -----------------------------------------------------------------


def test_repeated_deliveries_are_answered_and_dropped(make_listener, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    first = delivery(status="processing", ts=100)
    assert running.post(first)[0] == 200
    assert running.post(first)[0] == 200  # PiAPI's retry: same task, status and timestamp
    assert running.post(json.dumps(first, indent=4).encode())[0] == 200  # re-serialised: still the same
    assert running.post(delivery(status="processing", ts=105))[0] == 200  # progress news: a new delivery
    assert running.post(delivery(status="completed", ts=110))[0] == 200
    assert running.names() == [
        ("task.processing", "58cb41b7"),
        ("task.updated", "58cb41b7"),
        ("task.completed", "58cb41b7"),
    ]
    assert running.listener.stats["duplicates"] == 2
    running.listener.stop()
    again = make_listener(journal=Journal(tmp_path / "journal.sqlite3"))  # a restart: still dropped
    assert again.post(delivery(status="completed", ts=110))[0] == 200
    assert again.names() == []


def test_event_names() -> None:
    assert event_name("pending", []) == "task.created"
    assert event_name("processing", ["pending"]) == "task.processing"
    assert event_name("processing", ["pending", "processing"]) == "task.updated"
    assert event_name("cancelled", []) == "task.cancelled"
    assert event_name("weird", []) == "task.weird"


def test_a_late_older_delivery_does_not_turn_the_journal_back(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    journal = running.journal
    row = journal.begin_create("w", "luma", "video_generation", {}, None)
    journal.created(row, Task.from_api(delivery(status="pending")["data"]))
    running.post(delivery(status="completed", ts=200))
    running.post(delivery(status="processing", ts=150))  # overtaken on the way: kept, not emitted
    assert running.names()[-1][0] == "task.completed"
    assert resolve_task("58cb41b7", journal).entry.status == "completed"  # type: ignore[union-attr]


def test_events_filter_what_is_printed_and_acted_on_but_all_are_stored(make_listener) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    running = make_listener(events=frozenset({"task.completed"}), routes=[Route(receiver.base + "/x")])
    for status, ts in (("pending", 1), ("processing", 2), ("completed", 3)):
        running.post(delivery(status=status, ts=ts))
    assert running.names() == [("task.completed", "58cb41b7")]
    assert len(receiver.got) == 1
    assert tuple(running.journal.read("SELECT COUNT(*) FROM events")[0]) == (3,)
    receiver.close()


def test_deliveries_from_many_senders_are_each_printed_once_in_storage_order(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()

    def send(n: int) -> None:
        for k in range(20):
            body = delivery(task_id=f"task-{n}-{k}", status="completed", ts=k)
            running.post(body)
            running.post(body)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    running.listener.drain()
    ids = [e["id"] for e in running.events]
    assert len(ids) == 160 and ids == sorted(ids) and len({e["task_id"] for e in running.events}) == 160


# --- forwarding -------------------------------------------------------------------------


def test_forwarded_bodies_and_headers_are_the_ones_received(make_listener) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver()
    routes = [Route.parse(f"completed={receiver.base}/done"), Route.parse(f"{receiver.base}/all?x=1")]
    running = make_listener(routes=routes)
    odd = ('{ "data" : {"task_id":"t-1","status":"pending","model":"luma","note":"caf\\u00e9 ☕"},\n'
           '  "timestamp": 7 }').encode()  # fmt: skip
    sent = {"x-custom": "kept", "user-agent": "Go-http-client/2.0", "proxy-authorization": "hop"}
    assert running.post(odd, headers=sent)[0] == 200
    assert running.post(delivery(task_id="t-1", status="completed", ts=8))[0] == 200
    running.listener.drain()
    (path1, body1, headers1), (path2, _, _) = sorted(receiver.got, key=lambda got: got[0])
    assert (path1, path2) == ("/all?x=1", "/done")
    assert body1 == odd  # byte for byte
    assert headers1["x-custom"] == "kept" and headers1["user-agent"] == "Go-http-client/2.0"
    assert headers1["x-webhook-secret"] == SECRET and headers1["x-piapi-event"] == "task.created"
    assert "proxy-authorization" not in headers1  # a hop's header, not the delivery's
    assert running.listener.store.counts() == {"ok": 2}
    receiver.close()


def test_forwarding_retries_with_backoff_then_keeps_it_for_replay(make_listener, cli: Cli) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver(statuses=[503, 429, 200], headers={"retry-after": "2"})
    running = make_listener(routes=[Route(receiver.base + "/hook")])
    running.post(delivery(status="completed", ts=1))
    running.listener.drain()
    assert [e.get("state") for e in running.listener.store.get(1).forwards.values()] == ["ok"]  # type: ignore[union-attr]
    assert len(receiver.got) == 3 and running.waits == [2.0, 2.0]  # Retry-After honoured
    receiver.statuses = [500] * 5 + [302]
    running.post(delivery(status="completed", ts=2, task_id="t-2"))
    running.post(delivery(status="completed", ts=3, task_id="t-3"))
    running.listener.drain()
    stored = running.listener.store.get(3)
    assert stored is not None and stored.forward_state == "failed"
    assert "redirect" in running.listener.store.get(3).forwards[receiver.base + "/hook"]["error"]  # type: ignore[union-attr]
    assert any("--replay 2" in noted(message) for _, message in running.logs)
    assert [e.id for e in running.listener.store.unforwarded()] == [2, 3]
    results = replay(running.listener.store, "failed", [], forwarder=Forwarder(forward_client([receiver.base])))
    assert [(r["id"], r["state"]) for r in results] == [(2, "ok"), (3, "ok")]
    assert receiver.got[-1][1] == running.listener.store.get(3).body  # type: ignore[union-attr]
    assert running.listener.store.unforwarded() == []
    receiver.close()


def test_replay_from_the_cli(cli: Cli, isolated: Path) -> None:
    journal = Journal(isolated / "data" / "journal.sqlite3")
    secret = stored_webhook_secret(isolated / "config")
    store = EventStore(journal, secret)
    body = json.dumps(delivery()).encode()
    store.record(task=Task.from_api(delivery()["data"]), timestamp=1, body=body, headers={}, received_at=1.0,
                 forward_to=lambda name: ["http://127.0.0.1:9/gone"])  # fmt: skip
    journal.close()
    assert cli("listen", "--replay", "99").exit_code == 2
    still = cli("listen", "--replay", "failed")
    assert still.exit_code == 5 and "failed again" in still.stderr and len(cli.clock.sleeps) == 4
    assert json.loads(still.stdout)["state"] == "failed"
    receiver = Receiver()
    result = cli("listen", "--replay", "1", "--forward-to", receiver.base + "/new")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "ok" and receiver.got[0][1] == body
    assert receiver.got[0][2]["x-webhook-secret"] == secret
    assert cli("listen", "--replay", "failed").stderr.startswith("nothing to replay")
    assert cli("--no-journal", "listen", "--replay", "failed").exit_code == 2
    receiver.close()


# --- exec and downloads -------------------------------------------------------------------


def test_exec_runs_once_per_event_with_the_event(make_listener, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "exec"
    out.mkdir()
    script = ("import json, os, sys; e = json.load(sys.stdin); "
              f"open(os.path.join({str(out)!r}, os.environ['PIAPI_EVENT_ID']), 'w').write(json.dumps("
              "[e, os.environ['PIAPI_TASK_ID'], os.environ['PIAPI_STATUS'], os.environ['PIAPI_EVENT']]))")  # fmt: skip
    running = make_listener(exec_argv=[sys.executable, "-c", script])
    running.post(delivery(status="processing", ts=1))
    running.post(delivery(status="processing", ts=1))  # a duplicate: not run again
    running.post(delivery(status="completed", ts=2))
    running.listener.drain()
    runs = {p.name: json.loads(p.read_text()) for p in out.iterdir()}
    assert sorted(runs) == ["1", "2"]
    event, task_id, status, name = runs["2"]
    assert event == running.events[1] and (task_id, status, name) == (
        "58cb41b7-556d-46c0-b82e-1e116aa1a31a",
        "completed",
        "task.completed",
    )


def test_exec_failures_are_logged_and_the_listener_goes_on(make_listener, cli: Cli) -> None:  # type: ignore[no-untyped-def]
    failing = make_listener(exec_argv=[sys.executable, "-c", "raise SystemExit(3)"])
    failing.post(delivery())
    failing.listener.drain()
    assert any("exited with status 3" in m for level, m in failing.logs if level == "error")
    assert len(failing.events) == 1
    with pytest.raises(UsageError, match="cannot find the program"):
        make_listener(exec_argv=["/no/such/program"], journal=Journal(Path(":memory:")))
    assert cli("listen", "--exec", "/no/such/program").exit_code == 2  # refused before listening


def test_completed_tasks_are_downloaded(make_listener, sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import httpx

    server, clock, dispatcher = sandbox
    out = tmp_path / "out"
    with httpx.Client() as files:
        running = make_listener(download_dir=out, download_http=files, download_any_url=True)  # a local server
        with Client("any", server.base_url) as client:
            task = client.create_task(TaskRequest("midjourney", "imagine", {"prompt": "a lighthouse"}, hooked(running)))
            dispatcher.scan()
            dispatcher.drain()
            clock.sleep(120)
            dispatcher.scan()
            dispatcher.drain()
            running.listener.drain()
            saved = sorted(out.iterdir())
            assert [p.name for p in saved] == [f"{task.task_id}-{n}.png" for n in range(5)]
            done = client.get_task(task.task_id)
        assert saved[0].read_bytes() == files.get(done.output["image_url"]).content
    recorded = running.journal.read("SELECT COUNT(*) FROM downloads WHERE task_id = ?", (task.task_id,))
    assert tuple(recorded[0]) == (5,)
    assert any(m.startswith("saved ") for _, m in running.logs)


# --- the backstop ---------------------------------------------------------------------------


def test_the_backstop_finds_a_task_whose_deliveries_were_lost(make_listener, sandbox) -> None:  # type: ignore[no-untyped-def]
    server, clock, _ = sandbox  # the dispatcher never runs: every delivery is lost
    with Client("any", server.base_url, sleep=clock.sleep) as client:
        running = make_listener(clock=clock, get_task=client.get_task, backstop_after=60)
        journal, world = running.journal, "sandbox-world"
        lost = create(client, journal, world, "x", hooked(running))
        create(
            client,
            journal,
            world,
            "y",
            {"webhook_config": {"endpoint": "https://elsewhere.example/hook", "secret": "x"}},
        )
        gets = lambda: sum(1 for method, path in server.emulator.requests if method == "GET")  # noqa: E731
        assert running.listener.backstop_check() == 0 and gets() == 0  # not silent long enough yet
        clock.sleep(61)
        assert running.listener.backstop_check() == 1 and gets() == 1  # only the task sent to this listener
        assert running.names() == [("task.completed", lost.task_id[:8])]
        assert running.events[0]["source"] == "backstop"
        assert resolve_task(lost.task_id, journal).entry.status == "completed"  # type: ignore[union-attr]
        clock.sleep(61)
        assert running.listener.backstop_check() == 0 and gets() == 1  # heard it finish: not fetched again
        late = {"timestamp": int(clock()), "data": client.get_task(lost.task_id).raw}
        assert running.post(late)[0] == 200  # the lost delivery turns up after all: a duplicate
        assert len(running.names()) == 1


# --- the HTTP side, hostile -------------------------------------------------------------------


def test_only_posted_deliveries_of_a_sane_size_are_taken(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener(limits=ServerLimits(max_body=4096))
    status, headers = running.post(b"", method="GET")
    assert status == 405 and headers["allow"] == "POST"
    assert running.post(delivery(), path="/other")[0] == 404
    assert running.post(b"x" * 5000)[0] == 413
    for body in (b"<html>proxy error</html>", b"[]", b'{"timestamp": 1}', b'{"data": {"status": "completed"}}',
                 b"\xff\xfe", b"[" * 1500 + b"]" * 1500, b'{"data": {"task_id": 5}}'):  # fmt: skip
        assert running.post(body)[0] == 400, body[:20]
    with socket.create_connection(("127.0.0.1", running.port)) as raw:
        raw.sendall(f"POST /webhook HTTP/1.1\r\nhost: x\r\nx-webhook-secret: {SECRET}\r\n\r\n".encode())
        assert raw.recv(100).startswith(b"HTTP/1.1 411")
    assert running.post(delivery())[0] == 200 and len(running.names()) == 1


def test_a_body_that_is_not_stored_is_not_acknowledged(make_listener, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()

    def full(**kwargs: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(running.listener.store, "record", full)
    assert running.post(delivery())[0] == 500  # PiAPI sends it again later
    assert running.names() == [] and any("disk is full" in m for _, m in running.logs)


def test_fuzzed_bodies_never_break_the_listener(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    rng = random.Random(11)
    pieces = [b"{", b"}", b"[", b"]", b'"data"', b'"task_id"', b":", b",", b'"x"', b"1", b"null", b"\x00", b"\xc3"]
    for _ in range(300):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert running.post(body)[0] in (200, 400)
    assert running.post(delivery())[0] == 200


def test_idle_and_half_sent_connections_do_not_block_others(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener(limits=ServerLimits(idle_timeout=30, request_timeout=30))
    held = []
    for n in range(200):
        conn = socket.create_connection(("127.0.0.1", running.port))
        if n % 2:  # half-sent: headers promise a body that never comes
            conn.sendall(
                f"POST /webhook HTTP/1.1\r\nx-webhook-secret: {SECRET}\r\ncontent-length: 900\r\n\r\n{{".encode()
            )
        held.append(conn)
    for k in range(20):
        assert running.post(delivery(ts=k))[0] == 200
    for conn in held:  # answered while every held connection is still open: none had to time out first
        conn.setblocking(False)
        with pytest.raises(BlockingIOError):
            conn.recv(1)
    for conn in held:
        conn.close()


def test_silent_and_slow_clients_are_cut_off(make_listener) -> None:  # type: ignore[no-untyped-def]
    quiet = make_listener(limits=ServerLimits(idle_timeout=0.3, request_timeout=30))
    idle = socket.create_connection(("127.0.0.1", quiet.port))
    idle.settimeout(10)
    assert idle.recv(10) == b""  # closed by the listener after 0.3 s of silence
    # the idle limit is out of reach: only the limit on the whole request can close it
    strict = make_listener(limits=ServerLimits(idle_timeout=3600, request_timeout=0.5))
    slow = socket.create_connection(("127.0.0.1", strict.port))
    slow.settimeout(60)  # (a guard against a hang)
    slow.sendall(f"POST /webhook HTTP/1.1\r\nx-webhook-secret: {SECRET}\r\n".encode())  # and the rest never
    assert slow.recv(10) == b""  # each read is within the idle limit; the request as a whole is not
    for conn in (idle, slow):
        conn.close()
    assert strict.post(delivery())[0] == 200


def test_connections_over_the_limit_get_503(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener(limits=ServerLimits(max_connections=3))
    held = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(3)]
    extra = socket.create_connection(("127.0.0.1", running.port))  # accepted after the three: over the limit
    extra.settimeout(5)
    assert extra.recv(100).startswith(b"HTTP/1.1 503")
    for conn in held + [extra]:
        conn.close()


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_stopping_finishes_the_deliveries_in_progress_and_refuses_new_ones(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    server = running.listener.server
    keep = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    keep.request("POST", "/webhook", body=json.dumps(delivery(ts=1)), headers={"x-webhook-secret": SECRET})
    assert keep.getresponse().read() and running.names() == [("task.completed", "58cb41b7")]
    body = json.dumps(delivery(ts=2, status="failed")).encode()
    half = socket.create_connection(("127.0.0.1", running.port))
    half.settimeout(10)
    half.sendall(
        f"POST /webhook HTTP/1.1\r\nx-webhook-secret: {SECRET}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    wait_until(lambda: server._busy == 1)  # the body is being read
    # a grace no loaded machine runs out of: the delivery in progress is finished, not cut
    stopper = threading.Thread(target=running.listener.stop, kwargs={"grace": 120.0})
    stopper.start()
    wait_until(lambda: server._closing)
    half.sendall(body[10:])
    assert half.recv(100).startswith(b"HTTP/1.1 200")
    stopper.join(120)
    assert [e["event"] for e in running.events] == ["task.completed", "task.failed"]  # reported before stop returned
    keep.request("POST", "/webhook", body=json.dumps(delivery(ts=3)), headers={"x-webhook-secret": SECRET})
    assert keep.getresponse().status == 503  # a keep-alive connection asking after the stop: try again later
    half.close()
    keep.close()


def test_bad_listen_options_exit_2_before_listening(cli: Cli) -> None:
    for args in (["--forward-to", "ftp://x/y"], ["--forward-to", "not a url"], ["--events", "bad name!"],
                 ["--path", "webhook"], ["--public-url", "tunnel.example.com"]):  # fmt: skip
        result = cli("listen", *args)
        assert result.exit_code == 2 and "Traceback" not in result.stderr, args


def test_the_urls_a_listener_answers_to(make_listener) -> None:  # type: ignore[no-untyped-def]
    running = make_listener(public_url="https://abc.tunnel.example/", path="/hooks/piapi")
    listener = running.listener
    assert listener.url == "https://abc.tunnel.example/hooks/piapi"
    local = f"http://127.0.0.1:{running.port}/hooks/piapi"
    assert listener.endpoints == [listener.url, local, local.replace("127.0.0.1", "localhost")]
    assert running.post(delivery(), path="/hooks/piapi")[0] == 200


def test_a_delivery_acknowledged_survives_kill_9_and_its_repeat_is_dropped(tmp_path: Path) -> None:
    env = {**os.environ, "PIAPI_CONFIG_DIR": str(tmp_path / "c"), "PIAPI_DATA_DIR": str(tmp_path / "d")}
    command = [sys.executable, "-m", "piapi_cli", "listen", "--port", "0", "--secret", SECRET, "--backstop", "0"]
    body = json.dumps(delivery()).encode()
    answers = []
    for _ in range(2):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert process.stderr is not None and process.stdout is not None
            port = int(lines_of(process.stderr).get(timeout=30).split("127.0.0.1:")[1].split("/")[0])
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("POST", "/webhook", body=body, headers={"x-webhook-secret": SECRET})
            answer = connection.getresponse()
            assert answer.status == 200
            answers.append(json.loads(answer.read())["message"])
            process.kill()  # kill -9 right after the answer
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert answers == ["received", "duplicate: already received"]
    db = sqlite3.connect(tmp_path / "d" / "journal.sqlite3")
    assert db.execute("SELECT event, task_id FROM events").fetchall() == [
        ("task.completed", delivery()["data"]["task_id"])
    ]
    db.close()


def test_two_listeners_on_one_journal_store_a_delivery_once(tmp_path: Path) -> None:
    stores = [EventStore(Journal(tmp_path / "journal.sqlite3"), SECRET) for _ in range(2)]
    task = Task.from_api(delivery()["data"])
    body = json.dumps(delivery()).encode()
    found = [store.record(task=task, timestamp=1, body=body, headers={}, received_at=1.0) for store in stores]
    assert found[0] is not None and found[1] is None


# --- trigger ----------------------------------------------------------------------------------


def test_trigger_sends_a_lifecycle_the_listener_takes(make_listener, cli: Cli) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    url = running.listener.url
    result = cli(
        "trigger",
        url,
        "--status",
        "pending,processing,completed",
        "-m",
        "midjourney",
        "-t",
        "imagine",
        "--secret",
        SECRET,
    )
    assert result.exit_code == 0, result.stderr
    task_id = result.stdout.strip()
    assert running.names() == [
        ("task.created", task_id[:8]),
        ("task.processing", task_id[:8]),
        ("task.completed", task_id[:8]),
    ]
    done = running.events[-1]["task"]
    assert len(done["output"]["temporary_image_urls"]) == 4 and done["input"] == {
        "prompt": "a test delivery from piapi trigger"
    }
    assert [e["timestamp"] for e in running.events] == sorted(e["timestamp"] for e in running.events)


def test_trigger_reports_a_refusing_or_missing_receiver(make_listener, cli: Cli) -> None:  # type: ignore[no-untyped-def]
    running = make_listener()
    refused = cli("trigger", running.listener.url, "--secret", "not-it", "--status", "failed")
    assert refused.exit_code == 4 and "401" in refused.stderr and "--secret" in refused.stderr
    unreachable = cli("trigger", "http://127.0.0.1:9/hook")
    assert unreachable.exit_code == 5 and "could not deliver" in unreachable.stderr
    for bad in (["--status", "done"], ["--status", "completed,failed"], ["-m", "no-such-model"]):
        assert cli("trigger", running.listener.url, *bad).exit_code == 2
    assert cli("trigger", "ftp://x/y").exit_code == 2


def test_trigger_dry_run_redacts_and_from_task_sends_a_journaled_task(cli: Cli, make_listener) -> None:  # type: ignore[no-untyped-def]
    dry = cli("trigger", "http://127.0.0.1:9/hook", "--status", "failed", "--secret", "hidden-secret", "--dry-run")
    assert dry.exit_code == 0 and "hidden-secret" not in dry.stdout
    doc = json.loads(dry.stdout)
    assert doc["data"]["status"] == "failed" and doc["data"]["error"]["code"] == 10000
    task_id = cli(
        "create", "-m", "luma", "-t", "video_generation", "-i", "prompt=waves", "--wait", "--jq", ".task_id"
    ).stdout.strip()
    running = make_listener(journal=Journal(Path(os.environ["PIAPI_DATA_DIR"]) / "journal.sqlite3"))
    sent = cli("trigger", running.listener.url, "--from-task", task_id[:8], "--secret", SECRET)
    assert sent.exit_code == 0, sent.stderr
    assert running.names() == [("task.completed", task_id[:8])]
    assert running.events[0]["task"]["output"]["video"]["url"].endswith(".mp4")
    assert cli("trigger", running.listener.url, "--from-task", task_id, "--status", "failed").exit_code == 2
    given_as_default = cli("trigger", running.listener.url, "--from-task", task_id, "-s", "completed")
    assert given_as_default.exit_code == 2 and "leave out --status" in given_as_default.stderr


def test_event_json_is_what_the_fixture_delivery_says() -> None:
    from piapi_cli.core.journal.events import parse_delivery

    parsed = parse_delivery(json.dumps(fixture("webhook-delivery.json")).encode())
    assert not isinstance(parsed, str)
    task, timestamp = parsed
    assert (task.task_id, task.status, timestamp) == ("58cb41b7-556d-46c0-b82e-1e116aa1a31a", "completed", 1724511853)
    assert [u.url for u in task.urls][0].endswith("video.mp4")
