"""piapi chat against the in-process sandbox: the answer streams to stdout and nothing else
goes there, usage goes to stderr, conversations go on from the journal, and a stream cut
short is its own exit code with what arrived printed and kept."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from piapi_cli.api.sse import SSEDecoder, SSEError, SSEEvent
from piapi_cli.sandbox import Emulator, transport_for
from tests.conftest import TEST_KEY, Cli, FakeClock


class Recording(httpx.BaseTransport):
    """The emulator's transport, keeping the JSON body of each call on the /v1 routes."""

    def __init__(self, emulator: Emulator) -> None:
        self.inner = transport_for(emulator)
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/"):
            self.headers.append(request.headers)
            if request.headers.get("content-type") == "application/json":
                self.bodies.append(json.loads(request.read()))
        return self.inner.handle_request(request)


@pytest.fixture
def recording(emulator: Emulator) -> Recording:
    return Recording(emulator)


@pytest.fixture
def chat_cli(clock: FakeClock, recording: Recording) -> Cli:
    return Cli(clock=clock, transport=recording, env={"PIAPI_API_KEY": TEST_KEY})


# --- the event stream decoder --------------------------------------------------------------

STREAM = (
    b'\xef\xbb\xbfdata: {"a": 1}\n\n'
    b": keep-alive\n\n"
    b"\n"
    b"data: two\r\ndata: lines\r\n\r\n"
    b"event: note\rid: 7\rdata: caf\xc3\xa9\r\r"
    b"data: [DONE]\n\n"
)
EVENTS = [
    SSEEvent('{"a": 1}'),
    SSEEvent("two\nlines"),
    SSEEvent("café", "note", "7"),
    SSEEvent("[DONE]", id="7"),
]


def test_the_decoder_reads_events_keepalives_and_every_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(STREAM) + decoder.close() == EVENTS
    assert decoder.keepalives == 3  # the comment, and the two blank lines that dispatched nothing


