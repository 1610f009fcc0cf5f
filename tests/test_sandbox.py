"""The sandbox's contract, checked against the API reference and the real payloads, so the
rest of the suite does not silently test a wrong fake."""

from __future__ import annotations

import base64
import json
import struct
import wave
import zlib
from io import BytesIO
from typing import Any

import httpx
import pytest

from piapi_cli.api.client import Client
from piapi_cli.api.tasks import Task
from piapi_cli.sandbox import Emulator, Faults, MemoryStore, transport_for
from tests.conftest import FakeClock, fixture

KEY = {"x-api-key": "any-key"}


def call(emulator: Emulator, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    raw = json.dumps(body).encode() if body is not None else b""
    reply = emulator.handle(method, path, {**KEY, **(headers or {})}, raw)
    return (
        reply.status,
        (json.loads(reply.body) if reply.body and "json" in reply.headers.get("content-type", "") else reply.body),
        reply,
    )


def create(emulator: Emulator, model: str, task_type: str, task_input: dict[str, Any], **extra: Any) -> dict[str, Any]:
    status, doc, _ = call(
        emulator, "POST", "/api/v1/task", {"model": model, "task_type": task_type, "input": task_input, **extra}
    )
    assert status == 200, doc
    data: dict[str, Any] = doc["data"]
    return data


def get(emulator: Emulator, task_id: str) -> dict[str, Any]:
    status, doc, _ = call(emulator, "GET", f"/api/v1/task/{task_id}")
    assert status == 200 and doc["code"] == 200 and doc["message"] == "success"
    data: dict[str, Any] = doc["data"]
    return data


def test_task_object_has_the_shape_of_real_payloads(emulator: Emulator) -> None:
    real = fixture("flux-kontext-completed.json")["data"]
    created = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "a cat"})
    assert set(created) == set(real)
    assert set(created["meta"]) >= {"created_at", "started_at", "ended_at", "usage", "is_using_private_pool"}
    assert set(created["meta"]["usage"]) == {"type", "frozen", "consume"}
    assert set(created["error"]) == set(real["error"]) and created["error"]["code"] == 0
    assert created["status"] == "pending" and created["output"] is None
    assert created["meta"]["started_at"] == created["meta"]["ended_at"] == "0001-01-01T00:00:00Z"
    assert created["config"] == {"service_mode": "", "webhook_config": {"endpoint": "", "secret": ""}}


def test_lifecycle_moves_through_the_statuses_with_times_and_charge(emulator: Emulator, clock: FakeClock) -> None:
    task_id = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "a cat"})["task_id"]
    clock.sleep(1)
    running = Task.from_api(get(emulator, task_id))
    assert running.status == "processing" and running.started_at is not None and running.ended_at is None
    # as the published Flux payload: a quota task shows its whole charge from the start
    assert running.usage == {"type": "quota", "frozen": 0, "consume": 20000} and running.credits == 20000
    clock.sleep(10)
    done = Task.from_api(get(emulator, task_id))
    assert done.status == "completed" and done.ended_at is not None and done.ended_at > done.started_at  # type: ignore[operator]
    assert done.usage == {"type": "quota", "frozen": 0, "consume": 20000}
    assert [u.path for u in done.urls] == ["image_url"]


