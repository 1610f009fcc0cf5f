"""The sandbox's OpenAI-compatible routes: chat completions (plain and streamed, Sora
through chat) and images, in OpenAI's shapes, behind a Bearer key (or the Unified API's x-api-key).

Answers are made up but shaped as PiAPI's: streamed chunks as Server-Sent Events with
keep-alive lines between them, usage on the last chunk, then ``data: [DONE]``. Markers in
the last user message drive the hostile cases: ``[sandbox:cut]`` cuts the stream
mid-answer, ``[sandbox:error]`` sends an error object mid-stream. The server-wide faults
apply too (latency, errors, a dropped connection cuts a stream mid-answer).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from piapi_cli.sandbox import files
from piapi_cli.sandbox.replies import CutStream, Reply
from piapi_cli.sandbox.replies import openai_error as error

if TYPE_CHECKING:
    from piapi_cli.sandbox.route_host import RouteHost as Emulator

#: output files of these routes: made from their ID, never stored
FILE_PATH = re.compile(r"^/files/openai/([0-9a-f]{32})/(\d{1,2})(?:-(\d{1,5}x\d{1,5}))?\.(png|mp4)$")
VIDEO_MODELS = frozenset({"sora-2-preview", "sora-2-hd-preview"})
#: pictures through chat (the n8n nodes' GPT-4o image flows): streamed, ending in a PNG's link
IMAGE_MODELS = frozenset({"gpt-4o-image", "gpt-4o-image-preview"})
#: seconds between two words of a streamed answer, and a Sora video's making, at speed 1
WORD_PAUSE = 0.02
VIDEO_SECONDS = 6.0
KEEPALIVE = b": keep-alive\n\n"


def handle(emulator: Emulator, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
    """Answer a request on ``/v1/...`` or one of these routes' files."""
    found = FILE_PATH.match(path)
    if found and method in ("GET", "HEAD"):
        ext, seed = found.group(4), f"openai:{found.group(1)}:{found.group(2)}"
        content = files.openai_picture(seed, found.group(3)) if ext == "png" else files.make(ext, seed)
        return emulator._content(content, files.CONTENT_TYPES[ext], headers, head=method == "HEAD")
    faults = emulator.faults
    if faults.rate_limit_rate and emulator._rng() < faults.rate_limit_rate:
        reply = error(429, "Rate limit reached (sandbox fault injection)", "rate_limit_error", "rate_limit_exceeded")
        reply.headers["retry-after"] = str(faults.retry_after)
        return reply
    if faults.fail_rate and emulator._rng() < faults.fail_rate:
        return error(500, "internal server error (sandbox fault injection)", "server_error")
    lowered = {k.lower(): v for k, v in headers.items()}
    scheme, _, key = lowered.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        # OpenAI's clients send a Bearer key; clients written for the Unified API (piapi-skills'
        # LLM command among them) send the same key as x-api-key on these routes too
        key = lowered.get("x-api-key", "")
    if not key.strip() or not emulator._authorised(key.strip()):
        return error(401, "Incorrect API key provided", code="invalid_api_key")
    route = _route(path)
    if route is None:
        return error(404, f"Invalid URL ({method} {path})")
    if method != "POST":
        return error(405, f"method {method} not allowed on {path}")
    return route(emulator, lowered, body)


def _route(path: str) -> Callable[[Emulator, Mapping[str, str], bytes], Reply] | None:
    if path == "/v1/chat/completions":
        return chat
    if path in ("/v1/images/generations", "/v1/images/edits"):
        from piapi_cli.sandbox import openai_images

        return openai_images.generations if path.endswith("generations") else openai_images.edits
    return None


# --- chat ---------------------------------------------------------------------------------


def _request(body: bytes) -> dict[str, Any] | Reply:
    try:
        request = json.loads(body or b"null")
    except ValueError:
        return error(400, "We could not parse the JSON body of your request.")
    if not isinstance(request, dict):
        return error(400, "The request body must be a JSON object.")
    return request


def _words(messages: list[Any]) -> int:
    return sum(len(str(m.get("content") or "").split()) + 4 for m in messages if isinstance(m, dict))


