"""``listen --exec``: run a command once per event, on the listener's pool for commands."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Mapping
from typing import IO, Any

from piapi_cli.api.errors import UsageError


def exec_runner(
    argv: list[str] | None,
    *,
    environ: Mapping[str, str] | None,
    output: IO[Any] | int | None,
    timeout: float,
    on_log: Callable[[str, str], None],
) -> ExecRunner | None:
    """The runner of ``--exec`` (None without one); a program that is not there is refused here."""
    if not argv:
        return None
    return ExecRunner(argv, environ=environ if environ is not None else {}, output=output, timeout=timeout,
                      on_log=on_log)  # fmt: skip


class ExecRunner:
    """Runs ``argv`` once per event: no shell, the event's JSON on stdin, its facts in the
    environment. Failures (exit status, missing program, timeout) are logged, never raised."""

    def __init__(
        self,
        argv: list[str],
        *,
        environ: Mapping[str, str],
        output: IO[Any] | int | None = None,
        timeout: float = 300.0,
        on_log: Callable[[str, str], None] | None = None,
    ) -> None:
        if not argv:
            raise UsageError("exec needs a command", option="exec")
        if shutil.which(argv[0], path=environ.get("PATH")) is None:
            raise UsageError(f"exec: cannot find the program {argv[0]!r}", option="exec")
        self.argv = argv
        self.environ = dict(environ)
        self.output = output if output is not None else subprocess.DEVNULL
        self.timeout = timeout
        self.on_log = on_log or (lambda level, message: None)

    def run(self, event: Mapping[str, Any]) -> int | None:
        """Run the command for one event; returns its exit status (None if it could not run)."""
        env = self.environ | {
            "PIAPI_TASK_ID": str(event.get("task_id", "")),
            "PIAPI_STATUS": str(event.get("status", "")),
            "PIAPI_EVENT": str(event.get("event", "")),
            "PIAPI_EVENT_ID": str(event.get("id", "")),
        }
        stdin = (json.dumps(event, ensure_ascii=False) + "\n").encode()
        what = f"the command for event {event.get('id')} ({event.get('event')} {event.get('task_id')})"
        try:
            done = subprocess.run(
                self.argv, input=stdin, env=env, stdout=self.output, stderr=self.output, timeout=self.timeout
            )
        except subprocess.TimeoutExpired:
            self.on_log("error", f"{what}: still running after {self.timeout:g}s; stopped")
            return None
        except OSError as exc:
            self.on_log("error", f"{what}: cannot run {self.argv[0]}: {exc.strerror or exc}")
            return None
        if done.returncode != 0:
            self.on_log("error", f"{what}: {self.argv[0]} exited with status {done.returncode}")
        return done.returncode
