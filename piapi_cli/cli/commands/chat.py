"""piapi chat: ask a model on PiAPI's chat route; the answer streams to stdout as it comes."""

from __future__ import annotations

from pathlib import Path

from piapi_cli.cli.commands._options import examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from piapi_cli.api.openai_routes import ChatChunk
    from piapi_cli.cli.app import State
    from piapi_cli.core.chat import Exchange, Result

EPILOG = examples(
    'piapi chat "write a haiku about rivers"',
    "git diff | piapi chat -m gpt-4o --system 'review this diff'",
    'piapi chat --continue "make it shorter"',
    "piapi chat --file notes.md -o temperature=0.2 'summarise this' --no-stream",
    'piapi chat -m sora-2-preview "a red fox in snow" --download videos',
    notes="Only the answer's text goes to stdout; the tokens used go to stderr at the end. The "
    "prompt is read from stdin when it is - or not given. Conversations are kept in the journal: "
    "--continue goes on from the last one, --conversation ID from that one. sora-2-preview "
    "answers with a video: its progress shows on a terminal, its URL is printed. Exits 12 when the "
    "server cuts the answer short (what arrived is printed and kept), 130 on Ctrl-C (the same).",
)


_PromptOption = Annotated[
    Optional[str],
    params.Argument(metavar="[PROMPT|-]", help="The question; - or none: read stdin", show_default=False),
]

_ModelOption = Annotated[
    Optional[str],
    params.Option(
        "--model",
        "-m",
        metavar="MODEL",
        show_default=False,
        help="Chat model (any name is sent; piapi models --chat lists known ones) [default: gpt-4o-mini, or "
        "the conversation's]",
    ),
]

_SystemOption = Annotated[
    Optional[str], params.Option("--system", metavar="TEXT", help="A system message first", show_default=False)
]

_FilesOption = Annotated[
    Optional[list[str]],
    params.Option("--file", "-f", metavar="FILE", help="Append a text file to the prompt (repeatable)"),
]

_OptionsOption = Annotated[
    Optional[list[str]],
    params.Option(
        "--option",
        "-o",
        metavar="KEY=VALUE",
        help="A request field: temperature=0.2, max_tokens=500, stop:='[\"\\n\"]' (key:=JSON is sent as written)",
    ),
]

_AsJsonOption = Annotated[
    bool, params.Option("--json", help="Print the answer as OpenAI's chat.completion JSON object")
]

_StreamJsonOption = Annotated[
    bool, params.Option("--stream-json", help="Print each streamed chunk as one line of JSON")
]

_KeepGoingOption = Annotated[
    bool, params.Option("--continue", help="Go on from the last conversation (of the API in use)")
]

_ConversationOption = Annotated[
    Optional[int],
    params.Option("--conversation", metavar="ID", help="Go on from this conversation", show_default=False),
]

_DownloadOption = Annotated[
    Optional[Path],
    params.Option("--download", metavar="DIR", help="Save the video of a Sora answer into DIR"),
]


def chat(
    ctx: params.Context,
    prompt: _PromptOption = None,
    model: _ModelOption = None,  # fmt: skip,
    system: _SystemOption = None,
    files: _FilesOption = None,
    options: _OptionsOption = None,  # fmt: skip,
    no_stream: Annotated[bool, params.Option("--no-stream", help="Ask for the whole answer at once")] = False,
    as_json: _AsJsonOption = False,
    stream_json: _StreamJsonOption = False,
    keep_going: _KeepGoingOption = False,
    conversation: _ConversationOption = None,
    download: _DownloadOption = None,
) -> None:
    """Chat with a model on PiAPI's OpenAI-compatible route (/v1/chat/completions).

    The answer streams to stdout as it arrives; Ctrl-C stops it and keeps what came.
    """
    import sys

    from piapi_cli.api.errors import StreamCut, UsageError
    from piapi_cli.core import chat as chats

    state: State = ctx.obj
    if keep_going and conversation is not None:
        raise UsageError("--continue and --conversation: give one of them")
    if as_json and stream_json:
        raise UsageError("--json and --stream-json: give one of them")
    exchange = chats.Exchange(
        model="",
        prompt=chats.prompt_text(prompt, sys.stdin, files or []),
        system=system,
        options=chats.parse_options(options or []),
        stream=not no_stream,
    )
    _settle_conversation(state, exchange, model, keep_going, conversation)
    if download is not None:
        from piapi_cli.core.downloads.naming import prepare_directory

        prepare_directory(download)  # a directory that cannot be written: exit 2, nothing sent
    render = _Render(state, exchange, as_json=as_json, stream_json=stream_json)
    try:
        result = chats.run(state.session.openai, _journal(state), state.session.world, exchange, render.chunk)
    except StreamCut as exc:
        render.end(partial=True, received=exc.received)
        raise
    except KeyboardInterrupt:
        render.end(partial=True)
        note = render.conversation_note()
        if note:
            state.output.info(note)
        raise
    render.end(partial=False)
    if result.journal_error is not None:
        state.output.warn(f"{result.journal_error.message}; the answer is not kept for --continue")
    _finish(state, exchange, result, render, download)


def _journal(state: State):  # type: ignore[no-untyped-def]
    return state.session.journal


