"""The task object: parsed tolerantly, statuses and timestamps read as the API means them."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from piapi_cli.api.tasks import REDACTED, Task, normalize_status, output_urls, parse_timestamp
from tests.conftest import fixture


def test_created_flux_task_is_pending_with_no_times_yet() -> None:
    task = Task.from_api(fixture("flux-img2img-created.json")["data"])
    assert task.task_id == "1631d053-2352-4add-95cc-360fc52d5f89"
    assert task.status == "pending" and not task.is_terminal
    assert task.created_at == datetime(2024, 9, 25, 7, 40, 8, 333962, tzinfo=timezone.utc)
    assert task.started_at is None and task.ended_at is None  # Go zero time = not yet
    assert task.urls == [] and task.credits == 20000
    assert not task.error


def test_completed_kontext_task_has_its_image_and_cost() -> None:
    task = Task.from_api(fixture("flux-kontext-completed.json")["data"])
    assert task.succeeded and task.is_terminal
    assert [(u.path, u.url) for u in task.urls] == [
        ("image_url", "https://img.theapi.app/temp/10f0a646-6155-4938-bf50-76934c953e9c.png")
    ]
    assert task.usage["type"] == "llm" and task.credits == 200000


def test_midjourney_output_lists_every_image_once_with_its_path() -> None:
    task = Task.from_api(fixture("midjourney-imagine-completed.json")["data"])
    paths = [u.path for u in task.urls]
    assert paths == ["image_url"] + [f"temporary_image_urls[{i}]" for i in range(4)]
    assert task.progress == 100.0


def test_kling_works_and_luma_nested_video_are_found() -> None:
    kling = [u.path for u in output_urls(fixture("kling-output.json"))]
    assert kling == ["works[0].cover.resource", "works[0].video.resource", "works[0].video.resource_without_watermark"]
    luma = Task.from_api(fixture("webhook-delivery.json")["data"])
    assert [u.path for u in luma.urls] == ["generation.video.url"]


@pytest.mark.parametrize(
    ("output", "path"),
    [
        ({"video": "https://x/v.mp4"}, "video"),
        ({"video_url": "https://x/v.mp4"}, "video_url"),
        ({"audio_url": "https://x/a.mp3"}, "audio_url"),
        ({"clips": {"abc-1": {"audio_url": "https://x/a.mp3"}}}, 'clips["abc-1"].audio_url'),
        ({"model_file": "https://x/m.glb", "combined_video": ""}, "model_file"),
        ({"video": {"url": "https://x/v.mp4", "width": 1}}, "video.url"),
    ],
)
def test_every_output_shape_yields_its_urls(output: dict[str, object], path: str) -> None:
    assert [u.path for u in output_urls(output)] == [path]


def test_non_urls_and_empty_strings_are_not_outputs() -> None:
    assert output_urls({"image_url": "", "image_base64": "", "description": "a cat", "x": None}) == []
    assert output_urls(None) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Completed", "completed"),
        (" PENDING ", "pending"),
        ("canceled", "cancelled"),
        ("", "unreported"),
        (None, "unreported"),
        ("brand_new", "brand_new"),
    ],
)
def test_status_is_compared_case_insensitively(raw: object, expected: str) -> None:
    assert normalize_status(raw) == expected


def test_unknown_status_is_not_terminal_and_cancelled_is() -> None:
    assert not Task.from_api({"task_id": "a", "status": "queued_somewhere"}).is_terminal
    cancelled = Task.from_api({"task_id": "a", "status": "canceled"})
    assert cancelled.is_terminal and not cancelled.succeeded


def test_timestamps_with_nine_digits_and_offsets() -> None:
    assert parse_timestamp("2025-06-30T07:11:31.891665902Z") == datetime(
        2025, 6, 30, 7, 11, 31, 891665, tzinfo=timezone.utc
    )
    assert parse_timestamp("2024-08-24T14:59:14.0Z") == datetime(2024, 8, 24, 14, 59, 14, tzinfo=timezone.utc)
    assert parse_timestamp("2024-08-24T16:59:14+02:00") == datetime(2024, 8, 24, 14, 59, 14, tzinfo=timezone.utc)
    assert parse_timestamp("0001-01-01T00:00:00Z") is None
    assert parse_timestamp("garbage") is None


def test_null_fields_and_unknown_fields_are_tolerated() -> None:
    task = Task.from_api(
        {
            "task_id": "t",
            "status": "failed",
            "meta": None,
            "error": None,
            "input": {},
            "output": None,
            "logs": None,
            "brand_new_field": {"x": 1},
        }
    )
    assert task.failure_message() == "task failed"
    assert task.to_json()["brand_new_field"] == {"x": 1}


def test_failed_task_explains_itself() -> None:
    task = Task.from_api(
        {
            "task_id": "t",
            "status": "failed",
            "error": {"code": 10000, "message": "task failed", "raw_message": "nsfw detected"},
        }
    )
    assert task.failure_message() == "task failed (nsfw detected) [code 10000]"


def test_webhook_secret_echoed_by_the_api_is_redacted_in_json() -> None:
    task = Task.from_api(fixture("webhook-delivery.json")["data"])
    assert task.raw["config"]["webhook_config"]["secret"] == "123456"
    assert task.to_json()["config"]["webhook_config"] == {"endpoint": "https://webhook.site/xxx", "secret": REDACTED}


def test_scrub_replaces_real_secrets_but_not_every_letter() -> None:
    from piapi_cli.api.tasks import scrub

    key = "pk-0123456789abcdef"
    assert scrub(f"bad key {key} given", key) == "bad key *** given"
    assert scrub("task abc not found", "k", None, "") == "task abc not found"


def test_scrub_catches_a_secret_in_the_forms_a_server_echoes_it() -> None:
    from urllib.parse import quote

    from piapi_cli.api.tasks import scrub

    key = 'pk/live+"quoted" key=='
    echoed = f"plain {key} url {quote(key, safe='')} json {json.dumps(key)}"
    cleaned = scrub(echoed, key)
    assert "pk" not in cleaned and "quoted" not in cleaned and cleaned.count("***") == 3
