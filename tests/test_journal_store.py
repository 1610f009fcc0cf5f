"""The journal as a library: schema migrations, many threads and processes, private files,
failures in words, unreadable rows, and the queries that recover after a crash."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from piapi_cli.api.errors import ConfigError, UsageError
from piapi_cli.api.tasks import Task
from piapi_cli.cli.hints import hint_for
from piapi_cli.core.ids import resolve_task
from piapi_cli.core.journal import schema as journal_schema
from piapi_cli.core.journal.journal import AlreadyJournaled, AmbiguousTaskId, Journal, JournalError, parse_since
from piapi_cli.core.journal.store import process_alive
from tests.conftest import FakeClock

# The first release's schema, exactly as it created journals (user_version left at 0).
FIRST_RELEASE_SQL = """
CREATE TABLE IF NOT EXISTS tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     TEXT UNIQUE,
    world       TEXT NOT NULL,
    model       TEXT NOT NULL,
    task_type   TEXT NOT NULL,
    input       TEXT NOT NULL,
    config      TEXT NOT NULL,
    status      TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    urls        TEXT NOT NULL DEFAULT '[]',
    usage_type  TEXT,
    credits     INTEGER,
    task_json   TEXT
);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE TABLE IF NOT EXISTS downloads (
    task_id     TEXT NOT NULL,
    url         TEXT NOT NULL,
    path        TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    at          REAL NOT NULL,
    PRIMARY KEY (task_id, url, path)
);
"""
NEW_COLUMNS = {"run_id", "row_key", "fingerprint", "pid", "host"}


def first_release_journal(path: Path) -> None:
    """A journal as the first release left it: its tables, a few rows, WAL mode, version 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(FIRST_RELEASE_SQL)
    insert = (
        "INSERT INTO tasks (task_id, world, model, task_type, input, config, status, message, created_at,"
        " updated_at, urls, usage_type, credits, task_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    db.execute(insert, ("done-1", "https://api.piapi.ai", "midjourney", "imagine", '{"prompt": "a"}', "{}",
                        "completed", "", 100.0, 160.0, '["https://cdn.example/a.png"]', "point", 700,
                        '{"task_id": "done-1", "status": "completed"}'))  # fmt: skip
    db.execute(insert, ("slow-2", "sandbox", "Qubico/flux1-dev", "txt2img", '{"prompt": "b"}', "{}",
                        "processing", "", 200.0, 210.0, "[]", None, None, None))  # fmt: skip
    db.execute(insert, (None, "sandbox", "Qubico/flux1-dev", "txt2img", '{"prompt": "c"}', "{}",
                        "unknown", "answer lost", 300.0, 300.0, "[]", None, None, None))  # fmt: skip
    db.execute(
        "INSERT INTO downloads VALUES (?, ?, ?, ?, ?, ?)",
        ("done-1", "https://cdn.example/a.png", "/out/done-1-0.png", 1234, "ab" * 32, 170.0),
    )
    db.close()


# What versions 2 and 3 added, exactly as those releases wrote it (a journal they left is at
# user_version 2 or 3).
V2_SQL = """
ALTER TABLE tasks ADD COLUMN run_id TEXT;
ALTER TABLE tasks ADD COLUMN row_key TEXT;
ALTER TABLE tasks ADD COLUMN fingerprint TEXT;
ALTER TABLE tasks ADD COLUMN pid INTEGER;
ALTER TABLE tasks ADD COLUMN host TEXT;
CREATE UNIQUE INDEX tasks_run_row ON tasks (run_id, row_key) WHERE run_id IS NOT NULL;
CREATE INDEX tasks_world_created ON tasks (world, created_at);
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    created_at  REAL NOT NULL,
    source      TEXT,
    options     TEXT NOT NULL DEFAULT '{}',
    world       TEXT
);
"""
V3_SQL = """
CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at   REAL NOT NULL,
    event         TEXT NOT NULL,
    task_id       TEXT NOT NULL,
    status        TEXT NOT NULL,
    timestamp     INTEGER,
    source        TEXT NOT NULL DEFAULT 'webhook',
    delivery_key  TEXT NOT NULL UNIQUE,
    body          BLOB NOT NULL,
    headers       TEXT NOT NULL DEFAULT '{}',
    forward_state TEXT NOT NULL DEFAULT 'none',
    forwards      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_task ON events (task_id, id);
CREATE INDEX events_forward ON events (forward_state);
CREATE INDEX events_received ON events (received_at);
"""


