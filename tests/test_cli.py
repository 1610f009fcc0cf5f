"""The real CLI, in-process: every command, every exit code, stdout data vs stderr messages."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from piapi_cli.sandbox import Emulator
from tests.conftest import TEST_KEY, Cli, FakeClock, fixture

FLUX = ["create", "-m", "Qubico/flux1-dev", "-t", "txt2img"]


def test_create_prints_only_the_task_id_on_stdout(cli: Cli, emulator: Emulator) -> None:
    result = cli(*FLUX, "-i", "prompt=a little cat", "-i", "width=1024", "-i", "height=1024")
    assert result.exit_code == 0, result.stderr
    task_id = result.stdout.strip()
    assert len(task_id) == 36 and "\n" not in task_id
    record = emulator.store.get(task_id)
    assert record is not None and record["input"] == {"prompt": "a little cat", "width": 1024, "height": 1024}
    assert f"piapi wait {task_id}" in result.stderr


def test_create_wait_prints_the_output_urls_when_piped(cli: Cli, emulator: Emulator) -> None:
    result = cli(*FLUX, "-i", "prompt=a cat", "--wait")
    assert result.exit_code == 0, result.stderr
    [url] = result.stdout.splitlines()
    assert url.startswith(emulator.base_url) and url.endswith(".png")
    assert "completed" in result.stderr and "processing" in result.stderr  # one line per status change
    assert [m for m, _ in emulator.requests].count("POST") == 1


def test_create_wait_json_is_one_document(cli: Cli) -> None:
    result = cli("create", "-m", "midjourney", "-t", "imagine", "-i", "prompt=lighthouse", "--wait", "--json")
    doc = result.json()
    assert doc["status"] == "completed" and len(doc["output"]["temporary_image_urls"]) == 4


def test_jq_prints_strings_raw(cli: Cli) -> None:
    task_id = cli(*FLUX, "-i", "prompt=x", "--wait", "--jq", ".task_id").stdout.strip()
    assert len(task_id) == 36
    result = cli("get", task_id, "--jq", ".output.image_url")
    assert result.stdout.startswith("http://") and not result.stdout.startswith('"')
    assert cli("get", task_id, "--jq", ".meta.usage").stdout.startswith("{")


def test_bad_jq_expression_is_a_usage_error(cli: Cli) -> None:
    task_id = cli(*FLUX, "-i", "prompt=x").stdout.strip()
    result = cli("get", task_id, "--jq", ".[[[")
    assert result.exit_code == 2 and "invalid --jq expression" in result.stderr and result.stdout == ""


def test_failed_task_exits_7_with_its_error(cli: Cli) -> None:
    result = cli(*FLUX, "-i", "prompt=x [sandbox:fail]", "--wait")
    assert result.exit_code == 7
    assert "failed" in result.stderr and "asked to fail" in result.stderr
    assert cli("get", result.stdout.split("\t")[0]).exit_code == 7


def test_wait_deadline_exits_8_and_names_the_task(cli: Cli, clock: FakeClock) -> None:
    task_id = cli(*FLUX, "-i", "prompt=slow [sandbox:seconds=600]").stdout.strip()
    result = cli("wait", task_id, "--timeout", "30")
    assert result.exit_code == 8
    assert f"piapi wait {task_id}" in result.stderr and "not cancelled" in result.stderr
    assert result.stdout == f"{task_id}\tprocessing\n"


def test_wait_on_several_tasks_reports_the_worst(cli: Cli) -> None:
    good = cli(*FLUX, "-i", "prompt=ok").stdout.strip()
    bad = cli(*FLUX, "-i", "prompt=no [sandbox:fail]").stdout.strip()
    result = cli("wait", good, bad, "--json")
    assert result.exit_code == 7
    assert [t["status"] for t in result.json()] == ["completed", "failed"]


def test_wait_interval_caps_the_polling(cli: Cli, clock: FakeClock) -> None:
    task_id = cli(*FLUX, "-i", "prompt=slow [sandbox:seconds=100]").stdout.strip()
    assert cli("wait", task_id, "--interval", "2", "-q").exit_code == 0
    assert max(clock.sleeps) <= 2 * 1.1


def test_get_renders_several_tasks_as_an_array(cli: Cli) -> None:
    ids = [cli(*FLUX, "-i", f"prompt={n}").stdout.strip() for n in ("a", "b")]
    docs = cli("get", *ids, "--json").json()
    assert [d["task_id"] for d in docs] == ids


def test_get_unknown_task_exits_4(cli: Cli) -> None:
    result = cli("get", "00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 4 and "not found" in result.stderr and result.stdout == ""


def test_cancel_a_pending_task_and_refusal_of_a_running_one(cli: Cli, emulator: Emulator, clock: FakeClock) -> None:
    pending = cli(*FLUX, "-i", "prompt=x").stdout.strip()
    result = cli("cancel", pending)
    assert result.exit_code == 0 and result.stdout.strip() == pending
    assert cli("get", pending, "--jq", ".status").stdout.strip() == "canceled"
    running = cli(*FLUX, "-i", "prompt=y").stdout.strip()
    clock.sleep(1)
    refused = cli("cancel", running)
    assert refused.exit_code == 4 and "only a pending task" in refused.stderr


@pytest.mark.parametrize("args", [
    ["-i", "width=1024"],  # prompt missing
    ["-i", "prompt=x", "-i", "width=wide"],
    ["-i", "prompt=x", "-i", "guidance_scale=9"],
    ["-i", "prompt"],
    ["-i", "prompt=x", "--input-file", "/nonexistent/in.json"],
])  # fmt: skip
def test_invalid_input_exits_2_and_sends_nothing(cli: Cli, emulator: Emulator, args: list[str]) -> None:
    result = cli(*FLUX, *args)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == "" and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert emulator.requests == []


def test_no_validate_sends_what_the_catalog_would_refuse(cli: Cli, emulator: Emulator) -> None:
    result = cli(*FLUX, "-i", "prompt=x", "-i", "guidance_scale=9", "--no-validate")
    assert result.exit_code == 0 and emulator.requests == [("POST", "/api/v1/task")]


def test_unknown_model_warns_and_sends(cli: Cli, emulator: Emulator) -> None:
    result = cli("create", "-m", "brand-new", "-t", "x", "-i", "prompt=x")
    assert "warning: model 'brand-new' is not in piapi's catalog" in result.stderr
    assert emulator.requests == [("POST", "/api/v1/task")]
    assert result.exit_code == 4  # and the (emulated) API refuses it


def test_input_file_from_stdin_with_overrides(cli: Cli, emulator: Emulator) -> None:
    result = cli(*FLUX, "--input-file", "-", "-i", "width=512", input='{"prompt": "a fox", "width": 1024}')
    record = emulator.store.get(result.stdout.strip())
    assert record is not None and record["input"] == {"prompt": "a fox", "width": 512}


def test_dry_run_prints_the_body_redacted_and_sends_nothing(cli: Cli, emulator: Emulator) -> None:
    result = cli(
        *FLUX,
        "-i",
        "prompt=x",
        "--webhook",
        "https://hooks.example/p",
        "--webhook-secret",
        "hunter2hunter2",
        "--service-mode",
        "public",
        "--dry-run",
    )
    assert result.exit_code == 0 and emulator.requests == []
    body = result.json()
    assert body == {
        "model": "Qubico/flux1-dev",
        "task_type": "txt2img",
        "input": {"prompt": "x"},
        "config": {
            "service_mode": "public",
            "webhook_config": {"endpoint": "https://hooks.example/p", "secret": "<redacted>"},
        },
    }
    assert "hunter2hunter2" not in result.stdout + result.stderr


def test_tts_gets_the_service_mode_it_requires(cli: Cli) -> None:
    result = cli(
        "create",
        "-m",
        "Qubico/tts",
        "-t",
        "zero-shot",
        "-i",
        "gen_text=hi",
        "-i",
        "ref_audio=https://x/a.wav",
        "--dry-run",
    )
    assert result.json()["config"] == {"service_mode": "public"}


def test_webhook_secret_echoed_by_the_api_never_prints(cli: Cli) -> None:
    created = cli(
        *FLUX, "-i", "prompt=x", "--webhook", "https://hooks.example/p", "--webhook-secret", "hunter2hunter2", "--json"
    )
    assert created.json()["config"]["webhook_config"]["secret"] == "<redacted>"
    task_id = created.json()["task_id"]
    for args in (["get", task_id], ["get", task_id, "--json"], ["wait", task_id, "--json"]):
        result = cli(*args)
        assert "hunter2hunter2" not in result.stdout + result.stderr


def test_no_key_exits_3_and_mentions_the_sandbox(cli: Cli, emulator: Emulator) -> None:
    cli.env.pop("PIAPI_API_KEY")
    result = cli(*FLUX, "-i", "prompt=x")
    assert result.exit_code == 3 and "piapi config set-key" in result.stderr and "--sandbox" in result.stderr
    assert emulator.requests == []


def test_wrong_key_exits_3_without_printing_it(cli: Cli, emulator: Emulator) -> None:
    emulator.api_key = "the-right-key-000000"
    result = cli("get", "00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 3 and "401" in result.stderr and TEST_KEY not in result.stderr


def test_corrupt_config_exits_3_naming_the_file(cli: Cli, isolated: Path) -> None:
    path = isolated / "config" / "config.toml"
    path.parent.mkdir()
    path.write_text("[profiles.default\n")
    result = cli("get", "x")
    assert result.exit_code == 3 and str(path) in result.stderr and "Traceback" not in result.stderr


def answering(response: httpx.Response | Exception) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(("response", "code", "message"), [
    (httpx.Response(400, json={"code": 400, "message": "invalid request"}), 4, "invalid request"),
    (httpx.Response(403, json={"code": 403, "message": "Insufficient plan level"}), 3, "Insufficient plan level"),
    (httpx.Response(500, json={"code": 500, "message": "boom"}), 5, "boom"),
    (httpx.Response(502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"}), 5, "HTML page"),
    (httpx.Response(429, headers={"retry-after": "1"}), 6, "429"),
    (httpx.ConnectError("connection refused"), 5, "could not connect"),
    (httpx.ReadTimeout("read timed out"), 5, "timed out"),
])  # fmt: skip
def test_request_failures_map_to_documented_exit_codes(
    cli: Cli, response: httpx.Response | Exception, code: int, message: str
) -> None:
    cli.transport = answering(response)
    result = cli("get", "abc")
    assert result.exit_code == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


def test_create_answer_lost_is_exit_5_and_never_resent(cli: Cli) -> None:
    posts: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        posts.append(request)
        raise httpx.RemoteProtocolError("server disconnected")

    cli.transport = httpx.MockTransport(handle)
    result = cli(*FLUX, "-i", "prompt=x")
    assert result.exit_code == 5 and len(posts) == 1
    assert "not resent" in result.stderr


def test_internal_errors_exit_1_with_a_hint_and_debug_shows_the_traceback(cli: Cli) -> None:
    cli.transport = answering(RuntimeError("surprise"))
    result = cli("get", "abc")
    assert result.exit_code == 1 and "internal error" in result.stderr and "--debug" in result.stderr
    assert "Traceback" not in result.stderr
    debug = cli("--debug", "get", "abc")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("create", "-m", "x").exit_code == 2
    assert cli("create", *FLUX[1:], "--service-mode", "cheap").exit_code == 2
    assert cli("wait").exit_code == 2
    assert cli("frobnicate").exit_code == 2


def test_version_and_help(cli: Cli) -> None:
    assert cli("--version").stdout.startswith("piapi ")
    for command in ("create", "get", "wait", "cancel", "models", "config"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "Examples:" in result.stdout, command


def test_models_lists_and_filters(cli: Cli) -> None:
    lines = cli("models", "--category", "3d").stdout.splitlines()
    assert "Qubico/trellis\timage-to-3d\t3d" in lines and all(line.endswith("\t3d") for line in lines)
    docs = cli("models", "--task-type", "imagine", "--json").json()
    assert [d["model"] for d in docs] == ["midjourney"] and list(docs[0]["task_types"]) == ["imagine"]
    assert cli("models", "--task-type", "imagine").stdout.splitlines() == ["midjourney\timagine\timage"]


def test_models_shows_a_schema(cli: Cli) -> None:
    doc = cli("models", "kling", "--task-type", "video_generation", "--json").json()
    fields = doc["task_types"]["video_generation"]["input"]
    assert fields["duration"] == {
        "type": "integer",
        "required": False,
        "default": 5,
        "min": 3,
        "max": 15,
        "description": "Seconds: 5 or 10, up to 15 on 3.0",
    }
    assert "camera_control" in fields
    unknown = cli("models", "flux")
    assert unknown.exit_code == 2 and "Qubico/flux1-dev" in unknown.stderr


def test_config_set_key_from_a_pipe_then_show_masks_it(cli: Cli, isolated: Path) -> None:
    cli.env.pop("PIAPI_API_KEY")
    result = cli("config", "set-key", input=TEST_KEY + "\n")
    assert result.exit_code == 0
    path = isolated / "config" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and TEST_KEY in path.read_text()
    shown = cli("config", "show")
    assert TEST_KEY not in shown.stdout + shown.stderr
    assert "api_key\t****6789\tconfig.toml [profiles.default]" in shown.stdout
    assert cli("config", "path").stdout.strip() == str(path)


def test_config_set_key_refuses_empty_input_and_arguments(cli: Cli) -> None:
    assert cli("config", "set-key", input="\n").exit_code == 2
    assert cli("config", "set-key", TEST_KEY).exit_code == 2
    assert cli("config", "set", "api_key", TEST_KEY).exit_code == 2


def test_config_profiles_and_precedence_through_the_cli(cli: Cli) -> None:
    assert cli("--profile", "work", "config", "set-key", input="work-key-12345678\n").exit_code == 0
    assert cli("--profile", "work", "config", "set", "max_poll_interval", "30").exit_code == 0
    shown = cli("--profile", "work", "config", "show", "--json").json()["settings"]
    assert shown["api_key"] == {"value": "****6789", "source": "env PIAPI_API_KEY"}  # env beats the file
    cli.env.pop("PIAPI_API_KEY")
    shown = cli("--profile", "work", "config", "show", "--json").json()["settings"]
    assert shown["api_key"] == {"value": "****5678", "source": "config.toml [profiles.work]"}
    assert shown["max_poll_interval"] == {"value": 30.0, "source": "config.toml [profiles.work]"}
    flagged = cli("--profile", "work", "--base-url", "https://flag.example", "config", "show", "--json").json()
    assert flagged["settings"]["base_url"] == {"value": "https://flag.example", "source": "flag"}
    assert cli("config", "unset", "api_key", env={"PIAPI_PROFILE": "work"}).exit_code == 0
    assert cli("--profile", "work", "config", "show", "--json").json()["settings"]["api_key"]["value"] == "(not set)"


def test_sandbox_flag_needs_no_key(cli: Cli) -> None:
    cli.env.pop("PIAPI_API_KEY")
    cli.transport = None  # type: ignore[assignment]  # the real in-process sandbox
    result = cli("--sandbox", *FLUX, "-i", "prompt=x")
    assert result.exit_code == 0 and len(result.stdout.strip()) == 36
    assert "piapi --sandbox wait" in result.stderr
    assert cli("--sandbox", "get", result.stdout.strip(), "--jq", ".model").stdout == "Qubico/flux1-dev\n"


def test_fixture_payloads_render_for_people(cli: Cli) -> None:
    cli.transport = answering(httpx.Response(200, json=fixture("midjourney-imagine-completed.json")))
    result = cli("get", "c130c235-8cc4-4a64-8db1-238fd073c697")
    assert result.stdout.splitlines()[0] == "https://img.theapi.app/mj/c130c235-8cc4-4a64-8db1-238fd073c697.png"
    assert len(result.stdout.splitlines()) == 5
    assert json.loads(cli("get", "x", "--json").stdout)["meta"]["usage"]["consume"] == 700000


def test_empty_task_id_and_bad_base_url_send_nothing(cli: Cli, emulator: Emulator) -> None:
    empty = cli("get", "")
    assert empty.exit_code == 2 and "task ID is empty" in empty.stderr
    assert cli("cancel", " ").exit_code == 2
    bad = cli("--base-url", "notaurl", "get", "x")
    assert bad.exit_code == 3 and "base_url from flag: 'notaurl' is not an http:// or https:// URL" in bad.stderr
    assert emulator.requests == []
