"""What the README says of row numbers, the listener's webhook secret, dry runs with --inline,
the sandbox's image sizes and config unset, checked through the installed entry point."""

from __future__ import annotations

import os
import pty
import re
import struct
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("piapi")
CREATE = ["--sandbox", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x"]


def piapi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def on_a_terminal(args: list[str], columns: int) -> str:
    """What a terminal ``columns`` wide shows of a run (stdout and stderr)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: piapi on the terminal
        os.execve(str(SCRIPT), [str(SCRIPT), *args], {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"})
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal closed: piapi ended
            break
        if not chunk:
            break
        seen += chunk
    os.waitpid(pid, 0)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode(errors="replace")).replace("\r", "")


def test_the_tasks_table_shows_the_row_numbers_hash_n_names() -> None:
    first, second = (piapi(*CREATE).stdout.strip() for _ in range(2))
    shown = on_a_terminal(["--sandbox", "tasks"], 80).splitlines()
    assert shown[0].split()[:2] == ["#", "task"]
    rows = {line.split()[1]: line.split()[0] for line in shown[1:] if line.strip()}
    assert rows == {first[:8]: "1", second[:8]: "2"}
    assert all(len(line) <= 80 for line in shown)
    named = piapi("--sandbox", "get", "#2", "--jq", ".task_id")
    assert named.stdout.strip() == second


def test_the_listener_secret_is_shown_once_when_made(isolated: Path) -> None:
    hook = ["--webhook", "http://127.0.0.1:9/hook"]
    made, again = piapi(*CREATE, *hook), piapi(*CREATE, *hook)
    secret = (isolated / "config" / "webhook-secret").read_text().strip()
    assert secret in made.stderr and secret not in made.stdout
    assert secret not in again.stdout + again.stderr
    listed = piapi("config", "show")
    assert secret not in listed.stdout + listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("webhook_secret"))
    assert "piapi listen's" in row and "webhook-secret" in row


def test_a_dry_run_with_inline_shows_the_data_uri_abbreviated(isolated: Path) -> None:
    picture = isolated / "cat.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(3000))
    args = [
        "--sandbox",
        "create",
        "-m",
        "Qubico/flux1-dev",
        "-t",
        "img2img",
        "-i",
        "prompt=x",
        "-i",
        f"image=@{picture}",
    ]
    inline = piapi(*args, "--inline", "--dry-run", "--jq", ".input.image")
    assert inline.returncode == 0, inline.stderr
    assert inline.stdout.startswith("data:image/png;base64,iVBORw0KGgo") and inline.stdout.endswith(" bytes)\n")
    assert "(4,034 bytes)" in inline.stdout  # the length of what would be sent
    uploaded = piapi(*args, "--dry-run", "--jq", ".input.image")
    assert uploaded.stdout == f"@{picture}\n"


def test_the_sandbox_draws_images_at_the_size_asked(isolated: Path) -> None:
    for extra in ([], ["--response-format", "url", "--download", "."]):
        result = piapi("--sandbox", "image", "a fox", "--size", "1024x1536", *extra)
        assert result.returncode == 0, result.stderr
        saved = Path(result.stdout.split()[0])
        assert struct.unpack(">II", saved.read_bytes()[16:24]) == (683, 1024)  # the shape, at most 1024 a side


def test_config_unset_says_when_nothing_was_set() -> None:
    assert piapi("config", "set", "base_url", "https://example.test").returncode == 0
    assert "removed" in piapi("config", "unset", "base_url").stderr
    again = piapi("config", "unset", "base_url")
    assert again.returncode == 0 and "removed" not in again.stderr and "was not set" in again.stderr
