"""What one run of piapi works with: resolved settings and a client, built on first use.

Global options land here; commands ask for ``session.client`` only when they need the
network, so ``piapi models`` or ``create --dry-run`` never need a key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from piapi_cli.api.errors import ConfigError
from piapi_cli.api.records import field, record
from piapi_cli.core import settings as config

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    import httpx

    from piapi_cli.api.client import Client
    from piapi_cli.api.openai_routes import OpenAIRoutes
    from piapi_cli.core.downloads.downloader import DownloadHTTP
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.core.runner import Runner


@record()
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
    _download_http: DownloadHTTP | None = None
    _openai: OpenAIRoutes | None = None
    _journal: Journal | None = None
    _api_transport: httpx.BaseTransport | None = None
    #: --no-journal
    no_journal: bool = False
    #: other values this run must never show (a webhook secret given on the command line)
    extra_secrets: list[str] = field(default_factory=list)
    _listener_secret: str | None = field(default=None, repr=False)
    #: ``secrets()`` as last made: (the settings and extra secrets it was made from, the list)
    _secrets: tuple[config.Resolved | None, list[str], list[str]] | None = field(default=None, repr=False)
    #: runners made in this run, the tasks being waited on, and the command that resumes them
    runners: list[Runner] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    resume: str | None = None
    saving_to: str | None = None

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
        client = self._new_client()
        client.secrets = self.secrets  # what a server echoes of them is scrubbed from every task
        return client

    def _new_client(self) -> Client:
        from piapi_cli.api.client import Client, is_loopback

        if self.use_sandbox:
            from piapi_cli.sandbox import local_emulator, transport_for

            speed = self.settings["sandbox_speed"]
            emulator = local_emulator(config.data_dir(self.environ), speed=speed)
            transport = self.transport or transport_for(emulator)
            self._api_transport = transport
            return Client(
                "sandbox", emulator.base_url, transport=transport, sleep=self.sleep, upload_url=emulator.base_url,
                call_timeout=self.settings["request_timeout"] or None,
            )  # fmt: skip
        key = self.settings["api_key"]
        if not key:
            raise ConfigError(
                "no API key: set one with `piapi config set-key`, or export PIAPI_API_KEY",
                hint="to try piapi without a key, add --sandbox (a built-in offline emulator of the API)",
            )
        self._api_transport = self.transport
        base_url = self.settings["base_url"]
        upload_url = self.settings["upload_url"]
        if self.settings.sources["upload_url"] == "default" and is_loopback(base_url):
            upload_url = base_url  # a local `piapi sandbox serve` answers uploads itself
        return Client(key, base_url, transport=self.transport, sleep=self.sleep, upload_url=upload_url,
                      call_timeout=self.settings["request_timeout"] or None)  # fmt: skip

    @property
    def openai(self) -> OpenAIRoutes:
        """A client of the OpenAI-compatible routes (chat, images), on the same API as ``client``."""
        if self._openai is None:
            from piapi_cli.api.openai_routes import OpenAIRoutes

            client = self.client  # settles the API in use (sandbox or network), the key, the transport
            key = "sandbox" if self.use_sandbox else str(self.settings["api_key"])
            self._openai = OpenAIRoutes(
                key,
                client.base_url,
                transport=self._api_transport,
                read_timeout=self.settings["read_timeout"] or None,
                sleep=self.sleep,
            )
        return self._openai

    @property
    def world(self) -> str:
        """Which API the tasks live in: ``sandbox`` or the base URL (the journal keeps them apart)."""
        return "sandbox" if self.use_sandbox else str(self.settings["base_url"]).rstrip("/")

    def download_http(self, urls: list[str]) -> DownloadHTTP:
        """An HTTP client for these output files: follows redirects, never sends the API key."""
        if self._download_http is None:
            from piapi_cli.core.downloads.downloader import download_client

            self.client  # noqa: B018 - settles which transport (sandbox or network) is in use
            stall = self.settings["download_stall"]
            self._download_http = download_client(urls, self._api_transport, stall=stall)
        return self._download_http

    @property
    def journal(self) -> Journal | None:
        """The task journal, or None when turned off (--no-journal, or setting journal = false)."""
        if self.no_journal or not self.settings["journal"]:
            return None
        if self._journal is None:
            from piapi_cli.core.journal.journal import Journal

            self._journal = Journal(config.data_dir(self.environ) / "journal.sqlite3")
            self._journal.secrets = self.secrets  # the key, however it was given, is never kept
        return self._journal

    def runner(self, interval: float | None = None) -> Runner:
        """A runner over this session's client and journal; it records the tasks it creates
        in ``created``, so an interrupted run can name them."""
        from piapi_cli.core.polling import PollPolicy
        from piapi_cli.core.runner import Runner

        cap = interval if interval is not None else self.settings["max_poll_interval"]
        runner = Runner(
            self.client,
            journal=self.journal,
            world=self.world,
            poll=PollPolicy(max_interval=max(cap, 0.1)),
            download_http=self.download_http,
            clock=self.clock,
            sleep=self.sleep,
        )
        runner.created = self.created
        self.runners.append(runner)
        return runner

    def note_resume(self, task_ids: list[str], download: Any = None) -> None:
        """The command that finishes this run's work if it is interrupted: never a create."""
        ids = " ".join(task_ids)
        if download is not None:
            self.resume = f"{self.prog} download {ids} --dir {download.directory}"
            self.saving_to = str(download.directory)
        else:
            self.resume = f"{self.prog} wait {ids}"
        self.waiting = list(task_ids)

    def interrupted(self) -> list[str]:
        """Stop what runs in the background; the lines telling the user where things stand."""
        lines = []
        finished: set[str] = set()
        for runner in self.runners:
            runner.cancel()  # downloads stop, keeping their .part files
            finished |= runner.finished
            if runner.sending is not None:
                row = f" ({self.prog} tasks show '#{runner.sending}')" if runner.sending else ""
                lines.append(
                    f"a create request was in flight: the task may exist; journaled as unknown{row}, never resent"
                )
        running = [t for t in (self.waiting or self.created) if t not in finished]
        if self.created:
            lines.append(f"tasks already created (not cancelled): {' '.join(self.created)}")
        elif running:
            lines.append(f"tasks still running (not cancelled): {' '.join(running)}")
        saved = [f.path for runner in self.runners for f in runner.saved]
        if saved:
            lines.append(f"files saved: {' '.join(saved)}")
        if self.saving_to is not None:
            lines.append(f"unfinished downloads keep their .part files in {self.saving_to}")
        if self.resume:
            lines.append(f"resume with: {self.resume}")
        elif self.created:
            lines.append(f"resume with: {self.prog} wait {' '.join(self.created)}")
        return lines

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
        """Values that must never be printed (scrubbed from error messages too). Made once while
        the settings and ``extra_secrets`` stay as they are (``piapi listen`` asks per delivery)."""
        known = self._secrets
        if known is not None and known[0] is self._settings and known[1] == self.extra_secrets:
            return known[2]
        found = list(self.extra_secrets)
        if self._settings is not None:
            found += [str(self._settings[n]) for n, s in config.SETTINGS.items() if s.secret and self._settings[n]]
        if self._listener_secret is None:  # piapi listen's own (never made here), read once
            from piapi_cli.core.listener.secret import SECRET_FILE, read_secret_file

            try:
                self._listener_secret = read_secret_file(config.config_dir(self.environ) / SECRET_FILE)
            except Exception:  # noqa: BLE001 - none kept, or unreadable: nothing to scrub
                self._listener_secret = ""
        made = [*found, self._listener_secret] if self._listener_secret else found
        self._secrets = (self._settings, list(self.extra_secrets), made)
        return made

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._openai is not None:
            self._openai.close()
        if self._download_http is not None:
            self._download_http.close()
        if self._journal is not None:
            self._journal.close()