def released_journal(path: Path, version: int) -> None:
    """A journal as the release of schema ``version`` (1, 2 or 3) left it, with its rows."""
    first_release_journal(path)
    db = sqlite3.connect(path, isolation_level=None)
    if version >= 2:
        db.executescript(V2_SQL)
        db.execute("UPDATE tasks SET run_id = 'run-a', row_key = 'r1', pid = 1, host = 'h' WHERE task_id = 'slow-2'")
        db.execute("INSERT INTO runs VALUES ('run-a', 150.0, 'rows.csv', '{\"rows\": 1}', 'sandbox')")
    if version >= 3:
        db.executescript(V3_SQL)
        db.execute(
            "INSERT INTO events (received_at, event, task_id, status, timestamp, delivery_key, body)"
            " VALUES (220.0, 'task.processing', 'slow-2', 'processing', 7, 'slow-2:processing:7', ?)",
            (b'{"data": {"task_id": "slow-2"}}',),
        )
    db.execute(f"PRAGMA user_version = {version:d}")
    db.close()


def columns(path: Path, table: str) -> set[str]:
    db = sqlite3.connect(path)
    found = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    db.close()
    return found


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    db.close()
    return version


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    opened = Journal(tmp_path / "data" / "journal.sqlite3", clock=clock)
    yield opened
    opened.close()


def pending(task_id: str, **extra: object) -> Task:
    return Task.from_api({"task_id": task_id, "status": "pending", **extra})


# --- schema versions -------------------------------------------------------------------


def test_a_first_release_journal_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    first_release_journal(path)
    assert user_version(path) == 0 and not NEW_COLUMNS & columns(path, "tasks")
    with Journal(path) as journal:
        entries = {e.task_id: e for e in journal.entries()}
        assert set(entries) == {"done-1", "slow-2", None}
        done = entries["done-1"]
        assert (done.status, done.credits, done.urls, done.input) == (
            "completed", 700, ["https://cdn.example/a.png"], {"prompt": "a"}
        )  # fmt: skip
        assert done.downloads == [
            {"url": "https://cdn.example/a.png", "path": "/out/done-1-0.png", "bytes": 1234, "sha256": "ab" * 32}
        ]
        assert [e.task_id for e in journal.unfinished("sandbox")] == ["slow-2"]
        assert [e.status for e in journal.maybe_created("sandbox")] == ["unknown"]
        # the new columns are there and work
        row = journal.begin_create("sandbox", "m", "t", {}, None, run_id="r1", row_key="7", fingerprint="f" * 64)
        assert journal.by_run("r1")["7"].id == row and journal.by_run("r1")["7"].fingerprint == "f" * 64
    assert NEW_COLUMNS <= columns(path, "tasks")
    assert columns(path, "runs") == {"run_id", "created_at", "source", "options", "world"}
    assert user_version(path) == journal_schema.latest_version() == len(journal_schema.MIGRATIONS)
    assert "events" in tables(path)  # version 3: the webhook deliveries piapi listen stores
    Journal(path).close()  # opening a current journal again changes nothing
    assert user_version(path) == journal_schema.latest_version() and len(Journal(path).entries()) == 4


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_journal_of_each_released_version_opens_and_migrates_in_place(tmp_path: Path, version: int) -> None:
    from piapi_cli.core.journal.events import EventStore

    path = tmp_path / "journal.sqlite3"
    released_journal(path, version)
    with Journal(path) as journal:
        assert {e.task_id for e in journal.entries()} == {"done-1", "slow-2", None}
        assert [e.task_id for e in journal.unfinished("sandbox")] == ["slow-2"]
        assert journal.entries(world="https://api.piapi.ai")[0].downloads[0]["bytes"] == 1234
        if version >= 2:
            assert journal.by_run("run-a")["r1"].task_id == "slow-2"
            record = journal.run("run-a")
            assert record is not None and record.options == {"rows": 1} and record.source == "rows.csv"
        if version >= 3:
            event = EventStore(journal, "").get(1)
            assert event is not None and event.task_id == "slow-2" and event.timestamp == 7
        # and it takes new writes of every kind
        row = journal.begin_create("sandbox", "m", "t", {}, None, run_id="run-b", row_key="1")
        journal.created(row, pending("new-1"))
        journal.record_run("run-b", world="sandbox", source=None, options={})
        assert journal.by_run("run-b")["1"].task_id == "new-1"
    assert user_version(path) == journal_schema.latest_version()
    assert NEW_COLUMNS <= columns(path, "tasks") and "events" in tables(path)