def chat(emulator: Emulator, headers: Mapping[str, str], body: bytes) -> Reply:
    request = _request(body)
    if isinstance(request, Reply):
        return request
    model, messages = request.get("model"), request.get("messages")
    if not isinstance(model, str) or not model:
        return error(400, "you must provide a model parameter")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return error(400, "messages must be a non-empty array of objects")
    if any(m.get("role") not in ("system", "user", "assistant", "developer", "tool") for m in messages):
        return error(400, "each message needs a role: system, user or assistant")
    last = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
    answer_id = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(emulator.clock())
    if model in VIDEO_MODELS:
        return _streamed(emulator, _video_deltas(emulator, last), answer_id, created, model, messages, last)
    if model in IMAGE_MODELS:
        return _streamed(emulator, _image_deltas(emulator), answer_id, created, model, messages, last)
    text = _answer_text(last, messages)
    if request.get("stream") is True:
        return _streamed(emulator, _word_deltas(emulator, text), answer_id, created, model, messages, last)
    usage = _usage(messages, text)
    return Reply.json(200, {
        "id": answer_id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage,
    })  # fmt: skip


def _answer_text(last: str, messages: list[Any]) -> str:
    prompt = last.split("[sandbox:")[0].strip() or "nothing"
    turn = sum(1 for m in messages if m.get("role") == "user")
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    return (
        f"Sandbox answer {digest} (turn {turn}). You said: {prompt[:200]}. "
        "This reply is made up by piapi's sandbox, word by word, as a real model would stream it."
    )


def _usage(messages: list[Any], text: str) -> dict[str, int]:
    prompt, completion = _words(messages), len(text.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _word_deltas(emulator: Emulator, text: str) -> Iterator[str | None]:
    """The answer in words, a pause before each; None marks a keep-alive."""
    for index, word in enumerate(re.findall(r"\S+\s*", text)):
        emulator._sleep(WORD_PAUSE / emulator.speed)
        if index % 5 == 4:
            yield None
        yield word


def _video_deltas(emulator: Emulator, prompt: str) -> Iterator[str | None]:
    """Sora through chat: progress as text, keep-alives while it "renders", then the URL."""
    video_id = uuid.uuid4().hex
    shown = json.dumps({"prompt": prompt.split("[sandbox:")[0].strip()}, ensure_ascii=False)
    yield f"```json\n{shown}\n```\n\n"
    yield f"> ID: `task_{video_id[:20]}`\n> Queuing...\n"
    steps = 10
    for step in range(1, steps + 1):
        emulator._sleep(VIDEO_SECONDS / emulator.speed / steps / 2)
        yield None
        emulator._sleep(VIDEO_SECONDS / emulator.speed / steps / 2)
        yield f"> Progress: {step * 100 // steps}%\n"
    url = f"{emulator.base_url}/files/openai/{video_id}/0.mp4"
    yield f"\n> Video generated successfully\n\n[Download video]({url})\n"


def _image_deltas(emulator: Emulator) -> Iterator[str | None]:
    """A picture through chat: progress as text, then the image as a markdown link."""
    image_id = uuid.uuid4().hex
    yield "> Generating image...\n"
    for percent in (25, 50, 75):
        emulator._sleep(VIDEO_SECONDS / emulator.speed / 8)
        yield None
        yield f"> Progress: {percent}%\n"
    yield f"\n![image]({emulator.base_url}/files/openai/{image_id}/0.png)\n"


def _event(document: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(document, separators=(",", ":")).encode() + b"\n\n"


def _streamed(
    emulator: Emulator,
    deltas: Iterator[str | None],
    answer_id: str,
    created: int,
    model: str,
    messages: list[Any],
    last: str,
) -> Reply:
    def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
        document: dict[str, Any] = {
            "id": answer_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }  # fmt: skip
        if usage is not None:
            document["usage"] = usage
        return _event(document)

    cut, fail = "[sandbox:cut]" in last, "[sandbox:error]" in last

    def events() -> Iterator[bytes]:
        yield chunk({"role": "assistant", "content": ""})
        text = ""
        for number, delta in enumerate(deltas):
            if delta is None:
                yield KEEPALIVE if number % 2 else b"\n"
                continue
            text += delta
            if number >= 4 and cut:
                raise CutStream("the stream was cut mid-answer ([sandbox:cut])")
            if number >= 4 and fail:
                yield _event({"error": {"message": "upstream model failed (sandbox)", "type": "server_error"}})
                return
            yield chunk({"content": delta})
        yield chunk({}, "stop", _usage(messages, text))
        yield b"data: [DONE]\n\n"

    return Reply(200, b"", {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"},
                 stream=events())  # fmt: skip
