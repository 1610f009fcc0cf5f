"""Files that are not ours: --output FILE never replaces a device, a FIFO, a link's target or the
input; FILE.part is never followed through a planted link; a full disk says so and exits 10; a
second run on the same FILE is refused before it sends anything."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from piapi_cli.sandbox import Emulator
from tests.conftest import Cli
from tests.test_batch import FLUX, creates, prompts, results, write_rows
from tests.test_promises_money import small_disk  # noqa: F401 - a fixture


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return write_rows(tmp_path / "rows.jsonl", prompts(3))


# --- 5. what is at FILE ------------------------------------------------------------------------


def test_output_to_dev_null_writes_into_it_and_never_replaces_it(cli: Cli, rows: Path) -> None:
    before = os.stat("/dev/null")
    result = cli("batch", "run", str(rows), *FLUX, "--output", "/dev/null")
    assert result.exit_code == 0, result.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert not Path("/dev/null.part").exists()


def test_output_to_a_fifo_streams_into_it_and_leaves_it_a_fifo(cli: Cli, rows: Path, tmp_path: Path) -> None:
    path = tmp_path / "results.fifo"
    os.mkfifo(path)
    got: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as reader:
            got.append(reader.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    result = cli("batch", "run", str(rows), *FLUX, "--output", str(path))
    reader.join(timeout=60)  # the reader has its bytes once the run closed its end
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert set(results(got[0].decode())) == {"r0", "r1", "r2"}


def test_output_that_is_a_directory_a_socket_or_a_link_to_a_file_is_refused_before_sending(
    cli: Cli, emulator: Emulator, rows: Path, tmp_path: Path
) -> None:
    (tmp_path / "dir").mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    (tmp_path / "elsewhere.jsonl").write_text("mine\n")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    for name, why in (("dir", "directory"), ("sock", "socket"), ("link.jsonl", "symbolic link")):
        result = cli("batch", "run", str(rows), *FLUX, "--output", str(tmp_path / name))
        assert result.exit_code == 2 and why in result.stderr, result.stderr
    server.close()
    assert creates(emulator) == []
    assert (tmp_path / "elsewhere.jsonl").read_text() == "mine\n" and (tmp_path / "link.jsonl").is_symlink()


# --- 6. a link planted at FILE.part -------------------------------------------------------------


def test_a_link_planted_at_the_part_is_refused_and_its_target_untouched(
    cli: Cli, emulator: Emulator, rows: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    (tmp_path / "results.jsonl.part").symlink_to(outside)
    result = cli("batch", "run", str(rows), *FLUX, "--output", str(tmp_path / "results.jsonl"))
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert outside.read_text() == "not yours\n" and creates(emulator) == []


# --- 7. FILE naming an input ---------------------------------------------------------------------


def test_output_naming_the_input_file_is_refused_before_sending(
    cli: Cli, emulator: Emulator, rows: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = rows.read_text()
    monkeypatch.chdir(tmp_path)
    for given in (str(rows), "rows.jsonl", "./rows.jsonl"):
        result = cli("batch", "run", "rows.jsonl", *FLUX, "--output", given)
        assert result.exit_code == 2 and "input file" in result.stderr, result.stderr
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    images = write_rows(tmp_path / "img.jsonl", [{"id": "a", "input": {"prompt": "p"}}])
    sent = cli("batch", "run", str(images), "-m", "Qubico/flux1-dev", "-t", "img2img", "-i", "image=@cat.png",
               "--output", "cat.png")  # fmt: skip
    assert sent.exit_code == 2 and "input file" in sent.stderr, sent.stderr
    assert rows.read_text() == text and picture.read_bytes() == b"\x89PNG\r\n\x1a\n"
    assert creates(emulator) == []


# --- 13. a full disk under the download directory -----------------------------------------------


def test_a_download_onto_a_full_disk_says_so_keeps_the_part_and_exits_10(
    cli: Cli,
    small_disk: Path,  # noqa: F811 - the fixture
) -> None:
    out = small_disk / "out"
    result = cli("create", *FLUX, "-i", "prompt=big [sandbox:bytes=1000000]", "--download", str(out))
    assert result.exit_code == 10, result.stderr
    assert "the disk is full" in result.stderr and "Traceback" not in result.stderr
    [part] = [p for p in out.iterdir() if p.name.endswith(".part")]
    assert part.stat().st_size > 0  # kept: the next run resumes it
    assert "resume the downloads with:" in result.stderr and " download " in result.stderr


# --- 14. two runs given the same FILE ------------------------------------------------------------


def test_a_second_run_on_the_same_output_is_refused_before_sending_and_leaves_no_part(
    cli: Cli, emulator: Emulator, rows: Path, tmp_path: Path
) -> None:
    from piapi_cli.core.outfile import OutFile

    target = tmp_path / "results.jsonl"
    first = OutFile.open(target)  # another run writing FILE (its own open file, its own lock)
    try:
        second = cli("batch", "run", str(rows), *FLUX, "--output", str(target))
        assert second.exit_code == 2 and "being written by another run" in second.stderr
        assert "Traceback" not in second.stderr and creates(emulator) == []
    finally:
        first.abandon()
    assert not (tmp_path / "results.jsonl.part").exists() and not target.exists()
    again = cli("batch", "run", str(rows), *FLUX, "--output", str(target))
    assert again.exit_code == 0 and set(results(target.read_text())) == {"r0", "r1", "r2"}
    assert not (tmp_path / "results.jsonl.part").exists()


def test_two_processes_on_the_same_output_one_refused_one_whole(tmp_path: Path, isolated: Path) -> None:
    import sys

    rows = write_rows(tmp_path / "rows.jsonl", prompts(3, input={"prompt": "slow [sandbox:seconds=3600]"}))
    target = tmp_path / "results.jsonl"
    args = [sys.executable, "-m", "piapi_cli", "--sandbox", "batch", "run", str(rows), *FLUX, "-o", str(target)]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        from tests.test_promises import until

        until(lambda: (tmp_path / "results.jsonl.part").exists())
        second = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "being written by another run" in second.stderr, second.stderr
    finally:
        first.terminate()
        first.communicate(timeout=60)
    assert first.returncode == 143