@pytest.mark.parametrize("seed", range(30))
def test_the_decoder_gives_the_same_events_however_the_bytes_are_cut(seed: int) -> None:
    """Chunks end anywhere: mid-line, between \\r and \\n, inside a UTF-8 character."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 25)))
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for start, end in zip([0, *cuts], [*cuts, len(STREAM)], strict=True):
        events += decoder.feed(STREAM[start:end])
    assert events + decoder.close() == EVENTS


def test_the_decoder_drops_an_event_the_stream_never_finished() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"half":') == [] and decoder.unfinished
    assert decoder.close() == []


def test_a_line_without_end_over_the_limit_is_an_error_not_a_leak() -> None:
    decoder = SSEDecoder(max_line=1024)
    with pytest.raises(SSEError):
        for _ in range(10):
            decoder.feed(b"data: " + b"x" * 200)


# --- piapi chat -------------------------------------------------------------------------------


def test_chat_streams_the_answer_alone_to_stdout_and_usage_to_stderr(chat_cli: Cli, recording: Recording) -> None:
    result = chat_cli("chat", "hello there")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Sandbox answer ") and "You said: hello there." in result.stdout
    assert result.stdout.endswith("stream it.\n") and result.stdout.count("\n") == 1
    assert "prompt +" in result.stderr and "tokens · conversation 1" in result.stderr
    sent = recording.bodies[0]
    assert sent == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}], "stream": True}
    assert recording.headers[0]["authorization"] == f"Bearer {TEST_KEY}"
    assert "x-api-key" not in recording.headers[0]


def test_chat_goes_on_from_the_last_exchange_or_a_named_conversation(chat_cli: Cli, recording: Recording) -> None:
    first = chat_cli("chat", "-m", "gpt-4.1", "--system", "be brief", "first question")
    assert first.exit_code == 0, first.stderr
    chat_cli("chat", "another conversation")
    again = chat_cli("chat", "--conversation", "1", "second question", "--no-stream")
    assert again.exit_code == 0, again.stderr
    sent = recording.bodies[-1]
    assert sent["model"] == "gpt-4.1" and sent["stream"] is False  # the conversation's model
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][2]["content"] == first.stdout.rstrip("\n")
    latest = chat_cli("chat", "--continue", "third", "-m", "gpt-4o")
    assert latest.exit_code == 0
    assert [m["content"] for m in recording.bodies[-1]["messages"] if m["role"] == "user"] == [
        "first question", "second question", "third"
    ]  # fmt: skip
    assert recording.bodies[-1]["model"] == "gpt-4o"


def test_no_conversation_to_go_on_from_is_a_usage_error_and_nothing_is_sent(
    chat_cli: Cli, recording: Recording
) -> None:
    for args in (["--continue"], ["--conversation", "9"], ["--continue", "--conversation", "1"]):
        result = chat_cli("chat", *args, "hello")
        assert result.exit_code == 2 and result.stdout == ""
    assert "no conversation yet" in chat_cli("chat", "--continue", "x").stderr
    assert chat_cli("--no-journal", "chat", "--continue", "x").exit_code == 2
    assert recording.bodies == []


def test_prompt_from_stdin_with_files_and_options(chat_cli: Cli, recording: Recording, tmp_path: Any) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("- buy milk\n")
    result = chat_cli("chat", "-", "--file", str(notes), "-o", "temperature=0.2", "-o", "max_tokens=50",
                      "-o", 'stop:=["\\n\\n"]', "-o", "user=me", input="summarise:")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    sent = recording.bodies[0]
    assert sent["messages"][0]["content"] == "summarise:\n\nnotes.md:\n- buy milk\n"
    assert (sent["temperature"], sent["max_tokens"], sent["stop"], sent["user"]) == (0.2, 50, ["\n\n"], "me")
    assert chat_cli("chat", input="piped question").exit_code == 0
    assert recording.bodies[-1]["messages"][-1]["content"] == "piped question"


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "model=x", "hi"],
        ["-o", "novalue", "hi"],
        ["-o", "x:={bad", "hi"],
        ["--file", "/nonexistent/file", "hi"],
        ["--json", "--stream-json", "hi"],
        [],
    ],
)
def test_refusals_send_nothing(chat_cli: Cli, recording: Recording, args: list[str]) -> None:
    result = chat_cli("chat", *args)
    assert result.exit_code == 2, result.stderr
    assert recording.bodies == [] and result.stdout == ""


def test_json_prints_the_final_object_and_stream_json_each_chunk(chat_cli: Cli) -> None:
    whole = chat_cli("chat", "hi", "--json")
    assert whole.exit_code == 0
    doc = whole.json()
    assert doc["object"] == "chat.completion" and doc["choices"][0]["message"]["content"].startswith("Sandbox")
    assert doc["usage"]["total_tokens"] == doc["usage"]["prompt_tokens"] + doc["usage"]["completion_tokens"]
    lines = chat_cli("chat", "hi", "--stream-json").stdout.splitlines()
    chunks = [json.loads(line) for line in lines]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == doc["choices"][0]["message"]["content"]
    )
    assert chunks[-1]["usage"] and chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_stream_cut_mid_answer_exits_10_with_what_arrived_printed_and_kept(
    chat_cli: Cli, recording: Recording
) -> None:
    cut = chat_cli("chat", "tell me [sandbox:cut]")
    assert cut.exit_code == 12
    assert cut.stdout.startswith("Sandbox answer") and cut.stdout.endswith("\n")
    assert "cut the stream" in cut.stderr and "conversation 1" in cut.stderr and "chat --continue" in cut.stderr
    failed = chat_cli("chat", "tell me [sandbox:error]")
    assert failed.exit_code == 12 and "error mid-stream: upstream model failed" in failed.stderr
    chat_cli("chat", "--conversation", "1", "go on")
    kept = recording.bodies[-1]["messages"]
    assert kept[1] == {"role": "assistant", "content": cut.stdout.rstrip("\n")}


def test_a_dropped_connection_cuts_a_stream_mid_answer(clock: FakeClock) -> None:
    from piapi_cli.sandbox import Faults, MemoryStore

    emulator = Emulator(MemoryStore(), clock=clock, sleep=clock.sleep, faults=Faults(drop_rate=1.0))
    cli = Cli(clock=clock, transport=transport_for(emulator), env={"PIAPI_API_KEY": TEST_KEY})
    result = cli("chat", "hello")
    assert result.exit_code == 12 and result.stdout.startswith("Sandbox")


def test_refused_questions_are_not_kept(clock: FakeClock) -> None:
    emulator = Emulator(clock=clock, sleep=clock.sleep, api_key="the-only-key-0123456789")
    cli = Cli(clock=clock, transport=transport_for(emulator), env={"PIAPI_API_KEY": TEST_KEY})
    refused = cli("chat", "hello")
    assert refused.exit_code == 3 and "Incorrect API key" in refused.stderr and refused.stdout == ""
    assert cli("chat", "--continue", "x").exit_code == 2  # no conversation was kept


def test_sora_through_chat_prints_the_url_and_downloads_the_video(chat_cli: Cli, tmp_path: Any) -> None:
    result = chat_cli("chat", "-m", "sora-2-preview", "a red fox in snow", "--download", str(tmp_path / "v"))
    assert result.exit_code == 0, result.stderr
    url, path = result.stdout.splitlines()
    assert url.startswith("http://sandbox.piapi.invalid/files/openai/") and url.endswith(".mp4")
    saved = tmp_path / "v" / path.rsplit("/", 1)[-1]
    assert saved.read_bytes()[4:8] == b"ftyp"
    plain = chat_cli("chat", "-m", "sora-2-preview", "again", "--no-stream")  # forced to stream
    assert plain.exit_code == 0 and plain.stdout.count("\n") == 1 and plain.stdout.startswith("http")


def test_chat_usage_is_counted_beside_task_credits(chat_cli: Cli) -> None:
    chat_cli("chat", "-m", "gpt-4o", "hello")
    chat_cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat")
    rows = chat_cli("tasks", "usage", "--by", "model", "--json").json()
    chat_row = next(r for r in rows if r["group"] == "gpt-4o")
    assert chat_row["chats"] == 1 and chat_row["tokens"] > 0 and chat_row["tasks"] == 0
    total = chat_cli("tasks", "usage").stdout.split("\t")
    assert total[0] == "all" and total[1] == "1" and total[3] == "1" and int(total[4]) == chat_row["tokens"]
    listed = chat_cli("tasks")
    assert len(listed.stdout.splitlines()) == 1  # the task; chat answers are no tasks ...
    assert f"and 1 chat answer ({chat_row['tokens']:,} tokens)" in listed.stderr  # ... but are counted
    assert "chat answer" not in chat_cli("tasks", "--json").stderr


def test_models_chat_lists_the_chat_models(chat_cli: Cli) -> None:
    listed = chat_cli("models", "--chat").stdout
    assert "sora-2-preview\t/v1/chat/completions" in listed and "gpt-image-1.5\t/v1/images/generations" in listed
    assert {r["model"] for r in chat_cli("models", "--chat", "--json").json()} >= {"gpt-4o-mini", "sora-2-hd-preview"}
    assert chat_cli("models", "--chat", "midjourney").exit_code == 2


@pytest.mark.parametrize("terminal", [True, False])
def test_sora_progress_redraws_one_status_line_on_a_terminal_only(terminal: bool) -> None:
    import io

    from piapi_cli.api.openai_types import ChatChunk
    from piapi_cli.cli.commands.chat import _Render
    from piapi_cli.cli.output import Output
    from piapi_cli.cli.runtime import State
    from piapi_cli.cli.session import Session
    from piapi_cli.core.chat import Exchange

    out, err = io.StringIO(), io.StringIO()
    output = Output(stdout=out, stderr=err, stdout_tty=terminal, stderr_tty=terminal, no_color=True)
    render = _Render(State(Session(), output), Exchange("sora-2-preview", "a fox"), as_json=False, stream_json=False)
    for text in ["```json\n{}\n```\n\n> Queuing...\n", "> Progress: 50", "%\n> Progress: 100%\n", "> Done\n"]:
        render.chunk(ChatChunk(text, None, None, "", "", {}))
    render.end(partial=False)
    assert out.getvalue() == ""  # the URL is printed once the answer is whole, nothing else
    shown = err.getvalue()
    if not terminal:
        assert shown == ""
        return
    assert "\r\x1b[2KProgress: 50%" in shown and "\r\x1b[2KProgress: 100%" in shown
    assert shown.count("Queuing...") == 1 and "Done" in shown and "{}" not in shown
    assert "Progress: 100%\r\x1b[2K" in shown and not shown.startswith("\r")  # cleared before the next line
