"""Shared fixtures: every test gets its own config and data dirs, a fake clock, and an
in-process emulator of the API; nothing touches $HOME or the network."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from piapi_cli.cli.main import main
from piapi_cli.cli.session import Session
from piapi_cli.sandbox import Emulator, MemoryStore, transport_for

# importing the entry point sets its start-up Ctrl-C handler (exit 130 at once), meant for a
# process of its own: this one keeps Python's, and each run below restores it
signal.signal(signal.SIGINT, signal.default_int_handler)
# the tests send SIGHUP to the piapi processes they start and expect what a terminal's process
# does with it; a test run started under nohup would hand its ignored SIGHUP down to them all
# (piapi keeps an ignored SIGHUP ignored: test_a_listener_started_under_nohup_outlives_...)
if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)

FIXTURES = Path(__file__).parent / "fixtures"
TEST_KEY = "pk-test-0123456789abcdef0123456789"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class FakeClock:
    """Time that moves only when something sleeps: tests never wait for real."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PIAPI_") or name == "NO_COLOR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIAPI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PIAPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # what a command writes in "." (downloads, reports) stays out of the checkout
    return tmp_path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return Emulator(MemoryStore(), clock=clock, sleep=clock.sleep)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None

    def json(self) -> Any:
        return json.loads(self.stdout)


@contextlib.contextmanager
def _process(env: dict[str, str], stdin: str) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """This process as a run of piapi sees it: the environment, stdin, stdout and stderr."""
    saved = {name: os.environ.get(name) for name in env}
    streams = sys.stdin, sys.stdout, sys.stderr
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    out, err = io.StringIO(), io.StringIO()
    os.environ.update(env)
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        yield out, err
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
        for number, handler in handlers.items():
            signal.signal(number, handler)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_main(
    args: list[str], session: Session | None, *, input: str | None = None, env: dict[str, str] | None = None,
    through: Callable[..., int] = main,
) -> Result:  # fmt: skip
    """One run of the entry point (``piapi_cli.cli.main:main``) in this process, as a user's
    shell would run it: the whole command line, stdin, the exit code, stdout and stderr apart.
    ``through``: ``main.with_typer`` to have typer read the line instead of the fast parser."""
    with _process(env or {}, input or "") as (out, err):
        try:
            code = through(args, session=session)
        except SystemExit as exc:  # (main returns its code; nothing in a run should raise this)
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


@dataclass
class Cli:
    """Runs the real CLI in-process through its entry point, against a transport, with the
    fake clock."""

    clock: FakeClock
    transport: httpx.BaseTransport
    env: dict[str, str] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        environ = {**os.environ, **self.env, **(env or {})}
        session = Session(environ=environ, transport=self.transport, clock=self.clock, sleep=self.clock.sleep)
        self.sessions.append(session)
        return run_main(list(args), session, input=input, env=self.env | (env or {}))


@pytest.fixture
def cli(clock: FakeClock, emulator: Emulator) -> Cli:
    """The CLI with a key set, talking to the in-process emulator."""
    return Cli(clock=clock, transport=transport_for(emulator), env={"PIAPI_API_KEY": TEST_KEY})


def routed(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)
