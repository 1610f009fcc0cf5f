"""Pictures in the terminal: drawn on a terminal only (a pipe gets the data as always), in the
protocol the terminal speaks, within its width, and a picture that is not one is a warning."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image

from piapi_cli.cli import preview
from piapi_cli.cli.output import Output
from piapi_cli.sandbox import Emulator, transport_for
from tests.conftest import TEST_KEY, Cli, FakeClock

FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img"]
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Output, "stdout_tty", property(lambda self: True))


def _created(cli: Cli, *extra: str, env: dict[str, str] | None = None) -> str:
    line = ("create", *FLUX, "-i", "prompt=a cat", "-i", "width=768", "-i", "height=432", "--wait", "-q", *extra)
    result = cli(*line, env=env)
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(("environ", "protocol"), [
    ({"TERM": "xterm-kitty"}, "kitty"),
    ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, "kitty"),
    ({"TERM": "xterm-ghostty"}, "kitty"),
    ({"TERM_PROGRAM": "iTerm.app"}, "iterm"),
    ({"TERM_PROGRAM": "WezTerm"}, "iterm"),
    ({"TERM": "foot"}, "sixel"),
    ({"TERM": "mlterm"}, "sixel"),
    ({"TERM": "xterm-256color"}, "blocks"),
    ({"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0"}, "blocks"),
    ({}, "blocks"),
])  # fmt: skip
def test_the_protocol_is_picked_from_the_terminal(environ: dict[str, str], protocol: str) -> None:
    assert preview.choose("auto", environ) == protocol
    assert preview.choose("sixel", environ) == "sixel"  # the setting overrides


def test_a_pipe_gets_only_the_data(cli: Cli, tmp_path: Path) -> None:
    result = cli("create", *FLUX, "-i", "prompt=a cat", "--download", str(tmp_path), "--preview")
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1 and Path(result.stdout.strip()).is_file()  # the path, nothing else
    assert "\x1b" not in result.stdout and "\u2580" not in result.stdout
    assert "no preview: stdout is not a terminal" in result.stderr


def test_half_blocks_draw_the_picture_within_the_terminal_width(cli: Cli, terminal: None) -> None:
    for columns in ("80", "20"):
        shown = _created(cli, "--preview", env={"COLUMNS": columns, "PIAPI_PREVIEW_PROTOCOL": "blocks"})
        rows = [SGR.sub("", line) for line in shown.splitlines() if "\u2580" in line]
        width = min(int(columns), preview.MAX_COLUMNS)
        assert rows and all(row == "\u2580" * width for row in rows)
        assert len(rows) == round(width * 10 * 432 / (768 * 20))  # the picture's shape, cells twice as tall
        assert re.search(r"\x1b\[38;2;\d+;\d+;\d+m\x1b\[48;2;\d+;\d+;\d+m\u2580", shown)


def _kitty_png(text: str) -> tuple[str, Image.Image]:
    chunks = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", text)
    assert chunks and chunks[-1][0] == "m=0" and all(keys.endswith("m=1") for keys, _ in chunks[:-1])
    data = base64.b64decode("".join(payload for _, payload in chunks))
    return chunks[0][0], Image.open(io.BytesIO(data))


def test_kitty_sends_the_picture_as_png_over_the_cells_it_fills(cli: Cli, terminal: None) -> None:
    shown = _created(cli, "--preview", env={"TERM": "xterm-kitty", "COLUMNS": "100"})
    keys, picture = _kitty_png(shown)
    assert keys.startswith("a=T,f=100,q=2,c=64,r=18") and picture.size == (640, 360)
    # inside tmux: through its passthrough, the cursor left alone and the picture's rows made
    in_tmux = _created(cli, "--preview", env={"PIAPI_PREVIEW_PROTOCOL": "kitty", "TMUX": "/tmp/t,1,0"})
    assert in_tmux.count("\x1bPtmux;") == 1
    inner = in_tmux[in_tmux.index("\x1bPtmux;") + 7 :].replace("\x1b\x1b", "\x1b")
    keys, _ = _kitty_png(inner)
    assert ",C=1" in keys and in_tmux.endswith("\x1b\\" + "\n" * 18)


def test_iterm_and_sixel(cli: Cli, terminal: None) -> None:
    shown = _created(cli, "--preview", env={"TERM_PROGRAM": "iTerm.app", "COLUMNS": "40"})
    found = re.search(
        r"\x1b\]1337;File=inline=1;size=(\d+);width=40;height=(\d+);preserveAspectRatio=1:([^\x07]+)\x07", shown
    )
    assert found is not None and int(found.group(1)) == len(base64.b64decode(found.group(3)))
    shown = _created(cli, "--preview", env={"PIAPI_PREVIEW_PROTOCOL": "sixel", "COLUMNS": "30"})
    body = shown[shown.index("\x1bPq") : shown.index("\x1b\\", shown.index("\x1bPq"))]
    assert body.startswith('\x1bPq"1;1;300;160') and body.count("-") == -(-160 // 6)
    assert re.search(r"#\d+;2;\d+;\d+;\d+", body)


def test_the_setting_makes_it_the_default_and_no_preview_turns_it_off(cli: Cli, terminal: None) -> None:
    env = {"PIAPI_PREVIEW": "1", "PIAPI_PREVIEW_PROTOCOL": "blocks"}
    assert "\u2580" in _created(cli, env=env)
    assert "\u2580" not in _created(cli, "--no-preview", env=env)
    assert "\u2580" not in _created(cli)
    assert "\u2580" not in _created(cli, "--json", "--preview", env=env)  # JSON stays one document


def test_get_and_wait_preview_the_task_they_show(cli: Cli, terminal: None, clock: FakeClock) -> None:
    task_id = cli("create", *FLUX, "-i", "prompt=a fox", "-q").stdout.strip()
    env = {"PIAPI_PREVIEW_PROTOCOL": "blocks"}
    waited = cli("wait", task_id, "--preview", "-q", env=env)
    assert waited.exit_code == 0 and "\u2580" in waited.stdout
    got = cli("get", task_id[:8], "--preview", env=env)
    assert got.exit_code == 0 and "\u2580" in got.stdout and task_id in got.stdout


@pytest.mark.parametrize(("body", "message"), [
    (b"<html>a sign-in page</html>", "not an image"),
    ("png", "not a whole image"),
    (b"", "not an image"),
])  # fmt: skip
def test_a_picture_that_is_not_one_is_a_warning(
    clock: FakeClock, emulator: Emulator, terminal: None, body: bytes | str, message: str
) -> None:
    inner = transport_for(emulator)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = inner.handle_request(request)
        if request.url.path.startswith("/files/"):
            whole = answer.read()
            content = whole[: len(whole) // 3] if body == "png" else body
            return httpx.Response(200, content=content, headers={"content-type": "image/png"})
        return answer

    cli = Cli(clock=clock, transport=httpx.MockTransport(handle), env={"PIAPI_API_KEY": TEST_KEY})
    task_id = cli("create", *FLUX, "-i", "prompt=a fox", "-q").stdout.strip()
    assert cli("wait", task_id, "-q").exit_code == 0
    result = cli("get", task_id, "--preview", env={"PIAPI_PREVIEW_PROTOCOL": "blocks"})
    assert result.exit_code == 0 and task_id in result.stdout
    assert f"no preview of http://sandbox.piapi.invalid/files/{task_id}/0.png: {message}" in result.stderr
    assert "Traceback" not in result.stderr and "\u2580" not in result.stdout


def test_a_truncated_saved_file_is_a_warning(tmp_path: Path) -> None:
    whole = tmp_path / "cut.png"
    from piapi_cli.sandbox import pictures

    whole.write_bytes(pictures.png("s", 64, 64, "cut")[:-40])
    with pytest.raises(preview.PreviewError, match="not a whole image"):
        preview.decode(whole.read_bytes())
    with pytest.raises(preview.PreviewError, match="not an image"):
        preview.decode(b"GIF89a" + b"\0" * 3)


def test_fit_keeps_the_shape_within_the_screen() -> None:
    screen = preview.Screen(20, 10)
    columns, rows = preview.fit(1000, 4000, screen)  # a tall picture on a short terminal
    assert rows == 8 and columns <= 20
    assert preview.fit(4000, 10, preview.Screen(300, 50)) == (preview.MAX_COLUMNS, 1)


def test_report_previews_its_first_pictures_on_a_terminal_only(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for prompt in ("a fox", "an owl"):
        assert cli("create", *FLUX, "-i", f"prompt={prompt}", "--download", str(tmp_path / "out")).exit_code == 0
    piped = cli("report", "--out", str(tmp_path / "page"), "--preview")
    assert piped.exit_code == 0 and piped.stdout == f"{tmp_path / 'page' / 'index.html'}\n"
    monkeypatch.setattr(Output, "stdout_tty", property(lambda self: True))
    shown = cli("report", "--out", str(tmp_path / "page"), "--preview", env={"PIAPI_PREVIEW_PROTOCOL": "kitty"})
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.count("\x1b_Ga=T,f=100") == 2 and "no preview" not in shown.stderr
