"""What the sandbox refuses in a create request or an upload, as the API would (answered 400)."""

from __future__ import annotations

from typing import Any


def webhook_refusal(webhook: Any) -> str | None:
    """Why a ``webhook_config`` cannot be delivered to, or None: refused at create, so a
    bad endpoint is the caller's error now rather than a delivery that can never succeed."""
    from urllib.parse import urlsplit

    if webhook is None:
        return None
    if not isinstance(webhook, dict):
        return "config.webhook_config must be an object"
    endpoint, secret = webhook.get("endpoint", ""), webhook.get("secret", "")
    if secret is not None and not isinstance(secret, str):
        return "config.webhook_config.secret must be a string"
    if endpoint in ("", None):
        return None
    if not isinstance(endpoint, str):
        return "config.webhook_config.endpoint must be a string"
    problem = "config.webhook_config.endpoint must be an http or https URL with a host"
    if len(endpoint) > 2048 or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in endpoint):
        return problem
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return problem
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return problem
    return None


#: the file types the upload endpoint takes (PiAPI lists its own; others are refused)
UPLOAD_EXTENSIONS = frozenset(
    "jpg jpeg png webp gif bmp tif tiff mp4 mov webm avi mkv mp3 wav m4a aac ogg flac glb gltf obj fbx".split()
)


def upload_refusal(name: str, data: str) -> str | None:
    """Why an upload is refused: an extension not listed, or a data URI of another type."""
    import mimetypes

    ext = name.rsplit(".", 1)[-1].lower()
    if ext not in UPLOAD_EXTENSIONS:
        return f"files of type .{ext} are not accepted"
    if data.startswith("data:"):
        declared = data[5:].split(";", 1)[0].split(",", 1)[0].strip().lower()
        expected = mimetypes.guess_type(f"x.{ext}")[0]
        if expected is not None and declared and declared != expected:
            return f"the data URI's type {declared} does not match the extension .{ext}"
    return None
