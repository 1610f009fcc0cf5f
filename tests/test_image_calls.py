"""piapi tasks images: the journaled calls of ``piapi image``, listed and shown as tasks are."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from pathlib import Path

import pytest

from piapi_cli.cli.output import Output
from piapi_cli.core import images
from piapi_cli.sandbox import Emulator, transport_for
from tests.conftest import TEST_KEY, Cli, FakeClock
from tests.hostile import Host, send

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PNG = b"\x89PNG\r\n\x1a\n"
LONG_PROMPT = "a red fox in deep snow under the northern lights,\toil painting\nwide shot " * 3


@pytest.fixture
def image_cli(clock: FakeClock, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(clock=clock, transport=transport_for(emulator), env={"PIAPI_API_KEY": TEST_KEY})


def three_calls(cli: Cli, tmp_path: Path) -> list[str]:
    """A generation of two images, an edit, a call answered with URLs; their IDs, oldest first."""
    ids = []
    for args in (
        ["image", LONG_PROMPT, "-n", "2", "--size", "1536x1024"],
        ["image", "add snow on the roof", "--edit", "source.png", "-m", "gpt-image-1"],
        ["image", "a logo", "--response-format", "url"],
    ):
        if "--edit" in args:
            cli("image", "a house", "-n", "1")  # the picture the edit starts from
            (tmp_path / "source.png").write_bytes(next(tmp_path.glob("img-*.png")).read_bytes())
        result = cli(*args, "--json")
        assert result.exit_code == 0, result.stderr
        ids.append(result.json()["id"])
    return ids


def lost_call(clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    """A server that sends half an answer and cuts the connection: the call is journaled as
    unknown (made, perhaps, and paid), as ``piapi image`` does for any answer it lost."""
    picture = base64.b64encode(PNG + bytes(300_000)).decode()
    whole = ('{"created": 1, "data": [{"b64_json": "' + picture + '"}]}').encode()

    def cut(handler: object) -> None:
        send(handler, 200, whole[: len(whole) // 2], content_type="application/json", content_length=str(len(whole)))
        handler.close_connection = True  # type: ignore[attr-defined]

    monkeypatch.setattr(images, "new_call_id", lambda: "img-0a57c0ffee00")
    return Host(cut)


def test_the_listing_shows_every_call_newest_first_one_line_each_down_a_pipe(image_cli: Cli, tmp_path: Path) -> None:
    ids = three_calls(image_cli, tmp_path)
    result = image_cli("tasks", "images", "--world", "all")
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows if row[0] in ids] == ids[::-1]
    by_id = {row[0]: row for row in rows}
    generation, edit, url = (by_id[i] for i in ids)
    assert generation[1:4] == ["completed", "gpt-image-1.5", "generation"] and generation[6] == "2"
    assert generation[7] == " ".join(LONG_PROMPT.split())  # whole, on one line
    assert edit[1:4] == ["completed", "gpt-image-1", "edit"] and edit[7] == "add snow on the roof"
    assert url[6] == "0" and url[7] == "a logo"  # URLs printed, nothing saved without --download
    assert result.stderr == ""
    tasks = image_cli("tasks")  # the tasks' listing says they are there
    assert tasks.exit_code == 0 and "and 4 image calls: piapi tasks images" in tasks.stderr
    assert "image calls" not in image_cli("tasks", "--json").stderr


def test_the_json_holds_each_call_whole(image_cli: Cli, tmp_path: Path) -> None:
    ids = three_calls(image_cli, tmp_path)
    calls = {c["call_id"]: c for c in image_cli("tasks", "images", "--json").json()}
    generation, edit = calls[ids[0]], calls[ids[1]]
    assert set(generation) == {
        "call_id", "world", "model", "route", "path", "status", "message", "created_at", "updated_at",
        "prompt", "images", "request", "files", "usage",
    }  # fmt: skip
    assert generation["prompt"] == LONG_PROMPT and generation["images"] == 2
    assert generation["request"] == {"model": "gpt-image-1.5", "prompt": LONG_PROMPT, "n": 2, "size": "1536x1024"}
    assert generation["path"] == "/v1/images/generations" and generation["world"] == "https://api.piapi.ai"
    assert [Path(f["path"]).name for f in generation["files"]] == [f"{ids[0]}-0.png", f"{ids[0]}-1.png"]
    assert all(Path(f["path"]).is_file() and len(f["sha256"]) == 64 for f in generation["files"])
    assert generation["usage"]["total_tokens"] > 0
    assert edit["route"] == "edit" and edit["request"]["image"] == ["source.png"]
    assert TEST_KEY not in json.dumps(list(calls.values()))


def test_filters_take_the_same_options_as_tasks(image_cli: Cli, tmp_path: Path) -> None:
    ids = three_calls(image_cli, tmp_path)

    def listed(*args: str) -> list[str]:
        result = image_cli("tasks", "images", *args, "--json")
        assert result.exit_code == 0, result.stderr
        return [c["call_id"] for c in result.json() if c["call_id"] in ids]

    assert listed("--model", "GPT-IMAGE-1") == [ids[1]]  # a model's name in any case, as tasks take it
    assert listed("-m", "gpt-image-1.5", "-n", "1") == [ids[2]]
    assert listed("--status", "completed", "--since", "1h") == ids[::-1]
    assert listed("--status", "unknown") == [] and listed("-s", "failed") == []
    assert listed("--world", "https://api.piapi.ai/") == listed("--world", "ALL") == ids[::-1]
    assert listed("--world", "sandbox") == []
    assert image_cli("tasks", "images", "--jq", ".[0].prompt").stdout == "a logo\n"  # strings raw
    assert image_cli("tasks", "images", "--jq", "map(.route) | unique").json() == ["edit", "generation"]
    for bad in (["-n", "0"], ["--since", "soon"], ["--jq", ".["], ["--limit", "x"]):
        result = image_cli("tasks", "images", *bad)
        assert result.exit_code == 2 and result.stdout == "", bad


def test_a_lost_answer_is_listed_as_unknown_and_show_says_it_may_have_been_paid(
    clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with lost_call(clock, tmp_path, monkeypatch) as host:
        cli = Cli(clock=clock, transport=None, env={"PIAPI_API_KEY": TEST_KEY, "PIAPI_BASE_URL": host.base})  # type: ignore[arg-type]
        made = cli("image", "a lighthouse")
        assert (
            made.exit_code == 5
            and "hint: it is journaled as unknown (piapi tasks images show img-0a57c0ffee00)" in (made.stderr)
        )
        listed = cli("tasks", "images", "--status", "unknown")
        assert listed.exit_code == 0, listed.stderr
        assert listed.stdout.split("\t")[:4] == ["img-0a57c0ffee00", "unknown", "gpt-image-1.5", "generation"]
        shown = cli("tasks", "images", "show", "0a57")
        assert shown.exit_code == 0, shown.stderr
        rows = dict(line.split("\t", 1) for line in shown.stdout.splitlines())
        assert rows["status"].startswith("unknown: ") and rows["saved"] == "nothing"
        assert "may have been carried out and paid for" in rows["what now"]
        assert "piapi will not send it again" in rows["what now"]
        as_json = cli("tasks", "images", "show", "img-0a57c0ffee00", "--json").json()
        assert as_json["status"] == "unknown" and "will not send it again" in as_json["advice"]
        assert len(host.requests) == 1  # showing it sent nothing again


def test_show_names_one_call_by_its_id_or_a_prefix(image_cli: Cli, tmp_path: Path) -> None:
    ids = three_calls(image_cli, tmp_path)
    shown = image_cli("tasks", "images", "show", ids[0][:8], "--jq", ".files | length")
    assert shown.exit_code == 0 and shown.stdout == "2\n"
    completed = image_cli("tasks", "images", "show", ids[0], "--json").json()
    assert completed["advice"] is None and completed["call_id"] == ids[0]
    rows = image_cli("tasks", "images", "show", ids[0]).stdout.splitlines()
    assert [r.split("\t")[1] for r in rows if r.startswith("saved\t")] == [
        f"{f['path']} ({f['bytes']:,} bytes)" for f in completed["files"]
    ]
    for missing in ("img-ffffffffffff", "fff", "nonesuch"):
        result = image_cli("tasks", "images", "show", missing)
        assert result.exit_code == 2 and "no image call" in result.stderr and result.stdout == ""
    monkey = sqlite3.connect(tmp_path / "data" / "journal.sqlite3")  # a second call of the same prefix
    with monkey:
        monkey.execute("UPDATE image_calls SET call_id = 'img-abcd01' WHERE call_id = ?", (ids[1],))
        monkey.execute("UPDATE image_calls SET call_id = 'img-abcd02' WHERE call_id = ?", (ids[2],))
    monkey.close()
    ambiguous = image_cli("tasks", "images", "show", "abcd")
    assert ambiguous.exit_code == 2 and "starts 2 journaled image calls: img-abcd02, img-abcd01" in ambiguous.stderr


def test_an_empty_journal_and_a_journal_turned_off(image_cli: Cli) -> None:
    empty = image_cli("tasks", "images")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "no image calls of https://api.piapi.ai in the journal match" in empty.stderr
    assert image_cli("tasks", "images", "--json").json() == []
    off = image_cli("--no-journal", "tasks", "images")
    assert off.exit_code == 3 and "journal of image calls is turned off" in off.stderr
    assert "leave out --no-journal" in off.stderr
    assert image_cli("--no-journal", "tasks", "images", "show", "abcd").exit_code == 3


def test_calls_made_without_the_journal_are_not_listed(image_cli: Cli) -> None:
    assert image_cli("--no-journal", "image", "a fox").exit_code == 0
    assert image_cli("tasks", "images", "--world", "all", "--json").json() == []


def test_another_api_s_calls_are_pointed_at(image_cli: Cli, tmp_path: Path) -> None:
    three_calls(image_cli, tmp_path)
    here = image_cli("tasks", "images", env={"PIAPI_SANDBOX": "1"})
    assert here.exit_code == 0 and here.stdout == ""
    assert "no image calls of sandbox in the journal match; other APIs have some: piapi tasks images --world all" in (
        here.stderr
    )


def test_url_images_downloaded_join_the_call_s_files(image_cli: Cli, tmp_path: Path) -> None:
    made = image_cli("image", "a logo", "--response-format", "url", "--download", "out", "--json")
    assert made.exit_code == 0, made.stderr
    [call] = image_cli("tasks", "images", "--json").json()
    assert [f["path"] for f in call["files"]] == [d["path"] for d in made.json()["data"]]
    assert call["files"][0]["url"].startswith("http") and Path(call["files"][0]["path"]).is_file()


def test_the_table_at_80_columns(image_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = three_calls(image_cli, tmp_path)
    monkeypatch.setattr(Output, "stdout_tty", property(lambda self: True))
    result = image_cli("tasks", "images", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    lines = [ANSI.sub("", line).rstrip() for line in result.stdout.splitlines()]
    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == ["call", "created", "model", "route", "status", "saved", "prompt"]
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows if row[0] in {i[:10] for i in ids}] == [i[:10] for i in ids[::-1]]
    first = next(line for line in lines if line.startswith(ids[0][:10]))
    assert "gpt-image-1.5 gen" in first and "2/2 a red fox" in first and first.endswith("…")
    shown = image_cli("tasks", "images", "show", ids[0][:10], env={"COLUMNS": "80"})
    text = ANSI.sub("", shown.stdout)
    assert ids[0] in text and max(len(line.rstrip()) for line in text.splitlines()) <= 80


def test_the_installed_script_lists_sandbox_calls(tmp_path: Path) -> None:
    """``piapi --sandbox image`` makes real journaled calls offline; the console script lists
    them: tab-separated lines down a pipe, the same calls as JSON."""
    from tests.test_subprocess import piapi

    made = piapi("--sandbox", "image", "a lighthouse at dusk", "-n", "2")
    assert made.returncode == 0, made.stderr
    piped = piapi("--sandbox", "tasks", "images")
    assert piped.returncode == 0 and piped.stderr == ""
    [line] = piped.stdout.splitlines()
    call_id, status, model, route, _, world, saved, prompt = line.split("\t")
    assert (status, model, route, world, saved, prompt) == (
        "completed",
        "gpt-image-1.5",
        "generation",
        "sandbox",
        "2",
        "a lighthouse at dusk",
    )
    assert sorted(Path(p).name for p in made.stdout.split()) == [f"{call_id}-0.png", f"{call_id}-1.png"]
    [call] = json.loads(piapi("--sandbox", "tasks", "images", "--json").stdout)
    assert call["call_id"] == call_id and [f["path"] for f in call["files"]] == made.stdout.split()
    assert piapi("tasks", "images", "show", call_id[4:10], "--jq", ".status").stdout == "completed\n"
