"""A sixel encoder: a picture as DEC sixel graphics, in at most 255 colours.

The picture is quantised by Pillow; each band of six pixel rows is written once per colour
it holds, run-length encoded (``!N`` repeats a sixel), as VT340 terminals and their heirs
(foot, mlterm, contour, xterm -ti vt340) read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image


def sixel(picture: Image) -> str:
    quantised = picture.convert("RGB").quantize(colors=255)
    palette = quantised.getpalette() or []
    width, height = quantised.size
    pixels = quantised.tobytes()
    used = sorted(set(pixels))
    out = ["\x1bPq", f'"1;1;{width};{height}']
    for index in used:
        r, g, b = palette[index * 3 : index * 3 + 3]
        out.append(f"#{index};2;{r * 100 // 255};{g * 100 // 255};{b * 100 // 255}")
    for top in range(0, height, 6):
        out.append(_band(pixels, width, top, min(6, height - top)))
    out.append("\x1b\\")
    return "".join(out)


def _band(pixels: bytes, width: int, top: int, depth: int) -> str:
    """Six rows of pixels: one line per colour present (``$`` returns to the band's start),
    then ``-`` to the next band."""
    masks: dict[int, bytearray] = {}
    for dy in range(depth):
        row = pixels[(top + dy) * width : (top + dy + 1) * width]
        bit = 1 << dy
        for x, colour in enumerate(row):
            mask = masks.get(colour)
            if mask is None:
                mask = masks[colour] = bytearray(width)
            mask[x] |= bit
    lines = [f"#{colour}{_runs(mask)}" for colour, mask in masks.items()]
    return "$".join(lines) + "-"


def _runs(mask: bytearray) -> str:
    out = []
    x, width = 0, len(mask)
    while x < width:
        value = mask[x]
        end = x + 1
        while end < width and mask[end] == value:
            end += 1
        char = chr(63 + value)
        count = end - x
        out.append(f"!{count}{char}" if count > 3 else char * count)
        x = end
    return "".join(out)