def _settle_conversation(
    state: State, exchange: Exchange, model: Optional[str], keep_going: bool, conversation: Optional[int]
) -> None:
    """The conversation to go on from, and the model: -m, else the conversation's, else the default."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core import chat as chats
    from piapi_cli.core.journal import chats as kept

    found = None
    if keep_going or conversation is not None:
        journal = state.session.journal
        if journal is None:
            raise UsageError("--continue and --conversation need the journal (it is turned off)")
        found = kept.latest(journal, state.session.world) if keep_going else kept.find(journal, conversation or 0)
        if found is None:
            what = "no conversation yet" if keep_going else f"no conversation {conversation}"
            raise UsageError(f"{what} in the journal; start one with: {state.session.prog} chat PROMPT")
        exchange.conversation = found.id
    exchange.model = model or (found.model if found is not None else chats.DEFAULT_MODEL)


class _Render:
    """What the stream shows: text on stdout as it comes (or JSON), Sora's progress on stderr."""

    def __init__(self, state: State, exchange: Exchange, *, as_json: bool, stream_json: bool) -> None:
        self.state, self.exchange = state, exchange
        self.as_json, self.stream_json = as_json, stream_json
        self.pieces: list[str] = []  # the text shown (the same strings the answer keeps: no copy)
        self._progress_line = ""
        self._shown = False  # a progress status line is on the terminal

    def chunk(self, chunk: ChatChunk) -> None:
        from piapi_cli.cli.terminal import json_text

        output = self.state.output
        if chunk.text:
            self.pieces.append(chunk.text)
        if self.stream_json:
            output.line(json_text(chunk.raw, indent=None))
        elif self.exchange.is_video:
            self._progress(chunk.text)
        elif not self.as_json and chunk.text:
            self._write(chunk.text)

    def _write(self, text: str) -> None:
        self.state.output.stream(text)

    def _progress(self, text: str) -> None:
        """Sora reports progress as lines of text: on a terminal's stderr, "Progress: N%" lines
        redraw one status line, other lines (queued, done) are printed once."""
        output = self.state.output
        self._progress_line += text
        *lines, self._progress_line = self._progress_line.split("\n")
        if not output.stderr_tty or output.quiet:
            return
        for line in lines:
            line = line.strip().lstrip(">").strip()
            if not line or line.startswith(("```", "{", "[")) or "http" in line:
                continue
            if "%" in line:
                self._status(line)
                continue
            if self._shown:
                self._status("")
            output.info(line)

    def _status(self, line: str) -> None:
        """The one status line, redrawn in place (cleared with an empty line)."""
        from piapi_cli.cli.terminal import safe_text

        stream = self.state.output.stderr
        stream.write("\r\x1b[2K" + safe_text(line)[:79])
        stream.flush()
        self._shown = bool(line)

    def end(self, *, partial: bool, received: str | None = None) -> None:
        """Close the answer's line; with --json, the object (what arrived of it, if cut)."""
        if self._shown:
            self._status("")
        if self.exchange.is_video or self.stream_json:
            return
        if self.as_json:
            if partial:
                self._json_partial(received)
            return
        if self.pieces and not self.pieces[-1].endswith("\n"):
            self._write("\n")

    def _json_partial(self, received: str | None) -> None:
        from piapi_cli.api.openai_routes import ChatAnswer

        answer = ChatAnswer(self.pieces or [received or ""], model=self.exchange.model)
        self.state.output.render(answer.completion, as_json=True)

    def conversation_note(self) -> str | None:
        if self.exchange.recorded is None:
            return None
        prog = self.state.session.prog
        return f"what arrived is kept in conversation {self.exchange.recorded}: {prog} chat --continue goes on from it"


def _finish(state: State, exchange: Exchange, result: Result, render: _Render, download: Optional[Path]) -> None:
    """After a whole answer: the JSON, Sora's URL (and its file), the tokens on stderr."""
    output = state.output
    answer = result.answer
    if render.as_json:
        output.render(answer.completion, as_json=True)
    if exchange.is_video:
        _video(state, exchange, answer.text, answer.id, download, show_url=not (render.as_json or render.stream_json))
    usage = answer.usage
    where = f" · conversation {result.conversation}" if result.conversation is not None else ""
    if usage is not None:
        output.info(
            f"{answer.model or exchange.model}: {usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} "
            f"completion = {usage.total_tokens:,} tokens{where}"
        )
    elif where:
        output.info(f"{answer.model or exchange.model}: no usage reported{where}")


def _video(
    state: State, exchange: Exchange, text: str, answer_id: str, download: Optional[Path], *, show_url: bool
) -> None:
    from piapi_cli.api.errors import MalformedResponse
    from piapi_cli.core.chat import video_url

    url = video_url(text)
    if url is None:
        raise MalformedResponse("the answer ended without a video URL", hint=f"the answer was: {text[-300:]}")
    if show_url:
        state.output.line(url)
    if download is None:
        return
    from piapi_cli.api.tasks import Task
    from piapi_cli.cli import pipeline
    from piapi_cli.core.runner import DownloadPlan

    task = Task.from_api({"task_id": answer_id or "sora", "model": exchange.model, "task_type": "chat",
                          "status": "completed", "output": {"video_url": url}})  # fmt: skip
    code = pipeline.download_and_show(state, [task], DownloadPlan(download), as_json=False, jq=None)
    if code:
        raise params.Exit(code)
