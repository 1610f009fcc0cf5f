"""Events queued in the order they were stored, though many deliveries are stored at once.

Under group commit, several handler threads store deliveries together and learn of their commit
in no particular order. Each delivery takes a number as it is stored (inside its transaction, on
the journal's writer thread, so in commit order), and the events are queued by number, once
every earlier number has been queued or has come to nothing (a duplicate, a failed commit).
"""

from __future__ import annotations

import itertools
import queue
import threading
from typing import Generic, TypeVar

Event = TypeVar("Event")


class StoredOrder(Generic[Event]):
    """The queue of stored events, in storage order: each item a list of events (those that
    became ready together: a batch's), ``None`` in it means stop."""

    def __init__(self) -> None:
        self.queue: queue.Queue[list[Event] | None] = queue.Queue()
        self._numbers = itertools.count()
        self._stored: dict[int, Event | None] = {}
        self._next = 0
        self._lock = threading.Lock()

    def ticket(self) -> Ticket[Event]:
        """One delivery's place in the order, taken when (and if) it is stored."""
        return Ticket(self)

    def release(self, released: list[tuple[Ticket[Event], Event | None]]) -> None:
        """``Ticket.release`` for each (a batch's), their events queued as one item: the thread
        that reports them wakes once for them all."""
        self._release([(t._number, event) for t, event in released if t._number is not None])

    def _release(self, numbered: list[tuple[int, Event | None]]) -> None:
        """Queue events in the order of their numbers (None: that number stored nothing)."""
        ready: list[Event] = []
        with self._lock:
            for number, event in numbered:
                self._stored[number] = event
            while self._next in self._stored:
                found = self._stored.pop(self._next)
                self._next += 1
                if found is not None:
                    ready.append(found)
            if ready:  # (under the lock: two threads releasing put their items in order)
                self.queue.put(ready)


class Ticket(Generic[Event]):
    def __init__(self, order: StoredOrder[Event]) -> None:
        self._order = order
        self._number: int | None = None

    def take(self) -> None:
        """Called inside the transaction once the event is in it. A commit tried again runs the
        write again: it keeps the number it took the first time."""
        if self._number is None:
            self._number = next(self._order._numbers)

    def release(self, event: Event | None) -> None:
        """The stored event (None: nothing was stored after all); nothing if no number was taken."""
        if self._number is not None:
            self._order._release([(self._number, event)])