@pytest.mark.parametrize(("model", "task_type", "task_input", "paths"), [
    ("Qubico/flux1-schnell", "txt2img", {"prompt": "x", "batch_size": 2}, ["image_url", "image_urls[1]"]),
    ("midjourney", "imagine", {"prompt": "x"}, ["image_url"] + [f"temporary_image_urls[{i}]" for i in range(4)]),
    ("kling", "video_generation", {"prompt": "x"}, ["works[0].cover.resource", "works[0].video.resource"]),
    ("sora2", "sora2-video", {"prompt": "x"}, ["video"]),
    ("seedance", "seedance-2", {"prompt": "x"}, ["video"]),
    ("luma", "video_generation", {"prompt": "x"}, ["video.url", "video_raw.url", "thumbnail.url", "last_frame.url"]),
    ("hailuo", "video_generation", {"prompt": "x"}, ["video_url"]),
    ("Qubico/tts", "zero-shot", {"gen_text": "hi", "ref_audio": "https://x/a.wav"}, ["audio_url"]),
    ("Qubico/trellis", "image-to-3d", {"image": "https://x/a.png"}, ["model_file", "combined_video", "no_background_image"]),
])  # fmt: skip
def test_output_shapes_per_family(
    emulator: Emulator, clock: FakeClock, model: str, task_type: str, task_input: dict[str, Any], paths: list[str]
) -> None:
    extra = {"config": {"service_mode": "public"}} if model == "Qubico/tts" else {}
    task_id = create(emulator, model, task_type, task_input, **extra)["task_id"]
    clock.sleep(60)
    task = Task.from_api(get(emulator, task_id))
    assert task.succeeded
    assert [u.path for u in task.urls][: len(paths)] == paths
    if model == "midjourney":
        assert task.output["progress"] == 100 and "upscale1" in task.output["actions"]
    if model == "kling":
        assert task.output["video_url"] == task.output["works"][0]["video"]["resource"]


def test_text_results(emulator: Emulator, clock: FakeClock) -> None:
    described = create(emulator, "midjourney", "describe", {"image_url": "https://x/a.png"})["task_id"]
    lyrics = create(emulator, "music-u", "generate_lyrics", {"prompt": "the sea"})["task_id"]
    clock.sleep(60)
    assert get(emulator, described)["output"]["description"]
    assert get(emulator, lyrics)["output"]["lyrics_pairs"][0]["text"]


def test_midjourney_reports_progress_while_processing(emulator: Emulator, clock: FakeClock) -> None:
    task_id = create(emulator, "midjourney", "imagine", {"prompt": "x [sandbox:seconds=10]"})["task_id"]
    clock.sleep(5.5)
    task = Task.from_api(get(emulator, task_id))
    assert task.status == "processing" and 40 <= (task.progress or 0) <= 60


def test_fail_marker_ends_failed_with_an_error_and_no_charge(emulator: Emulator, clock: FakeClock) -> None:
    task_id = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "x [sandbox:fail]"})["task_id"]
    clock.sleep(60)
    data = get(emulator, task_id)
    assert data["status"] == "failed" and data["error"]["code"] != 0 and data["error"]["message"]
    assert data["meta"]["usage"]["consume"] == 0 and data["output"] is None


def test_seconds_marker_and_speed(clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, speed=10)
    task_id = create(emulator, "kling", "video_generation", {"prompt": "x [sandbox:seconds=100]"})["task_id"]
    clock.sleep(9)
    assert get(emulator, task_id)["status"] == "processing"
    clock.sleep(2)
    assert get(emulator, task_id)["status"] == "completed"


def test_staged_marker_and_concurrency_limit(clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, concurrency=1)
    marked = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "x [sandbox:staged]"})
    assert marked["status"] == "staged"
    clock.sleep(60)
    first = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "a [sandbox:seconds=10]"})["task_id"]
    second = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "b [sandbox:seconds=10]"})["task_id"]
    clock.sleep(2)
    assert [get(emulator, t)["status"] for t in (first, second)] == ["processing", "staged"]
    clock.sleep(10)
    assert [get(emulator, t)["status"] for t in (first, second)] == ["completed", "processing"]


def test_webhook_secret_is_echoed_as_the_real_api_does(emulator: Emulator) -> None:
    config = {"webhook_config": {"endpoint": "https://hooks.example/x", "secret": "s3cret"}}
    created = create(emulator, "luma", "video_generation", {"prompt": "x"}, config=config)
    assert created["config"]["webhook_config"] == {"endpoint": "https://hooks.example/x", "secret": "s3cret"}


