"""The sandbox's output files are worth opening: pictures at the size asked for that show the
prompt, a video that plays, audio that plays, a 3D model that loads, for every model."""

from __future__ import annotations

import json
import struct
import wave
import zlib
from io import BytesIO
from typing import Any

import httpx
import pytest

from piapi_cli.api.tasks import Task
from piapi_cli.core.catalog import load_catalog
from piapi_cli.sandbox import Emulator, files, pictures
from tests.conftest import FakeClock
from tests.test_sandbox import call, create, get

SIGNATURES = {"png": b"\x89PNG\r\n\x1a\n", "wav": b"RIFF", "glb": b"glTF", "mp4": b"ftyp"}
FILE_KIND = {"image": "png", "video": "mp4", "audio": "wav", "3d": "glb"}


def _outputs(
    emulator: Emulator, clock: FakeClock, model: str, task_type: str, task_input: dict[str, Any]
) -> dict[str, bytes]:
    spec = load_catalog().model(model)
    config = {"service_mode": spec.service_mode} if spec and spec.service_mode else None
    task_id = create(emulator, model, task_type, task_input, **({"config": config} if config else {}))["task_id"]
    clock.sleep(600)
    task = Task.from_api(get(emulator, task_id))
    assert task.status == "completed"
    found = {}
    for item in task.urls:
        status, _, reply = call(emulator, "GET", httpx.URL(item.url).path)
        assert status == 200, item.url
        ext = item.url.rsplit(".", 1)[1]
        assert reply.headers["content-type"] == files.CONTENT_TYPES[ext]
        found[item.url] = reply.body
    return found


def _png(image: bytes) -> tuple[int, int, bytes]:
    assert image[:8] == SIGNATURES["png"]
    width, height = struct.unpack(">II", image[16:24])
    length = struct.unpack(">I", image[33:37])[0]
    pixels = zlib.decompress(image[41 : 41 + length])
    assert len(pixels) == height * (1 + 3 * width)
    return width, height, pixels


def _only(found: dict[str, bytes]) -> bytes:
    return next(iter(found.values()))


CASES = [
    (model.name, task_type.name, task_type.output)
    for model in load_catalog().models.values()
    if not model.discontinued
    for task_type in model.task_types.values()
]


@pytest.mark.parametrize(("model", "task_type", "kind"), CASES, ids=[f"{m}:{t}" for m, t, _ in CASES])
def test_every_output_of_every_model_is_a_file_of_its_type(
    emulator: Emulator, clock: FakeClock, model: str, task_type: str, kind: str
) -> None:
    spec = load_catalog().task_type(model, task_type)
    assert spec is not None
    task_input = {name: "x" for name, field in spec.fields.items() if field.required}
    found = _outputs(emulator, clock, model, task_type, {**task_input, "prompt": "a red fox"})
    for url, content in found.items():
        ext = url.rsplit(".", 1)[1]
        assert SIGNATURES[ext] in content[:12], url
    exts = {url.rsplit(".", 1)[1] for url in found}
    if kind in FILE_KIND and found:
        assert FILE_KIND[kind] in exts, (model, task_type, exts)


def test_a_picture_has_the_size_asked_for_capped_keeping_its_shape(emulator: Emulator, clock: FakeClock) -> None:
    flux = "Qubico/flux1-dev", "txt2img"
    assert _png(_only(_outputs(emulator, clock, *flux, {"prompt": "a", "width": 768, "height": 432})))[:2] == (768, 432)
    assert _png(_only(_outputs(emulator, clock, *flux, {"prompt": "a", "width": 4000, "height": 2000})))[:2] == (
        1024,
        512,
    )
    wide = _outputs(emulator, clock, "midjourney", "imagine", {"prompt": "a", "aspect_ratio": "16:9"})
    assert {_png(image)[:2] for image in wide.values()} == {(1024, 576)}
    assert _png(_only(_outputs(emulator, clock, *flux, {"prompt": "a"})))[:2] == (512, 512)


def test_a_picture_depends_on_the_prompt_and_the_seed(emulator: Emulator, clock: FakeClock) -> None:
    flux = "Qubico/flux1-dev", "txt2img"

    def picture(**task_input: Any) -> bytes:
        return _png(_only(_outputs(emulator, clock, *flux, task_input)))[2]

    fox = picture(prompt="a fox", seed=1)
    assert picture(prompt="a fox", seed=1) == fox  # a fixed seed repeats, like a real model
    assert picture(prompt="a fox", seed=2) != fox
    assert picture(prompt="a cat", seed=1) != fox
    assert picture(prompt="a fox") != picture(prompt="a fox")  # no seed: each task its own
    # the words are drawn: the same pattern without them differs
    assert pictures.png("s", 64, 64, "a fox") != pictures.png("s", 64, 64, "")


@pytest.mark.parametrize("prompt", ["", "é世界\u2028\x00", "w" * 5000, "a " * 3000])
def test_any_prompt_makes_a_picture(prompt: str) -> None:
    for width, height in ((8, 8), (1, 3000), (1024, 1024)):
        w, h, _ = _png(pictures.png(prompt, width, height, prompt, prompt))
        assert max(w, h) <= pictures.MAX_SIDE and min(w, h) >= 1


def test_video_is_a_real_h264_mp4_and_audio_a_tune_and_3d_a_cube(emulator: Emulator, clock: FakeClock) -> None:
    video = _only(_outputs(emulator, clock, "hailuo", "video_generation", {"prompt": "waves"}))
    boxes, offset = [], 0
    while offset < len(video):
        size, kind = struct.unpack(">I4s", video[offset : offset + 8])
        boxes.append(kind)
        offset += size
    assert boxes[:2] == [b"ftyp", b"moov"] and b"mdat" in boxes and offset == len(video)  # moov first: streams
    assert b"avc1" in video and len(video) < 64_000

    audio = _only(_outputs(emulator, clock, "Qubico/ace-step", "txt2audio", {"style_prompt": "jazz"}))
    with wave.open(BytesIO(audio)) as sound:
        assert sound.getnframes() / sound.getframerate() == pytest.approx(2.0, abs=0.01)
        samples = sound.readframes(sound.getnframes())
    assert max(abs(v) for (v,) in struct.iter_unpack("<h", samples)) > 5000

    glb = files.glb("seed")
    magic, version, total, length, kind = struct.unpack("<4sIII4s", glb[:20])
    assert (magic, version, total, kind) == (b"glTF", 2, len(glb), b"JSON")
    document = json.loads(glb[20 : 20 + length])
    binary_length, binary_kind = struct.unpack("<I4s", glb[20 + length : 28 + length])
    assert binary_kind == b"BIN\0" and binary_length >= document["buffers"][0]["byteLength"]
    for view in document["bufferViews"]:
        assert view["byteOffset"] + view["byteLength"] <= document["buffers"][0]["byteLength"]
    assert [a["count"] for a in document["accessors"]] == [24, 24, 36]
