"""The line per answer of ``sandbox serve``, off the answering threads."""

from __future__ import annotations

import queue
import threading
import time
from typing import IO


class AccessLog:
    """The line per answer of ``sandbox serve``, written to ``stream`` by one thread in batches.

    Through ``logging``, each line cost its handler thread a record, the handlers' walk and
    lock, a format, a write and a flush: with a line per answer, the sandbox served 0.56 of the
    requests a bare threading server did, which writes its line to stderr itself
    (bench/README.md). Here a handler thread queues the line and its time; ``close()`` writes
    what is left. Other lines (errors) still go through the ``piapi.sandbox`` logger.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lines: queue.SimpleQueue[tuple[float, str] | None] = queue.SimpleQueue()
        self._stamp = (-1, "")  # the last second formatted, and how it reads
        self._thread = threading.Thread(target=self._write, name="piapi-sandbox-log", daemon=True)
        self._thread.start()

    def __call__(self, line: str) -> None:
        self._lines.put((time.time(), line))  # SimpleQueue.put is safe from any thread

    def close(self) -> None:
        self._lines.put(None)
        self._thread.join(timeout=5)

    def _write(self) -> None:
        while True:
            batch = [self._lines.get()]
            while len(batch) < 1000:
                try:
                    batch.append(self._lines.get_nowait())
                except queue.Empty:
                    break
            text = "".join(f"{self._clock(at)} {line}\n" for at, line in filter(None, batch))
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):  # a closed or broken stderr: serving goes on without a log
                pass
            if None in batch:
                return

    def _clock(self, at: float) -> str:
        second = int(at)
        if second != self._stamp[0]:
            self._stamp = (second, time.strftime("%H:%M:%S", time.localtime(second)))
        return self._stamp[1]
