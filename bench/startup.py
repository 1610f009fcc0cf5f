"""Start-up and per-command time of the piapi command: every command that runs, as a multiple
of `python -c pass`, median of many runs, all cases interleaved in one sitting.

    python bench/startup.py [--runs 21] [--before DIR] [--no-https]

Runs the installed `piapi` entry point (the one beside this Python) as a script would,
against `piapi sandbox serve` on a free loopback port (the network commands) with a fresh
config and journal; the https rows ask an https server on 127.0.0.1 (bench/tls_origin.py,
its CA made with `openssl`) for the same task, trusting it through a hashed directory
(SSL_CERT_DIR: what the system's trust store costs) or a bundle file (SSL_CERT_FILE:
certifi's bundle and the CA). Byte-code caching is left on (PYTHONDONTWRITEBYTECODE is removed), as on a
user's machine; a warm-up run writes the caches first. ``--before DIR`` runs every command a
second time from another source tree (an older checkout: PYTHONPATH=DIR), in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tls_origin import TRUST_VARIABLES, Origin, make_pki

BIN = Path(sys.executable).parent
FLUX = ["-m", "Qubico/flux1-dev", "-t", "txt2img", "-i", "prompt=a little cat"]


@contextmanager
def sandbox_server(env: dict[str, str]) -> Iterator[str]:
    """`piapi sandbox serve` on a free port; yields its base URL."""
    server = subprocess.Popen(
        [str(BIN / "piapi"), "sandbox", "serve", "--port", "0", "--quiet", "--speed", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert server.stdout is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


def bench_env(tmp: Path) -> dict[str, str]:
    dropped = ("PYTHONDONTWRITEBYTECODE", *TRUST_VARIABLES)  # (an https row sets the one it measures)
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("PIAPI_")}
    env |= {"PIAPI_CONFIG_DIR": str(tmp / "config"), "PIAPI_DATA_DIR": str(tmp / "data"), "NO_COLOR": "1"}
    return env


def interleaved(
    cases: dict[str, list[str]], runs: int, env: dict[str, str], envs: dict[str, dict[str, str]] | None = None
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall time and CPU time (user + system, which load does not stretch) of each case in ms;
    one run of every case per round, so load hits all alike. ``envs``: variables added to
    ``env`` for some cases, by label."""
    import resource

    envs = envs or {}
    for label, argv in cases.items():  # warm-up: byte-code caches, the server's first answers
        subprocess.run(argv, capture_output=True, env=env | envs.get(label, {}), check=False)
    times: dict[str, list[float]] = {label: [] for label in cases}
    cpu: dict[str, list[float]] = {label: [] for label in cases}
    for round_ in range(runs):
        labels = list(cases)
        labels = labels[round_ % len(labels) :] + labels[: round_ % len(labels)]  # rotate the order
        for label in labels:
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(cases[label], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=env | envs.get(label, {}), check=False)  # fmt: skip
            times[label].append((time.perf_counter() - start) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[label].append((after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime) * 1000)
    return times, cpu


def report(
    times: dict[str, list[float]], cpu: dict[str, list[float]], floor: str, extra: dict[str, str] | None = None
) -> None:
    base, cpu_base = statistics.median(times[floor]), statistics.median(cpu[floor])
    print(f"{'command':52} {'median ms':>9} {'x floor':>8} {'min':>7} {'max':>7} {'cpu ms':>7} {'x floor':>8}  {'':10}")
    for label, values in times.items():
        median, used = statistics.median(values), statistics.median(cpu[label])
        note = (extra or {}).get(label, "")
        print(f"{label:52} {median:9.1f} {median / base:8.2f} {min(values):7.1f} {max(values):7.1f} {used:7.1f} "
              f"{used / cpu_base:8.2f}  {note}")  # fmt: skip


def https_origin(tmp: Path, url: str, task_id: str) -> Origin | None:
    """An https server on 127.0.0.1 answering with the sandbox's answer for ``task_id``."""
    import shutil
    import urllib.request

    if shutil.which("openssl") is None:
        print("openssl is not installed: no https rows", file=sys.stderr)
        return None
    (tmp / "pki").mkdir()
    make_pki(tmp / "pki")
    request = urllib.request.Request(f"{url}/api/v1/task/{task_id}", headers={"x-api-key": "bench-key"})
    with urllib.request.urlopen(request) as answer:
        return Origin(tmp / "pki", answer.read())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--before", metavar="DIR", help="source tree of an older piapi to compare with")
    parser.add_argument("--no-https", action="store_true", help="leave out the https rows")
    parser.add_argument("--only", metavar="TEXT", help="run only the commands whose label holds TEXT (and the floor)")
    args = parser.parse_args()
    piapi = str(BIN / "piapi")
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_env(Path(tmp))
        with sandbox_server(env) as url:
            env |= {"PIAPI_BASE_URL": url, "PIAPI_API_KEY": "bench-key"}
            done = subprocess.run([piapi, "create", *FLUX, "--wait", "--json", "--jq", ".task_id"], env=env,
                                  capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
            out = str(Path(tmp) / "out")
            cases = {
                "python -c pass (the floor)": [sys.executable, "-c", "pass"],
                "piapi --version": [piapi, "--version"],
                "piapi --help": [piapi, "--help"],
                "piapi create --help": [piapi, "create", "--help"],
                "piapi get ID --json": [piapi, "get", done, "--json"],
                "piapi create ...": [piapi, "create", *FLUX],
                "piapi create ... --wait (polls start at 1 s)": [piapi, "create", *FLUX, "--wait"],
                "piapi --sandbox create ... --dry-run": [piapi, "--sandbox", "create", *FLUX, "--dry-run"],
                "piapi wait ID (completed)": [piapi, "wait", done],
                "piapi download ID --overwrite (one small file)": [piapi, "download", done, "-d", out, "--overwrite"],
                "piapi cancel ID (refused: completed)": [piapi, "cancel", done],
                "piapi account": [piapi, "account"],
                "piapi models": [piapi, "models"],
                "piapi models Qubico/flux1-dev": [piapi, "models", "Qubico/flux1-dev"],
                "piapi completion bash": [piapi, "completion", "bash"],
                "piapi tasks": [piapi, "tasks"],
                "piapi tasks show ID": [piapi, "tasks", "show", done],
                "piapi tasks usage": [piapi, "tasks", "usage"],
                "piapi config show": [piapi, "config", "show"],
                "piapi config path": [piapi, "config", "path"],
                "piapi tasks --world all": [piapi, "tasks", "--world", "all"],
                "piapi wait --pending (none left)": [piapi, "wait", "--pending"],
                "piapi listen --print-secret": [piapi, "listen", "--print-secret"],
                "piapi trigger URL --dry-run": [piapi, "trigger", "http://127.0.0.1:9/hook", "--dry-run"],
                "piapi get (usage error: typer builds the tree)": [piapi, "get"],
            }
            notes: dict[str, str] = {}
            envs: dict[str, dict[str, str]] = {}
            origin = None if args.no_https else https_origin(Path(tmp), url, done)
            if origin is not None:
                for label, variable, path in (("hashed dir", "SSL_CERT_DIR", "hashed"),
                                              ("bundle file", "SSL_CERT_FILE", "bundle.pem")):  # fmt: skip
                    row = f"piapi get ID --json, https: {label}"
                    cases[row] = [piapi, "get", done, "--json"]
                    envs[row] = {"PIAPI_BASE_URL": origin.base, variable: str(Path(tmp) / "pki" / path)}
            if args.only:
                cases = {k: v for i, (k, v) in enumerate(cases.items()) if i == 0 or args.only in k}
            if args.before:
                older = ["env", f"PYTHONPATH={Path(args.before).resolve()}"]
                for label, argv in list(cases.items())[1:]:
                    cases[f"before: {label}"] = [*older, *argv]
                    if label in envs:
                        envs[f"before: {label}"] = envs[label]
            times, cpu = interleaved(cases, args.runs, env, envs)
            if origin is not None:
                origin.close()
            if args.before:
                for label in list(times)[1:]:
                    if not label.startswith("before: ") and f"before: {label}" in times:
                        ratio = statistics.median(times[label]) / statistics.median(times[f"before: {label}"])
                        used = statistics.median(cpu[label]) / statistics.median(cpu[f"before: {label}"])
                        notes[label] = f"{ratio:.2f}x before (cpu {used:.2f}x)"
    print(f"{args.runs} interleaved runs, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    report(times, cpu, "python -c pass (the floor)", notes)


if __name__ == "__main__":
    main()
