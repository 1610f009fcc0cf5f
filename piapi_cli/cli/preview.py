"""Pictures in the terminal: a task's images drawn inline under its result.

Four ways to draw, picked from the terminal's environment (or the ``preview_protocol``
setting): the kitty graphics protocol (kitty, Ghostty, WezTerm's kitty mode), iTerm2's inline
images (iTerm2, WezTerm, mintty), sixel (foot, mlterm, contour, xterm -ti vt340), and coloured
half-blocks anywhere else: each cell is ``▀`` with the upper pixel as its foreground and the
lower as its background. Inside tmux the escape sequences go through tmux's passthrough.

A preview is at most the terminal's width (and ``MAX_COLUMNS``) and fits its height; it is
only ever written to a terminal. Pillow, which decodes and scales, is imported here and this
module only when a preview is drawn: every other command's start-up is untouched.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from piapi_cli.api.records import record

if TYPE_CHECKING:
    from PIL.Image import Image

    from piapi_cli.cli.runtime import State
    from piapi_cli.cli.session import Session

PROTOCOLS = ("kitty", "iterm", "sixel", "blocks")
#: the widest preview, in columns: a 200-column terminal does not need a 100-line picture
MAX_COLUMNS = 64
#: the most bytes read of one image: a preview is no reason to hold a huge file in memory
MAX_BYTES = 32 * 1024 * 1024
#: a terminal cell's size in pixels when the terminal does not say
DEFAULT_CELL = (10, 20)
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


class PreviewError(Exception):
    """Why an image could not be shown (not an image, cut short, too large)."""


@record(frozen=True)
class Screen:
    columns: int
    rows: int
    cell: tuple[int, int] = DEFAULT_CELL


def detect(environ: Mapping[str, str]) -> str:
    """The best protocol this terminal is known to draw, from its environment alone (no query
    is sent: a terminal that does not answer would make every preview wait)."""
    term = environ.get("TERM", "").lower()
    program = environ.get("TERM_PROGRAM", "").lower()
    if "kitty" in term or environ.get("KITTY_WINDOW_ID") or "ghostty" in term or program == "ghostty":
        return "kitty"
    if program in ("iterm.app", "wezterm", "mintty") or environ.get("LC_TERMINAL", "").lower() == "iterm2":
        return "iterm"
    if any(name in term for name in ("foot", "mlterm", "contour", "sixel")):
        return "sixel"
    return "blocks"


def choose(setting: str, environ: Mapping[str, str]) -> str:
    return detect(environ) if setting == "auto" else setting


def screen_of(stream: object, environ: Mapping[str, str]) -> Screen:
    """The terminal's size in cells (``COLUMNS`` and ``LINES`` win, as in every tool) and,
    where the terminal says, a cell's size in pixels."""
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
        size = os.get_terminal_size(fd)
        columns, rows = size.columns, size.lines
    except (OSError, ValueError, AttributeError):
        fd, columns, rows = None, 80, 24
    for name in ("COLUMNS", "LINES"):
        text = environ.get(name, "")
        if text.isdigit() and 0 < int(text) < 10_000:
            columns, rows = (int(text), rows) if name == "COLUMNS" else (columns, int(text))
    cell = DEFAULT_CELL
    if fd is None:
        return Screen(max(1, columns), max(1, rows), cell)
    try:
        import fcntl
        import struct
        import termios

        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
        _, _, width_px, height_px = struct.unpack("HHHH", packed)
        if width_px and height_px and columns and rows:
            cell = (max(1, width_px // columns), max(1, height_px // rows))
    except (OSError, ImportError, ValueError):
        pass
    return Screen(max(1, columns), max(1, rows), cell)


def is_image_name(name: str) -> bool:
    return name.lower().split("?", 1)[0].endswith(IMAGE_TYPES)


def decode(data: bytes) -> Image:
    """The picture in ``data``, loaded whole (a cut file fails here, not halfway through drawing)."""
    from struct import error as struct_error

    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if len(data) > MAX_BYTES:
        raise PreviewError(f"over {MAX_BYTES // (1024 * 1024)} MB")
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > 64_000_000:
                raise PreviewError(f"{opened.width}x{opened.height} pixels is too large to preview")
            opened.load()
            picture: Image = opened.convert("RGB")
    except UnidentifiedImageError:
        raise PreviewError("not an image") from None
    except PILImage.DecompressionBombError as exc:
        raise PreviewError(str(exc)) from None
    except (OSError, ValueError, SyntaxError, struct_error) as exc:  # truncated or corrupt, as Pillow says
        raise PreviewError(f"not a whole image ({exc})") from None
    return picture


def fit(width: int, height: int, screen: Screen) -> tuple[int, int]:
    """Columns and rows of a picture of ``width`` x ``height`` pixels: the terminal's width at
    most (and ``MAX_COLUMNS``), its height less two lines at most, the picture's shape kept."""
    cell_w, cell_h = screen.cell
    columns = max(1, min(screen.columns, MAX_COLUMNS))
    rows = max(1, round(columns * cell_w * height / (width * cell_h)))
    most = max(1, screen.rows - 2)
    if rows > most:
        columns = max(1, round(columns * most / rows))
        rows = most
    return columns, rows


def render(data: bytes, protocol: str, screen: Screen, environ: Mapping[str, str]) -> str:
    """The text that draws the picture in ``data`` and leaves the cursor on the line below it."""
    picture = decode(data)
    columns, rows = fit(picture.width, picture.height, screen)
    if protocol == "blocks":
        return blocks(picture, columns, rows)
    in_tmux = bool(environ.get("TMUX"))
    if protocol == "kitty":
        png = _png(picture, columns * screen.cell[0], rows * screen.cell[1])
        sequence = kitty(png, columns, rows, keep_cursor=in_tmux)
    elif protocol == "iterm":
        sequence = iterm(_png(picture, columns * screen.cell[0], rows * screen.cell[1]), columns, rows)
    else:
        from piapi_cli.cli.sixel import sixel

        sequence = sixel(picture.resize((columns * screen.cell[0], rows * screen.cell[1])))
    if in_tmux:
        # tmux does not see the picture: the cursor stays put and the lines below it are made
        # here, so what follows is written under the picture, not over it
        return tmux_passthrough(sequence) + ("\n" * rows if protocol == "kitty" else "\n")
    return sequence + "\n"


def _png(picture: Image, width: int, height: int) -> bytes:
    """The picture as PNG, no larger than it is shown (the terminal gets less to read)."""
    if picture.width > width or picture.height > height:
        picture = picture.resize((max(1, width), max(1, height)))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def blocks(picture: Image, columns: int, rows: int) -> str:
    """Half-blocks in 24-bit colour: two pixels a cell, one line of text a row of cells."""
    small = picture.resize((columns, rows * 2))
    pixels = small.tobytes()
    lines = []
    stride = columns * 3
    for row in range(rows):
        top, bottom = row * 2 * stride, (row * 2 + 1) * stride
        cells = []
        for x in range(0, stride, 3):
            r1, g1, b1 = pixels[top + x : top + x + 3]
            r2, g2, b2 = pixels[bottom + x : bottom + x + 3]
            cells.append(f"\x1b[38;2;{r1};{g1};{b1}m\x1b[48;2;{r2};{g2};{b2}m\u2580")
        lines.append("".join(cells) + "\x1b[0m")
    return "\n".join(lines) + "\n"


def kitty(png: bytes, columns: int, rows: int, *, keep_cursor: bool = False) -> str:
    """The kitty graphics protocol: transmit and show a PNG over ``columns`` x ``rows`` cells,
    in chunks of 4096 base64 bytes; ``q=2`` asks the terminal not to answer, ``C=1`` not to
    move the cursor."""
    encoded = base64.standard_b64encode(png).decode("ascii")
    chunks = [encoded[i : i + 4096] for i in range(0, len(encoded), 4096)] or [""]
    parts = []
    for index, chunk in enumerate(chunks):
        more = 1 if index < len(chunks) - 1 else 0
        first = f"a=T,f=100,q=2,c={columns},r={rows}" + (",C=1" if keep_cursor else "")
        keys = f"{first},m={more}" if index == 0 else f"m={more}"
        parts.append(f"\x1b_G{keys};{chunk}\x1b\\")
    return "".join(parts)


def iterm(png: bytes, columns: int, rows: int) -> str:
    """iTerm2's inline image escape (also understood by WezTerm and mintty)."""
    encoded = base64.standard_b64encode(png).decode("ascii")
    return f"\x1b]1337;File=inline=1;size={len(png)};width={columns};height={rows};preserveAspectRatio=1:{encoded}\x07"


def tmux_passthrough(sequence: str) -> str:
    """Wrap a sequence for tmux to hand to the terminal (it needs ``allow-passthrough on``):
    each ESC inside doubled, the whole in one DCS."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def sources(task_urls: list[str], saved: list[str]) -> list[str]:
    """The picture to show of one task: its first saved image, else its first image URL."""
    for candidates in (saved, task_urls):
        images = [item for item in candidates if is_image_name(item)]
        if images:
            return images[:1]
    return []


def show(state: State, items: list[str], *, asked: bool) -> None:
    """Draw each image (a saved file or a URL) on stdout, a terminal only; a picture that
    cannot be shown is a warning, never a traceback, and the rest still show."""
    output, session = state.output, state.session
    if not output.stdout_tty:
        if asked and items:
            output.info("no preview: stdout is not a terminal")
        return
    protocol = choose(session.settings["preview_protocol"], session.environ)
    screen = screen_of(output.stdout, session.environ)
    for item in items:
        try:
            text = render(_read(session, item), protocol, screen, session.environ)
        except PreviewError as exc:
            output.warn(f"no preview of {item}: {exc}")
            continue
        output.graphic(text)


def _read(session: Session, item: str) -> bytes:
    if "://" not in item:
        try:
            with open(item, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise PreviewError(f"cannot read it: {exc.strerror or exc}") from None
        return data
    import httpx

    from piapi_cli.api.errors import PiapiError
    from piapi_cli.core.downloads.wire import WireError

    try:
        with session.download_http([item]).stream("GET", item) as answer:
            if answer.status_code != 200:
                raise PreviewError(f"the server answered {answer.status_code}")
            body = bytearray()
            chunks = answer.iter_bytes() if isinstance(answer, httpx.Response) else answer.iter_raw()
            for chunk in chunks:
                body += chunk
                if len(body) > MAX_BYTES:
                    break
            return bytes(body)
    except (httpx.HTTPError, httpx.StreamError, WireError, PiapiError, OSError) as exc:
        raise PreviewError(f"could not fetch it: {type(exc).__name__}") from None
