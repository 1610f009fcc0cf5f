"""Webhook deliveries of the sandbox server, to local receivers on 127.0.0.1: fast, slow,
failing, stuck, or answering something that is not HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from piapi_cli.api.backoff import Backoff
from piapi_cli.sandbox import Emulator, MemoryStore
from piapi_cli.sandbox.server import SandboxServer
from piapi_cli.sandbox.webhooks import WebhookDispatcher
from tests.conftest import FakeClock


@pytest.fixture
def server(clock: FakeClock) -> Iterator[SandboxServer]:
    """A server whose tests drive the dispatcher themselves (``scan``, ``drain``)."""
    with SandboxServer(Emulator(MemoryStore(), clock=clock), "127.0.0.1", 0, webhooks=False) as running:
        yield running


def raw(server: SandboxServer, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    answer = httpx.request(method, server.base_url + path, json=body, headers={"x-api-key": "k"})
    document: dict[str, Any] = answer.json()
    return answer.status_code, document


class Receiver:
    """A local webhook endpoint that records what it is sent; ``gate`` holds every answer
    until it is set (a slow receiver), ``statuses`` are answered first, then 200."""

    def __init__(self, statuses: list[int] | None = None, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.statuses = statuses or []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with receiver.arrived:
                    receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    receiver.arrived.notify_all()
                if gate is not None:
                    gate.wait(timeout=30)
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.calls) >= count, timeout)

    def statuses_seen(self) -> list[str]:
        return [body["data"]["status"] for _, body in self.calls]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def hooked_task(server: SandboxServer, endpoint: str, secret: str = "", prompt: str = "x") -> str:
    config = {"webhook_config": {"endpoint": endpoint, "secret": secret}}
    status, created = raw(server, "POST", "/api/v1/task", {"model": "Qubico/flux1-dev", "task_type": "txt2img",
                                                          "input": {"prompt": prompt}, "config": config})  # fmt: skip
    assert status == 200, created
    task_id: str = created["data"]["task_id"]
    return task_id


def test_webhooks_are_delivered_on_create_change_and_completion(server: SandboxServer, clock: FakeClock) -> None:
    receiver = Receiver()
    dispatcher = WebhookDispatcher(server.emulator, sleep=clock.sleep)
    try:
        config = {"webhook_config": {"endpoint": receiver.url, "secret": "s3cret"}}
        _, created = raw(server, "POST", "/api/v1/task",
                         {"model": "luma", "task_type": "video_generation", "input": {"prompt": "x"}, "config": config})  # fmt: skip
        assert dispatcher.scan() == 1
        clock.sleep(2)
        assert dispatcher.scan() == 1
        assert dispatcher.scan() == 0  # nothing changed: nothing sent
        clock.sleep(60)
        assert dispatcher.scan() == 1
        assert dispatcher.scan() == 0
        assert dispatcher.drain()
    finally:
        dispatcher.stop()
        receiver.close()
    assert receiver.statuses_seen() == ["pending", "processing", "completed"]
    headers, body = receiver.calls[-1]
    assert headers["x-webhook-secret"] == "s3cret" and headers["content-type"] == "application/json"
    assert set(body) == {"timestamp", "data"} and body["data"]["task_id"] == created["data"]["task_id"]
    assert body["timestamp"] == int(clock.now)
    assert body["data"]["output"]["video"]["url"].startswith(server.base_url)
    assert not server.emulator.hooked  # a finished task is no longer watched


def test_failed_deliveries_are_retried_with_the_shared_backoff(server: SandboxServer, clock: FakeClock) -> None:
    receiver = Receiver(statuses=[500, 503])
    dispatcher = WebhookDispatcher(server.emulator, sleep=clock.sleep, rng=lambda: 1.0)
    try:
        hooked_task(server, receiver.url)
        dispatcher.scan()
        assert dispatcher.drain()
    finally:
        dispatcher.stop()
        receiver.close()
    assert [d.outcome for d in dispatcher.deliveries] == ["500", "503", "200"]
    assert clock.sleeps == [0.5, 1.0]  # Backoff(base_delay=0.5) at full jitter 1.0


def test_an_answer_that_will_not_change_is_not_retried(server: SandboxServer, clock: FakeClock) -> None:
    receiver = Receiver(statuses=[401])
    dispatcher = WebhookDispatcher(server.emulator, sleep=clock.sleep)
    try:
        hooked_task(server, receiver.url, secret="wrong")
        dispatcher.scan()
        assert dispatcher.drain()
    finally:
        dispatcher.stop()
        receiver.close()
    assert [d.outcome for d in dispatcher.deliveries] == ["401"] and clock.sleeps == []


def test_unreachable_endpoint_gives_up_after_the_attempts(server: SandboxServer, clock: FakeClock) -> None:
    dispatcher = WebhookDispatcher(server.emulator, sleep=clock.sleep, backoff=Backoff(attempts=3))
    hooked_task(server, "http://127.0.0.1:9/nowhere")
    dispatcher.scan()
    assert dispatcher.drain()
    dispatcher.stop()
    assert len(dispatcher.deliveries) == 3 and all("Error" in d.outcome for d in dispatcher.deliveries)
    assert len(clock.sleeps) == 2


def test_a_bad_endpoint_is_refused_at_create_over_http(server: SandboxServer) -> None:
    for endpoint in ("not a url", "ftp://x"):
        config = {"webhook_config": {"endpoint": endpoint, "secret": ""}}
        status, answer = raw(server, "POST", "/api/v1/task", {"model": "Qubico/flux1-dev", "task_type": "txt2img",
                                                              "input": {"prompt": "x"}, "config": config})  # fmt: skip
        assert status == 400 and answer["code"] == 400 and "webhook_config.endpoint" in answer["message"]
    assert list(server.emulator.store.all()) == []


class GarbageReceiver:
    """A webhook endpoint that answers with something that is not HTTP at all."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(b"SURPRISE\r\n\r\n")


