"""The sandbox's image routes: ``/v1/images/generations`` (JSON) and ``/v1/images/edits``
(a multipart form with one or more ``image`` files), answered in OpenAI's shape with URLs
the sandbox serves or the images inline as base64."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from piapi_cli.sandbox import files
from piapi_cli.sandbox.replies import Reply
from piapi_cli.sandbox.replies import openai_error as error

if TYPE_CHECKING:
    from piapi_cli.sandbox.route_host import RouteHost as Emulator

SIZE = re.compile(r"^(?:auto|[1-9]\d{1,4}x[1-9]\d{1,4})$")
QUALITIES = frozenset({"auto", "low", "medium", "high", "standard", "hd"})
FORMATS = frozenset({"png", "jpeg", "webp"})
#: what an uploaded image may start with: PNG, JPEG, WEBP (RIFF....WEBP)
SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def generations(emulator: Emulator, headers: Mapping[str, str], body: bytes) -> Reply:
    try:
        request = json.loads(body or b"null")
    except ValueError:
        return error(400, "We could not parse the JSON body of your request.")
    if not isinstance(request, dict):
        return error(400, "The request body must be a JSON object.")
    return _answer(emulator, request, images=0)


def edits(emulator: Emulator, headers: Mapping[str, str], body: bytes) -> Reply:
    kind = headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        return error(400, "an edit is a multipart/form-data request (image files and fields)")
    parsed = _multipart(kind, body)
    if parsed is None:
        return error(400, "the multipart body could not be read")
    fields, images = parsed
    if not images:
        return error(400, "image is required: one or more image files")
    for name, content in images:
        if not content.startswith(SIGNATURES) and not (content[:4] == b"RIFF" and content[8:12] == b"WEBP"):
            return error(400, f"Invalid image file: {name or 'image'} is not a PNG, JPEG or WEBP image")
    request: dict[str, Any] = dict(fields)
    if "n" in request:
        request["n"] = int(request["n"]) if str(request["n"]).isdigit() else request["n"]
    return _answer(emulator, request, images=len(images))


def _multipart(kind: str, body: bytes) -> tuple[dict[str, str], list[tuple[str, bytes]]] | None:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(b"content-type: " + kind.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        return None
    fields: dict[str, str] = {}
    images: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(content, bytes):
            continue
        if name in ("image", "image[]"):
            filename = part.get_filename()
            images.append((filename if isinstance(filename, str) else "", content))
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, images


def _answer(emulator: Emulator, request: dict[str, Any], *, images: int) -> Reply:
    model, prompt = request.get("model", "gpt-image-1"), request.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return error(400, "prompt is required")
    n = request.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
        return error(400, f"Invalid 'n': {n!r}; expected an integer from 1 to 10")
    size, quality = str(request.get("size", "auto")), str(request.get("quality", "auto"))
    if not SIZE.match(size):
        return error(400, f"Invalid 'size': {size!r}; expected auto or WIDTHxHEIGHT")
    if quality not in QUALITIES:
        return error(400, f"Invalid 'quality': {quality!r}; expected one of {', '.join(sorted(QUALITIES))}")
    output_format = str(request.get("output_format", "png"))
    if output_format not in FORMATS:
        return error(400, f"Invalid 'output_format': {output_format!r}; expected png, jpeg or webp")
    response_format = request.get("response_format", "b64_json")
    if response_format not in ("url", "b64_json"):
        return error(400, f"Invalid 'response_format': {response_format!r}; expected url or b64_json")
    call = uuid.uuid4().hex
    drawn = "" if size == "auto" else f"-{size}"  # pictures at the size asked (capped as tasks' are)
    data = []
    for index in range(n):
        if response_format == "url":
            data.append({"url": f"{emulator.base_url}/files/openai/{call}/{index}{drawn}.png"})
        else:
            content = files.openai_picture(f"openai:{call}:{index}", size)
            data.append({"b64_json": base64.b64encode(content).decode("ascii")})
    words = len(prompt.split())
    usage = {
        "total_tokens": words + 272 * images + 1056 * n,
        "input_tokens": words + 272 * images,
        "output_tokens": 1056 * n,
        "input_tokens_details": {"text_tokens": words, "image_tokens": 272 * images},
    }
    # the sandbox draws PNGs whatever the format asked: it says so, rather than mislabel them
    return Reply.json(200, {"created": int(emulator.clock()), "data": data, "usage": usage, "size": size,
                            "quality": quality, "output_format": "png", "model": model})  # fmt: skip
