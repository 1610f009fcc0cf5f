"""What the OpenAI-compatible routes answer, parsed at the boundary into typed objects:
token usage, a streamed chunk, a whole chat answer; and the message of an error answer."""

from __future__ import annotations

import json
from typing import Any

from piapi_cli.api.records import field, record


@record(frozen=True)
class Usage:
    """Token counts of one exchange (``usage`` in OpenAI's shape)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def from_api(cls, value: Any) -> Usage | None:
        if not isinstance(value, dict):
            return None

        def count(name: str) -> int:
            number = value.get(name)
            return number if isinstance(number, int) and not isinstance(number, bool) and number >= 0 else 0

        prompt, completion = count("prompt_tokens"), count("completion_tokens")
        return cls(prompt, completion, count("total_tokens") or prompt + completion)

    def to_json(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


def _first_choice(data: dict[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def _text(value: Any) -> str:
    """Content as text: a string, or the text parts of a list of parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(p.get("text") or "") for p in value if isinstance(p, dict))
    return ""


@record(frozen=True)
class ChatChunk:
    """One streamed chunk: the text it adds, and what the last ones carry."""

    text: str
    finish_reason: str | None
    usage: Usage | None
    id: str
    model: str
    raw: dict[str, Any]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ChatChunk:
        choice = _first_choice(data)
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else choice.get("message")
        finish = choice.get("finish_reason")
        return cls(
            text=_text(delta.get("content")) if isinstance(delta, dict) else "",
            finish_reason=finish if isinstance(finish, str) and finish else None,
            usage=Usage.from_api(data.get("usage")),
            id=str(data.get("id") or ""),
            model=str(data.get("model") or ""),
            raw=data,
        )


@record()
class ChatAnswer:
    """A whole answer: read at once, or put together from a stream's chunks."""

    #: the text as it arrived, piece by piece (``text`` joins them once it is read)
    pieces: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    id: str = ""
    model: str = ""
    created: int | None = None
    chunks: int = 0
    #: the answer as OpenAI's ``chat.completion`` object
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        if len(self.pieces) > 1:  # (joined once, not grown a piece at a time: that copies it all each time)
            self.pieces[:] = ["".join(self.pieces)]
        return self.pieces[0] if self.pieces else ""

    def add(self, chunk: ChatChunk) -> None:
        if chunk.text:
            self.pieces.append(chunk.text)
        self.finish_reason = chunk.finish_reason or self.finish_reason
        self.usage = chunk.usage or self.usage
        self.id = self.id or chunk.id
        self.model = self.model or chunk.model
        created = chunk.raw.get("created")
        if self.created is None and isinstance(created, int):
            self.created = created
        self.chunks += 1

    def completion(self) -> dict[str, Any]:
        """The ``chat.completion`` object this answer is (as a non-streamed call returns it)."""
        if self.raw:
            return self.raw
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.text},
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage.to_json() if self.usage else None,
        }

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ChatAnswer:
        chunk = ChatChunk.from_api(data)
        created = data.get("created")
        return cls([chunk.text], chunk.finish_reason, chunk.usage, chunk.id, chunk.model,
                   created if isinstance(created, int) else None, 1, data)  # fmt: skip


def error_message(content: bytes, content_type: str) -> str:
    """What an error answer says: OpenAI's ``error.message``, PiAPI's ``message``, or what it is."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str) and inner:
            return inner
        if body.get("message"):
            return str(body["message"])
    text = content[:512].decode("utf-8", "replace").strip()
    if not text:
        return "an empty body"
    if "html" in content_type or text.lower().startswith(("<!doctype", "<html")):
        return "an HTML page (a proxy or gateway error?)"
    return f"a non-JSON body ({content_type or 'no content type'})"
