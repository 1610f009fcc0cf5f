"""What people see: the live wait display tells a failed task from a finished one, a staged
task says why it waits, tables read at 80 columns, and each --json says what it prints."""

from __future__ import annotations

import io
import re

import pytest

from piapi_cli.api.tasks import Task
from piapi_cli.cli.display import PipelineDisplay
from piapi_cli.cli.output import Output, render_task
from piapi_cli.core.catalog import load_catalog
from piapi_cli.core.runner import RunEvent
from tests.conftest import Cli

IDS = [
    "1631d053-2352-4add-95cc-360fc52d5f89",
    "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "99999999-8888-7777-6666-555555555555",
]
SGR = re.compile(r"\x1b\[[0-9;]*m")
CURSOR = re.compile(r"\x1b\[[0-9]*[ABCDGHJK]|\x1b\[\?25[hl]|\r")  # moves and erasures, not colours


def terminal(width: int = 80) -> tuple[Output, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Output(stdout=out, stderr=err, stdout_tty=True, stderr_tty=True, width=width), out, err


def show(display: PipelineDisplay, task: Task) -> None:
    display.handle(RunEvent("status", task.task_id, task))


def last_frame(text: str, rows: int) -> list[str]:
    """The rows of the live display as the terminal last shows them."""
    return CURSOR.sub("\n", text).strip("\n").split("\n")[-rows:]


def bar_styles(row: str) -> set[str]:
    """The SGR codes the bar characters of a row were drawn with."""
    return {code for code, bar in re.findall(r"\x1b\[([0-9;]*)m(━+)", row)}


def test_a_failed_task_ends_on_a_red_bar_a_completed_one_on_a_green_bar() -> None:
    output, _, err = terminal()
    with PipelineDisplay(output, IDS, clock=lambda: 0.0) as display:
        show(display, Task(IDS[0], "processing", output={"progress": 40}))
        show(display, Task(IDS[2], "processing", output={"progress": 40}))
        show(display, Task(IDS[0], "failed"))
        show(display, Task(IDS[1], "cancelled"))
        show(display, Task(IDS[2], "completed"))
    failed, cancelled, completed = last_frame(err.getvalue(), 3)
    assert "failed" in failed and bar_styles(failed) == {"31"}  # red
    assert "cancelled" in cancelled and bar_styles(cancelled) == {"31"}
    assert "completed" in completed and "100%" in completed and bar_styles(completed) == {"32"}  # green
    assert "100%" not in failed


def test_a_staged_task_says_why_it_waits() -> None:
    output, _, err = terminal()
    with PipelineDisplay(output, IDS[:1], clock=lambda: 0.0) as display:
        show(display, Task(IDS[0], "staged"))
    [row] = last_frame(err.getvalue(), 1)
    assert "staged" in row and "queued: concurrency cap" in SGR.sub("", row)
    plain = io.StringIO()
    with PipelineDisplay(Output(stderr=plain, stderr_tty=False), IDS[:1], clock=lambda: 2.0) as display:
        show(display, Task(IDS[0], "staged"))
    assert plain.getvalue() == f"{IDS[0]} staged (queued: your plan's concurrency limit) after 0.0s\n"
    output, out, _ = terminal()
    render_task(output.out, Task(IDS[0], "staged", model="midjourney", task_type="imagine"))
    assert "queued: your plan's concurrency limit" in SGR.sub("", out.getvalue())


def test_the_live_display_fits_80_columns() -> None:
    output, _, err = terminal(80)
    with PipelineDisplay(output, IDS, clock=lambda: 0.0) as display:
        show(display, Task(IDS[0], "staged"))
        show(display, Task(IDS[1], "processing", output={"progress": 55}))
        show(display, Task(IDS[2], "some-new-status-nobody-knows"))
    rows = last_frame(err.getvalue(), 3)
    for row, task_id in zip(rows, IDS, strict=True):
        plain = SGR.sub("", row)
        assert len(plain.rstrip()) <= 80 and task_id[:8] in plain, plain


def test_a_task_reads_at_80_columns_ids_models_and_urls_whole() -> None:
    output, out, _ = terminal(80)
    url = "https://img.theapi.app/temp/" + "0123456789abcdef" * 6 + ".png"
    task = Task.from_api({
        "task_id": IDS[0], "status": "failed", "model": "Qubico/flux1-dev-advanced", "task_type": "fill-outpaint",
        "output": {"temporary_image_urls": [url, url.replace(".png", "-2.png")]},
        "meta": {"created_at": "2025-05-01T10:00:00Z", "usage": {"type": "quota", "frozen": 1_000_000}},
        "error": {"code": 10000, "message": "the prompt was refused by the moderation " * 4},
    })  # fmt: skip
    render_task(output.out, task)
    lines = [SGR.sub("", line) for line in out.getvalue().splitlines()]
    assert any(IDS[0] in line for line in lines)
    assert any("Qubico/flux1-dev-advanced · fill-outpaint" in line for line in lines)
    # each URL on one line of its own: the terminal wraps it, a copy gives it whole
    assert sum(url in re.sub(r"\x1b\]8;[^\x1b]*\x1b\\\\", "", line) for line in lines) == 1
    wrapped = [line for line in lines if "moderation" in line]
    assert len(wrapped) > 1 and all(len(line.rstrip()) <= 80 for line in wrapped)


def test_the_models_table_reads_at_80_columns(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Output, "stdout_tty", property(lambda self: True))
    result = cli("--no-color", "models", env={"COLUMNS": "80"})
    assert result.exit_code == 0
    lines = [SGR.sub("", line) for line in result.stdout.splitlines()]
    assert all(len(line.rstrip()) <= 80 for line in lines)
    text = "\n".join(lines)
    catalog = load_catalog()
    for model in catalog.models.values():
        assert re.search(rf"(^|\s){re.escape(model.name)}\s", text, re.M), model.name  # never split
        for task_type in model.task_types:
            assert re.search(rf"(^|\s){re.escape(task_type)}(,|\s|$)", text, re.M), task_type


def test_a_model_schema_reads_at_80_columns(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Output, "stdout_tty", property(lambda self: True))
    result = cli("--no-color", "models", "Qubico/flux1-dev-advanced", env={"COLUMNS": "80"})
    lines = [SGR.sub("", line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0 and all(len(line.rstrip()) <= 80 for line in lines)
    spec = load_catalog().task_type("Qubico/flux1-dev-advanced", "controlnet-lora")
    assert spec is not None
    for name in spec.fields:
        assert any(line.lstrip().startswith(name) for line in lines), name


# each command's --json, and words its help must use to say what comes out
JSON_HELP = {
    "get": "task object",
    "wait": "task object",
    "create": "task object",
    "download": "local_files",
    "models": "input schemas",
    "account": "account info",
    "config show": "each setting",
    "tasks": "journal's rows",
    "tasks show": "journal's row",
    "tasks usage": "totals",
}


@pytest.mark.parametrize("command", sorted(JSON_HELP))
def test_each_json_option_says_what_it_prints(cli: Cli, command: str) -> None:
    result = cli(*command.split(), "--help")
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.split())
    described = help_text.split("Options:", 1)[1].split("--json", 1)[1].split(" --", 1)[0]
    assert JSON_HELP[command] in described, described
