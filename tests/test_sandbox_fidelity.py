"""The sandbox answers as PiAPI's real payloads show: 9-digit timestamps, the input echoed
with its defaults filled in, ``llm`` usage where the API says so, and uploads refused for
file types the endpoint does not take."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from piapi_cli.api.tasks import Task
from piapi_cli.sandbox import Emulator
from tests.conftest import FakeClock

KEY = {"x-api-key": "k"}


def call(emulator: Emulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    reply = emulator.handle(method, path, KEY, json.dumps(body).encode() if body is not None else b"")
    return reply.status, json.loads(reply.body)


def create(emulator: Emulator, model: str, task_type: str, task_input: dict[str, Any]) -> dict[str, Any]:
    status, doc = call(emulator, "POST", "/api/v1/task", {"model": model, "task_type": task_type, "input": task_input})
    assert status == 200, doc
    data: dict[str, Any] = doc["data"]
    return data


def test_timestamps_carry_nine_fraction_digits_and_read_back(emulator: Emulator, clock: FakeClock) -> None:
    clock.now = 1_767_142_016.642788022
    task = create(emulator, "Qubico/flux1-dev", "txt2img", {"prompt": "x"})
    stamp = task["meta"]["created_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp), stamp
    assert stamp.startswith("2025-12-31T00:46:56.6427")
    assert Task.from_api(task).created_at is not None


def test_the_input_is_echoed_with_its_defaults_filled_in(emulator: Emulator) -> None:
    task = create(emulator, "midjourney", "imagine", {"prompt": "a lighthouse"})
    assert task["input"] == {"prompt": "a lighthouse", "aspect_ratio": "1:1", "skip_prompt_check": False}
    given = create(emulator, "midjourney", "imagine", {"prompt": "x", "aspect_ratio": "16:9"})
    assert given["input"]["aspect_ratio"] == "16:9"  # what was sent wins


@pytest.mark.parametrize(
    ("model", "task_type", "task_input"),
    [
        ("seedance", "seedance-2-preview", {"prompt": "waves"}),
        ("seedream", "seedream-5-lite", {"prompt": "a cat"}),
    ],
)
def test_usage_is_llm_where_the_api_says_so(
    emulator: Emulator, model: str, task_type: str, task_input: dict[str, Any]
) -> None:
    usage = create(emulator, model, task_type, task_input)["meta"]["usage"]
    assert usage["type"] == "llm" and usage["frozen"] == 0 and usage["consume"] > 0


@pytest.mark.parametrize(
    ("name", "data", "accepted"),
    [
        ("cat.png", base64.b64encode(b"\x89PNG....").decode(), True),
        ("clip.MP4", base64.b64encode(b"....").decode(), True),
        ("tool.exe", base64.b64encode(b"MZ").decode(), False),
        ("notes.bin", base64.b64encode(b"..").decode(), False),
        ("cat.png", "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode(), True),
        ("cat.jpg", "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode(), False),
    ],
)
def test_uploads_of_types_the_endpoint_does_not_take_are_refused(
    emulator: Emulator, name: str, data: str, accepted: bool
) -> None:
    status, doc = call(emulator, "POST", "/api/ephemeral_resource", {"file_name": name, "file_data": data})
    if accepted:
        assert status == 200 and doc["data"]["url"].endswith("/" + name)
    else:
        assert status == 400 and doc["message"].startswith("Invalid request parameters")
