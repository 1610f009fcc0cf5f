"""The ``output`` object and ``meta.usage`` of each model family, in the shapes PiAPI really sends."""

from __future__ import annotations

import hashlib
from typing import Any

VIDEO_URL_MODELS = {
    "hailuo", "Qubico/hunyuan", "Qubico/wanx", "Qubico/skyreels", "Qubico/video-toolkit", "veo3", "veo3.1",
    "Wan", "Qubico/framepack", "omni-human", "Qubico/hug-video",
}  # fmt: skip
MJ_TEXT = {"describe", "seed"}

#: ``meta.usage.type`` as real payloads show it; any other model keeps the older ``quota``
POINT_MODELS = {"midjourney", "music-u", "Qubico/pixal3d"}
LLM_MODELS = {"Qubico/trellis", "Qubico/trellis2", "sora2", "Qubico/ace-step", "Qubico/video-toolkit", "kling-turbo"}
#: task types whose published payloads say ``llm`` (the one Flux task type, two ByteDance ones)
LLM_TASKS = {
    ("Qubico/flux1-dev-advanced", "kontext"), ("seedance", "seedance-2-preview"), ("seedream", "seedream-5-lite")
}  # fmt: skip
#: ``point`` models whose completed task shows ``frozen`` 0 beside the whole ``consume``
POINT_THAWED = {"Qubico/pixal3d"}
RUNNING = ("pending", "staged", "processing")


def _url(base: str, record: dict[str, Any], index: int, ext: str) -> str:
    return f"{base}/files/{record['task_id']}/{index}.{ext}"


def _words(record: dict[str, Any]) -> str:
    prompt = record["input"].get("prompt") or record["input"].get("gpt_description_prompt") or "an image"
    return str(prompt).split("[sandbox:")[0].strip() or "an image"


def kling_v3(record: dict[str, Any]) -> bool:
    """Kling 3.0 (``version`` 3.x) and the omni task type: a plain ``{video}`` output, ``point`` usage."""
    if record["model"] != "kling":
        return False
    version = record["input"].get("version")
    return record["task_type"] == "omni_video_generation" or (isinstance(version, str) and version.startswith("3"))


def usage_type(record: dict[str, Any]) -> str:
    model = record["model"]
    if model in POINT_MODELS or kling_v3(record):
        return "point"
    if model in LLM_MODELS or (model, record["task_type"]) in LLM_TASKS:
        return "llm"
    return "quota"


def usage_for(record: dict[str, Any], status: str) -> dict[str, Any]:
    """``meta.usage`` at ``status``. ``point`` holds the charge as ``frozen`` while the task runs and
    shows ``frozen`` = ``consume`` once it completes; ``llm`` (and ``quota``, as the published Flux
    payloads show) carry the whole ``consume`` from the start, ``frozen`` 0. A failed or canceled
    task is charged nothing."""
    kind, charge = usage_type(record), record["charge"]
    if status == "completed":
        frozen = charge if kind == "point" and record["model"] not in POINT_THAWED else 0
        return {"type": kind, "frozen": frozen, "consume": charge}
    if status not in RUNNING:
        return {"type": kind, "frozen": 0, "consume": 0}
    if kind == "point":
        return {"type": kind, "frozen": charge, "consume": 0}
    return {"type": kind, "frozen": 0, "consume": charge}


def logs_for(record: dict[str, Any]) -> list[Any] | None:
    """``logs``: an empty list, but ``null`` where real payloads show it (Udio, Luma)."""
    return None if record["model"] in ("music-u", "luma") else []


def _midjourney(record: dict[str, Any], done: bool, progress: int, base: str) -> dict[str, Any]:
    task_type = record["task_type"]
    if task_type == "describe":
        return {
            "description": "1\ufe0f\u20e3 a sandbox picture, soft light --ar 1:1" if done else "",
            "progress": progress,
        }
    if task_type == "seed":
        return {"seed": int(hashlib.sha256(record["task_id"].encode()).hexdigest()[:8], 16) if done else 0}
    if not done:
        return {
            "image_url": "", "image_urls": None, "temporary_image_urls": None, "discord_image_url": "",
            "actions": [], "progress": progress, "intermediate_image_urls": None,
        }  # fmt: skip
    if task_type == "upscale":
        return {
            "image_url": _url(base, record, 0, "png"), "image_urls": None, "temporary_image_urls": None,
            "discord_image_url": "", "actions": ["high_variation", "low_variation", "outpaint_1.5x", "outpaint_2x"],
            "progress": 100, "intermediate_image_urls": None,
        }  # fmt: skip
    return {
        "image_url": _url(base, record, 0, "png"),
        "image_urls": None,
        "temporary_image_urls": [_url(base, record, i, "png") for i in range(1, 5)],
        "discord_image_url": "",
        "actions": ["reroll", "upscale1", "upscale2", "upscale3", "upscale4",
                    "variation1", "variation2", "variation3", "variation4"],
        "progress": 100,
        "intermediate_image_urls": None,
    }  # fmt: skip