@pytest.mark.parametrize(("headers", "emulator_key"), [({"x-api-key": ""}, None), ({"x-api-key": "wrong"}, "right")])
def test_auth_is_required(clock: FakeClock, headers: dict[str, str], emulator_key: str | None) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, api_key=emulator_key)
    status, doc, _ = call(emulator, "GET", "/api/v1/task/x", headers=headers)
    assert status == 401 and doc == {"code": 401, "message": "Invalid API key"}
    assert call(emulator, "GET", "/api/v1/task/x", headers={"X-API-KEY": emulator_key or "k"})[0] == 404


@pytest.mark.parametrize(("body", "message"), [
    ({"task_type": "txt2img", "input": {}}, "model is required"),
    ({"model": "Qubico/flux1-dev", "input": {"prompt": "x"}}, "task_type is required"),
    ({"model": "Qubico/flux1-dev", "task_type": "txt2img"}, "input is required"),
    ({"model": "dall-e", "task_type": "txt2img", "input": {"prompt": "x"}}, "model dall-e is not supported"),
    ({"model": "Qubico/flux1-dev", "task_type": "txt2vid", "input": {"prompt": "x"}}, "task_type txt2vid"),
    ({"model": "suno", "task_type": "generate_music", "input": {"prompt": "x"}}, "discontinued"),
    ({"model": "Qubico/tts", "task_type": "zero-shot", "input": {"gen_text": "x", "ref_audio": "y"}}, "service_mode"),
    ({"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"width": 5}}, "input.prompt is required"),
])  # fmt: skip
def test_requests_are_validated_as_the_real_api_does(emulator: Emulator, body: dict[str, Any], message: str) -> None:
    status, doc, _ = call(emulator, "POST", "/api/v1/task", body)
    assert status == 400 and doc["code"] == 400 and message in doc["message"]
    assert list(emulator.store.all()) == []
    assert call(emulator, "POST", "/api/v1/task", None)[0] == 400


def test_cancel_only_while_pending(emulator: Emulator, clock: FakeClock) -> None:
    pending = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "x"})["task_id"]
    status, doc, _ = call(emulator, "DELETE", f"/api/v1/task/{pending}")
    assert (status, doc) == (200, {"code": 200, "message": f"task {pending} canceled"})
    assert Task.from_api(get(emulator, pending)).status == "cancelled"
    running = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "y"})["task_id"]
    clock.sleep(1)
    assert call(emulator, "DELETE", f"/api/v1/task/{running}")[0] == 400
    assert call(emulator, "DELETE", "/api/v1/task/00000000-0000-0000-0000-000000000000")[0] == 404


def _files(
    emulator: Emulator, clock: FakeClock, model: str, task_type: str, task_input: dict[str, Any]
) -> dict[str, bytes]:
    task_id = create(emulator, model, task_type, task_input)["task_id"]
    clock.sleep(60)
    task = Task.from_api(get(emulator, task_id))
    found = {}
    for item in task.urls:
        path = httpx.URL(item.url).path
        status, _, reply = call(emulator, "GET", path, headers={})
        assert status == 200 and reply.headers["content-length"] == str(len(reply.body))
        found[item.path] = reply.body
    return found


def test_images_are_real_pngs(emulator: Emulator, clock: FakeClock) -> None:
    image = _files(emulator, clock, "Qubico/flux1-dev", "txt2img", {"prompt": "a cat"})["image_url"]
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", image[16:24])
    length = struct.unpack(">I", image[33:37])[0]
    assert image[37:41] == b"IDAT"
    pixels = zlib.decompress(image[41 : 41 + length])
    assert (width, height) == (512, 512) and len(pixels) == height * (1 + 3 * width)


