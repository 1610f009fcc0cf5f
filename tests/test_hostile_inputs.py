"""Input a fuzzer would send: each is refused with exit 2 and one line saying why, before
anything is sent; none is an internal error, and nothing that is not JSON reaches the API."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.api.errors import UsageError
from piapi_cli.core.catalog import load_catalog
from piapi_cli.core.inputs import MAX_DEPTH, build_input, read_input_file
from piapi_cli.core.uploads import placeholder
from piapi_cli.core.validation import validate_input
from piapi_cli.sandbox import Emulator
from tests.conftest import Cli

FLUX = ["create", "-m", "Qubico/flux1-dev", "-t", "txt2img"]
CATALOG = load_catalog()

DEEP = "[" * 100_000
HOSTILE = {
    "5000-digit integer": (["width=" + "9" * 5000], "out of range (integers are 64-bit)"),
    "5000 leading zeros": (["width=" + "0" * 5000 + "1"], None),  # just 1: fine
    "integer past 64 bits": (["seed=9223372036854775808"], "out of range"),
    "5000-digit number": (["guidance_scale=" + "9" * 5000], "out of range"),
    "nan": (["guidance_scale=nan"], "not a finite number"),
    "inf": (["guidance_scale=inf"], "not a finite number"),
    "-Infinity": (["guidance_scale=-Infinity"], "not a finite number"),
    "overflowing float": (["guidance_scale=1e999"], "not a finite number"),
    "JSON NaN": (["seed:=NaN"], "not a finite number"),
    "JSON Infinity": (["extra:=[1, Infinity]"], "not a finite number"),
    "JSON 1e400": (["extra:=1e400"], "not a finite number"),
    "JSON 5000 digits": (["extra:=" + "9" * 5000], "out of range"),
    "JSON 100k deep, unclosed": (["extra:=" + DEEP], "nested too deeply"),
    "JSON 100k deep, closed": (["extra:=" + "[" * 100_000 + "]" * 100_000], "nested too deeply"),
    "JSON just past the limit": (["extra:=" + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)], "nested too deeply"),
    "dotted key 100k deep": ([".".join(["a"] * 100_000) + "=1"], "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_values_exit_2_with_one_line_and_send_nothing(cli: Cli, emulator: Emulator, case: str) -> None:
    assignments, message = HOSTILE[case]
    args = [arg for item in ["prompt=x", *assignments] for arg in ("-i", item)]
    result = cli(*FLUX, *args, "--no-validate")  # what the catalog would say is not the point here
    if message is None:
        assert result.exit_code == 0, result.stderr
        return
    assert result.exit_code == 2, result.stderr[-500:]
    assert result.stdout == "" and emulator.requests == []
    [line, *hints] = result.stderr.splitlines()
    assert line.startswith("error: -i ") and message in line, line[:300]
    assert len(line) < 200 and all(h.startswith("hint: ") for h in hints)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 100_000, "nested too deeply"),
    ('{"prompt": "x", "deep": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ('{"prompt": "x", "guidance_scale": NaN}', "not a finite number"),
    ('{"prompt": "x", "seed": ' + "1" * 5000 + "}", "out of range"),
])  # fmt: skip
def test_hostile_input_files_exit_2(cli: Cli, emulator: Emulator, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "in.json"
    path.write_text(text)
    for source, stdin in ((str(path), None), ("-", text)):
        result = cli(*FLUX, "--input-file", source, input=stdin)
        assert result.exit_code == 2 and message in result.stderr, result.stderr[-300:]
        assert "internal error" not in result.stderr and emulator.requests == []


def test_an_input_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(b'{"prompt": "\xff\xfe"}')
    with pytest.raises(UsageError, match="not UTF-8"):
        read_input_file(str(path))
    with pytest.raises(UsageError, match="not a valid path"):
        read_input_file("in\0.json")


@pytest.mark.parametrize(("make", "message"), [
    (lambda tmp: "a" * 5000 + ".png", "cannot read: File name too long"),
    (lambda tmp: str(tmp), "not a regular file"),
    (lambda tmp: "cat\0.png", "not a valid path"),
    (lambda tmp: str(tmp / "missing.png"), "no such file"),
])  # fmt: skip
def test_hostile_file_references_exit_2(
    cli: Cli, emulator: Emulator, tmp_path: Path, make: object, message: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    if "\0" in path:  # no argv can carry a NUL: a library caller can
        from piapi_cli.core.uploads import FileRef, check_files

        with pytest.raises(UsageError, match=message):
            check_files([FileRef(path, "-i image_url")])
        return
    result = cli("create", "-m", "Qubico/flux1-dev", "-t", "img2img", "-i", "prompt=x", "-i", f"image=@{path}")
    assert result.exit_code == 2 and message in result.stderr, result.stderr[-300:]
    assert "internal error" not in result.stderr and emulator.requests == []


def test_an_unreadable_file_is_refused_before_sending(
    cli: Cli, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(b"png")

    real_open = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:  # chmod 0 means nothing to root, as CI often is
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    result = cli("create", "-m", "Qubico/flux1-dev", "-t", "img2img", "-i", "prompt=x", "-i", f"image=@{path}")
    assert result.exit_code == 2 and "cannot read: Permission denied" in result.stderr
    assert emulator.requests == []


def _nasty_value(rng: random.Random) -> str:
    pieces = [
        "",
        " ",
        "0",
        "-0",
        "+1",
        "1e308",
        "1e309",
        "-1e999",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "Infinity",
        "0x10",
        "1_000",
        "٣",
        "²",
        "9" * rng.choice([18, 19, 20, 4301, 6000]),
        "[" * rng.randint(1, 3000),
        "{",
        "}",
        '"',
        "\\",
        "@",
        "\\@",
        "true",
        "null",
        "\x00",
        "\x1b[2J",
        "\u202e",
        "🎨",
        "1.5",
        "-",
        ".",
        "e5",
    ]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 3)))


def test_fuzzed_assignments_only_ever_give_json_or_a_usage_error() -> None:
    """Seeded, so a failure is reproducible: 3000 random assignments against real schemas."""
    rng = random.Random(20240611)
    schemas = [CATALOG.task_type("Qubico/flux1-dev", "txt2img"), CATALOG.task_type("kling", "video_generation")]
    keys = ["width", "height", "seed", "guidance_scale", "steps", "prompt", "duration", "cfg_scale",
            "camera_control.config.zoom", "image_urls", "brand_new", "a.b.c"]  # fmt: skip
    for _ in range(3000):
        schema = rng.choice(schemas)
        key = rng.choice(keys)
        item = f"{key}{rng.choice(['=', ':='])}{_nasty_value(rng)}"
        try:
            data = build_input([item], schema=schema)
        except UsageError as exc:
            assert exc.exit_code == 2 and len(exc.message) < 400, item[:100]
            continue
        data = placeholder(data)  # files as "@path", as validation sees them
        json.dumps(data, allow_nan=False)  # what would be sent is strict JSON
        assert schema is not None
        try:
            validate_input(schema, data)
        except UsageError as exc:
            assert len(exc.message) < 1000, item[:100]
