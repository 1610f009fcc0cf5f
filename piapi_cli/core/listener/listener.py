"""``piapi listen`` as a library: receive PiAPI's webhook deliveries and act on them.

A delivery is checked (the secret, in constant time; the body must be a delivery), stored in
the journal's events table (a repeat of PiAPI's retries is answered 200 and dropped), named
(``task.created``, ``task.completed``...) and queued in the order stored (``intake``). One dispatcher thread
reports each event to ``on_event``, then hands it to the forwarders, the ``--exec`` command and
the downloader, each on its own small pool. The answer (200) is sent only once the delivery is
stored: a listener that dies loses nothing PiAPI will not send again.

A backstop covers deliveries that never come: journaled tasks created with this listener's URL
that have been silent for a while are fetched with GET, and what changed becomes an event too.

Nothing here prints or knows argv: events and log lines go to callbacks.
"""

from __future__ import annotations

import contextlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from piapi_cli.api.errors import Note, UsageError
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import Task
from piapi_cli.core.journal.checkpoints import background_checkpoints
from piapi_cli.core.journal.deliveries import WebhookEvent
from piapi_cli.core.journal.events import PENDING, EventStore, StoredEvent
from piapi_cli.core.listener.backstop import Backstop
from piapi_cli.core.listener.execution import exec_runner
from piapi_cli.core.listener.fetch import download_outputs, guard, refused_url
from piapi_cli.core.listener.forwarding import (
    Forwarder,
    Route,
    ShardedPool,
    delivery_headers,
    destinations,
    forward_client,
    real_urls,
)
from piapi_cli.core.listener.intake import Intake
from piapi_cli.core.listener.ordering import StoredOrder
from piapi_cli.core.listener.receiver import DeliveryServer, ServerLimits
from piapi_cli.core.listener.secret import check_secret

if TYPE_CHECKING:
    import httpx

    from piapi_cli.core.downloads.downloader import DownloadHTTP

DEFAULT_PORT = 8788
DEFAULT_PATH = "/webhook"
Log = Callable[[str, str], None]


@record()
class ListenerOptions:
    secret: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    path: str = DEFAULT_PATH
    #: the address PiAPI reaches this listener at (a tunnel's URL); the path is added to it
    public_url: str | None = None
    #: event names acted on (None: all)
    events: frozenset[str] | None = None
    routes: list[Route] = field(default_factory=list)
    exec_argv: list[str] | None = None
    exec_jobs: int = 4
    exec_timeout: float = 300.0
    download_dir: Path | None = None
    #: let --download fetch http:// URLs and private or local addresses (a sandbox on this machine)
    download_any_url: bool = False
    #: fetch a task this listener has not heard from for this many seconds (0: never)
    backstop_after: float = 300.0
    #: forget events older than this that need nothing more
    keep_events: float = 30 * 86400.0
    limits: ServerLimits = field(default_factory=ServerLimits)

    def __post_init__(self) -> None:
        check_secret(self.secret)
        if not self.path.startswith("/"):
            raise UsageError(f"path {self.path!r} must start with /", option="path")
        if self.public_url is not None and not self.public_url.lower().startswith(("http://", "https://")):
            raise UsageError(f"public_url {self.public_url!r} is not an http:// or https:// URL", option="public_url")


#: what ``Listener.stats`` counts
STATS = ("received", "duplicates", "refused", "forwarded", "forward_failed", "backstop")


