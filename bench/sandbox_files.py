"""What the sandbox's output files cost to make: each file type, best of three rounds.

python bench/sandbox_files.py
"""

from __future__ import annotations

import timeit

from piapi_cli.sandbox import files, pictures


def main() -> None:
    words, footer = "a lighthouse at dusk, oil painting", "flux1-dev - seed 3"
    for width, height in ((512, 512), (1024, 576), (1024, 1024), (4000, 4000)):
        draw = lambda w=width, h=height: pictures.png("s", w, h, words, footer)  # noqa: E731
        seconds = min(timeit.repeat(draw, number=20, repeat=3)) / 20
        size = len(pictures.png("s", width, height, words, footer))
        print(f"png {width}x{height}: {seconds * 1000:.1f} ms, {size:,} bytes")
    for name, make, rounds in (("wav", files.wav, 20), ("glb", files.glb, 200)):
        seconds = min(timeit.repeat(lambda make=make: make("s"), number=rounds, repeat=3)) / rounds
        print(f"{name}: {seconds * 1000:.2f} ms, {len(make('s')):,} bytes")
    print(f"mp4: shipped, {len(files.mp4()):,} bytes")


if __name__ == "__main__":
    main()
