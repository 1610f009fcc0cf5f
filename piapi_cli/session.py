"""What one run of piapi works with: resolved settings and a client, built on first use.

Global options land here; commands ask for ``session.client`` only when they need the
network, so ``piapi models`` or ``create --dry-run`` never need a key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import config
from .errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from .client import Client


@dataclass
class Session:
    profile: str | None = None
    base_url: str | None = None
    sandbox: bool = False
    debug: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    #: replaces the network for every request (tests); the sandbox sets its own
    transport: httpx.BaseTransport | None = None
    #: the clock and sleep used for waiting and retries (tests inject fakes)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    #: tasks created in this run, reported if the run is interrupted
    created: list[str] = field(default_factory=list)
    _settings: config.Resolved | None = None
    _client: Client | None = None

    @property
    def settings(self) -> config.Resolved:
        if self._settings is None:
            flags: dict[str, Any] = {"base_url": self.base_url}
            if self.sandbox:
                flags["sandbox"] = True
            self._settings = config.resolve(flags, profile=self.profile, environ=self.environ)
        return self._settings

    @property
    def use_sandbox(self) -> bool:
        return bool(self.sandbox or self.settings["sandbox"])

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> Client:
        from .client import Client

        if self.use_sandbox:
            from .sandbox import local_emulator, transport_for

            speed = float(self.environ.get("PIAPI_SANDBOX_SPEED") or 1.0)
            emulator = local_emulator(config.data_dir(self.environ), speed=speed)
            transport = self.transport or transport_for(emulator)
            return Client("sandbox", emulator.base_url, transport=transport, sleep=self.sleep)
        key = self.settings["api_key"]
        if not key:
            raise ConfigError(
                "no API key: set one with `piapi config set-key`, or export PIAPI_API_KEY",
                hint="to try piapi without a key, add --sandbox (a built-in offline emulator of the API)",
            )
        return Client(key, self.settings["base_url"], transport=self.transport, sleep=self.sleep)

    @property
    def prog(self) -> str:
        """How to call piapi again with this run's world, for hints: ``piapi --sandbox``."""
        parts = ["piapi"]
        if self.profile:
            parts += ["--profile", self.profile]
        if self.sandbox:
            parts.append("--sandbox")
        return " ".join(parts)

    def secrets(self) -> list[str]:
        """Values that must never be printed (scrubbed from error messages too)."""
        found = []
        if self._settings is not None and self._settings["api_key"]:
            found.append(str(self._settings["api_key"]))
        return found

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
