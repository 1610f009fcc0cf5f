"""What a terminal preview costs: Pillow's import, and drawing a 1024x1024 sandbox picture in
each protocol at 64 columns (best of three rounds). With term-image or textual-image installed
(``pip install term-image textual-image`` in a scratch venv), their import times too.

    python bench/preview.py
"""

from __future__ import annotations

import subprocess
import sys
import timeit


def import_ms(module: str) -> float | None:
    program = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(3):
        result = subprocess.run([sys.executable, "-W", "ignore", "-c", program], capture_output=True, text=True)
        if result.returncode:
            return None
        times.append(float(result.stdout))
    return min(times) * 1000


def main() -> None:
    from piapi_cli.cli import preview
    from piapi_cli.sandbox import pictures

    for module in ("PIL.Image", "textual_image.renderable", "term_image.image"):
        took = import_ms(module)
        print(f"import {module}: " + (f"{took:.0f} ms" if took is not None else "not installed"))
    data = pictures.png("s", 1024, 1024, "a lighthouse at dusk", "flux1-dev")
    screen = preview.Screen(80, 40)
    for protocol in preview.PROTOCOLS:
        text = preview.render(data, protocol, screen, {})
        seconds = min(timeit.repeat(lambda p=protocol: preview.render(data, p, screen, {}), number=5, repeat=3)) / 5
        print(f"{protocol}: {seconds * 1000:.0f} ms, {len(text):,} bytes")


if __name__ == "__main__":
    main()
