"""A stateful emulator of PiAPI's Unified API, as one plain request handler.

``Emulator.handle(method, path, headers, body)`` answers exactly as the real API does (the
envelope, the task object, lowercase statuses, Go zero timestamps, ``meta.usage``, the error
object, the echoed ``config``). The in-process httpx transport and the HTTP server both call
it, so there is one implementation.

A task's state is never advanced by a background thread: it is computed from its stored
schedule and the clock at each request. That keeps the emulator deterministic under an
injected clock, and lets separate piapi processes share tasks through a file store.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from piapi_cli.api.tasks import as_dict, output_urls
from piapi_cli.sandbox import files
from piapi_cli.sandbox.checks import checked_create, upload_refusal
from piapi_cli.sandbox.replies import Faults, Reply, cut_after, json_object, rfc3339
from piapi_cli.sandbox.shapes import echoed_input, logs_for, output_for, usage_for
from piapi_cli.sandbox.store import MemoryStore, TaskStore

ZERO_TIME = "0001-01-01T00:00:00Z"
DURATIONS = {"image": 3.0, "video": 6.0, "audio": 4.0, "3d": 5.0, "text": 2.0}
CHARGES = {"image": 20000, "video": 300000, "audio": 100000, "3d": 200000, "text": 10000}
SECONDS_MARK = re.compile(r"\[sandbox:seconds=(\d+(?:\.\d+)?)\]")
BYTES_MARK = re.compile(r"\[sandbox:bytes=(\d+)\]")
FILE_PATH = re.compile(r"^/files/([0-9a-f-]{36})/(\d+)\.(png|wav|glb|mp4)$")
UPLOAD_PATH = re.compile(r"^/ephemeral/([0-9a-f]{32})/([^/]{1,128})$")
UPLOAD_LIMIT = 10 * 1024 * 1024
TASK_PATH = re.compile(r"^/api/v1/task/([^/]+)$")
#: statuses a task never leaves
_SETTLED = frozenset({"completed", "failed", "canceled"})


class Emulator:
    def __init__(
        self,
        store: TaskStore | None = None,
        *,
        base_url: str = "http://sandbox.piapi.invalid",
        clock: Callable[[], float] = time.time,
        speed: float = 1.0,
        concurrency: int = 10,
        api_key: str | None = None,
        faults: Faults | None = None,
        rng: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import random

        self.store = store if store is not None else MemoryStore()
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.speed = speed if speed > 0 else 1.0
        self.concurrency = max(1, concurrency)
        self.api_key = api_key
        self.faults = faults or Faults()
        self._rng = rng or random.Random().random
        self._sleep = sleep
        self._create_lock = threading.Lock()
        self._slots: list[float] | None = None
        #: the most recent requests, (method, path): for tests and debugging; bounded
        self.requests: list[tuple[str, str]] = []
        #: IDs of tasks created with a webhook endpoint, for the dispatcher to watch
        self.hooked: set[str] = set()
        #: the answer to a get-task of each task that reached an end (completed, failed,
        #: canceled): it never changes again, so it is encoded once
        self._settled: dict[str, bytes] = {}

    # --- dispatch ------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes = b"") -> Reply:
        method = method.upper()
        path, _, query = path.partition("?")
        self.requests.append((method, path))
        if len(self.requests) > 10_000:  # a long-running server must not grow without end
            del self.requests[:5_000]
        faults = self.faults
        if faults.latency:
            self._sleep(faults.latency)
        if path.startswith(("/v1/", "/files/openai/")):
            from piapi_cli.sandbox import openai_routes

            reply = openai_routes.handle(self, method, path, headers, body)
        else:
            reply = self._route(method, path, headers, body, query)
        # a dropped connection loses the answer of a request that was carried out
        if not (faults.drop_rate and self._rng() < faults.drop_rate):
            return reply
        if reply.stream is not None and "content-length" not in reply.headers:
            reply.stream = cut_after(reply.stream)  # an event stream: cut mid-answer
        else:
            reply.drop = True
            reply.headers.setdefault("content-length", str(len(reply.body)))
            reply.body = reply.body[: len(reply.body) // 2]
        return reply

    def _route(self, method: str, path: str, headers: Mapping[str, str], body: bytes, query: str = "") -> Reply:
        faults = self.faults
        if faults.rate_limit_rate and self._rng() < faults.rate_limit_rate:
            return Reply.error(
                429, "too many requests (sandbox fault injection)", {"retry-after": str(faults.retry_after)}
            )
        if faults.fail_rate and self._rng() < faults.fail_rate:
            return Reply.error(500, "internal server error (sandbox fault injection)")

        file_match = FILE_PATH.match(path)
        if file_match and method in ("GET", "HEAD"):
            return self._file(file_match, headers, head=method == "HEAD")
        upload_match = UPLOAD_PATH.match(path)
        if upload_match and method in ("GET", "HEAD"):
            return self._uploaded(upload_match, headers, head=method == "HEAD")
        lowered = {k.lower(): v for k, v in headers.items()}
        if not self._authorised(lowered.get("x-api-key", "")):
            return Reply.error(401, "Invalid API key")
        task_match = TASK_PATH.match(path)
        if path == "/api/v1/task" and method == "POST":
            return self._create(body)
        if task_match and method == "GET":
            return self._get(unquote(task_match.group(1)))
        if task_match and method == "DELETE":
            return self._cancel(unquote(task_match.group(1)))
        if path == "/account/info" and method == "GET":
            return self._account()
        if path == "/api/ephemeral_resource" and method == "POST":
            return self._upload(body)
        from piapi_cli.sandbox import history

        if path in history.ROUTES:
            return history.route(self, method, path, query)
        if path in ("/api/v1/task", "/account/info") or task_match:
            return Reply.error(405, f"method {method} not allowed on {path}")
        return Reply.error(404, f"no route for {method} {path}")

    def _authorised(self, key: str) -> bool:
        if not key.strip():
            return False
        if self.api_key is None:
            return True
        import hmac

        return hmac.compare_digest(key.encode(), self.api_key.encode())

    # --- create / get / cancel --------------------------------------------------------

    def _create(self, body: bytes) -> Reply:
        checked = checked_create(body)
        if isinstance(checked, Reply):
            return checked
        known, spec, task_type, task_input, config = checked
        markers = json.dumps(task_input)
        kind = spec.output
        duration = DURATIONS.get(kind, 3.0)
        seconds = SECONDS_MARK.search(markers)
        if seconds:
            duration = float(seconds.group(1))
        duration /= self.speed
        with self._create_lock:
            now = self.clock()
            start = now + min(0.5, duration * 0.15)
            if "[sandbox:staged]" in markers:
                start = now + max(duration, 2.0 / self.speed)
            start = self._reserve(now, start, duration)
            task_id = str(uuid.uuid4())
            echoed = {"service_mode": config.get("service_mode", ""), "webhook_config": {"endpoint": "", "secret": ""}}
            echoed |= config
            record: dict[str, Any] = {
                "task_id": task_id,
                "model": known.name,
                "task_type": task_type,
                "input": task_input,
                "config": echoed,
                "kind": kind,
                "created": now,
                "start": start,
                "end": start + duration,
                "staged": start > now + min(0.5, duration * 0.15) + 1e-9,
                "fail": "[sandbox:fail]" in markers,
                "bytes": int(size.group(1)) if (size := BYTES_MARK.search(markers)) else None,
                "charge": CHARGES.get(kind, 20000),
                "canceled_at": None,
            }
            self.store.put(record)
            if as_dict(echoed.get("webhook_config")).get("endpoint"):
                self.hooked.add(task_id)
        return Reply.json(200, self._envelope(record, now))

    def _reserve(self, now: float, earliest: float, duration: float) -> float:
        """Start time of a new task under the concurrency limit: tasks queue FIFO for the
        earliest free of ``concurrency`` slots. The slots' free times are always the largest
        end times of the tasks so far, so a fresh process rebuilds them from the store."""
        if self._slots is None:
            self._slots = heapq.nlargest(self.concurrency, (r["end"] for r in self.store.active(now)))
            heapq.heapify(self._slots)
        full = len(self._slots) >= self.concurrency
        start = max(earliest, self._slots[0] if full else now)
        if full:
            heapq.heapreplace(self._slots, start + duration)
        else:
            heapq.heappush(self._slots, start + duration)
        return start

    def _get(self, task_id: str) -> Reply:
        settled = self._settled.get(task_id)
        if settled is not None:
            return Reply(200, settled, {"content-type": "application/json"})
        record = self.store.get(task_id)
        if record is None:
            return Reply.error(404, f"task {task_id} not found")
        envelope = self._envelope(record, self.clock())
        reply = Reply.json(200, envelope)
        if envelope["data"]["status"] in _SETTLED:
            self._settled[task_id] = reply.body
        return reply

    def _cancel(self, task_id: str) -> Reply:
        record = self.store.get(task_id)
        if record is None:
            return Reply.error(404, f"task {task_id} not found")
        now = self.clock()
        status = self.task_view(record, now)["status"]
        if status not in ("pending", "staged"):
            return Reply.error(400, f"task {task_id} is {status}; only a pending task can be canceled")
        record["canceled_at"] = now
        self.store.put(record)
        return Reply.json(200, {"code": 200, "message": f"task {task_id} canceled"})

    def _account(self) -> Reply:
        now = self.clock()
        return Reply.json(
            200,
            {
                "code": 200,
                "data": {
                    "account_name": "sandbox",
                    "account_id": "sandbox",
                    "plan": "sandbox",
                    "credits": 1_000_000_000 - self.store.consumed(now),
                    "equivalent_in_usd": 1000.0,
                    "api_key": "sandbox-key-never-shown",
                    "max_concurrent_task_count": self.concurrency,
                },
                "message": "success",
            },
        )

    # --- the task object ----------------------------------------------------------------

    def _envelope(self, record: dict[str, Any], now: float) -> dict[str, Any]:
        return {"code": 200, "data": self.task_view(record, now), "message": "success"}

    def status_at(self, record: dict[str, Any], now: float) -> str:
        if record.get("canceled_at") is not None:
            return "canceled"
        if now < record["start"]:
            return "staged" if record.get("staged") else "pending"
        if now < record["end"]:
            return "processing"
        return "failed" if record.get("fail") else "completed"

    def task_view(self, record: dict[str, Any], now: float) -> dict[str, Any]:
        status = self.status_at(record, now)
        started = record["start"] if status in ("processing", "completed", "failed") else None
        ended = record["end"] if status in ("completed", "failed") else record.get("canceled_at")
        span = max(record["end"] - record["start"], 1e-9)
        progress = 0 if status in ("pending", "staged") else min(100, int(100 * (now - record["start"]) / span))
        if status == "completed":
            progress = 100
        error = {"code": 0, "raw_message": "", "message": "", "detail": None}
        if status == "failed":
            error = {
                "code": 10000,
                "raw_message": "sandbox: this task was asked to fail ([sandbox:fail])",
                "message": "task failed",
                "detail": None,
            }
        return {
            "task_id": record["task_id"],
            "model": record["model"],
            "task_type": record["task_type"],
            "status": status,
            "config": record["config"],
            "input": echoed_input(record),
            "output": output_for(record, status, progress, self.base_url),
            "meta": {
                "created_at": rfc3339(record["created"]),
                "started_at": rfc3339(started) if started is not None else ZERO_TIME,
                "ended_at": rfc3339(ended) if ended is not None else ZERO_TIME,
                "usage": usage_for(record, status),
                "is_using_private_pool": False,
            },
            "detail": None,
            "logs": logs_for(record),
            "error": error,
        }

    # --- output files -----------------------------------------------------------------

    def _file(self, match: re.Match[str], headers: Mapping[str, str], *, head: bool) -> Reply:
        task_id, index, ext = match.group(1), match.group(2), match.group(3)
        record = self.store.get(task_id)
        if record is None or self.status_at(record, self.clock()) != "completed":
            return Reply.error(404, "file not found")
        outputs = output_urls(output_for(record, "completed", 100, "http://sandbox"))
        if f"http://sandbox{match.group(0)}" not in {item.url for item in outputs}:
            return Reply.error(404, "file not found")
        content = files.for_record(ext, record, index)
        return self._content(content, files.CONTENT_TYPES[ext], headers, head=head, size=record.get("bytes"))

    def _uploaded(self, match: re.Match[str], headers: Mapping[str, str], *, head: bool) -> Reply:
        import mimetypes

        content = self.store.get_upload(match.group(1))
        if content is None:
            return Reply.error(404, "file not found (uploads are deleted after 24 hours)")
        kind = mimetypes.guess_type(match.group(2))[0] or "application/octet-stream"
        return self._content(content, kind, headers, head=head)

    def _content(
        self, content: bytes, kind: str, headers: Mapping[str, str], *, head: bool, size: int | None = None
    ) -> Reply:
        """A file, whole or the byte range asked for, with Content-Length and an ETag.

        ``size`` pads the file with zeros to that many bytes ([sandbox:bytes=N]), produced
        as it is sent, so a 1 GB output costs the server no memory.
        """
        total = max(size or 0, len(content))
        digest = hashlib.sha256(content + str(total).encode()).hexdigest()[:32]
        base_headers = {"content-type": kind, "accept-ranges": "bytes", "etag": f'"{digest}"'}
        lowered = {k.lower(): v for k, v in headers.items()}
        status, start, end = 200, 0, total
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", lowered.get("range", "").strip())
        if wanted:
            start = int(wanted.group(1))
            end = min(total, int(wanted.group(2)) + 1 if wanted.group(2) else total)
            if start >= total or start >= end:
                return Reply(416, b"", {"content-range": f"bytes */{total}"})
            status = 206
            base_headers["content-range"] = f"bytes {start}-{end - 1}/{total}"
        base_headers["content-length"] = str(end - start)
        cut = self.faults.truncate_downloads and not head
        if cut:
            end = start + (end - start) // 2  # announce it all, send half, close
        if head:
            return Reply(status, b"", base_headers)
        if total == len(content):
            return Reply(status, content[start:end], base_headers, drop=cut)
        return Reply(status, b"", base_headers, drop=cut, stream=files.padded(content, start, end))

    # --- uploads ----------------------------------------------------------------------

    def _upload(self, body: bytes) -> Reply:
        import base64
        import binascii

        request = json_object(body)
        if isinstance(request, Reply):
            return request
        name, data = request.get("file_name"), request.get("file_data")
        if not isinstance(name, str) or not name or len(name) > 128 or "." not in name or "/" in name:
            return Reply.error(400, "file_name must be 1 to 128 characters with an extension")
        if not isinstance(data, str) or not data:
            return Reply.error(400, "file_data is required (base64)")
        refused = upload_refusal(name, data)
        if refused:
            return Reply.error(400, f"Invalid request parameters: {refused}")
        if data.startswith("data:") and "," in data:
            data = data.split(",", 1)[1]
        if len(data) > UPLOAD_LIMIT * 4 // 3 + 4:
            return Reply.error(400, "file too large: the limit is 10 MB")
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return Reply.error(400, "file_data is not valid base64")
        if len(content) > UPLOAD_LIMIT:
            return Reply.error(400, "file too large: the limit is 10 MB")
        upload_id = uuid.uuid4().hex
        self.store.put_upload(upload_id, content)
        url = f"{self.base_url}/ephemeral/{upload_id}/{name}"
        return Reply.json(200, {"code": 200, "data": {"url": url}, "message": "success"})
