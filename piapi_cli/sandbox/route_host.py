"""What the OpenAI-compatible routes use of the emulator that serves them (a protocol, so
that those route modules and the emulator, which dispatches to them, do not import each other)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from piapi_cli.sandbox.replies import Reply


class FaultRates(Protocol):
    rate_limit_rate: float
    fail_rate: float
    retry_after: int


class RouteHost(Protocol):
    base_url: str
    speed: float
    clock: Callable[[], float]
    _rng: Callable[[], float]
    _sleep: Callable[[float], None]

    @property
    def faults(self) -> FaultRates: ...

    def _authorised(self, key: str) -> bool: ...

    def _content(
        self, content: bytes, kind: str, headers: Mapping[str, str], *, head: bool, size: int | None = None
    ) -> Reply: ...
