"""Sandbox pictures: PNGs at the requested size whose content comes from the prompt and seed.

A pattern of flat discs on a diagonal gradient (colours and places drawn from a seeded random
generator) with the prompt's words written over it in a 5x7 pixel font, and a footer naming the
model and seed, so a contact sheet of sandbox results can be told apart at a glance.

Made with the standard library alone and cheaply: the picture is drawn on a grid of at most
``GRID`` cells a side, each row joined from byte strings, then scaled up by whole cells (the
blocky look is the price of a millisecond budget). See bench/README.md for the figures.
"""

from __future__ import annotations

import random
import struct
import zlib

#: the largest side of a sandbox picture; larger requests are scaled down keeping the shape
MAX_SIDE = 1024
DEFAULT_SIDE = 512
#: the drawing grid's longest side, in cells
GRID = 200

# 5x7 glyphs, row by row ("#" ink); lower case is drawn as upper case, anything else as "?"
_FONT_ROWS = {
    "A": ".###.#...##...#######...##...##...#", "B": "####.#...##...#####.#...##...#####.",
    "C": ".###.#...##....#....#....#...#.###.", "D": "###..#..#.#...##...##...##..#.###..",
    "E": "######....#....####.#....#....#####", "F": "######....#....####.#....#....#....",
    "G": ".###.#...##....#.####...##...#.####", "H": "#...##...##...#######...##...##...#",
    "I": ".###...#....#....#....#....#...###.", "J": "..###...#....#....#....#.#..#..##..",
    "K": "#...##..#.#.#..##...#.#..#..#.#...#", "L": "#....#....#....#....#....#....#####",
    "M": "#...###.###.#.##.#.##...##...##...#", "N": "#...##...###..##.#.##..###...##...#",
    "O": ".###.#...##...##...##...##...#.###.", "P": "####.#...##...#####.#....#....#....",
    "Q": ".###.#...##...##...##.#.##..#..##.#", "R": "####.#...##...#####.#.#..#..#.#...#",
    "S": ".#####....#.....###.....#....#####.", "T": "#####..#....#....#....#....#....#..",
    "U": "#...##...##...##...##...##...#.###.", "V": "#...##...##...##...##...#.#.#...#..",
    "W": "#...##...##...##.#.##.#.##.#.#.#.#.", "X": "#...##...#.#.#...#...#.#.#...##...#",
    "Y": "#...##...#.#.#...#....#....#....#..", "Z": "#####....#...#...#...#...#....#####",
    "0": ".###.#...##..###.#.###..##...#.###.", "1": "..#...##....#....#....#....#...###.",
    "2": ".###.#...#....#...#...#...#...#####", "3": "#####...#...#......#....##...#.###.",
    "4": "...#...##..#.#.#..#.#####...#....#.", "5": "######....####.....#....##...#.###.",
    "6": "..##..#...#....####.#...##...#.###.", "7": "#####....#...#...#...#....#....#...",
    "8": ".###.#...##...#.###.#...##...#.###.", "9": ".###.#...##...#.####....#...#..##..",
    " ": "...................................", ".": "..............................##...",
    ",": "....................##....#...#....", "!": "..#....#....#....#....#.........#..",
    "?": ".###.#...#....#...#...#.........#..", "'": "..#....#...#.......................",
    '"': ".#.#..#.#..#.#.....................", "-": "...............#####...............",
    ":": "......##...##.........##...##......", ";": "......##...##........##....#...#...",
    "(": "...#...#...#....#....#.....#.....#.", ")": ".#.....#.....#....#....#...#...#...",
    "/": ".........#...#...#...#...#.........", "+": "......#....#..#####..#....#........",
    "=": "..........#####.....#####..........", "*": "......#..#.#.#.###.#.#.#..#........",
    "#": ".#.#..#.#.#####.#.#.#####.#.#..#.#.", "_": "..............................#####",
    "&": ".##..#..#.#.#...#...#.#.##..#..##.#", "%": "##...##..#...#...#...#...#..##...##",
}  # fmt: skip
#: each glyph as the (row, column) cells it inks
_GLYPHS = {
    char: tuple((i // 5, i % 5) for i, mark in enumerate(rows) if mark == "#") for char, rows in _FONT_ROWS.items()
}
_ADVANCE, _LINE = 6, 9


def size_for(inputs: dict[str, object], fallback: tuple[int, int] | None = None) -> tuple[int, int]:
    """The size asked for: ``width``/``height``, else an ``aspect_ratio`` such as ``16:9``, else
    ``fallback``, else a square; at most ``MAX_SIDE`` a side, keeping the shape."""
    width, height = inputs.get("width"), inputs.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return _capped(width, height)
    ratio = inputs.get("aspect_ratio")
    if isinstance(ratio, str) and ratio.count(":") == 1:
        left, right = ratio.split(":")
        if left.strip().isdigit() and right.strip().isdigit() and int(left) > 0 and int(right) > 0:
            w, h = int(left), int(right)
            return _capped(w * DEFAULT_SIDE * 2 // max(w, h), h * DEFAULT_SIDE * 2 // max(w, h))
    if fallback:
        return _capped(*fallback)
    return DEFAULT_SIDE, DEFAULT_SIDE


def _capped(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_SIDE / max(width, height))
    return max(8, round(width * scale)), max(8, round(height * scale))


def png(seed: str, width: int = DEFAULT_SIDE, height: int = DEFAULT_SIDE, words: str = "", footer: str = "") -> bytes:
    """A PNG of ``width`` x ``height``, the same bytes for the same arguments."""
    width, height = _capped(max(1, width), max(1, height))
    cell = max(1, -(-max(width, height) // GRID))
    columns, rows = -(-width // cell), -(-height // cell)
    rng = random.Random(seed)
    canvas = _background(rng, columns, rows)
    ink, shadow = _contrasting(canvas, columns)
    text_scale = max(1, min(columns, rows) // 70)
    top = _write(canvas, columns, rows, words.upper(), 4, ink, shadow, text_scale)
    if footer and top < rows - (_LINE + 2):
        _write(canvas, columns, rows, footer.upper(), rows - _LINE - 1, ink, shadow, 1, wrap=False)
    return _encode(canvas, columns, cell, width, height)


def _background(rng: random.Random, columns: int, rows: int) -> list[bytearray]:
    start, end = _colour(rng, 40, 200), _colour(rng, 40, 200)
    span = max(columns + rows - 2, 1)
    ramp = [bytes(int(a + (b - a) * t / span) for a, b in zip(start, end, strict=True)) for t in range(columns + rows)]
    joined = b"".join(ramp)  # row y is the ramp from step y on: a slice of it
    canvas = [bytearray(joined[y * 3 : (y + columns) * 3]) for y in range(rows)]
    for _ in range(rng.randint(3, 7)):
        colour = bytes(_colour(rng, 30, 230))
        cx, cy = rng.uniform(0, columns), rng.uniform(0, rows)
        radius = rng.uniform(0.08, 0.35) * min(columns, rows)
        for y in range(max(0, int(cy - radius)), min(rows, int(cy + radius) + 1)):
            reach = (radius * radius - (y - cy) ** 2) ** 0.5 if radius * radius > (y - cy) ** 2 else -1.0
            left, right = max(0, int(cx - reach)), min(columns, int(cx + reach) + 1)
            if reach >= 0 and right > left:
                canvas[y][left * 3 : right * 3] = colour * (right - left)
    return canvas


def _colour(rng: random.Random, low: int, high: int) -> tuple[int, int, int]:
    return rng.randint(low, high), rng.randint(low, high), rng.randint(low, high)


def _contrasting(canvas: list[bytearray], columns: int) -> tuple[bytes, bytes]:
    """White ink with a dark shadow on a dark-ish picture, the reverse on a light one."""
    middle = canvas[len(canvas) // 2]
    light = sum(middle) / max(len(middle), 1) > 150
    return (b"\x10\x10\x10", b"\xf0\xf0\xf0") if light else (b"\xff\xff\xff", b"\x00\x00\x00")


def _lines(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        while len(word) > width:
            lines.append(word[:width])
            word = word[width:]
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        elif word:
            lines.append(word)
    return lines


def _write(
    canvas: list[bytearray],
    columns: int,
    rows: int,
    text: str,
    top: int,
    ink: bytes,
    shadow: bytes,
    scale: int,
    *,
    wrap: bool = True,
) -> int:
    """Draw ``text`` from row ``top``, wrapped and centred; return the row below the last line."""
    per_line = max(1, (columns - 6) // (_ADVANCE * scale))
    lines = _lines(text, per_line) if wrap else [text[:per_line]]
    y = top
    for line in lines:
        if y + 8 * scale > rows:
            break
        x = max(1, (columns - len(line) * _ADVANCE * scale) // 2)
        for char in line:
            for offset, colour in ((1, shadow), (0, ink)):
                for row, column in _GLYPHS.get(char, _GLYPHS["?"]):
                    _block(canvas, columns, rows, x + column * scale + offset, y + row * scale + offset, scale, colour)
            x += _ADVANCE * scale
        y += _LINE * scale
    return y


def _block(canvas: list[bytearray], columns: int, rows: int, x: int, y: int, size: int, colour: bytes) -> None:
    right = min(columns, x + size)
    for yy in range(y, min(rows, y + size)):
        if right > x:
            canvas[yy][x * 3 : right * 3] = colour * (right - x)


def _encode(canvas: list[bytearray], columns: int, cell: int, width: int, height: int) -> bytes:
    """Scale the grid up by ``cell`` and crop to ``width`` x ``height``, as an RGB PNG."""
    lines: list[bytes] = []
    for y, row in enumerate(canvas):
        wide = bytearray(columns * 3 * cell)
        for copy in range(cell):  # each pixel `cell` times: one strided copy per colour and copy
            for colour in range(3):
                wide[copy * 3 + colour :: cell * 3] = row[colour::3]
        lines.extend([b"\0" + wide[: width * 3]] * min(cell, height - y * cell))
    raw = b"".join(lines)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
