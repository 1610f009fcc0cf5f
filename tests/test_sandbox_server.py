"""The sandbox over real HTTP on 127.0.0.1 (ephemeral ports), webhooks to a local receiver."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from piapi_cli.api.client import Client
from piapi_cli.api.errors import ConnectionFailed
from piapi_cli.sandbox import Emulator, Faults, MemoryStore
from piapi_cli.sandbox.server import SandboxServer, WebhookDispatcher
from tests.conftest import FakeClock


@pytest.fixture
def server(clock: FakeClock) -> Iterator[SandboxServer]:
    emulator = Emulator(MemoryStore(), clock=clock)
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False) as running:
        yield running


def raw(server: SandboxServer, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """A plain http.client call, as code written for api.piapi.ai would make it."""
    host, port = server.httpd.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=10)
    payload = json.dumps(body) if body is not None else None
    connection.request(method, path, body=payload, headers={"x-api-key": "my-key", "content-type": "application/json"})
    response = connection.getresponse()
    document = json.loads(response.read())
    connection.close()
    return response.status, document


def test_plain_http_client_works_with_only_the_base_url_changed(server: SandboxServer, clock: FakeClock) -> None:
    status, created = raw(server, "POST", "/api/v1/task",
                          {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "a cat"}})  # fmt: skip
    assert status == 200 and created["data"]["status"] == "pending"
    clock.sleep(60)
    status, got = raw(server, "GET", f"/api/v1/task/{created['data']['task_id']}")
    url = got["data"]["output"]["image_url"]
    assert url.startswith(server.base_url + "/files/")
    image = httpx.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png" and image.content[:4] == b"\x89PNG"
    assert raw(server, "GET", "/account/info")[1]["data"]["plan"] == "sandbox"


def test_the_cli_against_the_server(server: SandboxServer, clock: FakeClock) -> None:
    env = {**os.environ, "PIAPI_BASE_URL": server.base_url, "PIAPI_API_KEY": "any-key"}
    command = [sys.executable, "-m", "piapi_cli"]
    created = subprocess.run([*command, "create", "-m", "midjourney", "-t", "imagine", "-i", "prompt=x"],
                             capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert created.returncode == 0, created.stderr
    clock.sleep(60)
    got = subprocess.run([*command, "get", created.stdout.strip()], capture_output=True, text=True, env=env, timeout=60)
    assert got.returncode == 0 and len(got.stdout.splitlines()) == 5


def test_dropped_connections_are_retried_then_reported(clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, faults=Faults(drop_rate=1.0))
    with SandboxServer(emulator, "127.0.0.1", 0, webhooks=False) as running:
        with Client("k", running.base_url, sleep=clock.sleep) as client, pytest.raises(ConnectionFailed):
            client.account_info()
    assert len(emulator.requests) == 4  # the first try and three retries


def test_truncated_download_is_cut_short_over_http(server: SandboxServer, clock: FakeClock) -> None:
    _, created = raw(server, "POST", "/api/v1/task",
                     {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "a cat"}})  # fmt: skip
    clock.sleep(60)
    url = raw(server, "GET", f"/api/v1/task/{created['data']['task_id']}")[1]["data"]["output"]["image_url"]
    whole = httpx.get(url).content
    server.emulator.faults.truncate_downloads = True
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url, headers={"range": "bytes=100-"})
    server.emulator.faults.truncate_downloads = False
    assert httpx.get(url).content == whole


class Receiver:
    """A local webhook endpoint that records what it is sent."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.calls: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.statuses = statuses or []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


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
    finally:
        receiver.close()
    assert [body["data"]["status"] for _, body in receiver.calls] == ["pending", "processing", "completed"]
    headers, body = receiver.calls[-1]
    assert headers["x-webhook-secret"] == "s3cret"
    assert set(body) == {"timestamp", "data"} and body["data"]["task_id"] == created["data"]["task_id"]
    assert body["data"]["output"]["video"]["url"].startswith(server.base_url)


def test_failed_deliveries_are_retried_with_backoff(server: SandboxServer, clock: FakeClock) -> None:
    receiver = Receiver(statuses=[500, 503])
    dispatcher = WebhookDispatcher(server.emulator, sleep=clock.sleep, backoff=0.5)
    try:
        config = {"webhook_config": {"endpoint": receiver.url, "secret": ""}}
        raw(server, "POST", "/api/v1/task",
            {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "x"}, "config": config})  # fmt: skip
        dispatcher.scan()
    finally:
        receiver.close()
    assert [d.outcome for d in dispatcher.deliveries] == ["500", "503", "200"]
    assert clock.sleeps == [0.5, 1.0]


def test_unreachable_endpoint_gives_up_after_the_retries(server: SandboxServer, clock: FakeClock) -> None:
    dispatcher = WebhookDispatcher(server.emulator, sleep=clock.sleep, retries=2)
    config = {"webhook_config": {"endpoint": "http://127.0.0.1:9/nowhere", "secret": ""}}
    raw(server, "POST", "/api/v1/task",
        {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "x"}, "config": config})  # fmt: skip
    dispatcher.scan()
    assert len(dispatcher.deliveries) == 3 and all("Error" in d.outcome for d in dispatcher.deliveries)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_and_stops_cleanly(stop: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(url + "/account/info", headers={"x-api-key": "k"})
        assert answer.status_code == 200 and answer.json()["data"]["plan"] == "sandbox"
        process.send_signal(stop)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0 and "stopped" in err and "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_refuses_a_busy_port(server: SandboxServer) -> None:
    port = str(server.httpd.server_address[1])
    result = subprocess.run([sys.executable, "-m", "piapi_cli", "sandbox", "serve", "--port", port],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "cannot listen" in result.stderr and "Traceback" not in result.stderr
