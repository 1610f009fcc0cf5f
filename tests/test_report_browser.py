"""The report's page in a real browser (headless Chromium over WebDriver), opened from disk:
cards with their thumbnails, filters, sorting, the compare table, marks, the keyboard, an
injected prompt that stays text, and a copied folder that still shows everything."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import KEYS, Browser, unavailable
from tests.conftest import Cli
from tests.test_batch import prompts, results, write_rows
from tests.test_report import made

FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img"]

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")

INJECTED = '"><script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    started = Browser.start()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def show(browser: Browser, page: Path) -> None:
    browser.resize(1280, 800)
    browser.open(page.resolve().as_uri())
    ready = "const done = arguments[0]; const seen = () => document.body.dataset.ready ? done(true) : setTimeout(seen, 5); seen();"
    assert browser.run_async(ready), browser.log()


def visible_prompts(browser: Browser) -> list[str]:
    found: list[str] = browser.run(
        "return Array.from(document.querySelectorAll('#cards .card')).filter(c => !c.hidden)"
        ".map(c => c.querySelector('.prompt').textContent)"
    )
    return found


def pick(browser: Browser, control: str, value: str, event: str = "input") -> None:
    """Set a filter or the sort order, as a reader choosing it would."""
    script = "const c = document.getElementById(arguments[0]); c.value = arguments[1]; c.dispatchEvent(new Event(arguments[2]))"
    browser.run(script, control, value, event)


def csp_complaints(browser: Browser) -> list[str]:
    return [e["message"] for e in browser.log() if "Content Security Policy" in e.get("message", "")]


def test_cards_show_their_thumbnails_and_filters_narrow_them(cli: Cli, work: Path, browser: Browser) -> None:
    made(cli, "a little cat", download="out")
    made(cli, "a fox in the snow", download="out")
    made(cli, "a broken one [sandbox:fail]", download=None)
    made(cli, "a lighthouse", download="out", model=["-m", "midjourney", "-t", "imagine"])
    assert cli("report", "--out", "out").exit_code == 0  # the report beside the files
    show(browser, work / "out" / "index.html")
    images = browser.loaded_images("#cards img")
    assert len(images) == 2 + 5  # flux: one each; midjourney: the grid and four
    assert all(i["src"].startswith("./thumbnails/") and i["width"] > 0 for i in images), images
    assert len(visible_prompts(browser)) == 8
    pick(browser, "f-status", "failed")
    assert visible_prompts(browser) == ["a broken one [sandbox:fail]"]
    error = browser.run("return document.querySelector('.card:not([hidden]) .error').textContent")
    assert error.startswith("task failed")
    pick(browser, "f-status", "")
    browser.type("#f-text", "fox")
    assert visible_prompts(browser) == ["a fox in the snow"]
    pick(browser, "f-text", "")
    pick(browser, "f-model", "midjourney")
    assert visible_prompts(browser) == ["a lighthouse"] * 5
    assert csp_complaints(browser) == []


def sort_by(browser: Browser, order: str) -> list[str]:
    pick(browser, "f-sort", order, "change")
    return visible_prompts(browser)


def test_sorting_by_time_cost_and_run_time(cli: Cli, work: Path, browser: Browser) -> None:
    made(cli, "first [sandbox:seconds=40]", download="out")
    made(cli, "second [sandbox:seconds=5]", download="out", model=["-m", "hailuo", "-t", "video_generation"])
    made(cli, "third [sandbox:seconds=20]", download="out")
    assert cli("report", "--out", "out").exit_code == 0
    show(browser, work / "out" / "index.html")
    assert [p.split()[0] for p in visible_prompts(browser)] == ["third", "second", "first"]  # newest first
    assert [p.split()[0] for p in sort_by(browser, "time-asc")] == ["first", "second", "third"]
    assert sort_by(browser, "cost-desc")[0].startswith("second")  # a video costs the most
    assert [p.split()[0] for p in sort_by(browser, "duration-desc")] == ["first", "third", "second"]
    video = browser.run("const v = document.querySelector('video'); return [v.getAttribute('src'), v.preload]")
    assert video[0].startswith("./") and video[0].endswith(".mp4") and video[1] == "none"


def test_the_compare_table_has_a_column_per_value(cli: Cli, work: Path, browser: Browser) -> None:
    for seed in ("1", "2", "3"):
        made(cli, "a fox", "-i", f"seed={seed}", download="out")
    assert cli("report", "--out", "out", "--compare-by", "seed").exit_code == 0
    show(browser, work / "out" / "index.html")
    headings = browser.run(
        "return Array.from(document.querySelectorAll('#compare-table th.column'), t => t.textContent)"
    )
    assert headings == ["1", "2", "3"]
    cells = browser.loaded_images("#compare-table img")
    assert len(cells) == 3 and all(c["width"] > 0 for c in cells)


def test_an_injected_prompt_is_shown_as_text_and_does_not_run(cli: Cli, work: Path, browser: Browser) -> None:
    made(cli, INJECTED, download="out")
    hostile = work / "out" / "javascript:document.title='pwned'.png"
    shutil.copy(next((work / "out").glob("*.png")), hostile)
    assert cli("report", "--out", "out").exit_code == 0
    show(browser, work / "out" / "index.html")
    assert browser.run("return document.title") == "piapi report"
    assert browser.run("return document.querySelector('.prompt').textContent") == INJECTED
    assert browser.run("return document.querySelectorAll('img[src=x], script:not([id]):not([type])').length") <= 1
    links = browser.run("return Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
    assert not [h for h in links if h and h.lower().startswith("javascript:")]
    assert browser.run("return document.title") == "piapi report"
    assert csp_complaints(browser) == []


def test_the_page_works_from_a_copied_folder(cli: Cli, work: Path, browser: Browser, tmp_path: Path) -> None:
    made(cli, "a little cat", download="out")
    made(cli, "a fox", download="out")
    assert cli("report", "--out", "out").exit_code == 0
    elsewhere = tmp_path / "unzipped" / "artifact"
    shutil.copytree(work / "out", elsewhere)
    shutil.rmtree(work / "out")
    show(browser, elsewhere / "index.html")
    images = browser.loaded_images("#cards img")
    assert len(images) == 2 and all(i["width"] > 0 for i in images), images
    full = browser.run("return Array.from(document.querySelectorAll('#cards a.open')).map(a => a.href)")
    assert all(href.startswith(elsewhere.as_uri()) for href in full), full


def test_marks_exported_from_the_page_run_those_rows_again(cli: Cli, work: Path, browser: Browser) -> None:
    rows = write_rows(work / "rows.jsonl", prompts(3))
    assert cli("batch", "run", str(rows), *FLUX, "--download", "out", "--report", "out").exit_code == 0
    show(browser, work / "out" / "index.html")
    browser.click("#cards .card:nth-child(1) .mark-box")  # newest first: r2, r1, r0
    browser.click("#cards .card:nth-child(3) .mark-box")
    assert browser.run("return document.getElementById('marked-count').textContent") == "2 marked"
    browser.click("#export-marks")
    text = browser.run("return document.getElementById('marks-text').value")
    assert sorted(json.loads(line)["row"] for line in text.splitlines()) == ["r0", "r2"]
    (work / "marks.jsonl").write_text(text)
    again = cli("batch", "run", str(rows), *FLUX, "--only", "marks.jsonl", "--run-id", "again")
    assert again.exit_code == 0, again.stderr
    assert sorted(results(again.stdout)) == ["r0", "r2"]


def test_arrows_move_between_cards_and_enter_opens_the_file(cli: Cli, work: Path, browser: Browser) -> None:
    for prompt in ("one", "two", "three", "four", "five"):
        made(cli, prompt, download="out")
    assert cli("report", "--out", "out").exit_code == 0
    show(browser, work / "out" / "index.html")
    browser.run("document.querySelector('#cards .card').focus()")
    focused = "return document.activeElement.querySelector('.prompt').textContent"
    assert browser.run(focused) == "five"
    browser.keys(KEYS["right"])
    assert browser.run(focused) == "four"
    browser.keys(KEYS["down"])  # four columns at 1280 pixels: the card below
    assert browser.run(focused) == "one"
    browser.keys(KEYS["left"])
    assert browser.run(focused) == "two"
    before = len(browser.windows())
    browser.keys(KEYS["enter"])
    assert len(browser.windows()) == before + 1
    browser.close_other_windows()


def test_a_phone_sees_one_column(cli: Cli, work: Path, browser: Browser) -> None:
    made(cli, "a little cat", download="out")
    made(cli, "a fox", download="out")
    assert cli("report", "--out", "out").exit_code == 0
    show(browser, work / "out" / "index.html")
    browser.resize(390, 844)
    widths = browser.run("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]  # nothing wider than the screen
    lefts = browser.run("return Array.from(document.querySelectorAll('#cards .card')).map(c => c.offsetLeft)")
    assert len(set(lefts)) == 1
