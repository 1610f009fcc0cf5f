"""The report's page: one HTML file with its style and script inline, and its data as JSON.

Nothing that came from a server or a user is ever pasted into HTML: the data goes into a
``<script type="application/json">`` block (with ``<``, ``>`` and ``&`` escaped, so no text can
close it) and the page's script renders it with ``textContent`` and checked ``href``s. The
Content-Security-Policy lets only the page's own inline script and style run (by their
SHA-256) and loads images and media from the report's folder alone: no network at all.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

#: the mark of a page this module wrote: only such a file is replaced by a new report
GENERATOR = "piapi report"

_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _asset(name: str) -> str:
    return resources.files("piapi_cli.core.report").joinpath("assets").joinpath(name).read_text("utf-8")


#: the page's script, in this order, in one function that ``start()`` ends
SCRIPTS = ("report.js", "report-cards.js")


def page_script() -> str:
    return '(function () {\n"use strict";\n' + "".join(_asset(name) for name in SCRIPTS) + "start();\n})();\n"


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def data_block(data: Any) -> str:
    """``data`` as JSON that cannot end the ``<script>`` element it sits in."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).translate(_ESCAPES)


def policy(script: str, style: str) -> str:
    """What the page may load: its own script and style, files beside it, nothing else."""
    local = "'self' file: blob: data:"
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {_digest(script)}",
            f"style-src {_digest(style)}",
            f"img-src {local}",
            f"media-src {local}",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def render(data: dict[str, Any], title: str) -> str:
    """The whole page."""
    script, style = page_script(), _asset("report.css")
    template = _asset("report.html")
    parts = {
        "{{POLICY}}": html.escape(policy(script, style), quote=False).replace('"', "&quot;"),
        "{{GENERATOR}}": html.escape(GENERATOR),
        "{{TITLE}}": html.escape(title),
        "{{STYLE}}": style,
        "{{DATA}}": data_block(data),
        "{{SCRIPT}}": script,
    }
    # one pass, so a part's own text is never searched for the next placeholder
    out, rest = [], template
    while "{{" in rest:
        before, _, after = rest.partition("{{")
        name, _, rest = after.partition("}}")
        out += [before, parts["{{" + name + "}}"]]
    out.append(rest)
    return "".join(out)


def is_ours(path: Path) -> bool:
    """Whether the file at ``path`` is a page this module wrote (so it may be replaced)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return f'<meta name="generator" content="{html.escape(GENERATOR)}">' in head


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path``, whole or not at all: written to a new file of a random name beside
    it (never through a link planted there) and renamed into place; a failure (a full disk)
    removes the new file and leaves whatever was at ``path``."""
    import secrets

    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(temporary, flags, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
