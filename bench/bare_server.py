"""The baseline of bench/sandbox_load.py: a bare threading HTTP server doing what the sandbox
does for GET /api/v1/task/{id}, and nothing else.

    python bench/bare_server.py TEMPLATE.json COUNT

The standard library's ``ThreadingHTTPServer`` with keep-alive (HTTP/1.1) and no Nagle delay,
as the sandbox's: COUNT tasks shaped like TEMPLATE (a task object the sandbox answered, its ID
replaced) in a dict; a GET looks its ID up and answers the API's envelope as JSON (``json.dumps``
per answer, as the sandbox builds each one), with http.server's own log line per request on
stderr. Prints its base URL, then the task IDs, one a line, then an empty line.
"""

from __future__ import annotations

import json
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TASKS: dict[str, dict[str, object]] = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def do_GET(self) -> None:
        task = TASKS.get(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/api/v1/task/") else None
        if task is None:
            body, status = json.dumps({"code": 404, "message": "task not found"}).encode(), 404
        else:
            body, status = json.dumps({"code": 200, "data": task, "message": "success"}).encode(), 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def main() -> None:
    template = json.loads(open(sys.argv[1]).read())
    for _ in range(int(sys.argv[2])):
        task_id = str(uuid.uuid4())
        TASKS[task_id] = {**template, "task_id": task_id}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    print("\n".join(TASKS), flush=True)
    print(flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
