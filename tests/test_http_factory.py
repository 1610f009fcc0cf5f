"""One HTTP client factory: every client piapi makes says the same user agent, goes through the
proxy set in the environment, trusts the certificates SSL_CERT_FILE names, and gives up on an
answer that never ends once its whole-answer timeout is up."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli import __version__
from piapi_cli.api import factory, http
from piapi_cli.api.client import Client
from piapi_cli.core.downloads.downloader import download_client
from piapi_cli.core.listener.forwarding import forward_client
from piapi_cli.sandbox.trigger import trigger_client
from piapi_cli.sandbox.webhooks import WebhookDispatcher

TASK = {"code": 200, "message": "success", "data": {"task_id": "t-1", "status": "pending", "model": "m"}}


class Recorder:
    """A server on 127.0.0.1 (plain, TLS, or a proxy: it answers whatever request line comes)."""

    def __init__(self, tls: ssl.SSLContext | None = None, answer: Callable[[Any], None] | None = None) -> None:
        recorder = self
        self.requests: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                recorder.requests.append({"line": self.requestline, **{k.lower(): v for k, v in self.headers.items()}})
                try:
                    (answer or _json)(self)
                except OSError:
                    pass  # the client gave up: what the timeout tests want

            do_GET = do_POST = do_DELETE = handle_any

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.base = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Recorder:
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _json(handler: BaseHTTPRequestHandler) -> None:
    body = json.dumps(TASK).encode()
    handler.send_response(200)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _via_httpx(client: httpx.Client, url: str) -> int:
    with client:
        return client.post(url, content=b"{}").status_code


def _via_download(client: Any, url: str) -> int:
    try:
        with client.stream("GET", url) as answer:
            return int(answer.status_code)
    finally:
        client.close()


def _api(url: str) -> int:
    base = url.split("/api/")[0]
    with Client("key", base) as client:
        return 200 if client.get_task("t-1").task_id == "t-1" else 0


def _webhook(url: str) -> int:
    dispatcher = WebhookDispatcher(None)  # type: ignore[arg-type]  # only its POST is used here
    try:
        return dispatcher.post(url, b"{}", {"content-type": "application/json"})
    finally:
        dispatcher.stop()


#: every client piapi makes, each asked to send one request to a URL
CLIENTS: dict[str, Callable[[str], int]] = {
    "api": _api,
    "download": lambda url: _via_download(download_client([url]), url),
    "listener download": lambda url: _via_download(download_client([]), url),
    "forward": lambda url: _via_httpx(forward_client([url]), url),
    "trigger": lambda url: _via_httpx(trigger_client(url), url),
    "sandbox webhook": _webhook,
}


@pytest.fixture(autouse=True)
def _no_proxy_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    factory.tls_context.cache_clear()
    yield
    factory.tls_context.cache_clear()


@pytest.mark.parametrize("kind", CLIENTS)
def test_every_client_says_the_same_user_agent(kind: str) -> None:
    with Recorder() as server:
        assert CLIENTS[kind](server.base + "/api/v1/task/t-1") == 200
    assert server.requests[0]["user-agent"] == f"piapi-cli/{__version__}" == factory.USER_AGENT


@pytest.mark.parametrize("kind", CLIENTS)
def test_every_client_goes_through_the_proxy_of_the_environment(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Recorder() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.base)
        # a host no resolver knows: only the proxy can answer for it
        assert CLIENTS[kind]("http://files.piapi.invalid/api/v1/task/t-1") == 200
    (request,) = proxy.requests
    assert "http://files.piapi.invalid/api/v1/task/t-1" in request["line"]  # the absolute form a proxy gets
    assert request["user-agent"] == factory.USER_AGENT


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder


def _tls_server(folder: Path) -> Recorder:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return Recorder(tls=context)


@pytest.mark.parametrize("kind", CLIENTS)
def test_every_client_trusts_what_ssl_cert_file_names_and_nothing_else(
    kind: str, certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _tls_server(certificate) as server:
        url = server.base + "/api/v1/task/t-1"
        with pytest.raises(Exception) as refused:  # a certificate no trust store holds
            CLIENTS[kind](url)
        assert "CERTIFICATE_VERIFY_FAILED" in repr(refused.value) + repr(refused.value.__cause__) + str(
            getattr(refused.value, "__context__", "")
        )
        assert not server.requests  # nothing was sent over the untrusted connection
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate / "cert.pem"))
        factory.tls_context.cache_clear()
        assert CLIENTS[kind](url) == 200
    assert server.requests[0]["user-agent"] == factory.USER_AGENT


def _endless(handler: BaseHTTPRequestHandler) -> None:
    """Headers, then a chunked body that never ends: each read comes in time, the answer never."""
    handler.send_response(200)
    handler.send_header("transfer-encoding", "chunked")
    handler.end_headers()
    while True:
        handler.wfile.write(b"1\r\nx\r\n")
        handler.wfile.flush()


def _stalled(handler: BaseHTTPRequestHandler) -> None:
    """Headers promising a body that does not come (the client's read timeout is long)."""
    handler.send_response(200)
    handler.send_header("content-length", "10")
    handler.end_headers()
    handler.wfile.flush()
    handler.rfile.read(1)  # blocks until the client hangs up


def test_the_whole_answer_timeout_ends_a_body_that_never_ends() -> None:
    use = factory.with_timeouts(factory.TRIGGER, read=30.0, total=0.3)
    with Recorder(answer=_endless) as server, factory.http_client(use, [server.base]) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get(server.base + "/")


def test_the_whole_answer_timeout_ends_a_stalled_answer_of_the_standard_library_engine() -> None:
    use = factory.with_timeouts(factory.WEBHOOK, read=30.0, total=0.3)
    with Recorder(answer=_stalled) as server:
        engine = factory.engine(use, [server.base])
        assert type(engine).__name__ == "PlainEngine"
        with pytest.raises(http.AnswerFailed) as failed:
            engine.request("POST", server.base + "/", content=b"{}", headers=None, max_answer=1024)
        engine.close()
    assert failed.value.timed_out and "0.3 s" in str(failed.value)


def test_the_api_engine_is_the_standard_librarys_unless_httpx_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(factory.engine(factory.API, ["https://api.piapi.ai"])).__name__ == "PlainEngine"
    assert type(factory.engine(factory.DOWNLOAD, ["https://cdn"])).__name__ == "HttpxEngine"  # follows redirects
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert type(factory.engine(factory.API, ["https://api.piapi.ai"])).__name__ == "HttpxEngine"


def test_only_downloads_follow_redirects() -> None:
    def moved(handler: BaseHTTPRequestHandler) -> None:
        if handler.path == "/there":
            _json(handler)
            return
        handler.send_response(302)
        handler.send_header("location", "/there")
        handler.send_header("content-length", "0")
        handler.end_headers()

    with Recorder(answer=moved) as server:
        statuses = {kind: make(server.base + "/here") for kind, make in CLIENTS.items() if kind != "api"}
    assert statuses == {
        "download": 200, "listener download": 200, "forward": 302, "trigger": 302, "sandbox webhook": 302,
    }  # fmt: skip
