"""What a server sends never drives the terminal, one URL is never shown as two, and a reader
that goes away (``piapi models | head -1``) ends the run quietly."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import httpx
import pytest

from piapi_cli.api.tasks import Task, output_url_list, output_urls
from piapi_cli.cli.output import Output, plain_values, render_task
from piapi_cli.cli.parsing.params import Exit
from piapi_cli.cli.terminal import CLOSED_PIPE_EXIT, json_text, safe_text
from tests.conftest import Cli

# what a hostile or broken server could put in any string it sends
ATTACKS = {
    "clear screen": "\x1b[2J",
    "move cursor": "\x1b[1;1H",
    "set title (BEL)": "\x1b]0;pwned\x07",
    "set title (ST)": "\x1b]2;pwned\x1b\\",
    "hidden link": "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "C1 CSI": "\x9b31m",
    "C1 OSC": "\x9d0;pwned\x9c",
    "DCS": "\x1bPq#0\x1b\\",
    "reset terminal": "\x1bc",
    "bell": "\x07",
    "carriage return overwrite": "done\rFAIL",
    "backspace": "ok\x08\x08no",
    "bidi override": "abc\u202edcba",
    "bidi isolate": "\u2066x\u2069",
    "DEL": "a\x7fb",
    "NUL": "a\x00b",
}
# what may reach a terminal afterwards: none of these (rich's own colour codes and links may)
FORBIDDEN = [
    "\x1b[2J", "\x1b[1;1H", "\x1b]0;", "\x1b]2;", "\x1b]8;;https://evil", "\x1bP", "\x1bc", "\x9b", "\x9d", "\x9c",
    "\x07", "\r", "\x08", "\u202e", "\u2066", "\x7f", "\x00",
]  # fmt: skip


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_safe_text_removes_every_control_sequence(name: str) -> None:
    for multiline in (False, True):
        cleaned = safe_text(f"task failed: {ATTACKS[name]} end", multiline=multiline)
        assert "\x1b" not in cleaned and not any(bad in cleaned for bad in FORBIDDEN), repr(cleaned)
        assert cleaned.startswith("task failed: ") and cleaned.endswith(" end")


def test_safe_text_keeps_ordinary_text_and_decides_line_breaks() -> None:
    text = 'café 東京 🎨 "quoted" [bold]not markup[/]'
    assert safe_text(text) is text  # the common case costs one search
    assert safe_text("one\ntwo\tthree", multiline=True) == "one\ntwo\tthree"
    assert safe_text("one\ntwo\tthree") == "one two three"  # an ID, a URL, a name: one line
    assert safe_text("a\u2028b") == "a b" and safe_text("a\u2028b", multiline=True) == "a\nb"
    assert safe_text("windows\r\nline", multiline=True) == "windows\nline"
    assert safe_text(42) == "42"


def test_json_text_is_the_same_json_with_nothing_a_terminal_acts_on() -> None:
    doc = {"message": "".join(ATTACKS.values()), "name": "café 東京", "n": [1, 2.5, None, True]}
    text = json_text(doc)
    assert json.loads(text) == doc
    assert not any(bad in text for bad in ["\x1b", "\x9b", "\x9d", "\x9c", "\u202e", "\u2066", "\x7f", "\x07"])
    assert "café 東京" in text  # still readable


@pytest.mark.parametrize(("raw", "url"), [
    ("https://x.example/a.png\nhttps://evil.example/b.png", "https://x.example/a.png%0Ahttps://evil.example/b.png"),
    ("https://x.example/my cat.png", "https://x.example/my%20cat.png"),
    ("  https://x.example/a.png\r\n", "https://x.example/a.png"),
    ("https://x.example/\x1b[2Ja.png", "https://x.example/%1B[2Ja.png"),
    ("https://x.example/\u202egnp.exe", "https://x.example/%E2%80%AEgnp.exe"),
    ("https://x.example/東京.png", "https://x.example/東京.png"),  # an IRI is still one URL
])  # fmt: skip
def test_an_output_url_with_whitespace_or_controls_stays_one_url(raw: str, url: str) -> None:
    [found] = output_urls({"image_url": raw})
    assert found.url == url and found.path == "image_url"
    task = Task("t1", "completed", output={"image_url": raw})
    assert plain_values(task) == [url]


def test_output_urls_walk_any_depth_in_document_order() -> None:
    deep: object = "https://x.example/deep.png"
    for _ in range(5000):  # deeper than Python's stack
        deep = [deep]
    output = {
        "a": "https://x.example/1.png",
        "b": [{"c": "https://x.example/2.png"}],
        "d": deep,
        "e": " https://x.example/1.png",
    }
    found = output_urls(output)
    assert [u.url for u in found] == [
        "https://x.example/1.png",
        "https://x.example/2.png",
        "https://x.example/deep.png",
    ]
    assert [u.path for u in found[:2]] == ["a", "b[0].c"]
    assert output_url_list(output) == [u.url for u in found]  # (what the journal keeps: the URLs alone)


def hostile_task(status: str = "failed") -> Task:
    dirty = "".join(ATTACKS.values())
    return Task.from_api({
        "task_id": f"1631d053-2352-4add-95cc-360fc52d5f89{ATTACKS['set title (BEL)']}",
        "status": status,
        "model": f"Qubico/flux1-dev{ATTACKS['clear screen']}",
        "task_type": f"txt2img{ATTACKS['bidi override']}",
        "output": {"image_url": f"https://x.example/a.png\n{dirty}", "description": f"a cat{dirty}"},
        "meta": {"usage": {"type": f"quota{ATTACKS['C1 CSI']}", "consume": 100}},
        "error": {"code": 10000, "message": f"bad prompt{dirty}\nhint: run rm -rf ~", "raw_message": dirty},
    })  # fmt: skip


def terminal_output(width: int = 80) -> tuple[Output, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Output(stdout=out, stderr=err, stdout_tty=True, stderr_tty=True, width=width), out, err


@pytest.mark.parametrize("status", ["failed", "completed"])
def test_a_hostile_task_renders_on_a_terminal_without_its_sequences(status: str) -> None:
    output, out, _ = terminal_output()
    render_task(output.out, hostile_task(status))
    text = out.getvalue()
    assert not any(bad in text for bad in FORBIDDEN), repr(text)
    assert "1631d053-2352-4add-95cc-360fc52d5f89" in text
    # the server's second line of error stays inside the error's column
    assert all(not line.startswith("hint") for line in text.splitlines())


def test_everything_rich_prints_is_made_safe() -> None:
    """A command that renders server data with rich directly (a table) is covered too."""
    from rich.table import Table

    output, out, err = terminal_output()
    table = Table("server says")
    table.add_row("".join(ATTACKS.values()))
    output.out.print(table)
    output.err.print("".join(ATTACKS.values()), markup=False, style="bold")
    for text in (out.getvalue(), err.getvalue()):
        assert not any(bad in text for bad in FORBIDDEN), repr(text)
        assert "\x1b[" in text  # rich's own colour codes are kept


@pytest.mark.parametrize("tty", [True, False])
def test_messages_quoting_a_server_are_safe_and_cannot_fake_our_lines(tty: bool) -> None:
    out, err = io.StringIO(), io.StringIO()
    output = Output(stdout=out, stderr=err, stdout_tty=tty, stderr_tty=tty, width=200)
    output.error(hostile_task().failure_message(), hint="see: piapi get ID")
    text = err.getvalue()
    assert not any(bad in text for bad in FORBIDDEN), repr(text)
    lines = text.splitlines()
    # the server's "hint:" line is indented under the error; ours starts the line
    assert [line for line in lines if line.lstrip("\x1b[0123456789;m").startswith("hint: ")] == [
        next(line for line in lines if "see: piapi get ID" in line)
    ]


def test_lines_on_a_terminal_are_safe_and_a_pipe_gets_jq_strings_raw() -> None:
    output, out, _ = terminal_output()
    output.document({"message": "a\x1b[2Jb"}, jq=".message")
    assert out.getvalue() == "ab\n"
    piped, raw = io.StringIO(), io.StringIO()
    Output(stdout=raw, stderr=piped, stdout_tty=False).document({"message": "a\x1b[2Jb"}, jq=".message")
    assert raw.getvalue() == "a\x1b[2Jb\n"  # as jq -r prints it: the script asked for the raw value
    Output(stdout=raw, stderr=piped, stdout_tty=False).document({"m": "\x9b\u202e"})
    assert "\x9b" not in raw.getvalue().splitlines()[-2] and json.loads(raw.getvalue().split("\n", 1)[1]) == {
        "m": "\x9b\u202e"
    }


def test_a_hostile_server_through_the_cli(cli: Cli) -> None:
    body = {"code": 200, "data": hostile_task().raw, "message": "success"}
    cli.transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    waited = cli("wait", "1631d053-2352-4add-95cc-360fc52d5f89")
    assert waited.exit_code == 7
    assert not any(bad in waited.stdout + waited.stderr for bad in FORBIDDEN), repr(waited.stderr)
    assert "\x1b" not in waited.stdout + waited.stderr
    body["data"] = hostile_task("completed").raw
    got = cli("get", "1631d053-2352-4add-95cc-360fc52d5f89")
    assert got.exit_code == 0
    [url] = got.stdout.splitlines()  # one URL, one line, even with a newline inside it
    assert url.startswith("https://x.example/a.png%0A") and "\x1b" not in url


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_ends_with_the_sigpipe_status() -> None:
    output = Output(stdout=ClosedPipe(), stderr=io.StringIO(), stdout_tty=False)
    with pytest.raises(Exit) as caught:
        output.line("Qubico/flux1-dev\ttxt2img")
    assert caught.value.exit_code == CLOSED_PIPE_EXIT == 141
    on_terminal = Output(stdout=ClosedPipe(), stderr=io.StringIO(), stdout_tty=True)
    with pytest.raises(Exit):
        on_terminal.out.print("a table")
    # closed stderr: the messages are lost, the run goes on
    Output(stdout=io.StringIO(), stderr=ClosedPipe(), stderr_tty=False).error("lost")
    Output(stdout=io.StringIO(), stderr=ClosedPipe(), stderr_tty=True).error("lost")


@pytest.mark.parametrize("args", [
    ["models"],
    ["models", "--json"],
    ["models", "kling"],
    ["--help"],
    ["create", "--help"],
    ["--version"],
    ["--sandbox", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x", "--dry-run"],
])  # fmt: skip
def test_a_reader_that_left_is_no_error(args: list[str]) -> None:
    """stdout is a pipe whose reader already closed (what ``| head -1`` leaves behind): exit
    141 as a shell reports a process ended by SIGPIPE, and nothing on stderr."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "piapi_cli", *args], stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(writer)
    assert result.returncode == CLOSED_PIPE_EXIT, result.stderr
    assert result.stderr == ""


def test_errors_and_debug_tracebacks_quoting_a_server_are_safe(cli: Cli) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom\x1b]0;pwned\x07\x1b[2J")

    cli.transport = httpx.MockTransport(handle)
    for args in (["get", "abc"], ["--debug", "get", "abc"]):
        result = cli(*args)
        assert result.exit_code == 1 and "boom" in result.stderr
        assert not any(bad in result.stderr for bad in FORBIDDEN), repr(result.stderr[-300:])