def test_audio_is_real_wav_and_3d_is_real_glb_and_video_is_mp4(emulator: Emulator, clock: FakeClock) -> None:
    audio = _files(emulator, clock, "Qubico/ace-step", "txt2audio", {"style_prompt": "jazz"})["audio_url"]
    with wave.open(BytesIO(audio)) as sound:
        assert sound.getnchannels() == 1 and sound.getnframes() > 0
    model = _files(emulator, clock, "Qubico/trellis", "text-to-3d", {"prompt": "a chair"})
    glb = model["model_file"]
    magic, version, total, chunk_length, chunk_type = struct.unpack("<4sIII4s", glb[:20])
    assert (magic, version, total, chunk_type) == (b"glTF", 2, len(glb), b"JSON")
    assert json.loads(glb[20 : 20 + chunk_length])["asset"]["version"] == "2.0"
    video = model["combined_video"]
    assert video[4:8] == b"ftyp" and b"moov" in video and b"avc1" in video


def test_downloads_support_head_and_ranges(emulator: Emulator, clock: FakeClock) -> None:
    task_id = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "x"})["task_id"]
    clock.sleep(60)
    path = f"/files/{task_id}/0.png"
    whole = call(emulator, "GET", path)[2].body
    head = call(emulator, "HEAD", path)[2]
    assert head.body == b"" and head.headers["content-length"] == str(len(whole))
    part = call(emulator, "GET", path, headers={"Range": "bytes=10-"})[2]
    assert part.status == 206 and part.body == whole[10:]
    assert part.headers["content-range"] == f"bytes 10-{len(whole) - 1}/{len(whole)}"
    assert call(emulator, "GET", path, headers={"range": f"bytes={len(whole)}-"})[0] == 416
    assert call(emulator, "GET", f"/files/{task_id}/7.wav")[0] == 404


def test_uploads_round_trip_and_are_limited_to_10_mb(emulator: Emulator) -> None:
    content = b"\x89PNG fake image bytes"
    status, doc, _ = call(emulator, "POST", "/api/ephemeral_resource",
                          {"file_name": "cat.png", "file_data": "data:image/png;base64," + base64.b64encode(content).decode()})  # fmt: skip
    assert status == 200 and doc["code"] == 200
    url = httpx.URL(doc["data"]["url"])
    status, _, reply = call(emulator, "GET", url.path, headers={})
    assert status == 200 and reply.body == content and reply.headers["content-type"] == "image/png"
    big = base64.b64encode(b"\0" * (10 * 1024 * 1024 + 1)).decode()
    assert (
        "10 MB"
        in call(emulator, "POST", "/api/ephemeral_resource", {"file_name": "a.png", "file_data": big})[1]["message"]
    )
    assert call(emulator, "POST", "/api/ephemeral_resource", {"file_name": "noext", "file_data": "AA=="})[0] == 400
    assert call(emulator, "POST", "/api/ephemeral_resource", {"file_name": "a.png", "file_data": "%%%"})[0] == 400