def test_one_broken_endpoint_does_not_stop_the_deliveries_to_the_others(
    server: SandboxServer, clock: FakeClock
) -> None:
    good, garbage = Receiver(), GarbageReceiver()
    dispatcher = WebhookDispatcher(server.emulator, sleep=clock.sleep, workers=1)
    try:
        hooked_task(server, garbage.url)  # answers a status line http.client cannot parse
        # a task stored with an endpoint no delivery can use (as if it came from elsewhere)
        broken = hooked_task(server, good.url)
        record = server.emulator.store.get(broken)
        assert record is not None
        record["config"]["webhook_config"]["endpoint"] = "ftp://x"
        server.emulator.store.put(record)
        fine = hooked_task(server, good.url)
        dispatcher.scan()
        assert dispatcher.drain()
        clock.sleep(60)
        dispatcher.scan()
        assert dispatcher.drain()
    finally:
        dispatcher.stop()
        good.close()
        garbage.sock.close()
    assert [body["data"]["task_id"] for _, body in good.calls] == [fine, fine]
    assert good.statuses_seen() == ["pending", "completed"]
    outcomes = {d.endpoint: d.outcome for d in dispatcher.deliveries}
    assert "not an HTTP answer" in outcomes[garbage.url] and "ValueError" in outcomes["ftp://x"]


def test_a_slow_receiver_does_not_delay_the_others(server: SandboxServer, clock: FakeClock) -> None:
    gate = threading.Event()
    slow, fast = Receiver(gate=gate), Receiver()
    dispatcher = WebhookDispatcher(server.emulator, sleep=clock.sleep)
    try:
        slow_ids = [hooked_task(server, slow.url, prompt=f"slow {n}") for n in range(3)]
        fast_id = hooked_task(server, fast.url)
        dispatcher.scan()
        # the slow receiver holds its first delivery; the fast one gets its own meanwhile
        assert fast.wait_for(1, timeout=10) and slow.wait_for(1, timeout=10)
        assert len(slow.calls) == 1 and fast.calls[0][1]["data"]["task_id"] == fast_id
        gate.set()
        assert dispatcher.drain()
    finally:
        gate.set()
        dispatcher.stop()
        slow.close()
        fast.close()
    assert sorted(body["data"]["task_id"] for _, body in slow.calls) == sorted(slow_ids)


def test_deliveries_waiting_for_a_stuck_receiver_are_bounded(server: SandboxServer, clock: FakeClock) -> None:
    gate = threading.Event()
    stuck = Receiver(gate=gate)
    dispatcher = WebhookDispatcher(server.emulator, sleep=clock.sleep, per_receiver=2)
    try:
        for n in range(6):
            hooked_task(server, stuck.url, prompt=f"task {n}")
        dispatcher.scan()
        assert stuck.wait_for(1)
        assert dispatcher.dropped >= 3  # one in flight, two waiting, the rest dropped with a log line
        gate.set()
        assert dispatcher.drain()
    finally:
        gate.set()
        dispatcher.stop()
        stuck.close()
    assert len(stuck.calls) == 6 - dispatcher.dropped


def test_sandbox_serve_delivers_webhooks_with_the_secret(tmp_path: Any) -> None:
    receiver = Receiver()
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        body = {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "x [sandbox:seconds=0.5]"},
                "config": {"webhook_config": {"endpoint": receiver.url, "secret": "s3cret-value"}}}  # fmt: skip
        created = httpx.post(url + "/api/v1/task", json=body, headers={"x-api-key": "k"}).json()["data"]
        with receiver.arrived:
            assert receiver.arrived.wait_for(lambda: "completed" in receiver.statuses_seen(), timeout=20)
        for headers, delivered in receiver.calls:
            assert headers["x-webhook-secret"] == "s3cret-value" and set(delivered) == {"timestamp", "data"}
            assert delivered["data"]["task_id"] == created["task_id"]
        assert receiver.statuses_seen()[-1] == "completed"
    finally:
        process.terminate()
        process.communicate(timeout=30)
        receiver.close()


def test_ctrl_c_while_the_dispatcher_starts_still_lets_it_stop(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C between making the scanner thread and starting it (``piapi sandbox serve`` just
    after it printed its address): stopping must not fail on a thread that never started."""
    dispatcher = WebhookDispatcher(Emulator(MemoryStore(), clock=clock, sleep=clock.sleep), sleep=clock.sleep)
    start = threading.Thread.start

    def interrupted(thread: threading.Thread) -> None:
        if thread.name == "piapi-sandbox-webhooks":
            raise KeyboardInterrupt
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dispatcher.start()
    dispatcher.stop()  # no "cannot join thread before it is started"
