"""One exchange on the chat route: the question journaled before it is sent, the answer
streamed to a callback as it arrives and journaled once it has (whole, or what came before a
Ctrl-C or a cut), so a conversation can go on from its last exchange.

No printing here: the command hands in ``on_chunk`` and renders what it is given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from piapi_cli.api.errors import APIStatusError, ConnectionFailed, PiapiError, StreamCut, UsageError
from piapi_cli.api.openai_routes import VIDEO_CHAT_MODELS, ChatAnswer, ChatChunk
from piapi_cli.api.records import field, record

if TYPE_CHECKING:
    from piapi_cli.api.openai_routes import OpenAIRoutes
    from piapi_cli.core.journal.journal import Journal

DEFAULT_MODEL = "gpt-4o-mini"
#: fields of the request piapi sets itself; ``-o`` cannot replace them
RESERVED = frozenset({"model", "messages", "stream"})
#: the largest text file ``--file`` appends (a prompt, not a data set)
MAX_FILE = 4 * 2**20
_URL = re.compile(r"https?://[^\s<>()\"'`\]]+")


@record()
class Exchange:
    """What one call asks: the model, the new messages, the options, streamed or not."""

    model: str
    prompt: str
    system: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    #: go on from this conversation (its messages are sent first)
    conversation: int | None = None
    #: the conversation the exchange is journaled in, once it is (set by ``run``, also when it raises)
    recorded: int | None = None

    @property
    def is_video(self) -> bool:
        return self.model in VIDEO_CHAT_MODELS


@record()
class Result:
    answer: ChatAnswer
    conversation: int | None
    #: the journal failed while recording the answer (the answer itself arrived)
    journal_error: PiapiError | None = None


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``-o key=value`` (numbers, true/false and null as JSON; anything else a string) and
    ``-o key:=JSON`` (sent as written)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        raw = ":=" in pair.split("=", 1)[0] + "="
        key, _, value = pair.partition(":=" if raw else "=")
        key = key.strip()
        if not key or (not raw and "=" not in pair):
            raise UsageError(f"-o {pair!r}: expected key=value or key:=JSON")
        if key in RESERVED:
            raise UsageError(f"-o {key}: piapi sets {key} itself", advice="chat_reserved")
        if raw:
            try:
                options[key] = json.loads(value)
            except ValueError as exc:
                raise UsageError(f"-o {key}:= is not JSON: {exc}") from None
            continue
        options[key] = _scalar(value)
    return options


def _scalar(text: str) -> Any:
    if text in ("true", "false", "null"):
        return json.loads(text)
    if re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+(?:[eE][-+]?\d+)?", text):
        number = float(text)
        return number if number == number and abs(number) != float("inf") else text
    return text


def prompt_text(argument: str | None, stdin: TextIO | None, files: list[str]) -> str:
    """The question: the argument (``-`` reads ``stdin``; so does none, unless stdin is a
    terminal), then each ``--file``'s text."""
    parts: list[str] = []
    if argument is not None and argument != "-":
        parts.append(argument)
    elif stdin is not None and (argument == "-" or not stdin.isatty()):
        parts.append(stdin.read())
    for name in files:
        parts.append(read_text_file(name))
    text = "\n\n".join(p for p in parts if p.strip())
    if not text.strip():
        raise UsageError("no prompt", advice="chat_prompt")
    return text


def read_text_file(name: str) -> str:
    from pathlib import Path

    path = Path(name)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except OSError as exc:
        raise UsageError(f"file {name}: {exc.strerror or exc}", option="file") from None
    if len(data) > MAX_FILE:
        raise UsageError(f"file {name}: over {MAX_FILE // 2**20} MiB; a prompt file must be smaller", option="file")
    if b"\0" in data:
        raise UsageError(f"file {name}: not a text file", option="file")
    return f"{path.name}:\n{data.decode('utf-8', 'replace')}"


def video_url(text: str) -> str | None:
    """The video's URL in a Sora answer: the last link to an .mp4, else the last link."""
    urls = [u.rstrip(".,;") for u in _URL.findall(text)]
    videos = [u for u in urls if u.split("?", 1)[0].lower().endswith((".mp4", ".mov", ".webm"))]
    found = videos or urls
    return found[-1] if found else None


def run(
    routes: OpenAIRoutes,
    journal: Journal | None,
    world: str,
    exchange: Exchange,
    on_chunk: Callable[[ChatChunk], None],
) -> Result:
    """Ask, stream the answer to ``on_chunk``, journal it; errors are raised after what
    arrived is journaled (``StreamCut`` carries it, and so does the journal)."""
    from piapi_cli.core.journal import chats

    history: list[dict[str, str]] = []
    if exchange.conversation is not None:
        if journal is None:
            raise UsageError("going on with a conversation needs the journal (it is turned off)")
        history = chats.messages(journal, exchange.conversation)
    new = ([{"role": "system", "content": exchange.system}] if exchange.system else []) + [
        {"role": "user", "content": exchange.prompt}
    ]
    body = {"model": exchange.model, "messages": history + new, **exchange.options}
    json.dumps(body, allow_nan=False)  # what cannot be sent fails here, before anything is recorded
    conversation, first = None, 0
    if journal is not None:
        conversation, first = chats.ask(
            journal, world=world, model=exchange.model, conversation_id=exchange.conversation, new=new
        )
        exchange.recorded = conversation
    answer = ChatAnswer()
    state = chats.LOST
    try:
        if exchange.stream or exchange.is_video:
            for chunk in routes.chat_stream(body):
                answer.add(chunk)
                on_chunk(chunk)
        else:
            answer = routes.chat(body)
            on_chunk(ChatChunk.from_api(answer.raw))
        state = chats.COMPLETE
    except KeyboardInterrupt:
        state = chats.INTERRUPTED
        raise
    except StreamCut as exc:
        state = chats.CUT
        exc.conversation = conversation
        raise
    except (ConnectionFailed, APIStatusError):
        # refused, or never sent: nothing was carried out, the question is not kept
        if journal is not None and conversation is not None:
            chats.withdraw(journal, conversation, first, new_conversation=exchange.conversation is None)
            conversation = exchange.recorded = None
        raise
    finally:
        error = _record(journal, conversation, answer, exchange.model, state)
    return Result(answer, conversation, error)


def _record(
    journal: Journal | None, conversation: int | None, answer: ChatAnswer, model: str, state: str
) -> PiapiError | None:
    from piapi_cli.core.journal import chats

    if journal is None or conversation is None:
        return None
    try:
        usage = answer.usage.to_json() if answer.usage else None
        chats.answer(journal, conversation, content=answer.text, model=answer.model or model, state=state, usage=usage)
    except PiapiError as exc:
        return exc
    return None
