"""Shared fixtures: every test gets its own config and data dirs, a fake clock, and an
in-process emulator of the API; nothing touches $HOME or the network."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from piapi_cli.cli.app import app
from piapi_cli.cli.session import Session
from piapi_cli.sandbox import Emulator, MemoryStore, transport_for

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


@dataclass
class Cli:
    """Runs the real CLI in-process against a transport, with the fake clock."""

    clock: FakeClock
    transport: httpx.BaseTransport
    env: dict[str, str] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        environ = {**os.environ, **self.env, **(env or {})}
        session = Session(environ=environ, transport=self.transport, clock=self.clock, sleep=self.clock.sleep)
        self.sessions.append(session)
        runner = CliRunner()
        result = runner.invoke(app, list(args), input=input, obj=session, env=self.env | (env or {}))
        return Result(result.exit_code, result.stdout, result.stderr, result.exception)


@pytest.fixture
def cli(clock: FakeClock, emulator: Emulator) -> Cli:
    """The CLI with a key set, talking to the in-process emulator."""
    return Cli(clock=clock, transport=transport_for(emulator), env={"PIAPI_API_KEY": TEST_KEY})


def routed(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)
