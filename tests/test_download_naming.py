"""File names and the checks that run before a create is sent: templates, directories, limits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from piapi_cli.api.tasks import OutputURL, Task
from piapi_cli.core.downloads.downloader import Downloader, Planned
from piapi_cli.core.downloads.naming import DownloadSetupError, cut_to_bytes, preflight, safe_filename
from piapi_cli.core.downloads.partfiles import PartFile
from tests.conftest import Cli, FakeClock

TEMPLATE = "{task_id}-{index}.{ext}"


def task_with(*urls: str, task_id: str = "t-1") -> Task:
    return Task.from_api({"task_id": task_id, "status": "completed", "model": "m", "task_type": "txt2img",
                          "output": {"images": list(urls)}})  # fmt: skip


# --- preflight: every check that can fail, before anything is sent ---------------------------


@pytest.mark.parametrize("template", [
    "{index:>99999999999}",  # a width that does not fit in memory, let alone a name
    "{index:>300}.{ext}",  # one that fits in memory but not in a name
    "{task_id:.999}-{index}",
    "{index:q}",  # no such format code
    "{task_id:d}-{index}",  # a code for numbers on text
    "{index!z}",  # no such conversion
    "{index:{ext}}",  # a field inside a spec
    "{task_id[0]}-{index}",
    "{index",
    "{}",
    "{bogus}-{index}",
])  # fmt: skip
def test_templates_that_cannot_format_are_usage_errors(tmp_path: Path, template: str) -> None:
    with pytest.raises(DownloadSetupError) as caught:
        preflight(tmp_path / "out", template)
    assert caught.value.exit_code == 2 and caught.value.template == template
    assert not (tmp_path / "out").exists()  # nothing created for a template that cannot work


def test_format_specs_that_work_are_welcome(tmp_path: Path) -> None:
    preflight(tmp_path, "{task_id:.8}-{index:03d}.{ext}")
    d = Downloader(httpx.Client(), tmp_path, template="{task_id:.8}-{index:03d}.{ext}")
    task = task_with("https://cdn.example/a.png", task_id="1631d053-2352-4add-95cc-360fc52d5f89")
    [item] = d.plan([task])
    assert d.target_for(item, "png", None).name == "1631d053-000.png"


def test_a_template_that_cannot_tell_outputs_apart_is_refused_unless_there_is_one(tmp_path: Path) -> None:
    with pytest.raises(DownloadSetupError) as caught:
        preflight(tmp_path, "{task_id}.{ext}")
    assert "{index}" in (caught.value.hint or "") and caught.value.exit_code == 2
    preflight(tmp_path, "{task_id}.{ext}", single_output=True)
    for template in ("{task_id}-{index}.{ext}", "{key}.{ext}", "{name}.{ext}"):
        preflight(tmp_path, template)


def test_a_template_for_several_tasks_must_tell_the_tasks_apart(tmp_path: Path) -> None:
    with pytest.raises(DownloadSetupError) as caught:
        preflight(tmp_path, "{index}.{ext}", several_tasks=True)
    assert "{task_id}" in (caught.value.hint or "")
    preflight(tmp_path, "{task_id}-{index}.{ext}", several_tasks=True)
    preflight(tmp_path, "{index}.{ext}")


def test_a_directory_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for directory in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(DownloadSetupError) as caught:
            preflight(directory, TEMPLATE)
        assert caught.value.exit_code == 2 and caught.value.path == str(directory)


def test_an_unwritable_directory_is_a_usage_error(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        targets = [locked, locked / "below"]
    else:  # root writes anywhere permissions allow; /proc refuses even root
        if not Path("/proc/self").is_dir():
            pytest.skip("needs /proc")
        targets = [Path("/proc/self"), Path("/proc/self/below")]
    for directory in targets:
        with pytest.raises(DownloadSetupError, match="cannot (write in|create directory)") as caught:
            preflight(directory, TEMPLATE)
        assert caught.value.path == str(directory)


def test_preflight_creates_the_directory_and_leaves_nothing_in_it(tmp_path: Path) -> None:
    preflight(tmp_path / "a" / "b", TEMPLATE)
    assert list((tmp_path / "a" / "b").iterdir()) == []


def test_cli_download_to_a_file_or_with_a_huge_width_exits_2(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    task_id = cli("create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=x").stdout.strip()
    cli.clock.sleep(60)
    result = cli("download", task_id, "--dir", str(tmp_path / "file"))
    assert result.exit_code == 2 and "is not a directory" in result.stderr and "Traceback" not in result.stderr
    result = cli("download", task_id, "--name", "{index:>99999999999}")
    assert result.exit_code == 2 and "a name holds at most" in result.stderr


# --- names -------------------------------------------------------------------------------------


def test_names_are_cut_to_255_bytes_keeping_the_extension(tmp_path: Path, clock: FakeClock) -> None:
    long = "é" * 200 + "🐈" * 40 + ".png"  # 400 characters, 564 bytes

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(long)}"},
                              content=b"cat")  # fmt: skip

    out = tmp_path / "out"
    d = Downloader(httpx.Client(transport=httpx.MockTransport(handle)), out, template="{name}.{ext}",
                   sleep=clock.sleep, metadata=True)  # fmt: skip
    [saved] = d.run(d.plan([task_with("https://cdn.example/x.png")])).files
    name = Path(saved.path).name
    assert name.endswith(".png") and name.startswith("é") and len(name.encode()) <= 255
    assert Path(saved.path).read_bytes() == b"cat" and Path(saved.path + ".json").exists()
    assert len((name + ".part.json").encode()) <= 255  # its partial file's record fits too


@pytest.mark.parametrize("name", ["x" * 300, "é" * 200 + ".tar", "🐈" * 100 + ".mp4", "a." + "b" * 300])
def test_cutting_never_splits_a_character(name: str) -> None:
    cut = cut_to_bytes(name, 245)
    assert len(cut.encode()) <= 245 and cut.encode().decode() == cut
    if name.endswith((".tar", ".mp4")):
        assert cut.endswith(name[-4:])


@pytest.mark.parametrize("name", ["CON.png", "nul", "Com1.tar.gz", "LPT9.mp4", "aux", "PRN .txt", "com\u00b9.png"])
def test_windows_device_names_are_neutralised(name: str) -> None:
    assert safe_filename(name).startswith("_")


@pytest.mark.parametrize("name", ["CONSOLE.png", "icon.png", "nully.txt", "COM10.png", "t-1-0.png"])
def test_ordinary_names_are_left_alone(name: str) -> None:
    assert safe_filename(name) == name


def test_a_server_name_of_a_device_is_saved_under_another(tmp_path: Path, clock: FakeClock) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-disposition": 'attachment; filename="NUL.png"', "content-type": "image/png"},
                              content=b"x")  # fmt: skip

    d = Downloader(httpx.Client(transport=httpx.MockTransport(handle)), tmp_path, template="{name}.{ext}",
                   sleep=clock.sleep)  # fmt: skip
    [saved] = d.run(d.plan([task_with("https://cdn.example/f")])).files
    assert Path(saved.path).name == "_NUL.png"


def test_a_target_link_pointing_outside_is_not_resolved_into_the_name(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "t-1-0.png").symlink_to(tmp_path / "elsewhere.png")
    d = Downloader(httpx.Client(), out)
    item: Any = Planned(task_with("https://cdn.example/a.png"), 0, OutputURL("images[0]", "https://cdn.example/a.png"))
    assert d.target_for(item, "png", None) == out.resolve() / "t-1-0.png"


# --- the lock on a partial file ----------------------------------------------------------------


def test_a_part_is_locked_while_open(tmp_path: Path) -> None:
    from piapi_cli.api.errors import DownloadError

    first = PartFile.open(tmp_path / "x.part")
    try:
        with pytest.raises(DownloadError, match="being written by another process"):
            PartFile.open(tmp_path / "x.part")
    finally:
        first.close()
    PartFile.open(tmp_path / "x.part").close()  # free again once closed


def test_temporary_files_of_killed_processes_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from piapi_cli.core.downloads.naming import sweep_stale_temps, temp_name

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / f".piapi-{int(dead.stdout)}-abcdef012345.tmp"
    mine = tmp_path / temp_name()
    other = tmp_path / ".piapi-notes.tmp"  # not one of ours by its shape
    for path in (gone, mine, other):
        path.write_text("x")
    target = tmp_path / "outside.txt"
    target.write_text("keep")
    planted = tmp_path / f".piapi-{int(dead.stdout)}-0123456789ab.tmp"
    os.symlink(target, planted)
    assert sweep_stale_temps(tmp_path) == 2
    assert not gone.exists() and not os.path.lexists(planted) and target.read_text() == "keep"
    assert mine.exists() and other.exists()
