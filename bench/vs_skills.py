"""piapi against piapi-skills (PyPI `piapi-skills`: a one-file argparse + requests client),
one process per call, both against the same `piapi sandbox serve`.

    python bench/vs_skills.py [--runs 31] [--before DIR]

piapi-skills is installed into a venv of its own in a temporary directory (pip, from the
package index); its base URL comes from PIAPI_API_BASE. Cases are interleaved, one run of
each per round, and the ratios are of medians from the same sitting. ``--before DIR`` adds
the same piapi calls run from another source tree (an older checkout: PYTHONPATH=DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from startup import BIN, bench_env, interleaved, report, sandbox_server


def install_skills(where: Path) -> Path:
    venv.create(where, with_pip=True)
    subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", "piapi-skills"], check=True)
    return where / "bin" / "piapi-cli"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--before", metavar="DIR", help="source tree of an older piapi to compare with")
    args = parser.parse_args()
    piapi = str(BIN / "piapi")
    with tempfile.TemporaryDirectory() as tmp:
        skills = str(install_skills(Path(tmp) / "skills-venv"))
        env = bench_env(Path(tmp))
        with sandbox_server(env) as url:
            env |= {"PIAPI_BASE_URL": url, "PIAPI_API_BASE": url, "PIAPI_API_KEY": "bench-key"}
            task_id = subprocess.run([piapi, "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat"],
                                     env=env, capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
            cases = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "piapi get ID --json": [piapi, "get", task_id, "--json"],
                "piapi-cli result ID": [skills, "result", task_id],
                "piapi create -m M -t T -i prompt=...": [
                    piapi, "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat"],
                "piapi --no-journal create ... (no journal write)": [
                    piapi, "--no-journal", "create", "-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a cat"],
                "piapi-cli submit M T '{\"prompt\": ...}'": [
                    skills, "submit", "Qubico/flux1-dev", "txt2img", json.dumps({"prompt": "a cat"})],
                "piapi --version": [piapi, "--version"],
                "piapi-cli --version": [skills, "--version"],
                "piapi --help": [piapi, "--help"],
                "piapi-cli --help": [skills, "--help"],
            }  # fmt: skip
            if args.before:
                older = ["env", f"PYTHONPATH={Path(args.before).resolve()}", piapi]
                cases["before: piapi get ID --json"] = [*older, *cases["piapi get ID --json"][1:]]
                cases["before: piapi create ..."] = [*older, *cases["piapi create -m M -t T -i prompt=..."][1:]]
            times = interleaved(cases, args.runs, env)
    median = {label: statistics.median(values) for label, values in times.items()}
    pairs = [
        ("piapi get ID --json", "piapi-cli result ID"),
        ("piapi create -m M -t T -i prompt=...", "piapi-cli submit M T '{\"prompt\": ...}'"),
        ("piapi --no-journal create ... (no journal write)", "piapi-cli submit M T '{\"prompt\": ...}'"),
        ("piapi --version", "piapi-cli --version"),
        ("piapi --help", "piapi-cli --help"),
    ]
    if args.before:
        pairs += [("before: piapi get ID --json", "piapi-cli result ID"),
                  ("before: piapi create ...", "piapi-cli submit M T '{\"prompt\": ...}'")]  # fmt: skip
    notes = {mine: f"{median[mine] / median[theirs]:.2f}x piapi-skills" for mine, theirs in pairs}
    print(f"{args.runs} interleaved runs, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    report(times, "python -c pass", notes)


if __name__ == "__main__":
    main()
