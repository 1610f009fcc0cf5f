"""User-space instructions per delivery of `piapi listen`, under valgrind's callgrind.

    python bench/listener_instructions.py [--checkout DIR] [--small 200] [--large 2200]

Runs `piapi listen` (the journal on, every task journaled beforehand) under callgrind twice,
serving ``--small`` and then ``--large`` deliveries from 32 keep-alive connections kept busy
(each sends its next delivery when answered); the difference of the two totals over the
difference of the counts is the instructions per delivery, start-up and stopping left out.
Callgrind runs one thread at a time: what threads cost each other (waiting for the
interpreter's lock, switching) is not in this figure, nor is the kernel's work (system time).
``--checkout`` runs that checkout's listener (it is the working directory of ``-m piapi_cli``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).parent
sys.path.insert(0, str(BENCH))
from listener_load import SECRET, journal_tasks  # noqa: E402


def instructions(checkout: Path, count: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        journal_tasks(Path(folder), [f"c-{n}" for n in range(count)])  # as listener_parts' client names them
        env = {**os.environ, "PIAPI_CONFIG_DIR": f"{folder}/config", "PIAPI_DATA_DIR": f"{folder}/data"}
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/callgrind.out", sys.executable,
                "-m", "piapi_cli", "listen", "--port", "0", "--backstop", "0", "--secret", SECRET]  # fmt: skip
        process = subprocess.Popen(
            argv, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        said: list[str] = []
        while not said or "http://127.0.0.1:" not in said[-1]:
            said.append(process.stderr.readline())
            if not said[-1]:
                raise SystemExit("".join(said))
        port = said[-1].split("http://127.0.0.1:")[1].split("/")[0]
        threading.Thread(target=lambda: said.extend(process.stderr), daemon=True).start()  # type: ignore[arg-type]
        client = [sys.executable, str(BENCH / "listener_parts.py"), "--client", port, str(count), "32"]
        subprocess.run(client, check=True)
        process.terminate()
        process.wait(600)
        time.sleep(0.5)  # (the last lines of its stderr)
        found = re.search(r"Collected : (\d+)", "".join(said))
        assert found, "".join(said)
        return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", type=Path, default=BENCH.parent)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=2200)
    args = parser.parse_args()
    small, large = instructions(args.checkout, args.small), instructions(args.checkout, args.large)
    per = (large - small) / (args.large - args.small)
    print(f"{args.checkout}: {small:,} and {large:,} instructions in all; {per / 1e6:.3f} M per delivery")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
