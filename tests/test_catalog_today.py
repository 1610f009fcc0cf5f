"""Today's catalog: the pairs PiAPI added, values it takes that the catalog once refused, and
the refusals that save money (a near-miss model name, a required input missing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from piapi_cli.core.catalog import load_catalog
from piapi_cli.sandbox import Emulator
from tests.conftest import Cli, FakeClock

CATALOG = load_catalog()

NEW_PAIRS = [
    ("seedance", "seedance-2-fast"),
    ("seedance", "seedance-2-mini"),
    ("seedance", "seedance-2-less-restriction"),
    ("seedance", "seedance-2-fast-less-restriction"),
    ("seedance", "seedance-2-mini-less-restriction"),
    ("seedance", "seedance-2.5"),
    ("seedance", "seedance-2.5-less-restriction"),
    ("seedream", "seedream-5-pro"),
    ("seedream", "seedream-5-lite-less-restriction"),
    ("seedream", "seedream-5-pro-less-restriction"),
    ("byteaudio", "seed-audio-1.0"),
]


def dry_run(cli: Cli, *args: str) -> Any:
    result = cli("create", "--dry-run", *args)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.mark.parametrize(("model", "task_type"), NEW_PAIRS)
def test_every_new_pair_creates_on_the_sandbox_and_ends_with_a_file(
    cli: Cli, emulator: Emulator, model: str, task_type: str
) -> None:
    created = cli("create", "-m", model, "-t", task_type, "-i", "prompt=a red fox in snow", "--wait", "--json")
    assert created.exit_code == 0, created.stderr
    task = created.json()
    assert task["status"] == "completed"
    assert json.dumps(task["output"]).count("http") >= 1


def test_every_model_names_the_docs_page_it_came_from() -> None:
    for model in CATALOG.models.values():
        assert model.docs.startswith("https://piapi.ai/docs/"), model.name
        for spec in model.task_types.values():
            assert spec.docs.startswith("https://piapi.ai/docs/"), (model.name, spec.name)


@pytest.mark.parametrize("args", [
    ["-m", "hailuo", "-t", "video_generation", "-i", "prompt=x", "-i", "model=v2.3"],
    ["-m", "hailuo", "-t", "video_generation", "-i", "prompt=x", "-i", "model=v2.3-fast"],
    ["-m", "seedance", "-t", "seedance-2", "-i", "prompt=x", "-i", "aspect_ratio=21:9", "-i", "resolution=720p"],
    ["-m", "seedance", "-t", "seedance-2.5", "-i", "prompt=x", "-i", "duration=30", "-i", "resolution=1080p"],
    ["-m", "kling", "-t", "video_generation", "-i", "prompt=x", "-i", "version=3.0", "-i", "duration=15"],
    ["-m", "seedream", "-t", "seedream-5-pro", "-i", "prompt=x", "-i", "size=2K", "-i", "image_urls=https://x/a.png"],
])  # fmt: skip
def test_values_piapi_takes_are_no_longer_refused(cli: Cli, args: list[str]) -> None:
    result = dry_run(cli, *args)
    assert "warning" not in result.stderr


def test_booleans_and_numbers_are_sent_as_the_catalog_types_them(cli: Cli) -> None:
    body = dry_run(
        cli, "-m", "kling", "-t", "video_generation", "-i", "prompt=x", "-i", "enable_audio=true", "-i", "duration=10"
    ).json()
    assert body["input"]["enable_audio"] is True
    assert body["input"]["duration"] == 10


def test_a_value_the_catalog_does_not_list_is_sent_with_a_warning(cli: Cli) -> None:
    result = dry_run(cli, "-m", "hailuo", "-t", "video_generation", "-i", "prompt=x", "-i", "model=v3.0")
    assert result.json()["input"]["model"] == "v3.0"
    assert 'model="v3.0" is not in piapi\'s catalog' in result.stderr
    assert "sent anyway" in result.stderr


def test_a_near_miss_of_a_listed_value_is_refused_and_nothing_is_sent(cli: Cli, emulator: Emulator) -> None:
    result = cli("create", "-m", "hailuo", "-t", "video_generation", "-i", "prompt=x", "-i", "model=v2.3-fats")
    assert result.exit_code == 2
    assert "did you mean v2.3-fast?" in result.stderr
    assert emulator.requests == []


def test_protocol_values_stay_refused(cli: Cli, emulator: Emulator) -> None:
    result = cli("create", "-m", "midjourney", "-t", "imagine", "-i", "prompt=x", "-i", "process_mode=slow")
    assert result.exit_code == 2
    assert "one of relax, fast, turbo" in result.stderr
    assert emulator.requests == []


def test_a_missing_required_input_is_refused_before_anything_is_paid(cli: Cli, emulator: Emulator) -> None:
    result = cli("create", "-m", "kling", "-t", "video_generation")
    assert result.exit_code == 2
    assert "give at least one of prompt, image_url" in result.stderr
    assert emulator.requests == []
    assert cli("create", "-m", "kling", "-t", "video_generation", "--no-validate").exit_code == 0


@pytest.mark.parametrize("typed", ["Qubico/flux-dev", "flux", "FLUX-dev", "flux1-dev"])
def test_near_miss_model_names_suggest_the_real_one_and_send_nothing(cli: Cli, emulator: Emulator, typed: str) -> None:
    result = cli("create", "-m", typed, "-t", "txt2img", "-i", "prompt=a cat")
    assert result.exit_code == 2
    assert "did you mean Qubico/flux1-dev?" in result.stderr
    assert emulator.requests == []


def test_no_validate_sends_a_near_miss_model_name_as_written(cli: Cli) -> None:
    body = dry_run(cli, "-m", "Qubico/flux-dev", "-t", "txt2img", "-i", "prompt=x", "--no-validate").json()
    assert body["model"] == "Qubico/flux-dev"


def test_a_new_version_is_not_taken_for_a_typo() -> None:
    from piapi_cli.core.suggest import near_misses

    assert near_misses("veo4", ["veo3"]) == []
    assert near_misses("flux-dev", ["flux1-dev"]) == ["flux1-dev"]


# --- the user's own catalog file ---------------------------------------------------------


def write_user_catalog(isolated: Path, data: Any) -> Path:
    path = isolated / "config" / "catalog.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_user_catalog_adds_models_and_fields_without_a_release(cli: Cli, isolated: Path) -> None:
    write_user_catalog(isolated, {
        "models": [
            {"name": "acme-video", "category": "video", "output": "video",
             "task_types": {"t2v": {"fields": {"prompt": {"type": "string", "required": True},
                                                "fps": {"type": "integer", "min": 1, "max": 60}}}}},
            {"name": "hailuo", "task_types": {"video_generation": {"fields": {
                "camera": {"type": "boolean", "description": "new upstream"}}}}},
        ],
    })  # fmt: skip
    body = dry_run(cli, "-m", "acme-video", "-t", "t2v", "-i", "prompt=x", "-i", "fps=24").json()
    assert body["input"] == {"prompt": "x", "fps": 24}
    refused = cli("create", "--dry-run", "-m", "acme-video", "-t", "t2v", "-i", "prompt=x", "-i", "fps=120")
    assert refused.exit_code == 2 and "fps: 120 is out of range" in refused.stderr
    merged = dry_run(cli, "-m", "hailuo", "-t", "video_generation", "-i", "prompt=x", "-i", "camera=yes")
    assert merged.json()["input"]["camera"] is True and "warning" not in merged.stderr
    listed = cli("models")
    assert "acme-video" in listed.stdout


@pytest.mark.parametrize("content", ["{not json", json.dumps({"models": [{"name": "x", "task_types": {}}]}), "[]"])
def test_a_broken_user_catalog_is_named_not_a_traceback(cli: Cli, isolated: Path, content: str) -> None:
    path = write_user_catalog(isolated, content)
    result = cli("create", "--dry-run", "-m", "kling", "-t", "video_generation", "-i", "prompt=x")
    assert result.exit_code not in (0, 1)
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr


def _acme(field: dict[str, Any]) -> str:
    model = {"name": "acme", "category": "video", "task_types": {"t": {"fields": {"p": field}}}}
    return json.dumps({"models": [model]})


@pytest.mark.parametrize(
    "content",
    [
        _acme({"type": "integer", "min": "a"}),
        _acme({"type": "integer", "max": [1]}),
        _acme({"type": "integer", "min": True}),
        _acme({"type": "string", "max_length": -1}),
        _acme({"type": "array", "max_items": 1.5}),
        '{"models":' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
)
def test_a_hostile_user_catalog_stops_with_its_name_before_sending(cli: Cli, isolated: Path, content: str) -> None:
    path = write_user_catalog(isolated, content)
    result = cli("create", "-m", "acme", "-t", "t", "-i", "p=1")
    assert result.exit_code == 3, result.stderr
    assert str(path) in result.stderr and "internal error" not in result.stderr


def test_the_sandbox_and_docs_use_the_shipped_catalog_only(isolated: Path, clock: FakeClock) -> None:
    write_user_catalog(isolated, {"models": [{"name": "acme-video", "category": "video", "task_types": {"t2v": {}}}]})
    assert load_catalog().model("acme-video") is None
    assert load_catalog(user=True).model("acme-video") is not None
