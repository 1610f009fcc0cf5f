"""Real, small output files made with the standard library, deterministic per seed.

PNG pictures at the size asked for, showing the prompt (see ``pictures``); WAV audio that plays
a short tune picked by the seed; a GLB holding a coloured cube any glTF viewer shows; and an MP4
that plays in a browser (one short clip shipped with the package, the same for every task).
"""

from __future__ import annotations

import array
import hashlib
import json
import math
import struct
import sys
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

CONTENT_TYPES = {
    "png": "image/png",
    "wav": "audio/wav",
    "glb": "model/gltf-binary",
    "mp4": "video/mp4",
}


def png(seed: str, width: int = 512, height: int = 512) -> bytes:
    """A seeded pattern with no words: see ``pictures.png`` for the one that writes the prompt."""
    from piapi_cli.sandbox import pictures  # only when a picture is asked for: it imports random

    return pictures.png(seed, width, height)


#: a pentatonic scale (Hz) the tunes are picked from
_NOTES = (262, 294, 330, 392, 440, 523, 587, 659, 784, 880)


def wav(seed: str, seconds: float = 2.0, rate: int = 8000) -> bytes:
    """A mono 16-bit tune of eight notes picked from the seed, each faded in and out (no clicks)."""
    digest = hashlib.sha256(seed.encode()).digest()
    notes = [_NOTES[b % len(_NOTES)] for b in digest[:8]]
    per_note = int(seconds * rate) // len(notes)
    fade = per_note // 8
    samples = array.array("h")
    for frequency in notes:
        step = 2 * math.pi * frequency / rate
        for i in range(per_note):
            envelope = min(1.0, i / fade, (per_note - i) / fade)
            samples.append(int(11000 * envelope * math.sin(step * i)))
    if sys.byteorder == "big":
        samples.byteswap()
    data = samples.tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", len(data)) + data


# a unit cube as 6 faces of 4 corners, with the face's normal: flat-shaded in any viewer
_FACES = (
    ((0, 0, 1), ((0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1))),
    ((0, 0, -1), ((1, 0, 0), (0, 0, 0), (0, 1, 0), (1, 1, 0))),
    ((1, 0, 0), ((1, 0, 1), (1, 0, 0), (1, 1, 0), (1, 1, 1))),
    ((-1, 0, 0), ((0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0))),
    ((0, 1, 0), ((0, 1, 1), (1, 1, 1), (1, 1, 0), (0, 1, 0))),
    ((0, -1, 0), ((0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1))),
)


def glb(seed: str) -> bytes:
    """A valid glTF 2.0 binary: a cube (positions, normals, indices) in a colour from the seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    colour = [round(0.2 + 0.8 * b / 255, 3) for b in digest[:3]] + [1.0]
    positions = b"".join(struct.pack("<3f", *(c - 0.5 for c in corner)) for _, corners in _FACES for corner in corners)
    normals = b"".join(struct.pack("<3f", *normal) for normal, _ in _FACES for _ in range(4))
    indices = b"".join(struct.pack("<6H", f, f + 1, f + 2, f, f + 2, f + 3) for f in range(0, 24, 4))
    binary = positions + normals + indices
    views = [(0, len(positions)), (len(positions), len(normals)), (len(positions) + len(normals), len(indices))]
    gltf = {
        "asset": {"version": "2.0", "generator": "piapi sandbox"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "sandbox cube"}],
        "materials": [{"pbrMetallicRoughness": {"baseColorFactor": colour, "metallicFactor": 0.1}}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1}, "indices": 2, "material": 0}]}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [{"buffer": 0, "byteOffset": offset, "byteLength": length} for offset, length in views],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 24, "type": "VEC3",
             "min": [-0.5, -0.5, -0.5], "max": [0.5, 0.5, 0.5]},
            {"bufferView": 1, "componentType": 5126, "count": 24, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5123, "count": 36, "type": "SCALAR"},
        ],
    }  # fmt: skip
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    body = struct.pack("<I", len(text)) + b"JSON" + text + struct.pack("<I", len(binary)) + b"BIN\0" + binary
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


@lru_cache(maxsize=1)
def mp4(seed: str = "") -> bytes:
    """A two-second H.264 clip that plays in browsers; one clip for every task (``seed`` unused)."""
    from importlib import resources

    return resources.files("piapi_cli.sandbox").joinpath("clip.mp4").read_bytes()


def padded(content: bytes, start: int, end: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Bytes ``start`` to ``end`` of ``content`` followed by zeros."""
    position = start
    if position < len(content):
        head = content[position : min(end, len(content))]
        yield head
        position += len(head)
    zeros = bytes(chunk)
    while position < end:
        step = min(chunk, end - position)
        yield zeros if step == chunk else bytes(step)
        position += step


def _words(inputs: dict[str, object]) -> str:
    prompt = inputs.get("prompt") or inputs.get("gpt_description_prompt") or inputs.get("text") or ""
    return str(prompt).split("[sandbox:")[0].strip()


@lru_cache(maxsize=16)
def _picture(seed: str, width: int, height: int, words: str, footer: str) -> bytes:
    # cached: a download resumed with Range, or a HEAD then a GET, asks for the same picture again
    from piapi_cli.sandbox import pictures

    return pictures.png(seed, width, height, words, footer)


def for_output(
    ext: str, seed: str, inputs: dict[str, object], model: str = "", size: tuple[int, int] | None = None
) -> bytes:
    """The file of one task output: a picture shows the task's prompt, model and seed, at the size
    its input asks for (else ``size``, else a square), capped at ``pictures.MAX_SIDE``."""
    if ext != "png":
        return MAKERS[ext](seed)
    from piapi_cli.sandbox import pictures

    width, height = pictures.size_for(inputs, size)
    chosen = inputs.get("seed")
    footer = model.rsplit("/", 1)[-1] + (f" - seed {chosen}" if isinstance(chosen, (int, str)) and chosen != "" else "")
    return _picture(seed, width, height, _words(inputs)[:300], footer)


def openai_picture(seed: str, size: str | None) -> bytes:
    """A picture of the images route: ``WIDTHxHEIGHT`` as asked (at most ``pictures.MAX_SIDE`` a
    side, keeping the shape), else the default square, the same bytes for the same seed."""
    if not size or "x" not in size:
        return make("png", seed)
    width, height = (int(side) for side in size.split("x", 1))
    return _picture(seed, width, height, "", "")  # kept as tasks' pictures are: a HEAD then GET draws once


def for_record(ext: str, record: dict[str, Any], index: str) -> bytes:
    """Output ``index`` of a sandbox task, from what picks a real model's output: the input (prompt,
    seed...) and the model, so a fixed ``seed`` repeats a picture; without one, the task too."""
    inputs = record["input"]
    chosen = "seed" in inputs and inputs["seed"] not in (None, "", -1)
    seed = f"{record['model']}:{index}:{json.dumps(inputs, sort_keys=True)}"
    seed += "" if chosen else f":{record['task_id']}"
    still = (1280, 720) if record.get("kind") == "video" else None  # a video's cover or thumbnail
    return for_output(ext, seed, inputs, record["model"], still)


MAKERS: dict[str, Callable[[str], bytes]] = {"png": png, "wav": wav, "glb": glb, "mp4": mp4}


def make(ext: str, seed: str) -> bytes:
    return MAKERS[ext](seed)
