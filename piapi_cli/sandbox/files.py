"""Real, small output files made with the standard library, deterministic per seed.

PNG images decode, WAV audio plays, GLB models load; a video is a placeholder MP4 (an
``ftyp`` box and a ``free`` box: the right type and signature, no frames).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from collections.abc import Iterator

CONTENT_TYPES = {
    "png": "image/png",
    "wav": "audio/wav",
    "glb": "model/gltf-binary",
    "mp4": "video/mp4",
}


def _rgb(seed: str, salt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(f"{salt}:{seed}".encode()).digest()
    return digest[0], digest[1], digest[2]


def png(seed: str, width: int = 64, height: int = 64) -> bytes:
    """A diagonal gradient between two colours picked from the seed."""
    (r1, g1, b1), (r2, g2, b2) = _rgb(seed, "a"), _rgb(seed, "b")
    rows = bytearray()
    span = max(width + height - 2, 1)
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            t = (x + y) / span
            rows += bytes((int(r1 + (r2 - r1) * t), int(g1 + (g2 - g1) * t), int(b1 + (b2 - b1) * t)))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def wav(seed: str, seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A mono 16-bit sine tone whose pitch comes from the seed."""
    frequency = 220 + hashlib.sha256(seed.encode()).digest()[0] * 2
    count = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * frequency * i / rate))) for i in range(count)
    )
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", len(samples)) + samples


def glb(seed: str) -> bytes:
    """A valid glTF 2.0 binary holding one triangle."""
    tilt = hashlib.sha256(seed.encode()).digest()[0] / 255
    positions = struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, tilt)
    gltf = {
        "asset": {"version": "2.0", "generator": "piapi sandbox"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "buffers": [{"byteLength": len(positions)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(positions)}],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": 3,
                "type": "VEC3",
                "min": [0, 0, 0],
                "max": [1, 1, tilt],
            }
        ],
    }
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary = positions + b"\0" * (-len(positions) % 4)
    body = struct.pack("<I", len(text)) + b"JSON" + text + struct.pack("<I", len(binary)) + b"BIN\0" + binary
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


def mp4(seed: str) -> bytes:
    """A placeholder MP4: ``ftyp`` and a ``free`` box naming the seed; it has no frames."""
    ftyp = b"ftyp" + b"isom" + struct.pack(">I", 512) + b"isomiso2mp41"
    note = f"piapi sandbox placeholder video: {hashlib.sha256(seed.encode()).hexdigest()[:16]}".encode()
    return struct.pack(">I", 4 + len(ftyp)) + ftyp + struct.pack(">I", 8 + len(note)) + b"free" + note


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


MAKERS = {"png": png, "wav": wav, "glb": glb, "mp4": mp4}


def make(ext: str, seed: str) -> bytes:
    return MAKERS[ext](seed)
