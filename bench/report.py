"""`piapi report` over a batch run of N completed tasks, each with a downloaded 1024x1024 PNG:
the report's wall time the first time (thumbnails made) and the second (thumbnails reused),
and the page's first paint in headless Chromium.

    python bench/report.py [--tasks 1000] [--pictures sandbox|photo] [--runs 3] [--paints 5]

``sandbox`` pictures are the sandbox's own (flat colours and the prompt's words: they decode
fast); ``photo`` pictures are photograph-like (gradients, shapes, blur and grain: a 1.5 MB PNG
each, as a diffusion model's output is), 40 different ones, each task's file a copy of one.
The journal is written through the journal's own methods, as a batch run writes it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUN = "bench-report"
MODELS = ["Qubico/flux1-dev", "Qubico/flux1-schnell", "midjourney"]


def _photo(seed: int) -> bytes:
    from io import BytesIO

    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    side = 1024
    red = Image.effect_noise((side // 8, side // 8), 80).resize((side, side), Image.Resampling.BICUBIC)
    green = Image.linear_gradient("L").resize((side, side)).rotate(rng.randrange(360))
    blue = Image.effect_noise((side // 16, side // 16), 60).resize((side, side), Image.Resampling.BICUBIC)
    image = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y, size = rng.randrange(side), rng.randrange(side), rng.randrange(40, 300)
        draw.ellipse((x, y, x + size, y + size), fill=tuple(rng.randrange(256) for _ in range(3)))
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    image = Image.blend(image, Image.effect_noise((side, side), 12).convert("RGB"), 0.12)
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def build(work: Path, tasks: int, pictures: str) -> None:
    """A journal with one batch run of ``tasks`` completed tasks, and their files in work/out."""
    from piapi_cli.api.tasks import Task
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.sandbox import pictures as sandbox_pictures

    out = work / "out"
    out.mkdir(parents=True)
    journal = Journal(work / "data" / "journal.sqlite3")
    journal.record_run(RUN, world="sandbox", source="prompts.jsonl", options={})
    rng = random.Random(1)
    photos = [_photo(n) for n in range(40)] if pictures == "photo" else []
    start = time.time() - 3600
    for n in range(tasks):
        model = MODELS[n % len(MODELS)]
        prompt = f"a lighthouse at dusk, number {n}, {rng.choice(['watercolour', 'ink', 'oil', 'photo'])}"
        row = journal.begin_create("sandbox", model, "txt2img", {"prompt": prompt, "seed": n}, None,
                                   run_id=RUN, row_key=f"r{n}")  # fmt: skip
        task_id = hashlib.sha256(f"task {n}".encode()).hexdigest()[:32]
        url = f"https://img.example/{task_id}/0.png"
        created = start + n * 2
        data = {
            "task_id": task_id, "model": model, "task_type": "txt2img", "status": "completed",
            "input": {"prompt": prompt, "seed": n}, "output": {"image_url": url},
            "meta": {"created_at": _stamp(created), "started_at": _stamp(created + rng.uniform(0, 20)),
                     "ended_at": _stamp(created + 20 + rng.uniform(5, 60)),
                     "usage": {"type": "point", "frozen": 0, "consume": 20000}},
        }  # fmt: skip
        journal.created(row, Task.from_api(data))
        body = photos[n % len(photos)] if photos else sandbox_pictures.png(prompt, 1024, 1024, words=prompt)
        path = out / f"r{n}-0.png"
        path.write_bytes(body)
        journal.record_download(task_id, url, str(path), len(body), hashlib.sha256(body).hexdigest())


def report_seconds(work: Path, out: str) -> tuple[float, float]:
    """Wall time and CPU time (user + system, every thread) of one ``piapi report``."""
    import resource

    env = {**os.environ, "PIAPI_DATA_DIR": str(work / "data"), "PIAPI_CONFIG_DIR": str(work / "config")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "piapi_cli", "--sandbox", "report", "--batch", RUN, "--out", out],
        cwd=work, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _line(label: str, runs: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    shown = ", ".join(f"{w:.2f}" for w in walls)
    return f"{label} wall median {statistics.median(walls):.2f} s ({shown}); CPU {statistics.median(cpus):.2f} s"


def paints(page: Path, count: int) -> list[tuple[float, float]]:
    """(first contentful paint, cards rendered) in ms after navigation, ``count`` fresh loads."""
    from tests.browser import Browser

    browser = Browser.start()
    found = []
    try:
        for _ in range(count):
            browser.open("about:blank")
            browser.open(page.as_uri())
            fcp = browser.run_async(
                "const done = arguments[arguments.length - 1];"
                "const seen = () => { const p = performance.getEntriesByName('first-contentful-paint')[0];"
                " p ? done(p.startTime) : setTimeout(seen, 5); }; seen();"
            )
            ready = browser.run_async(
                "const done = arguments[0]; const seen = () => document.body.dataset.ready ?"
                " done(Number(document.body.dataset.readyMs)) : setTimeout(seen, 5); seen();"
            )
            found.append((float(fcp), float(ready)))
    finally:
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--pictures", choices=["sandbox", "photo"], default="sandbox")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--paints", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        began = time.perf_counter()
        build(work, args.tasks, args.pictures)
        print(f"{args.tasks} tasks, {args.pictures} pictures, built in {time.perf_counter() - began:.1f} s")
        print(f"cpus: {os.cpu_count()}, load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        cold, warm = [], []
        for n in range(args.runs):
            cold.append(report_seconds(work, f"out/report-{n}"))
            warm.append(report_seconds(work, f"out/report-{n}"))
            shutil.rmtree(work / "out" / f"report-{n}" / "thumbnails") if n < args.runs - 1 else None
        print(_line("report, thumbnails made:  ", cold))
        print(_line("report, thumbnails reused:", warm))
        page = work / "out" / f"report-{args.runs - 1}" / "index.html"
        print(f"page: {page.stat().st_size / 1024:.0f} KiB")
        found = paints(page, args.paints)
        fcp, ready = [f for f, _ in found], [r for _, r in found]
        for label, values in (("first contentful paint:", fcp), ("every card rendered:   ", ready)):
            print(f"{label} median {statistics.median(values):.0f} ms ({', '.join(f'{x:.0f}' for x in values)})")
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
