"""The models piapi knows on PiAPI's OpenAI-compatible routes (no list endpoint exists).

It is a guide, not a gate: any model name is sent as given, and the server decides.
"""

from __future__ import annotations

#: route, then name -> what it answers with
CHAT_MODELS: dict[str, str] = {
    "gpt-4o-mini": "text (the default of chat)",
    "gpt-4o": "text",
    "gpt-4.1": "text",
    "gpt-4.1-mini": "text",
    "sora-2-preview": "a video: progress as text, then its URL (always streamed)",
    "sora-2-hd-preview": "a video in HD: progress as text, then its URL (always streamed)",
}
IMAGE_MODELS: dict[str, str] = {
    "gpt-image-1": "images, and edits of given images",
    "gpt-image-1.5": "images, and edits of given images (the default of image)",
    "gpt-image-2": "images, and edits of given images",
}


def listed() -> list[dict[str, str]]:
    """Every known model with its route: chat first, then images."""
    rows = [{"model": n, "route": "/v1/chat/completions", "answers": a} for n, a in CHAT_MODELS.items()]
    rows += [{"model": n, "route": "/v1/images/generations", "answers": a} for n, a in IMAGE_MODELS.items()]
    return rows
