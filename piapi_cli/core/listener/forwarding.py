"""What the listener does with an event: forward it to other URLs.

Forwards, and the ``--exec`` command (``execution``), run on ``ShardedPool``s: a few worker
threads, each event routed to a worker by its task ID, so one task's events are handled in the
order they arrived (a ``completed`` is never forwarded before its ``processing``) while
different tasks proceed side by side. The queues are bounded: a destination that cannot keep
up costs no memory; what did not fit is recorded as not forwarded, for ``--replay``.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from piapi_cli.api.backoff import Backoff, parse_retry_after
from piapi_cli.api.errors import RequestError, UsageError
from piapi_cli.api.records import record
from piapi_cli.core.journal.events import EventStore, StoredEvent

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("piapi.listener")

#: answers after which forwarding is tried again (the receiver may take it later)
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: request headers that describe one hop, not the delivery: never forwarded
HOP_HEADERS = frozenset(
    {
        "host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "proxy-connection", "expect", "x-webhook-secret",
    }
)  # fmt: skip
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


def normalize_event(name: str) -> str:
    """``completed`` and ``task.completed`` both name the event ``task.completed``."""
    name = name.strip().lower()
    if not _EVENT_NAME.match(name):
        raise UsageError(f"{name!r} is not an event name (like task.completed, or completed)")
    return name if name.startswith("task.") else f"task.{name}"


def parse_events(text: str | None) -> frozenset[str] | None:
    """``--events completed,failed``; None (every event) when not given or ``all``."""
    if text is None or text.strip().lower() in ("", "all", "*"):
        return None
    return frozenset(normalize_event(part) for part in text.split(",") if part.strip())


@record(frozen=True)
class Route:
    """``--forward-to URL`` (every event) or ``--forward-to EVENT=URL`` (that event only)."""

    url: str
    event: str | None = None

    @property
    def shown(self) -> str:
        """The URL as it is shown and stored: its password, if any, is ``***``."""
        return redact_url(self.url)

    @property
    def password(self) -> str | None:
        return urlsplit(self.url).password

    @classmethod
    def parse(cls, text: str) -> Route:
        event: str | None = None
        head, sep, tail = text.partition("=")
        # an '=' inside a URL (a query string) comes after its scheme: only a bare name routes
        if sep and "/" not in head and ":" not in head:
            event, text = normalize_event(head), tail
        url = text.strip()
        if not re.match(r"^https?://[^/\s]+", url, re.IGNORECASE):
            raise UsageError(
                f"forward_to {text!r}: expected an http:// or https:// URL, or EVENT=URL", option="forward_to"
            )
        return cls(url, event)


def destinations(routes: list[Route], event: str) -> list[str]:
    """Where an event goes: the URLs routed for it by name, else the URLs for every event (as
    shown and stored: ``Route.shown``; ``real_urls`` gives back the ones to send to)."""
    named = [r.shown for r in routes if r.event == event]
    chosen = named or [r.shown for r in routes if r.event is None]
    return list(dict.fromkeys(chosen))


def redact_url(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def real_urls(routes: list[Route]) -> dict[str, str]:
    """Each route's URL as stored (``shown``) to the URL itself, password included."""
    return {r.shown: r.url for r in routes}


class ShardedPool:
    """``shards`` worker threads; jobs with the same key run on the same thread, in order.

    Not ``core.workers.Pool``: a receiver must get one task's events in the order they came
    (a shared queue would let a later event overtake), and a full queue refuses a job at once
    rather than hold up the HTTP handler that received the event.
    """

    def __init__(self, name: str, shards: int = 2, depth: int = 10_000) -> None:
        self._queues: list[queue.Queue[Callable[[], object] | None]] = [queue.Queue(depth) for _ in range(shards)]
        self._threads = [
            threading.Thread(target=self._work, args=(q,), name=f"{name}-{n}", daemon=True)
            for n, q in enumerate(self._queues)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, key: str, job: Callable[[], object]) -> bool:
        """Queue a job; False when its worker's queue is full (the job will not run)."""
        target = self._queues[zlib.crc32(key.encode()) % len(self._queues)]
        try:
            target.put_nowait(job)
        except queue.Full:
            return False
        return True

    def _work(self, source: queue.Queue[Callable[[], object] | None]) -> None:
        while True:
            job = source.get()
            try:
                if job is None:
                    return
                job()
            except Exception:  # a job reports its own failures; this keeps the worker alive
                log.exception("listener job failed")
            finally:
                source.task_done()

    def idle(self) -> bool:
        return all(q.unfinished_tasks == 0 for q in self._queues)

    def join(self, timeout: float) -> bool:
        """Wait for every queued job (up to ``timeout`` seconds); True when all are done."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        for target in self._queues:
            try:
                target.put_nowait(None)
            except queue.Full:  # pragma: no cover - a full queue is being abandoned at exit
                pass


@record()
class ForwardResult:
    state: str  # "ok" or "failed"
    status: int | None
    attempts: int
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "status": self.status, "attempts": self.attempts, "error": self.error}


class Forwarder:
    """POSTs a delivery's original body and headers to one URL, retrying with the shared backoff.

    Retried: connection failures and timeouts, 408, 425, 429 (honouring ``Retry-After``) and
    5xx. Any other answer is final. Redirects are not followed: a POST body must not turn into
    a GET on the way.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        backoff: Backoff | None = None,
        wait: Callable[[float], bool] | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        import random

        self.http = http
        self.backoff = backoff or Backoff(attempts=5, base_delay=0.5, max_delay=8.0, max_retry_after=30.0)
        #: pauses between tries; returns True to give up (the listener is stopping)
        self.wait = wait or _sleep
        self.rng = rng or random.random

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> ForwardResult:
        import httpx

        attempt = 0
        status: int | None = None
        error = ""
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = self.http.post(url, content=body, headers=dict(headers))
                response.read()
                status = response.status_code
                if 200 <= status < 300:
                    return ForwardResult("ok", status, attempt)
                error = f"answered {status}"
                if 300 <= status < 400:
                    error += f", a redirect to {response.headers.get('location', '?')} (not followed)"
                if status not in RETRY_STATUSES:
                    return ForwardResult("failed", status, attempt, error)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if not self.backoff.retries_left(attempt):
                return ForwardResult("failed", status, attempt, error)
            if self.wait(self.backoff.delay(attempt - 1, retry_after, self.rng)):
                return ForwardResult("failed", status, attempt, f"{error}; stopped before the next try")


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def forward_headers(received: Mapping[str, str]) -> dict[str, str]:
    """The headers of a delivery worth forwarding (lower-cased; hop headers and the secret dropped)."""
    return {name.lower(): value for name, value in received.items() if name.lower() not in HOP_HEADERS}


