"""One way to name a task, for every command that takes one: a full ID, a unique prefix of a
journaled ID (4+ characters), or '#N' for the journal's row N; a bare number is a prefix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.api.tasks import Task
from piapi_cli.core.ids import resolve_task
from piapi_cli.core.journal.events import EventStore
from piapi_cli.core.journal.journal import AmbiguousTaskId, Journal
from piapi_cli.core.listener.secret import stored_webhook_secret
from piapi_cli.sandbox import Emulator
from tests.conftest import Cli, FakeClock

FLUX = ["create", "-m", "Qubico/flux1-dev", "-t", "txt2img"]


def _task_id(result: Any) -> str:
    return str(result.json()["task_id"])


def _first_line_task(result: Any) -> str:
    try:
        doc = json.loads(result.stdout)  # one document
    except ValueError:
        doc = json.loads(result.stdout.splitlines()[0])  # one JSON line per result
    return str((doc[0] if isinstance(doc, list) else doc)["task_id"])


#: command -> (its arguments around the task, how its output names the task it acted on).
#: create --from makes a new task: the check there is the note on stderr and exit 0.
COMMANDS: dict[str, tuple[Callable[[str], list[str]], Callable[[Any], str] | None]] = {
    "get": (lambda t: ["get", t, "--json"], _task_id),
    "wait": (lambda t: ["wait", t, "--json", "--timeout", "60"], _task_id),
    "cancel": (lambda t: ["cancel", t], lambda r: r.stdout.strip()),
    "download": (lambda t: ["download", t, "--dir", "out", "--json"], _first_line_task),
    "tasks show": (lambda t: ["tasks", "show", t, "--json"], _task_id),
    "create --from": (lambda t: ["create", "--from", t], None),
    "trigger --from-task": (
        lambda t: ["trigger", "http://127.0.0.1:9/hook", "--from-task", t, "--dry-run"],
        lambda r: json.loads(r.stdout.splitlines()[0])["data"]["task_id"],
    ),  # fmt: skip
    "listen --replay": (lambda t: ["listen", "--replay", t], _first_line_task),
}


@pytest.fixture(autouse=True)
def in_tmp(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(isolated)  # download saves to ./out


class Setup:
    """Two sandbox tasks in the journal (rows 1 and 2) and a third row whose ID shares the
    first task's first 8 characters (so those 8 are an ambiguous prefix)."""

    def __init__(self, cli: Cli, isolated: Path, emulator: Emulator, *, pending: bool) -> None:
        wait = [] if pending else ["--wait", "--json"]
        first = cli(*FLUX, "-i", "prompt=one", *wait)
        second = cli(*FLUX, "-i", "prompt=two", *wait)
        self.full = _task_id(first) if wait else first.stdout.strip()
        self.other = _task_id(second) if wait else second.stdout.strip()
        journal = Journal(isolated / "data" / "journal.sqlite3")
        world = journal.row(1).world  # type: ignore[union-attr]
        self.twin = self.full[:8] + "-0000-4000-8000-000000000000"
        journal.created(journal.begin_create(world, "m", "t", {}, None), Task.from_api({"task_id": self.twin}))
        # a stored webhook event of the first task, for listen --replay (its forward failed)
        body = json.dumps({"timestamp": 1, "data": {"task_id": self.full, "status": "completed"}}).encode()
        store = EventStore(journal, stored_webhook_secret(isolated / "config"))
        store.record(task=Task.from_api({"task_id": self.full, "status": "completed"}), timestamp=1, body=body,
                     headers={}, received_at=1.0, forward_to=lambda name: ["http://127.0.0.1:9/gone"])  # fmt: skip
        journal.close()
        self.creates = sum(1 for _ in emulator.store.all())


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("form", ["full", "prefix", "row"])
def test_every_command_takes_a_task_by_full_id_prefix_or_row(
    cli: Cli, isolated: Path, emulator: Emulator, clock: FakeClock, command: str, form: str
) -> None:
    setup = Setup(cli, isolated, emulator, pending=command == "cancel")
    given = {"full": setup.full, "prefix": setup.full[:13], "row": "#1"}[form]
    args, named = COMMANDS[command]
    result = cli(*args(given))
    if command == "listen --replay":
        assert result.exit_code == 5  # the destination is closed; the event was sent again all the same
    else:
        assert result.exit_code == 0, result.stderr
    if named is not None:
        assert named(result) == setup.full
    else:
        assert sum(1 for _ in emulator.store.all()) == setup.creates + 1  # one new task, from the past one
    note = f"{given} is task {setup.full}"
    assert (note in result.stderr) == (form != "full")  # a short form says which task it named


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_ambiguous_prefix_is_refused_naming_the_candidates_and_nothing_is_sent(
    cli: Cli, isolated: Path, emulator: Emulator, command: str
) -> None:
    setup = Setup(cli, isolated, emulator, pending=False)
    args, _ = COMMANDS[command]
    result = cli(*args(setup.full[:8]))
    assert result.exit_code == 2
    assert f"'{setup.full[:8]}' starts 2 journaled task IDs" in result.stderr
    assert setup.full in result.stderr and setup.twin in result.stderr
    assert result.stdout == "" and sum(1 for _ in emulator.store.all()) == setup.creates


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bare_number_is_a_prefix_not_a_row_and_an_unknown_row_is_a_usage_error(
    cli: Cli, isolated: Path, emulator: Emulator, command: str
) -> None:
    setup = Setup(cli, isolated, emulator, pending=False)
    args, named = COMMANDS[command]
    bare = cli(*args("1"))
    assert bare.exit_code != 0 and " is task " not in bare.stderr  # "1" names no task: not row 1
    unknown = cli(*args("#99"))
    assert unknown.exit_code == 2 and "#99: no such row in the task journal" in unknown.stderr
    assert sum(1 for _ in emulator.store.all()) == setup.creates


