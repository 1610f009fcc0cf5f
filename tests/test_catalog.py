"""The catalog and -i inputs: coercion by the field's type, nesting, validation before sending."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from piapi_cli.api.errors import UsageError, ValidationError
from piapi_cli.cli.hints import hint_for
from piapi_cli.core.catalog import TaskType, check_model, load_catalog
from piapi_cli.core.inputs import build_input, read_input_file
from piapi_cli.core.suggest import edit_distance, near_misses
from piapi_cli.core.validation import validate_input
from piapi_cli.sandbox import Emulator
from tests.conftest import Cli

CATALOG = load_catalog()
FLUX = CATALOG.task_type("Qubico/flux1-dev", "txt2img")
KLING = CATALOG.task_type("kling", "video_generation")
MJ = CATALOG.task_type("midjourney", "imagine")

# every model and task type named in the API reference's catalog
REFERENCE = {
    "Qubico/flux1-schnell": ["txt2img", "img2img"], "Qubico/flux1-dev": ["txt2img", "img2img"],
    "Qubico/flux1-dev-advanced": ["txt2img", "img2img", "txt2img-lora", "img2img-lora", "controlnet-lora",
                                  "fill-inpaint", "fill-outpaint", "redux-variation", "kontext"],
    "midjourney": ["imagine", "upscale", "variation", "describe", "reroll", "seed", "blend", "inpaint", "outpaint",
                   "pan"],
    "Qubico/image-toolkit": ["background-remove", "upscale", "segment", "face-swap", "multi-face-swap"],
    "gemini": ["gemini-2.5-flash-image", "nano-banana-pro", "nano-banana-2"],
    "Qubico/qwen-image": ["txt2img", "image-edit"], "Qubico/z-image": ["txt2img"], "seedream": ["seedream-5-lite"],
    "Qubico/joycaption": ["joycaption-beta-one"],
    "kling": ["video_generation", "extend_video", "lip_sync", "effects", "omni_video_generation", "ai_try_on",
              "sound", "avatar", "motion_control"],
    "kling-turbo": ["video_generation"], "hailuo": ["video_generation"], "luma": ["video_generation", "extend_video"],
    "veo3": ["veo3-video", "veo3-video-fast"], "veo3.1": ["veo3.1-video", "veo3.1-video-fast"],
    "sora2": ["sora2-video", "sora2-pro-video", "remove-watermark"],
    "seedance": ["seedance-2", "seedance-2-preview", "remove-watermark"],
    "Qubico/hunyuan": ["txt2video", "fast-txt2video", "img2video-concat", "img2video-replace", "txt2video-lora",
                       "img2video-lora"],
    "Qubico/wanx": ["txt2video-1.3b", "txt2video-14b", "img2video-14b", "txt2video-14b-lora", "img2video-14b-lora",
                    "img2video-14b-keyframe", "img2video-14b-control-camera", "wan22-txt2video-14b",
                    "wan22-img2video-14b"],
    "Qubico/skyreels": ["img2video"], "Qubico/video-toolkit": ["face-swap", "upscale", "background-remove"],
    "Wan": ["wan26-txt2video", "wan26-img2video"], "Qubico/framepack": ["img2video"], "omni-human": ["omni-human-1.5"],
    "Qubico/hug-video": ["image_to_video"],
    "music-u": ["generate_music", "generate_lyrics"], "Qubico/ace-step": ["txt2audio", "audio2audio", "edit", "extend"],
    "Qubico/diffrhythm": ["txt2audio-base", "txt2audio-full"], "Qubico/mmaudio": ["video2audio"],
    "Qubico/tts": ["zero-shot"], "suno": [], "music-s": [],
    "Qubico/trellis": ["image-to-3d", "text-to-3d"], "Qubico/trellis2": ["image-to-3d"], "Qubico/pixal3d": ["image-to-3d"],
}  # fmt: skip


@pytest.mark.parametrize("model", sorted(REFERENCE))
def test_catalog_holds_every_model_and_task_type_of_the_reference(model: str) -> None:
    found = CATALOG.model(model)
    assert found is not None
    assert set(REFERENCE[model]) <= set(found.task_types)
    assert found.category in ("image", "video", "audio", "3d")


def test_discontinued_models_stay_listed_and_flagged() -> None:
    suno = CATALOG.model("suno")
    assert suno is not None and suno.discontinued
    assert "discontinued" in (CATALOG.lookup_warning("suno", "generate_music") or "")


def test_unknown_model_or_task_type_is_a_warning_not_a_refusal() -> None:
    assert "not in piapi's catalog" in (CATALOG.lookup_warning("brand-new-model", "x") or "")
    assert "known: txt2img, img2img" in (CATALOG.lookup_warning("Qubico/flux1-dev", "txt3img") or "")
    assert CATALOG.lookup_warning("qubico/FLUX1-dev", "txt2img") is None


def test_values_are_coerced_by_the_catalogs_type() -> None:
    data = build_input(["prompt=a little cat", "width=1024", "guidance_scale=3.5", "seed=-1", "steps=20"], schema=FLUX)
    assert data == {"prompt": "a little cat", "width": 1024, "guidance_scale": 3.5, "seed": -1, "steps": 20}
    assert build_input(["prompt=x", "skip_prompt_check=true"], schema=MJ)["skip_prompt_check"] is True
    assert build_input(["prompt=x", "skip_prompt_check=no"], schema=MJ)["skip_prompt_check"] is False


def test_raw_json_and_dotted_keys_nest() -> None:
    data = build_input(
        [
            "prompt=waves",
            "camera_control.type=simple",
            "camera_control.config.zoom=5",
            "camera_control.config.pan:=-2.5",
            "duration:=10",
        ],
        schema=KLING,
    )
    assert data == {
        "prompt": "waves",
        "duration": 10,
        "camera_control": {"type": "simple", "config": {"zoom": 5, "pan": -2.5}},
    }


def test_strings_stay_strings_where_the_schema_says_string_or_nothing() -> None:
    data = build_input(["prompt=1024", "brand_new=true", "url=https://x/a.png?w=1&h=2"], schema=FLUX)
    assert data == {"prompt": "1024", "brand_new": "true", "url": "https://x/a.png?w=1&h=2"}
    assert build_input(["a\\.b=1"]) == {"a.b": "1"}


def test_repeated_array_field_appends() -> None:
    blend = CATALOG.task_type("midjourney", "blend")
    data = build_input(["image_urls=https://x/1.png", "image_urls=https://x/2.png"], schema=blend)
    assert data == {"image_urls": ["https://x/1.png", "https://x/2.png"]}


def test_flags_override_the_input_file(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"prompt": "from file", "width": 512, "camera_control": {"type": "simple"}}))
    data = build_input(["width=1024"], read_input_file(str(path)), FLUX)
    assert data == {"prompt": "from file", "width": 1024, "camera_control": {"type": "simple"}}
    assert read_input_file("-", '{"prompt": "stdin"}') == {"prompt": "stdin"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["width"], "expected KEY=VALUE or KEY:=JSON"),
        (["=x"], "expected KEY=VALUE"),
        (["width=big"], "-i width: expected an integer"),
        (["guidance_scale=high"], "expected a number"),
        (["seed:={bad"], "-i seed: not valid JSON"),
        (["a..b=1"], "empty part"),
        (["prompt=x", "prompt.sub=y"], "already set to a non-object"),
    ],
)
def test_malformed_assignments_say_what_is_wrong(args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        build_input(args, schema=FLUX)


@pytest.mark.parametrize(("text", "message"), [("[1, 2]", "expected a JSON object"), ("{oops", "not valid JSON")])
def test_bad_input_files_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "in.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_input_file(str(path))
    with pytest.raises(UsageError, match="cannot read"):
        read_input_file(str(tmp_path / "missing.json"))


@pytest.mark.parametrize(("model", "task_type", "data", "message"), [
    ("Qubico/flux1-dev", "txt2img", {}, "prompt: required"),
    ("Qubico/flux1-dev", "txt2img", {"prompt": 5}, "prompt: expected string, got 5"),
    ("Qubico/flux1-dev", "txt2img", {"prompt": "x", "guidance_scale": 9}, "guidance_scale: 9 is out of range; expected number 1.5-5"),
    ("Qubico/flux1-dev", "txt2img", {"prompt": "x", "width": 2048, "height": 1024}, "over 1,048,576 pixels"),
    ("kling", "video_generation", {"prompt": "x", "duration": 20}, "duration: 20 is out of range; expected integer 3-15"),
    ("kling", "video_generation", {}, "prompt: missing: give at least one of prompt, image_url, multi_shots"),
    ("kling", "video_generation", {"prompt": "x", "camera_control": {"type": "orbit"}}, "camera_control.type"),
    ("midjourney", "imagine", {"prompt": "x", "process_mode": "slow"}, "one of relax, fast, turbo"),
    ("midjourney", "blend", {"image_urls": ["https://x/1.png"]}, "1 items; expected array of string, 2-5 items"),
    ("hailuo", "video_generation", {"prompt": "x" * 2001}, "2001 characters is too long; at most 2000"),
])  # fmt: skip
def test_validation_names_the_field_and_what_is_allowed(
    model: str, task_type: str, data: dict[str, object], message: str
) -> None:
    spec = CATALOG.task_type(model, task_type)
    assert spec is not None
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        validate_input(spec, data)
    assert caught.value.exit_code == 2


def test_valid_input_passes_and_unknown_keys_only_warn() -> None:
    assert validate_input(FLUX, {"prompt": "x", "width": 1024, "height": 1024}) == []
    [warning] = validate_input(FLUX, {"prompt": "x", "lora": "y"})
    assert "lora" in warning


def test_open_schemas_accept_anything() -> None:
    spec = CATALOG.task_type("gemini", "nano-banana-pro")
    assert spec is not None and spec.open
    assert validate_input(spec, {"anything": [1, 2], "at": "all"}) == []


# --- typos cost money: a near miss of a known name is refused -------------------------------


@pytest.mark.parametrize(("typed", "known", "meant"), [
    ("widht", ["width", "height", "prompt"], ["width"]),  # two letters swapped
    ("heigth", ["width", "height"], ["height"]),
    ("promt", ["prompt", "negative_prompt"], ["prompt"]),
    ("Width", ["width"], ["width"]),  # PiAPI's names are case-sensitive
    ("image-url", ["image_url", "image_urls"], ["image_url"]),
    ("imag_url", ["image_url", "image_urls"], ["image_url"]),
    ("midjourny", ["midjourney", "kling"], ["midjourney"]),
])  # fmt: skip
def test_a_name_a_few_keystrokes_from_a_known_one_is_a_near_miss(
    typed: str, known: list[str], meant: list[str]
) -> None:
    assert near_misses(typed, known) == meant


@pytest.mark.parametrize(("typed", "known"), [
    ("width", ["width"]),  # known: no miss at all
    ("lora_scale", ["width", "height", "prompt", "seed"]),  # a new field, far from all
    ("veo4", ["veo3", "veo3.1"]),  # another version, not a typo
    ("trellis3", ["Qubico/trellis2", "trellis2"]),
    ("fp", ["fps"]),  # too short to tell
    ("x" * 1_000_000, ["width"]),  # a fuzzer's name: no time spent on it
])  # fmt: skip
def test_names_far_from_every_known_one_are_no_near_miss(typed: str, known: list[str]) -> None:
    assert near_misses(typed, known) == []


def test_edit_distance_counts_a_swap_once() -> None:
    assert edit_distance("widht", "width") == 1
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "abc") == 0


@pytest.mark.parametrize(("model", "task_type", "field", "suggestion"), [
    ("midjourny", "imagine", "model", "midjourney"),
    ("Qubico/flux1-devv", "txt2img", "model", "Qubico/flux1-dev"),
    ("flux1-dev", "txt2img", "model", "Qubico/flux1-dev"),  # the name without its owner
    ("kling-turb", "video_generation", "model", "kling-turbo"),
    ("midjourney", "imagin", "task_type", "imagine"),
    ("Qubico/flux1-dev", "txt2imgg", "task_type", "txt2img"),
])  # fmt: skip
def test_a_near_miss_of_a_model_or_task_type_is_refused_with_a_suggestion(
    model: str, task_type: str, field: str, suggestion: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(f"did you mean {suggestion}?")) as caught:
        check_model(CATALOG, model, task_type)
    assert (caught.value.field, caught.value.suggestion, caught.value.exit_code) == (field, suggestion, 2)
    assert "--no-validate" in (hint_for(caught.value, None) or "")
    # --no-validate: sent as written, with the suggestion as a warning
    [warning] = check_model(CATALOG, model, task_type, validate=False)
    assert f"did you mean {suggestion}?" in warning and "sending it as written" in warning


def test_unknown_names_far_from_every_known_one_stay_warnings() -> None:
    assert check_model(CATALOG, "midjourney", "imagine") == []
    assert check_model(CATALOG, "MIDJOURNEY", "imagine") == []  # model names fold case
    [new_model] = check_model(CATALOG, "brand-new-model", "x")
    assert "not in piapi's catalog; sending it anyway" in new_model
    [new_version] = check_model(CATALOG, "veo4", "veo4-video")
    assert "sending it anyway" in new_version
    [new_type] = check_model(CATALOG, "kling", "text_to_dance")
    assert "known: video_generation" in new_type
    [discontinued] = check_model(CATALOG, "suno", "generate_music")
    assert "discontinued" in discontinued


@pytest.mark.parametrize(("spec", "data", "field", "suggestion"), [
    (FLUX, {"prompt": "x", "widht": 512}, "widht", "width"),
    (FLUX, {"promt": "x"}, "promt", "prompt"),  # named before the missing prompt it explains
    (FLUX, {"prompt": "x", "Width": 512}, "Width", "width"),
    (KLING, {"prompt": "x", "camera_control": {"type": "simple", "config": {"zom": 5}}}, "camera_control.config.zom", "zoom"),
])  # fmt: skip
def test_a_near_miss_of_an_input_name_is_refused(
    spec: TaskType | None, data: dict[str, object], field: str, suggestion: str
) -> None:
    assert spec is not None
    with pytest.raises(
        ValidationError, match=re.escape(f"{field}: unknown input; did you mean {suggestion}?")
    ) as caught:
        validate_input(spec, data)
    assert (caught.value.field, caught.value.suggestion) == (field, suggestion)
    [warning] = validate_input(spec, data, validate=False)
    assert f"input {field} is not in piapi's catalog" in warning and f"did you mean {suggestion}?" in warning


@pytest.mark.parametrize("empty", ["", "   ", "\n"])
def test_an_empty_required_field_is_refused(empty: str) -> None:
    with pytest.raises(ValidationError, match="prompt: required \\(string\\) but empty") as caught:
        validate_input(FLUX, {"prompt": empty})
    assert caught.value.field == "prompt"
    blend = CATALOG.task_type("midjourney", "blend")
    assert blend is not None
    with pytest.raises(ValidationError, match="image_urls: required"):
        validate_input(blend, {"image_urls": []})
    # an optional field may be empty
    assert validate_input(FLUX, {"prompt": "x", "negative_prompt": ""}) == []


def test_no_validate_refuses_nothing_but_still_warns() -> None:
    notes = validate_input(FLUX, {"widht": 512, "guidance_scale": 99, "brand_new": 1}, validate=False)
    assert notes == [
        "input widht is not in piapi's catalog for Qubico/flux1-dev txt2img (did you mean width?); sending as given",
        "input brand_new not in piapi's catalog for Qubico/flux1-dev txt2img; sending as given",
    ]


def test_messages_stay_short_whatever_the_value() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_input(FLUX, {"prompt": ["x"] * 100_000})
    assert len(caught.value.message) < 200 and "an array of 100000 items" in caught.value.message
    with pytest.raises(ValidationError) as caught:
        validate_input(FLUX, {"prompt": "x", "width": 10**600, "height": 1024})
    assert len(caught.value.message) < 200
    with pytest.raises(ValidationError, match="not a number JSON can carry"):
        validate_input(FLUX, {"prompt": "x", "guidance_scale": float("nan")})


def test_create_refuses_a_mistyped_input_and_sends_nothing(cli: Cli, emulator: Emulator) -> None:
    result = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat", "-i", "widht=512")
    assert result.exit_code == 2 and emulator.requests == []
    assert "widht: unknown input; did you mean width?" in result.stderr
    empty = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=")
    assert empty.exit_code == 2 and "prompt: required (string) but empty" in empty.stderr
    assert emulator.requests == []
    sent = cli(
        "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat", "-i", "widht=512", "--no-validate"
    )
    assert sent.exit_code == 0 and emulator.requests == [("POST", "/api/v1/task")]


def test_models_suggests_a_task_type(cli: Cli) -> None:
    result = cli("models", "kling", "-t", "video_generaton")
    assert result.exit_code == 2 and "did you mean video_generation?" in result.stderr


@pytest.mark.parametrize(("model", "task_type", "meant"), [
    ("midjourny", "imagine", "midjourney"),
    ("midjourney", "imagin", "imagine"),
    ("flux1-dev", "txt2img", "Qubico/flux1-dev"),
])  # fmt: skip
def test_create_refuses_a_mistyped_model_or_task_type(
    cli: Cli, emulator: Emulator, model: str, task_type: str, meant: str
) -> None:
    result = cli("create", "-m", model, "-t", task_type, "-i", "prompt=a lighthouse")
    assert result.exit_code == 2 and emulator.requests == [] and result.stdout == ""
    assert f"did you mean {meant}?" in result.stderr and "--no-validate" in result.stderr
    sent = cli("create", "-m", model, "-t", task_type, "-i", "prompt=a lighthouse", "--no-validate")
    assert emulator.requests == [("POST", "/api/v1/task")]  # sent as written (the API may refuse it)
    [warning] = [line for line in sent.stderr.splitlines() if f"did you mean {meant}?" in line]
    assert warning.startswith("warning: ") and warning.endswith("(sending it as written)")