class Listener:
    #: why the server stopped on its own (an error; ``on_failure`` is called): nothing receives deliveries
    failure: str | None = None

    def __init__(
        self,
        options: ListenerOptions,
        store: EventStore,
        *,
        on_event: Callable[[WebhookEvent], None],
        on_log: Log | None = None,
        on_idle: Callable[[], None] | None = None,
        on_failure: Callable[[], None] | None = None,
        world: str = "",
        get_task: Callable[[str], Task] | None = None,
        download_http: DownloadHTTP | None = None,
        forward_http: httpx.Client | None = None,
        environ: Mapping[str, str] | None = None,
        exec_output: IO[Any] | int | None = None,
        clock: Callable[[], float] = time.time,
        forwarder: Forwarder | None = None,
    ) -> None:
        self.options = options
        self.store = store
        self.on_event = on_event
        #: called once every event queued has been reported: a caller may buffer until then
        self.on_idle = on_idle
        self.on_failure = on_failure or (lambda: None)
        self.on_log: Log = on_log or (lambda level, message: None)
        self.world = world
        self.get_task = get_task
        self.download_http = download_http
        self.clock = clock
        self.stats: dict[str, int] = dict.fromkeys(STATS, 0)
        self._stopping = threading.Event()
        order: StoredOrder[WebhookEvent] = StoredOrder()
        self._queue = order.queue
        self._secret = options.secret.encode()
        self.intake = Intake(store, order, self.authorise, self._destinations, clock, self.on_log, self._count)
        self._group_commit = contextlib.ExitStack()
        self._stats_lock = threading.Lock()
        self._started_at = clock()
        self._threads: list[threading.Thread] = []
        self._dispatcher: threading.Thread | None = None
        self._backstop: Backstop | None = None
        self.server: DeliveryServer | None = None
        # first: a program that is not there is refused before any thread starts
        self._exec = exec_runner(
            options.exec_argv, environ=environ, output=exec_output, timeout=options.exec_timeout, on_log=self.on_log
        )
        self._exec_pool = ShardedPool("piapi-exec", shards=max(1, options.exec_jobs)) if self._exec else None
        self._forwarder = forwarder
        if options.routes and forwarder is None:
            http = forward_http or forward_client([r.url for r in options.routes])
            self._forwarder = Forwarder(http, wait=self._stopping.wait)
        #: destinations as stored and shown (a password as ***) to the URLs themselves
        self._real = real_urls(options.routes)
        self._forward_pools = {url: ShardedPool("piapi-forward") for url in self._real}
        self._download_pool = ShardedPool("piapi-download") if options.download_dir is not None else None
        if download_http is not None and not options.download_any_url:
            guard(download_http, refused_url)  # a forged event cannot make it fetch internal services
        #: at start: events an earlier run stored but never forwarded (queued now, left waiting)
        self.resumed = (0, 0)

    # --- addresses ------------------------------------------------------------------

    @property
    def local_url(self) -> str:
        host = self.options.host if self.options.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        port = self.server.server_address[1] if self.server is not None else self.options.port
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{self.options.path}"

    @property
    def url(self) -> str:
        """The endpoint to give ``create --webhook``."""
        if self.options.public_url:
            return self.options.public_url.rstrip("/") + self.options.path
        return self.local_url

    @property
    def endpoints(self) -> list[str]:
        """Every URL a task may have been sent to this listener with (for the backstop)."""
        found = [self.url, self.local_url]
        host = urlsplit(self.local_url).hostname or ""
        if host.startswith("127.") or host == "localhost":
            found.append(self.local_url.replace(f"//{host}:", "//localhost:", 1))
            found.append(self.local_url.replace(f"//{host}:", "//127.0.0.1:", 1))
        return list(dict.fromkeys(found))

    # --- running --------------------------------------------------------------------

    def start(self) -> Listener:
        """Bind the port and start serving in background threads."""
        self.server = DeliveryServer(
            (self.options.host, self.options.port),
            path=self.options.path,
            authorise=self.authorise,
            receive=self.intake.receive,
            receive_many=self.intake.receive_many,
            report=self.on_log,
            limits=self.options.limits,
        )
        self._started_at = self.clock()
        self.store.prune(self._started_at - self.options.keep_events)
        self.resumed = self._resume_pending()  # queued ahead of any new delivery: order per task holds
        # deliveries are stored by the thread that serves the connections, in batches; the other
        # writes, by one thread for all; checkpoints, by a thread of their own (bench/README.md)
        self._group_commit.enter_context(self.store.journal.group_commit())
        checkpoints = self._group_commit.enter_context(background_checkpoints(self.store.journal))
        if checkpoints is not None:
            self.intake.on_commit = checkpoints.nudge
        for target, name in (
            (self._serve_http, "piapi-listen-http"),
            (self._dispatch_loop, "piapi-listen-dispatch"),
            (self._housekeeping_loop, "piapi-listen-backstop"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._dispatcher = self._threads[1]
        return self

    def _serve_http(self) -> None:
        assert self.server is not None
        try:
            self.server.serve_forever()
        except Exception as exc:  # the process must not live on answering nobody (a supervisor restarts it)
            self.failure = f"{type(exc).__name__}: {exc}"
            self.on_log("error", f"the listener stopped receiving deliveries: {self.failure}")
            self.on_failure()

    def _resume_pending(self) -> tuple[int, int]:
        """Forward, in order and once, what an earlier run stored but never sent (it stopped or
        died first): (events queued now, events left waiting for a destination not given now)."""
        queued = waiting = 0
        for stored in self.store.pending():
            urls = [url for url, done in stored.forwards.items() if done.get("state") == PENDING]
            mine = [url for url in urls if url in self._forward_pools]
            for url in mine:
                self._forward_pools[url].submit(stored.task_id, partial(self._forward, stored, url))
            queued += bool(mine)
            waiting += len(mine) < len(urls)
        return queued, waiting

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, give deliveries being read and then forwards ``grace`` seconds each
        to finish.

        What is not forwarded by then stays recorded as not forwarded, for ``--replay``.
        """
        if self.server is not None:
            self.server.close_gracefully(grace)  # what was answered 200 is in the queue after this
        self._queue.put(None)
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=grace)
        deadline = time.monotonic() + grace
        for pool in self._pools():
            pool.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()  # forwards still waiting to retry give up now
        for pool in self._pools():
            pool.join(2.0)
            pool.close()
        self._group_commit.close()  # what was queued is committed

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every accepted event has been reported and acted on (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return all(pool.join(max(0.0, deadline - time.monotonic())) for pool in self._pools())

    def _pools(self) -> list[ShardedPool]:
        pools = list(self._forward_pools.values())
        pools += [p for p in (self._exec_pool, self._download_pool) if p is not None]
        return pools

    def _count(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[name] += n

    # --- receiving ------------------------------------------------------------------

    def authorise(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), self._secret)

    def receive(self, headers: Mapping[str, str], body: bytes) -> tuple[int, str]:
        """Take one delivery: (HTTP status, message) to answer with (see ``Intake``)."""
        return self.intake.receive(headers, body)

    def wanted(self, name: str) -> bool:
        return self.options.events is None or name in self.options.events

    def _destinations(self, name: str) -> list[str]:
        if not self.options.routes:  # (asked for every delivery)
            return []
        return destinations(self.options.routes, name) if self.wanted(name) else []

    # --- acting ---------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while True:
            events = self._queue.get()  # (those stored together: a list)
            try:
                for event in events or ():
                    try:
                        self.dispatch(event)
                    except Exception as exc:
                        self.on_log("error", f"event {event.stored.id}: {type(exc).__name__}: {exc}")
                if self.on_idle is not None and (events is None or self._queue.empty()):
                    self.on_idle()  # every event queued is reported: the CLI flushes stdout once for them
                if events is None:
                    return
            except Exception as exc:
                self.on_log("error", f"reporting events: {type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def dispatch(self, event: WebhookEvent) -> None:
        if event.stored.stale:  # a status behind the task's: journaled, never acted on
            what = f"event {event.stored.id}: a late {event.stored.status!r} of task {event.task.task_id}"
            self.on_log("info", f"{what} (it moved on already); kept, not emitted")
            return
        if not self.wanted(event.name):
            return
        self.on_event(event)
        key = event.task.task_id
        for url in event.stored.forwards:
            if not self._forward_pools[url].submit(key, partial(self._forward, event.stored, url)):
                failure = {"state": "failed", "status": None, "attempts": 0, "error": "forward queue full"}
                self.store.set_forward(event.stored.id, url, failure)
                self._count("forward_failed")
        if self._exec is not None and self._exec_pool is not None:
            payload, runner = event.to_json(), self._exec
            if not self._exec_pool.submit(key, lambda: runner.run(payload)):
                self.on_log("error", f"the command's queue is full: event {event.stored.id} not run")
        if self._download_pool is not None and event.name == "task.completed" and not event.stored.stale:
            self._download_pool.submit(key, lambda: self._download(event.task))

    def _forward(self, stored: StoredEvent, url: str) -> None:
        assert self._forwarder is not None
        result = self._forwarder.send(
            self._real.get(url, url), stored.body, delivery_headers(stored, self.options.secret)
        )
        self.store.set_forward(stored.id, url, result.to_json())
        what = f"event {stored.id} {stored.event} {stored.task_id} -> {url}"
        if result.state == "ok":
            self._count("forwarded")
            self.on_log("info", f"forwarded {what}: {result.status}")
        else:
            self._count("forward_failed")
            self.on_log(
                "error", Note(f"could not forward {what}: {result.error} (kept)", "replay_event", event_id=stored.id)
            )

    def _download(self, task: Task) -> None:
        if self.download_http is None or self.options.download_dir is None:
            return
        report = download_outputs(self.download_http, self.options.download_dir, task)
        for saved in report.files:
            self.store.record_download(saved.task_id, saved.url, saved.path, saved.bytes, saved.sha256)
            self.on_log("info", f"saved {saved.path}")
        for failure in report.failures:
            text = f"could not download {failure.url} of task {task.task_id}: {failure.message}"
            self.on_log("error", Note(text, failure.advice))

    # --- the backstop ---------------------------------------------------------------

    def _housekeeping_loop(self) -> None:
        after = self.options.backstop_after
        tick = min(60.0, max(1.0, after / 2)) if after > 0 else 60.0
        while not self._stopping.wait(tick):
            try:
                self.backstop_check()
                self.store.prune(self.clock() - self.options.keep_events)
            except Exception as exc:
                self.on_log("error", f"backstop: {type(exc).__name__}: {exc}")

    def backstop_check(self) -> int:
        """Fetch the tasks sent to this listener that have been silent too long (see Backstop)."""
        if self.get_task is None or self.options.backstop_after <= 0:
            return 0
        if self._backstop is None:
            self._backstop = Backstop(self.store, self.get_task, self.intake.accept, self.options.backstop_after)
        found = self._backstop.check(self.world, self.endpoints, self.clock(), self._started_at, self.on_log)
        self._count("backstop", found)
        return found