class Script:
    """A random source that answers from a list, to pick which requests a fault hits."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0) if self.values else 0.99


def test_fault_rates_answer_500_and_429_with_retry_after(clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, faults=Faults(fail_rate=1.0))
    assert call(emulator, "GET", "/account/info")[0] == 500
    emulator = Emulator(MemoryStore(), clock=clock, faults=Faults(rate_limit_rate=1.0, retry_after=3))
    status, _, reply = call(emulator, "GET", "/account/info")
    assert status == 429 and reply.headers["retry-after"] == "3"


def test_latency_delays_every_answer(clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, sleep=clock.sleep, faults=Faults(latency=0.25))
    call(emulator, "GET", "/account/info")
    assert clock.sleeps == [0.25]


def test_dropped_create_was_carried_out_but_its_answer_lost(clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, faults=Faults(drop_rate=0.5), rng=Script(0.1))
    with Client("k", emulator.base_url, transport=transport_for(emulator), sleep=clock.sleep) as client:
        with pytest.raises(Exception, match="answer was lost"):
            client.create_task("Qubico/flux1-dev", "txt2img", {"prompt": "x"})
    assert len(list(emulator.store.all())) == 1  # the task exists: exactly why creates are not resent


def test_client_rides_out_injected_rate_limits_on_reads(clock: FakeClock) -> None:
    emulator = Emulator(MemoryStore(), clock=clock, faults=Faults(rate_limit_rate=0.5), rng=Script(0.1, 0.1, 0.9))
    with Client("k", emulator.base_url, transport=transport_for(emulator), sleep=clock.sleep) as client:
        assert client.account_info()["plan"] == "sandbox"
    assert clock.sleeps == [1.0, 1.0]  # two 429s, each honouring Retry-After: 1


def test_truncated_downloads_keep_their_content_length(emulator: Emulator, clock: FakeClock) -> None:
    task_id = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "x"})["task_id"]
    clock.sleep(60)
    whole = call(emulator, "GET", f"/files/{task_id}/0.png")[2]
    emulator.faults.truncate_downloads = True
    reply = call(emulator, "GET", f"/files/{task_id}/0.png")[2]
    assert reply.drop and reply.headers["content-length"] == whole.headers["content-length"]
    assert reply.body == whole.body[: len(whole.body) // 2]


def test_large_outputs_are_streamed_and_padded(emulator: Emulator, clock: FakeClock) -> None:
    task_id = create(emulator, "kling", "video_generation", {"prompt": "big [sandbox:bytes=5000000]"})["task_id"]
    clock.sleep(60)
    reply = call(emulator, "GET", f"/files/{task_id}/0.mp4")[2]
    assert reply.body == b"" and reply.stream is not None and reply.headers["content-length"] == "5000000"
    content = b"".join(reply.stream)
    assert len(content) == 5_000_000 and content[4:8] == b"ftyp"
    part = call(emulator, "GET", f"/files/{task_id}/0.mp4", headers={"range": "bytes=4999990-"})[2]
    assert part.stream is not None and b"".join(part.stream) == bytes(10)


# --- payloads as PiAPI sends them, through piapi's own parsing -------------------------------

USAGE_CASES = [
    # (model, task_type, input, usage type, output paths once completed)
    ("midjourney", "imagine", {"prompt": "x"}, "point", ["image_url"] + [f"temporary_image_urls[{i}]" for i in range(4)]),
    ("music-u", "generate_music", {"gpt_description_prompt": "x"}, "point", ["songs[0].image_path", "songs[0].song_path"]),
    ("kling", "video_generation", {"prompt": "x", "version": "3.0"}, "point", ["video"]),
    ("kling", "omni_video_generation", {"prompt": "x"}, "point", ["video"]),
    ("Qubico/pixal3d", "image-to-3d", {"image": "https://x/a.png"}, "point", ["model_file"]),
    ("Qubico/trellis", "image-to-3d", {"image": "https://x/a.png"}, "llm", ["model_file", "combined_video", "no_background_image"]),
    ("Qubico/trellis2", "image-to-3d", {"image": "https://x/a.png"}, "llm", ["model_file", "combined_video", "no_background_image"]),
    ("sora2", "sora2-video", {"prompt": "x"}, "llm", ["video"]),
    ("Qubico/ace-step", "txt2audio", {"style_prompt": "jazz"}, "llm", ["audio_url"]),
    ("Qubico/video-toolkit", "upscale", {"video": "https://x/a.mp4"}, "llm", ["video_url"]),
    ("Qubico/flux1-dev", "txt2img", {"prompt": "x"}, "quota", ["image_url"]),
    ("kling", "sound", {"prompt": "a violin"}, "quota", ["audio_url"]),
]  # fmt: skip


@pytest.mark.parametrize(("model", "task_type", "task_input", "kind", "paths"), USAGE_CASES)
def test_usage_timeline_and_outputs_read_by_piapis_own_task_parsing(
    emulator: Emulator,
    clock: FakeClock,
    model: str,
    task_type: str,
    task_input: dict[str, Any],
    kind: str,
    paths: list[str],
) -> None:
    task_id = create(emulator, model, task_type, {**task_input, "note": "[sandbox:seconds=10]"})["task_id"]
    pending = Task.from_api(get(emulator, task_id))
    charge = pending.usage["frozen"] or pending.usage["consume"]
    assert pending.status == "pending" and pending.usage["type"] == kind and charge > 0
    clock.sleep(5)
    running = Task.from_api(get(emulator, task_id))
    assert running.status == "processing"
    clock.sleep(60)
    done = Task.from_api(get(emulator, task_id))
    assert done.succeeded and [u.path for u in done.urls] == paths
    if kind == "point":  # held from the start, then frozen = consume: never to be added up
        assert pending.usage == running.usage == {"type": "point", "frozen": charge, "consume": 0}
        # pixal3d's completed payload shows the hold released: frozen 0 beside the whole consume
        thawed = 0 if model == "Qubico/pixal3d" else charge
        assert done.usage == {"type": "point", "frozen": thawed, "consume": charge}
    else:  # the whole charge from the start
        assert pending.usage == running.usage == done.usage == {"type": kind, "frozen": 0, "consume": charge}
    assert pending.credits == running.credits == done.credits == charge
    for item in done.urls:  # every URL it names is served
        status, _, reply = call(emulator, "GET", httpx.URL(item.url).path, headers={})
        assert status == 200 and len(reply.body) > 0


@pytest.mark.parametrize("kind", ["point", "llm"])
def test_failed_and_canceled_tasks_charge_nothing_whatever_the_usage_type(
    emulator: Emulator, clock: FakeClock, kind: str
) -> None:
    model, task_type, task_input = next((m, t, i) for m, t, i, k, _ in USAGE_CASES if k == kind)
    failed = create(emulator, model, task_type, {**task_input, "note": "[sandbox:fail]"})["task_id"]
    canceled = create(emulator, model, task_type, task_input)["task_id"]
    assert call(emulator, "DELETE", f"/api/v1/task/{canceled}")[0] == 200
    clock.sleep(60)
    for task_id in (failed, canceled):
        task = Task.from_api(get(emulator, task_id))
        assert task.is_terminal and not task.succeeded
        assert task.usage == {"type": kind, "frozen": 0, "consume": 0} and task.credits is None


def test_music_u_song_has_the_published_shape_from_pending_to_completed(emulator: Emulator, clock: FakeClock) -> None:
    created_fixture, completed_fixture = (
        fixture("music-u-created.json")["data"],
        fixture("music-u-completed.json")["data"],
    )
    created = create(
        emulator, "music-u", "generate_music", {"gpt_description_prompt": "the sea", "lyrics_type": "generate"}
    )
    assert created["output"] == created_fixture["output"] == {"generation_id": "", "songs": None}
    assert created["logs"] is None and created_fixture["logs"] is None
    assert Task.from_api(created).urls == []
    clock.sleep(60)
    done = get(emulator, created["task_id"])
    assert set(done["output"]) == set(completed_fixture["output"])
    song, real = done["output"]["songs"][0], completed_fixture["output"]["songs"][0]
    assert set(song) == set(real)
    assert [type(song[k]) for k in sorted(real) if real[k] is not None] == [
        type(real[k]) for k in sorted(real) if real[k] is not None
    ]
    assert song["finished"] is True and song["duration"] > 0 and done["output"]["generation_id"]
    audio = call(emulator, "GET", httpx.URL(song["song_path"]).path)[2]
    with wave.open(BytesIO(audio.body)) as sound:
        assert sound.getnframes() > 0
    # the lyrics task of the same model keeps its own shape
    lyrics = create(emulator, "music-u", "generate_lyrics", {"prompt": "the sea"})
    assert lyrics["output"] is None


def test_kling_3_and_omni_hold_a_video_skeleton_while_pending(emulator: Emulator, clock: FakeClock) -> None:
    for task_type, extra in (("omni_video_generation", {}), ("video_generation", {"version": "3.0"})):
        created = create(emulator, "kling", task_type, {"prompt": "x", **extra})
        assert created["output"] == {"video": ""} and created["meta"]["usage"]["type"] == "point"
        clock.sleep(60)
        done = get(emulator, created["task_id"])
        assert set(done["output"]) == {"video"} and done["output"]["video"].endswith(".mp4")
    # older Kling versions keep the works[] shape and quota usage
    older = create(emulator, "kling", "video_generation", {"prompt": "x", "version": "2.6"})
    assert older["output"] is None and older["meta"]["usage"]["type"] == "quota"


def test_kling_sound_returns_an_audio_file(emulator: Emulator, clock: FakeClock) -> None:
    task_id = create(emulator, "kling", "sound", {"prompt": "a violin", "duration": 5})["task_id"]
    clock.sleep(60)
    task = Task.from_api(get(emulator, task_id))
    assert [u.path for u in task.urls] == ["audio_url"]
    reply = call(emulator, "GET", httpx.URL(task.urls[0].url).path)[2]
    assert reply.headers["content-type"] == "audio/wav" and reply.body[:4] == b"RIFF"


def test_pixal3d_returns_only_the_model_file(emulator: Emulator, clock: FakeClock) -> None:
    created = create(emulator, "Qubico/pixal3d", "image-to-3d", {"image": "https://x/a.png"})
    clock.sleep(60)
    done = get(emulator, created["task_id"])
    assert list(done["output"]) == ["model_file"]
    glb = call(emulator, "GET", httpx.URL(done["output"]["model_file"]).path)[2].body
    assert glb[:4] == b"glTF"


def test_sandbox_music_task_through_the_cli_downloads_song_and_cover(cli: Any, tmp_path: Any) -> None:
    result = cli("create", "-m", "music-u", "-t", "generate_music", "-i", "gpt_description_prompt=the sea",
                 "--wait", "--download", str(tmp_path / "out"), "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    saved = sorted(p.suffix for p in (tmp_path / "out").iterdir())
    assert saved == [".png", ".wav"]
    usage = cli("tasks", "usage", "--json").json()
    assert usage[0]["credits"] == 100000  # the charge once, not frozen + consume


# --- webhook endpoints are checked at create ------------------------------------------------


@pytest.mark.parametrize("webhook", [
    {"endpoint": "not a url", "secret": ""},
    {"endpoint": "ftp://x", "secret": ""},
    {"endpoint": "http://", "secret": ""},
    {"endpoint": "http://host:99999/hook", "secret": ""},
    {"endpoint": "javascript:alert(1)", "secret": ""},
    {"endpoint": "http://hooks.example/a\nb", "secret": ""},
    {"endpoint": "http://hooks.example/a b", "secret": ""},
    {"endpoint": 5, "secret": ""},
    {"endpoint": "https://hooks.example/x", "secret": 5},
    "https://hooks.example/x",
])  # fmt: skip
def test_a_webhook_that_cannot_be_delivered_is_refused_at_create(emulator: Emulator, webhook: Any) -> None:
    body = {"model": "Qubico/flux1-dev", "task_type": "txt2img", "input": {"prompt": "x"},
            "config": {"webhook_config": webhook}}  # fmt: skip
    status, doc, reply = call(emulator, "POST", "/api/v1/task", body)
    assert status == 400 and reply.headers["content-type"] == "application/json"
    assert set(doc) == {"code", "message"} and doc["code"] == 400 and "webhook_config" in doc["message"]
    assert list(emulator.store.all()) == [] and not emulator.hooked


@pytest.mark.parametrize(
    "endpoint", ["", "http://127.0.0.1:9/hook", "https://hooks.example/x?k=1", "http://[::1]:8080/"]
)
def test_deliverable_or_empty_webhook_endpoints_are_accepted(emulator: Emulator, endpoint: str) -> None:
    created = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "x"},
                     config={"webhook_config": {"endpoint": endpoint, "secret": "s" if endpoint else None}})  # fmt: skip
    assert created["config"]["webhook_config"]["endpoint"] == endpoint
    assert (created["task_id"] in emulator.hooked) == bool(endpoint)
