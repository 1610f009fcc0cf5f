"""A real HTTP server on 127.0.0.1 whose every answer a test writes by hand."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class Host:
    """Serves GET and POST with ``answer(handler)``; ``requests`` holds each request's path and
    headers (and a POST's body, under ``body``)."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None]) -> None:
        host = self
        self.requests: list[dict[str, str]] = []
        self.arrived = threading.Event()  # set by the first request

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve({})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self._serve({"body": self.rfile.read(length).decode("utf-8", "replace") if length else ""})

            def _serve(self, extra: dict[str, str]) -> None:
                host.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}, **extra})
                host.arrived.set()
                try:
                    answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away: that is what some tests do

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> Host:
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    """A whole answer: status, headers (underscores become dashes), body."""
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    if "content_length" not in headers:
        handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def ranged(handler: BaseHTTPRequestHandler, content: bytes, etag: str = '"v1"') -> None:
    """A well-behaved file host: honours Range and If-Range, sends an ETag."""
    wanted = handler.headers.get("range")
    if_range = handler.headers.get("if-range")
    if wanted and (if_range is None or if_range == etag):
        start = int(wanted.split("=")[1].rstrip("-"))
        if start >= len(content):
            send(handler, 416, b"", content_range=f"bytes */{len(content)}")
            return
        send(handler, 206, content[start:], etag=etag, content_range=f"bytes {start}-{len(content) - 1}/{len(content)}")
        return
    send(handler, 200, content, etag=etag, accept_ranges="bytes")