def test_a_journal_of_a_newer_piapi_is_refused_naming_file_and_version(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 9")
    db.close()
    with pytest.raises(JournalError) as caught:
        Journal(path)
    assert isinstance(caught.value, ConfigError) and caught.value.exit_code == 3
    assert str(path) in caught.value.message and "schema version 9" in caught.value.message
    assert caught.value.kind == "too_new" and "upgrade piapi" in str(caught.value.hint)


def test_a_migration_that_fails_leaves_the_previous_version_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.sqlite3"
    first_release_journal(path)
    broken = "CREATE TABLE half_done (x INTEGER);\nCREATE TABLE broken (;\n"
    monkeypatch.setattr(journal_schema, "MIGRATIONS", [*journal_schema.MIGRATIONS, broken])
    with pytest.raises(JournalError):
        Journal(path)
    # not even version 2 was kept: the upgrade is one transaction
    assert user_version(path) == 0 and "half_done" not in tables(path)
    assert not NEW_COLUMNS & columns(path, "tasks")


def tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    found = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    return found


def test_a_later_version_can_be_a_function_using_the_public_write_and_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def webhook_events(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE webhook_events (id INTEGER PRIMARY KEY, task_id TEXT, body TEXT NOT NULL)")

    monkeypatch.setattr(journal_schema, "MIGRATIONS", [*journal_schema.MIGRATIONS, webhook_events])
    path = tmp_path / "journal.sqlite3"
    first_release_journal(path)
    with Journal(path) as journal:
        with journal.write("recording a webhook") as db:
            db.execute("INSERT INTO webhook_events (task_id, body) VALUES (?, ?)", ("done-1", "{}"))
        assert [tuple(r) for r in journal.read("SELECT task_id, body FROM webhook_events")] == [("done-1", "{}")]
        with pytest.raises(JournalError) as caught:
            with journal.write("recording a webhook") as db:
                db.execute("INSERT INTO webhook_events (task_id, body) VALUES (?, ?)", ("x", None))
        assert "while recording a webhook" in caught.value.message
        assert len(journal.read("SELECT * FROM webhook_events")) == 1  # rolled back
    assert user_version(path) == len(journal_schema.MIGRATIONS)


def test_sql_text_is_cut_into_statements_keeping_semicolons_in_strings() -> None:
    script = "CREATE TABLE a (x TEXT DEFAULT ';');\nINSERT INTO a VALUES ('1;2');\n"
    assert journal_schema.statements(script) == [
        "CREATE TABLE a (x TEXT DEFAULT ';');",
        "INSERT INTO a VALUES ('1;2');",
    ]


# --- many threads, several processes -------------------------------------------------------


def test_sixty_four_threads_share_one_journal(journal: Journal) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(16):
                row = journal.begin_create("sandbox", "m", "t", {"n": n}, None)
                journal.created(row, pending(f"{worker}-{n}"))
                journal.update(Task.from_api({"task_id": f"{worker}-{n}", "status": "completed"}))
                journal.entries(limit=5)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    entries = journal.entries()
    assert len(entries) == 64 * 16 and {e.status for e in entries} == {"completed"}
    assert len({e.id for e in entries}) == len({e.task_id for e in entries}) == 64 * 16


def test_three_processes_migrate_and_write_an_old_journal_at_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    first_release_journal(path)
    worker = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from piapi_cli.api.tasks import Task
        from piapi_cli.core.journal.journal import Journal
        name = sys.argv[1]
        journal = Journal(Path({str(path)!r}))
        for n in range(100):
            row = journal.begin_create("sandbox", "m", "t", {{"n": n}}, None, run_id=name, row_key=str(n))
            journal.created(row, Task.from_api({{"task_id": f"{{name}}-{{n}}", "status": "pending"}}))
            journal.update(Task.from_api({{"task_id": f"{{name}}-{{n}}", "status": "completed"}}))
    """)
    processes = [subprocess.Popen([sys.executable, "-c", worker, name]) for name in ("a", "b", "c")]
    assert [p.wait(timeout=120) for p in processes] == [0, 0, 0]
    with Journal(path) as journal:
        assert len(journal.entries()) == 3 + 300
        for name in ("a", "b", "c"):
            run = journal.by_run(name)
            assert sorted(run, key=int) == [str(n) for n in range(100)]
            assert {e.status for e in run.values()} == {"completed"}
    assert user_version(path) == journal_schema.latest_version()


# --- private files -------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_the_journal_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        path = tmp_path / "data" / "journal.sqlite3"
        with Journal(path) as journal:
            journal.begin_create("sandbox", "m", "t", {"prompt": "private"}, None)
            assert mode(path.parent) == 0o700 and mode(path) == 0o600
            assert mode(Path(f"{path}-wal")) == 0o600 and mode(Path(f"{path}-shm")) == 0o600
        # a journal an older release left readable by others is closed up when opened
        os.chmod(path, 0o644)
        os.chmod(path.parent, 0o755)
        Journal(path).close()
        assert mode(path.parent) == 0o700 and mode(path) == 0o600
    finally:
        os.umask(previous)


# --- failures in words ---------------------------------------------------------------


def test_a_journal_locked_by_another_process_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path, busy_timeout=0.05)
    row = journal.begin_create("sandbox", "m", "t", {}, None)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        with pytest.raises(JournalError) as caught:
            journal.begin_create("sandbox", "m", "t", {}, None)
        error = caught.value
        assert error.exit_code == 3 and error.kind == "locked" and error.operation == "recording a create"
        assert error.path == str(path) and "\n" not in error.message
        assert "write lock (waited 0.05 s)" in error.message and "--no-journal" in str(hint_for(error, None))
        # readers are not held up by a writer (WAL)
        assert [e.id for e in journal.entries()] == [row]
    finally:
        holder.execute("ROLLBACK")
    journal.begin_create("sandbox", "m", "t", {}, None)
    assert len(journal.entries()) == 2


def test_a_read_only_journal_refuses_writes_in_words(journal: Journal) -> None:
    journal.begin_create("sandbox", "m", "t", {}, None)
    journal.read("PRAGMA query_only = 1")  # the connection as SQLite opens an unwritable file
    with pytest.raises(JournalError) as caught:
        journal.begin_create("sandbox", "m", "t", {}, None)
    assert caught.value.kind == "read_only" and "cannot be written" in caught.value.message
    assert len(journal.entries()) == 1


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A journal with one task, then made immutable (``chattr +i``) where that is possible."""
    path = tmp_path / "data" / "journal.sqlite3"
    with Journal(path) as journal:
        journal.begin_create("sandbox", "m", "t", {}, None)
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False) if _has_chattr() else None
    if done is None or done.returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def _has_chattr() -> bool:
    import shutil

    return shutil.which("chattr") is not None


def test_an_immutable_journal_can_be_read_but_not_written(immutable: Path) -> None:
    with Journal(immutable) as journal:
        assert len(journal.entries()) == 1
        with pytest.raises(JournalError) as caught:
            journal.begin_create("sandbox", "m", "t", {}, None)
    assert caught.value.kind == "read_only" and str(immutable) in caught.value.message


def test_random_bytes_are_a_damaged_journal_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(random.Random(7).randbytes(20_000))
    with pytest.raises(JournalError) as caught:
        Journal(path)
    assert caught.value.kind == "damaged" and str(path) in caught.value.message
    assert "move it aside" in str(caught.value.hint) and "--no-journal" in str(hint_for(caught.value, None))


def test_damaged_pages_are_a_journal_error_when_read(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        for n in range(400):
            journal.begin_create("sandbox", "m", "t", {"prompt": "x" * 200, "n": n}, None)
    data = bytearray(path.read_bytes())
    data[4096 * 2 :] = random.Random(3).randbytes(len(data) - 4096 * 2)  # every page past the first two
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError) as caught:
        Journal(path).entries()
    assert caught.value.kind == "damaged"


def test_rows_that_are_not_what_piapi_wrote_are_listed_with_a_note(journal: Journal) -> None:
    good = journal.begin_create("sandbox", "m", "t", {"prompt": "fine"}, None)
    journal.created(good, pending("good"))
    bad = {
        "input": "{not json",
        "urls": '"a string"',
        "task_json": "[" * 100_000,
        "created_at": "yesterday",
        "credits": "lots",
    }
    for column, value in bad.items():
        row = journal.begin_create("sandbox", "m", "t", {}, None)
        with journal.write() as db:
            db.execute(f"UPDATE tasks SET {column} = ? WHERE id = ?", (value, row))
    entries = journal.entries()
    assert len(entries) == 6
    noted = {tuple(e.problems) for e in entries if e.problems}
    assert noted == {
        ("input is not valid JSON",),
        ("urls is not a JSON array",),
        ("task_json is not valid JSON",),
        ("created_at is not a number",),
        ("credits is not a whole number",),
    }
    assert all(e.to_json()["input"] == {} or e.task_id == "good" for e in entries)
    assert journal.usage() == [{"group": "all", "tasks": 1, "credits": 0}]


def test_fuzzed_rows_never_break_listing(journal: Journal) -> None:
    rng = random.Random(11)
    text_columns = ["task_id", "model", "task_type", "input", "config", "status", "message", "urls", "task_json"]
    for n in range(150):
        row = journal.begin_create("sandbox", "m", "t", {}, None)
        column = rng.choice([*text_columns, "created_at", "credits", "pid"])
        value: object = rng.choice(
            [rng.randbytes(rng.randrange(40)), rng.randbytes(8).hex(), rng.random() * 1e300, -(2**63), None, "\x00"]
        )
        if column in ("model", "task_type", "input", "config", "status", "message", "urls", "created_at") and (
            value is None
        ):
            value = ""
        if column == "task_id":
            value = f"{value!r}-{n}"
        with journal.write() as db:
            db.execute(f"UPDATE tasks SET {column} = ? WHERE id = ?", (value, row))
    assert len(journal.entries()) == 150
    for entry in journal.entries():
        assert isinstance(entry.to_json(), dict) and isinstance(entry.input, dict)
    journal.usage(by="day")
    journal.maybe_created("sandbox")


def test_a_task_id_the_server_reuses_keeps_both_creates(journal: Journal) -> None:
    first = journal.begin_create("sandbox", "m", "t", {"n": 1}, None)
    journal.created(first, pending("same"))
    second = journal.begin_create("sandbox", "m", "t", {"n": 2}, None)
    with pytest.raises(JournalError) as caught:
        journal.created(second, pending("same"))
    assert caught.value.task_id == "same" and caught.value.kind == "conflict"
    kept = journal.row(second)
    assert kept is not None and kept.status == "unknown" and "same" in kept.message
    assert [e.id for e in journal.maybe_created("sandbox")] == [second]


def test_numbers_too_large_for_sqlite_are_not_kept(journal: Journal) -> None:
    row = journal.begin_create("sandbox", "m", "t", {}, None)
    journal.created(
        row, Task.from_api({"task_id": "big", "status": "completed", "meta": {"usage": {"consume": 10**30}}})
    )
    entry = resolve_task("big", journal).entry
    assert entry is not None and entry.status == "completed" and entry.credits is None


# --- what a crash left ---------------------------------------------------------------


def test_a_create_in_flight_when_its_process_was_killed_may_exist(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    victim = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from piapi_cli.core.journal.journal import Journal
        Journal(Path({str(path)!r})).begin_create("sandbox", "m", "t", {{"prompt": "paid"}}, None)
        os.kill(os.getpid(), signal.SIGKILL)  # as if killed while the create request was in flight
    """)
    assert subprocess.run([sys.executable, "-c", victim], check=False).returncode == -signal.SIGKILL
    with Journal(path) as journal:
        [orphan] = journal.maybe_created("sandbox")
        assert orphan.status == "sending" and orphan.input == {"prompt": "paid"}
        assert orphan.host == journal.host and orphan.pid and not process_alive(orphan.pid)
        assert journal.unfinished("sandbox") == []


def test_which_sending_rows_may_have_been_created(tmp_path: Path, clock: FakeClock) -> None:
    dead = {4242}
    journal = Journal(tmp_path / "j.sqlite3", clock=clock, alive=lambda pid: pid not in dead)

    def sending(pid: int | None, host: str | None, age: float) -> int:
        row = journal.begin_create("sandbox", "m", "t", {}, None)
        with journal.write() as db:
            db.execute(
                "UPDATE tasks SET pid = ?, host = ?, updated_at = ? WHERE id = ?", (pid, host, clock() - age, row)
            )
        return row

    in_flight = sending(os.getpid(), journal.host, 5)
    died = sending(4242, journal.host, 5)
    other_machine_recent = sending(1, "elsewhere", 30)
    other_machine_old = sending(1, "elsewhere", 3600)
    first_release_recent = sending(None, None, 30)
    first_release_old = sending(None, None, 3600)
    lost = journal.begin_create("sandbox", "m", "t", {}, None)
    journal.create_failed(lost, "unknown", "answer lost")
    journal.create_failed(journal.begin_create("sandbox", "m", "t", {}, None), "refused", "400")
    journal.begin_create("https://api.piapi.ai", "m", "t", {}, None)  # another world
    found = {e.id for e in journal.maybe_created("sandbox")}
    assert found == {died, other_machine_old, first_release_old, lost}
    assert not found & {in_flight, other_machine_recent, first_release_recent}


def test_by_run_and_runs(journal: Journal, clock: FakeClock) -> None:
    journal.record_run("run-1", world="sandbox", source="rows.csv", options={"concurrency": 8})
    started = clock()
    clock.sleep(60)
    # run again: the run keeps its start, and says what its latest invocation was
    journal.record_run("run-1", world="sandbox", source="other.csv", options={"concurrency": 4})
    first = journal.begin_create("sandbox", "m", "t", {"n": 1}, None, run_id="run-1", row_key="1")
    journal.begin_create("sandbox", "m", "t", {"n": 2}, None, run_id="run-1", row_key="2")
    journal.begin_create("sandbox", "m", "t", {"n": 3}, None)  # not a batch row
    with pytest.raises(AlreadyJournaled) as caught:
        journal.begin_create("sandbox", "m", "t", {"n": 1}, None, run_id="run-1", row_key="1")
    assert caught.value.entry_id == first and caught.value.exit_code == 3
    run = journal.by_run("run-1")
    assert {key: e.input["n"] for key, e in run.items()} == {"1": 1, "2": 2}
    info = journal.run("run-1")
    assert info is not None and info.created_at == started
    assert info.source == "other.csv" and info.options == {"concurrency": 4}
    journal.record_run_outcome("run-1", {"exit_code": 0})
    again = journal.run("run-1")
    assert again is not None and again.options == {"concurrency": 4, "last": {"exit_code": 0}}
    assert [r.run_id for r in journal.runs("sandbox")] == ["run-1"] and journal.runs("elsewhere") == []
    assert journal.run("nope") is None and journal.by_run("nope") == {}


def test_completed_tasks_whose_files_were_not_all_saved_in_a_directory(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    urls = {"image_url": "https://cdn.example/1.png", "temporary_image_urls": ["https://cdn.example/2.png"]}

    def completed(task_id: str) -> None:
        journal.created(journal.begin_create("sandbox", "m", "t", {}, None), pending(task_id))
        journal.update(Task.from_api({"task_id": task_id, "status": "completed", "output": urls}))

    for name in ("none", "half", "all", "relative", "other-dir"):
        completed(name)
    journal.created(journal.begin_create("sandbox", "m", "t", {}, None), pending("running"))
    journal.record_download("half", "https://cdn.example/1.png", str(out / "half-0.png"), 1, "0" * 64)
    for url in urls["image_url"], urls["temporary_image_urls"][0]:
        journal.record_download("all", url, str(out / "all.png"), 1, "0" * 64)
        journal.record_download("other-dir", url, str(elsewhere / "x.png"), 1, "0" * 64)
    monkeypatch.chdir(tmp_path)
    for url in urls["image_url"], urls["temporary_image_urls"][0]:
        journal.record_download("relative", url, "out/relative.png", 1, "0" * 64)
    missing = {e.task_id for e in journal.completed_without_downloads("sandbox", out)}
    assert missing == {"none", "half", "other-dir"}
    assert journal.completed_without_downloads("https://api.piapi.ai", out) == []


# --- finding tasks -------------------------------------------------------------------


def test_lookup_by_row_prefix_and_exact_id(journal: Journal) -> None:
    for task_id in ("abc-1", "abc-2", "abd-3", "12345"):
        journal.created(journal.begin_create("sandbox", "m", "t", {}, None), pending(task_id))
    assert [e.task_id for e in journal.with_prefix("abc")] == ["abc-2", "abc-1"]
    assert resolve_task("abd-", journal).entry is not None
    with pytest.raises(AmbiguousTaskId) as caught:
        resolve_task("abc-", journal)
    assert isinstance(caught.value, UsageError) and "abc-1" in caught.value.message and "abc-2" in caught.value.message
    assert resolve_task("#1", journal).task_id == "abc-1"  # the journal's row number
    assert resolve_task("1234", journal).task_id == "12345"  # a number is a prefix
    assert resolve_task("abc-1", journal, world="https://api.piapi.ai").entry is None
    assert resolve_task("9" * 23, journal).entry is None and resolve_task("%", journal).entry is None
    with pytest.raises(UsageError):
        resolve_task("", journal)


@pytest.mark.parametrize("text", ["²d", "d", "7", "7x", "-1d", "1e9d", "9999999999999d", "7 d", "٣d"])
def test_parse_since_refuses_what_is_not_an_age(text: str) -> None:
    with pytest.raises(UsageError):
        parse_since(text, 1000.0)


def test_parse_since() -> None:
    assert parse_since("90s", 1000.0) == 910.0 and parse_since("2w", 2e6) == 2e6 - 1209600
    assert parse_since("1.5h", 10_000.0) == 4600.0 and parse_since("999999999999w", 1000.0) == 0.0


def test_an_in_memory_journal_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Journal(Path(":memory:")) as journal:
        journal.begin_create("w", "m", "t", {}, None)
        assert len(journal.entries()) == 1
    assert list(tmp_path.iterdir()) == []


def test_one_process_alive_check_for_rows_and_temporary_files(tmp_path: Path, clock: FakeClock) -> None:
    from piapi_cli.core.processes import process_alive as alive

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(finished.stdout)
    assert alive(os.getpid()) and not alive(gone)
    assert not alive(0) and not alive(-1) and not alive(2**62)  # no process has such an ID
    # a row of a process that is gone, and one whose pid no process can have, may have been created
    journal = Journal(tmp_path / "j.sqlite3", clock=clock)
    for pid in (gone, 2**62):
        row = journal.begin_create("sandbox", "m", "t", {}, None)
        with journal.write() as db:
            db.execute("UPDATE tasks SET pid = ? WHERE id = ?", (pid, row))
    assert len(journal.maybe_created("sandbox")) == 2
    journal.close()
