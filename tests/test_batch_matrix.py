"""Prompt matrices and plain text prompt files: every combination a row of its own, keyed so a
run resumes and splits exactly, and nothing sent when the matrix is malformed or too large."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from piapi_cli.core.batch.matrix import MAX_MATRIX_TASKS
from piapi_cli.sandbox import Emulator
from tests.conftest import Cli
from tests.test_batch import FLUX, creates, results, write_rows


def test_every_row_runs_once_per_combination_with_a_stable_key(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [
        {"id": "fox", "input": {"prompt": "a fox", "seed": 9}},
        {"id": "owl", "input": {"prompt": "an owl"}},
    ])  # fmt: skip
    result = cli("batch", "run", str(rows), *FLUX, "--matrix", "seed=1,2", "--matrix", "width=256,512,768")
    assert result.exit_code == 0, result.stderr
    found = results(result.stdout)
    assert len(found) == 12 and len(creates(emulator)) == 12
    assert "fox[seed=2,width=768]" in found and "owl[seed=1,width=256]" in found
    sent = {(r["input"]["prompt"], r["input"]["seed"], r["input"]["width"]) for r in creates(emulator)}
    assert ("a fox", 2, 768) in sent and ("a fox", 9, 256) not in sent  # the matrix wins over the row

    # the same combinations in another order are the same rows: nothing is created again
    again = cli("batch", "run", str(rows), *FLUX, "--matrix", "width=768,512,256", "--matrix", "seed=2,1")
    assert again.exit_code == 0 and len(creates(emulator)) == 12
    assert set(results(again.stdout)) == set(found)


def test_shards_of_a_matrix_run_every_combination_exactly_once(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": n, "input": {"prompt": f"cat {n}"}} for n in range(5)])
    seen: list[str] = []
    for k in (1, 2, 3):
        result = cli("batch", "run", str(rows), *FLUX, "--matrix", "seed=1,2,3", "--shard", f"{k}/3")
        assert result.exit_code == 0, result.stderr
        seen += results(result.stdout)
    assert sorted(seen) == sorted(f"{n}[seed={s}]" for n in range(5) for s in (1, 2, 3))
    assert len(creates(emulator)) == 15


def test_a_dry_run_shows_the_count_and_the_known_cost_and_sends_nothing(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    rows = write_rows(
        tmp_path / "rows.jsonl", [{"id": 1, "input": {"prompt": "a"}}, {"id": 2, "input": {"prompt": "b"}}]
    )
    assert cli("create", *FLUX, "-i", "prompt=x", "--wait").exit_code == 0  # a cost to know
    result = cli("batch", "run", str(rows), *FLUX, "--matrix", "seed=1,2,3", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "6 rows (2 file rows x 3 combinations)" in result.stdout
    assert "expected cost: ~120,000 credits" in result.stdout
    plan = cli("batch", "run", str(rows), *FLUX, "--matrix", "seed=1,2,3", "--dry-run", "--json").json()
    assert (plan["rows"], plan["combinations"], plan["estimated_credits"]) == (6, 3, 120_000)
    assert len(creates(emulator)) == 1


@pytest.mark.parametrize(("matrix", "message"), [
    (["seed"], "expected KEY=V1,V2"),
    (["seed=1,,2"], "an empty value"),
    (["seed=1,2,1"], "given twice"),
    (["seed=1", "seed=2"], "already a matrix key"),
    (["bad key=1"], "expected KEY=V1,V2"),
    (["seed=" + ",".join(map(str, range(200))), "width=" + ",".join(map(str, range(64, 164)))], "over the limit"),
])  # fmt: skip
def test_a_bad_or_huge_matrix_exits_2_with_nothing_sent(
    cli: Cli, emulator: Emulator, tmp_path: Path, matrix: list[str], message: str
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": 1, "input": {"prompt": "a"}}])
    flags = [item for spec in matrix for item in ("--matrix", spec)]
    result = cli("batch", "run", str(rows), *FLUX, *flags)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and creates(emulator) == []


def test_a_product_of_many_keys_is_refused_without_being_built(cli: Cli, tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": 1, "input": {"prompt": "a"}}])
    # 10^40 combinations: counted, never listed
    flags = [item for n in range(40) for item in ("--matrix", f"k{n}=" + ",".join(map(str, range(10))))]
    result = cli("batch", "run", str(rows), *FLUX, "--no-validate", *flags)
    assert result.exit_code == 2 and f"limit of {MAX_MATRIX_TASKS:,}" in result.stderr


def test_combinations_whose_files_would_clash_are_refused_before_sending(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    rows = write_rows(tmp_path / "rows.jsonl", [{"id": 1, "input": {"prompt": "a"}}])
    out = tmp_path / "out"
    # the name ignores the matrix: every combination would write the same file
    result = cli(
        "batch", "run", str(rows), *FLUX, "--matrix", "seed=1,2", "--download", str(out), "--name", "{prompt}.{ext}"
    )
    assert result.exit_code == 2 and "same file names" in result.stderr
    # names that differ only in what the downloader replaces, or in case, are one file on disk
    for values in ("style=a/b,a_b", "style=Ink,ink"):
        result = cli("batch", "run", str(rows), *FLUX, "--no-validate", "--matrix", values,
                     "--download", str(out), "--name", "{style}.{ext}")  # fmt: skip
        assert result.exit_code == 2 and "same file names" in result.stderr, values
    assert creates(emulator) == []
    # the matrix's values are fields of --name
    result = cli(
        "batch",
        "run",
        str(rows),
        *FLUX,
        "--matrix",
        "seed=1,2",
        "--download",
        str(out),
        "--name",
        "{row}-s{seed}-{index}.{ext}",
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["1-s1-0.png", "1-s2-0.png"]


def test_a_text_file_is_one_prompt_a_line_keyed_by_line_number(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    text = tmp_path / "prompts.txt"
    # CR LF endings, a blank line, U+2028 and a form feed inside a prompt, braces, a number
    text.write_bytes("a red fox\r\n\r\na blue\u2028whale {x}\r\n  42  \r\nsnow\x0cfall".encode())
    result = cli("batch", "run", str(text), *FLUX)
    assert result.exit_code == 0, result.stderr
    assert set(results(result.stdout)) == {"1", "3", "4", "5"}
    prompts = sorted(r["input"]["prompt"] for r in creates(emulator))
    assert prompts == ["42", "a blue\u2028whale {x}", "a red fox", "snow\x0cfall"]  # as written, never coerced
    # a template and a matrix apply to text files too
    styled = cli(
        "batch", "run", str(text), *FLUX, "--template", "{prompt}, in ink", "--matrix", "seed=5", "--run-id", "ink"
    )
    assert styled.exit_code == 0, styled.stderr
    assert "3[seed=5]" in results(styled.stdout)
    assert {r["input"]["prompt"] for r in creates(emulator)} >= {"a red fox, in ink", "42, in ink"}


def test_jsonl_lines_are_split_at_line_feeds_only(cli: Cli, emulator: Emulator, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "a", "input": {"prompt": "x\u2028y"}}, ensure_ascii=False) + "\n{bad\n")
    result = cli("batch", "run", str(rows), *FLUX)
    assert result.exit_code == 2 and "line 2: not valid JSON" in result.stderr, result.stderr


def test_an_empty_text_file_has_no_rows(cli: Cli, tmp_path: Path) -> None:
    text = tmp_path / "prompts.txt"
    text.write_text("\n  \n\r\n")
    result = cli("batch", "run", str(text), *FLUX)
    assert result.exit_code == 2 and "no rows" in result.stderr
