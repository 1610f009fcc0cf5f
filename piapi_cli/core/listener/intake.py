"""What the listener does with a delivery as it comes: check it, store it, queue its event.

A delivery is checked (the secret, in constant time; the body must be a delivery), stored in
the journal's events table (a repeat of PiAPI's retries is answered 200 and dropped) and its
event queued in the order stored (``ordering``). The deliveries that arrive together are
stored in one transaction (``receive_many``), and answered 200 only once it is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from piapi_cli.api.tasks import Task
from piapi_cli.core.journal.deliveries import TaskJSON, WebhookEvent, parse_delivery
from piapi_cli.core.journal.events import EventStore
from piapi_cli.core.listener.forwarding import forward_headers
from piapi_cli.core.listener.ordering import StoredOrder, Ticket

#: events stored in a batch, with their places in the order: queued once the batch commits
Stored = list[tuple[Ticket[WebhookEvent], WebhookEvent | None]]


class Intake:
    def __init__(
        self,
        store: EventStore,
        order: StoredOrder[WebhookEvent],
        authorise: Callable[[str | None], bool],
        destinations: Callable[[str], list[str]],
        clock: Callable[[], float],
        on_log: Callable[[str, str], None],
        count: Callable[[str, int], None],
    ) -> None:
        self.store = store
        self.order = order
        self.authorise = authorise
        self.destinations = destinations
        self.clock = clock
        self.on_log = on_log
        self._count = count
        #: called after each batch is committed (the journal's checkpoints are run elsewhere)
        self.on_commit: Callable[[], None] = lambda: None

    def receive_many(self, deliveries: list[tuple[Mapping[str, str], bytes]]) -> list[tuple[int, str]]:
        """Take the deliveries that arrived together, in one transaction: (HTTP status, message)
        to answer each with. Their events are queued once it is committed."""
        stored: Stored = []
        answers: list[tuple[int, str]] = []
        try:
            with self.store.batch():
                for headers, body in deliveries:
                    answers.append(self.receive(headers, body, stored))
        except Exception as exc:  # the commit failed (a full disk, a locked journal): none is stored
            for ticket, _ in stored:
                ticket.release(None)
            self.on_log("error", f"could not store {len(deliveries)} deliveries ({exc}); answered 500")
            failed = (500, "the delivery could not be stored; send it again")
            return [answers[n] if n < len(answers) and answers[n][0] != 200 else failed for n in range(len(deliveries))]
        self.on_commit()
        self.order.release(stored)
        self._count("received", sum(event is not None for _, event in stored))
        return answers

    def receive(
        self,
        headers: Mapping[str, str],
        body: bytes,
        stored: Stored | None = None,
    ) -> tuple[int, str]:
        """Take one delivery: (HTTP status, message) to answer with. With ``stored``, its event
        is left there to be queued once the batch it is in is committed."""
        if not self.authorise(headers.get("x-webhook-secret")):
            self._count("refused", 1)
            return 401, "wrong or missing x-webhook-secret"
        parsed = parse_delivery(body)
        if isinstance(parsed, str):
            self._count("refused", 1)
            return 400, parsed
        task, timestamp = parsed
        try:
            event = self.accept(task, timestamp, body, forward_headers(headers), stored=stored)
        except Exception as exc:  # a full disk, a locked journal: PiAPI must send it again
            self.on_log("error", f"could not store a delivery of task {task.task_id} ({exc}); answered 500")
            return 500, "the delivery could not be stored; send it again"
        if event is None:
            self._count("duplicates", 1)
            return 200, "duplicate: already received"
        return 200, "received"

    def accept(
        self,
        task: Task,
        timestamp: int | None,
        body: bytes,
        headers: dict[str, str],
        source: str = "webhook",
        *,
        stored: Stored | None = None,
    ) -> WebhookEvent | None:
        """Store a delivery and queue its event, in storage order (see ``ordering``); None for
        a duplicate. With ``stored``, the event is left there, queued when the batch commits."""
        ticket = self.order.ticket()
        made = TaskJSON(task, self.store.journal.secrets())  # the journal's row and the event share it
        try:
            kept = self.store.record(
                task=task,
                timestamp=timestamp,
                body=body,
                headers=headers,
                received_at=self.clock(),
                source=source,
                forward_to=self.destinations,
                on_stored=ticket.take,
                task_json=made,
            )
        except BaseException:
            ticket.release(None)
            raise
        event = WebhookEvent(kept, task, made) if kept is not None else None
        if stored is not None:
            stored.append((ticket, event))
            return event
        ticket.release(event)
        if event is not None:
            self._count("received", 1)
        return event