def delivery_headers(stored: StoredEvent, secret: str) -> dict[str, str]:
    """What a forwarded delivery carries: its original headers, the secret, and which event it is."""
    return stored.headers | {
        "x-webhook-secret": secret,
        "x-piapi-event": stored.event,
        "x-piapi-event-id": str(stored.id),
    }


def forward_client(urls: list[str]) -> httpx.Client:
    from piapi_cli.api import factory

    return factory.http_client(factory.FORWARD, urls)


class ForwardFailed(RequestError):
    """A stored event could not be forwarded (it stays stored, for another try)."""


def replay(
    store: EventStore,
    which: str,
    routes: list[Route],
    *,
    forwarder: Forwarder | None = None,
    wait: Callable[[float], bool] | None = None,
    on_log: Callable[[str, str], None] | None = None,
    task_id: str | None = None,
) -> list[dict[str, Any]]:
    """Forward stored events again: one by ID, ``failed`` (every one not forwarded yet), or
    with ``task_id`` every event of that task (``which`` then says how the user named it).

    They go to ``routes`` when given, else to where they went (only where they failed, for
    ``failed``); given routes replace where they went. Returns one result per event and
    destination, recorded in the store.
    """
    report = on_log or (lambda level, message: None)
    if task_id is not None:
        chosen = store.of_task(task_id)
        if not chosen:
            raise UsageError(f"replay {which}: no stored event of task {task_id}", option="replay", task_id=task_id)
    elif which.strip().lower() == "failed":
        chosen = store.unforwarded()
    elif which.strip().isdigit():
        found = store.get(int(which))
        if found is None:
            raise UsageError(f"replay {which}: no stored event with that ID", option="replay")
        chosen = [found]
    else:
        raise UsageError(f"replay {which!r}: expected an event ID, a task or 'failed'", option="replay")
    plans: list[tuple[StoredEvent, str]] = []
    for event in chosen:
        if routes:
            urls = destinations(routes, event.event)
        elif which.strip().lower() == "failed":
            urls = [url for url, done in event.forwards.items() if done.get("state") != "ok"]
        else:
            urls = list(event.forwards)
        plans += [(event, url) for url in urls]
    if not plans:
        if chosen:
            raise UsageError("nowhere to send them", advice="forward_to")
        report("info", "nothing to replay: every stored event was forwarded")
        return []
    real = real_urls(routes)
    sender = forwarder or Forwarder(forward_client(list({real.get(url, url) for _, url in plans})), wait=wait)
    results = []
    for event, url in plans:
        if routes and event.forwards:
            store.clear_forwards(event.id)
            event.forwards = {}
        if urlsplit(target := real.get(url, url)).password == "***":  # its password was never kept
            why = "its password is not kept: give the URL again, with its password, to send it"
            result = ForwardResult("failed", None, 0, why)
        else:
            result = sender.send(target, event.body, delivery_headers(event, store.secret))
        store.set_forward(event.id, url, result.to_json())
        results.append({"id": event.id, "event": event.event, "task_id": event.task_id, "url": url} | result.to_json())
    return results


def raise_for_replay(results: list[dict[str, Any]]) -> None:
    failed = [r for r in results if r["state"] != "ok"]
    if failed:
        names = "; ".join(f"event {r['id']} -> {r['url']}: {r['error']}" for r in failed)
        raise ForwardFailed(f"{len(failed)} forward(s) failed again: {names}", hint="they stay stored; try again later")