def test_the_resolver_alone(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        for task_id, world in (("abcd-1", "w"), ("abcd-2", "w"), ("abce-1", "w"), ("1234-x", "w"), ("zzzz", "v")):
            journal.created(journal.begin_create(world, "m", "t", {}, None), Task.from_api({"task_id": task_id}))
        assert resolve_task("abce", journal, world="w").task_id == "abce-1"
        assert resolve_task(" abcd-1 ", journal, world="w").task_id == "abcd-1"  # exact, not short
        assert not resolve_task("abcd-1", journal, world="w").short
        with pytest.raises(AmbiguousTaskId) as caught:
            resolve_task("abcd", journal, world="w")
        assert caught.value.candidates == ["abcd-2", "abcd-1"] and caught.value.exit_code == 2
        assert resolve_task("abc", journal, world="w").task_id == "abc"  # too short: taken whole
        assert resolve_task("1234", journal, world="w").task_id == "1234-x"  # a number is a prefix
        assert resolve_task("#4", journal, world="w").task_id == "1234-x"
        assert resolve_task("#5", journal).task_id == "zzzz"  # any world
        for bad in ("#5", "#0", "#x", "#", "#-1", "#" + "9" * 30):
            with pytest.raises(Exception) as refused:
                resolve_task(bad, journal, world="w")
            assert getattr(refused.value, "exit_code", None) == 2
        assert resolve_task("zzzz", journal, world="w").task_id == "zzzz"  # another API's: the API decides
        assert resolve_task("unknown-id", journal, world="w").entry is None
    assert resolve_task("abcd", None).task_id == "abcd"  # no journal: only full IDs
    with pytest.raises(Exception) as no_journal:
        resolve_task("#1", None)
    assert "turned off" in str(no_journal.value)


def test_a_bare_number_that_names_a_row_says_how_to_name_the_row(cli: Cli) -> None:
    cli(*FLUX, "-i", "prompt=one")
    shown = cli("tasks", "show", "1")
    assert shown.exit_code == 2 and "row 1 of the journal is '#1'" in shown.stderr


#: what a short prefix gets, as documented: the API's "no such task" (exit 4); the journal's own
#: views (tasks show, listen --replay) refuse it as a usage error (exit 2)
SHORT_EXIT = {"tasks show": 2, "listen --replay": 2}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_prefix_under_4_characters_is_refused_saying_a_prefix_needs_4(
    cli: Cli, isolated: Path, emulator: Emulator, command: str
) -> None:
    setup = Setup(cli, isolated, emulator, pending=command == "cancel")
    args, _ = COMMANDS[command]
    short = setup.full[:3]
    if command == "listen --replay" and short.isdigit():
        short = "abc"  # (a number that names no task is an event's ID there)
    result = cli(*args(short))
    assert result.exit_code == SHORT_EXIT.get(command, 4), result.stderr
    assert f"a task ID prefix needs at least 4 characters ('{short}' has 3)" in result.stderr
    assert " is task " not in result.stderr and sum(1 for _ in emulator.store.all()) == setup.creates
    four = cli(*args(setup.full[:4]))  # (4 characters: a prefix, which the advice is not about)
    assert "at least 4 characters" not in four.stderr