def _kling(record: dict[str, Any], done: bool, base: str) -> dict[str, Any]:
    if record["task_type"] == "ai_try_on":
        return {"image_url": _url(base, record, 0, "png") if done else ""}
    if record["task_type"] == "sound":
        # the audio of a sound task; its exact field is not published, any walker finds the URL
        return {"audio_url": _url(base, record, 0, "wav") if done else ""}
    if kling_v3(record):
        return {"video": _url(base, record, 0, "mp4") if done else ""}
    if not done:
        return {"type": "m2v_txt2video_hq", "status": 5, "works": [], "video_url": ""}
    video, cover = _url(base, record, 0, "mp4"), _url(base, record, 1, "png")
    return {
        "type": "m2v_txt2video_hq",
        "status": 99,
        "works": [{
            "status": 99, "type": "m2v_txt2video_hq",
            "cover": {"resource": cover, "resource_without_watermark": "", "height": 720, "width": 1280, "duration": 0},
            "video": {"resource": video, "resource_without_watermark": video, "height": 720, "width": 1280,
                      "duration": 5000},
        }],
        "video_url": video,
    }  # fmt: skip


def _udio_song(record: dict[str, Any], base: str) -> dict[str, Any]:
    import uuid

    def made_up_id(salt: str) -> str:
        return str(uuid.UUID(hashlib.sha256(f"{salt}:{record['task_id']}".encode()).hexdigest()[:32]))

    words = _words(record)
    lyrics = record["input"].get("lyrics")
    return {
        "generation_id": made_up_id("generation"),
        "songs": [{
            "id": made_up_id("song"),
            "title": f"Song about {words}"[:80],
            "image_path": _url(base, record, 1, "png"),
            "lyrics": lyrics if isinstance(lyrics, str) else "[Verse]\nla la la",
            "prompt": words,
            "song_path": _url(base, record, 0, "wav"),
            "duration": 1.0,
            "finished": True,
            "tags": ["sandbox", "pop"],
            "error_type": None, "error_code": None, "error_detail": None,
        }],
    }  # fmt: skip


def _skeleton(record: dict[str, Any]) -> dict[str, Any] | None:
    """What a few models show as ``output`` before they start: a zeroed object, not null."""
    if record["model"] == "music-u" and record["task_type"] == "generate_music":
        return {"generation_id": "", "songs": None}
    if kling_v3(record):
        return {"video": ""}
    return None


def output_for(record: dict[str, Any], status: str, progress: int, base: str) -> Any:
    """The output at ``status``: null (or a skeleton) until processing, a zeroed skeleton while it runs."""
    if status in ("failed", "canceled"):
        return None
    if status in ("pending", "staged"):
        return _skeleton(record)
    done = status == "completed"
    model, kind = record["model"], record["kind"]
    if model == "midjourney":
        return _midjourney(record, done, progress, base)
    if model in ("kling", "kling-turbo"):
        return _kling(record, done, base)
    if model == "music-u" and record["task_type"] == "generate_music":
        return _udio_song(record, base) if done else _skeleton(record)
    if model in ("sora2", "seedance"):
        return {"video": _url(base, record, 0, "mp4") if done else ""}
    if model == "luma":
        if not done:
            return {"video": None, "video_raw": None, "thumbnail": None, "last_frame": None}
        return {
            "video": {"url": _url(base, record, 0, "mp4"), "width": 1360, "height": 752},
            "video_raw": {"url": _url(base, record, 1, "mp4"), "width": 1360, "height": 752},
            "thumbnail": {"url": _url(base, record, 2, "png"), "width": 1360, "height": 752},
            "last_frame": {"url": _url(base, record, 3, "png"), "width": 1360, "height": 752},
        }
    if model in VIDEO_URL_MODELS:
        return {"video_url": _url(base, record, 0, "mp4") if done else ""}
    if model == "Qubico/pixal3d":
        return {"model_file": _url(base, record, 0, "glb") if done else ""}
    if kind == "3d":
        if not done:
            return {"model_file": "", "combined_video": "", "no_background_image": ""}
        return {
            "model_file": _url(base, record, 0, "glb"),
            "combined_video": _url(base, record, 1, "mp4"),
            "no_background_image": _url(base, record, 2, "png"),
        }
    if kind == "audio":
        return {"audio_url": _url(base, record, 0, "wav") if done else ""}
    if kind == "text":
        if model == "music-u":
            pairs = [{"title": f"Song about {_words(record)}", "text": "[Verse]\nla la la"}] if done else []
            return {"lyrics_pairs": pairs}
        return {"text": f"A sandbox caption of {_words(record)}." if done else ""}
    # Flux and the other image models
    count = record["input"].get("batch_size", 1)
    count = count if isinstance(count, int) and 1 < count <= 4 else 1
    output: dict[str, Any] = {"image_url": _url(base, record, 0, "png") if done else "", "image_base64": ""}
    if count > 1:
        output["image_urls"] = [_url(base, record, i, "png") for i in range(count)] if done else []
    return output


def echoed_input(record: dict[str, Any]) -> dict[str, Any]:
    """The input as the API echoes it: with the defaults of the fields it left out filled in."""
    from piapi_cli.core.catalog import load_catalog

    known = load_catalog().model(record["model"])
    spec = known.task_types.get(record["task_type"]) if known is not None else None
    if spec is None:
        return dict(record["input"])
    return {**{k: f.default for k, f in spec.fields.items() if f.default is not None}, **record["input"]}
