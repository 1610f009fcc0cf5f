"""piapi: the command line for PiAPI's Unified API, and a small library behind it.

    from piapi_cli import Client, DownloadPlan, Runner, build_request
    with Client(api_key="...") as client:
        runner = Runner(client)
        task = runner.submit(build_request("Qubico/flux1-dev", "txt2img", assignments=["prompt=a cat"]).request).task
        [result] = runner.wait([task.task_id], download=DownloadPlan("out"))

Names are imported lazily so that ``piapi --version`` stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "Client": "api.client",
    "RetryPolicy": "api.client",
    "Task": "api.tasks",
    "OutputURL": "api.tasks",
    "PiapiError": "api.errors",
    "ExitCode": "api.errors",
    "PollPolicy": "core.polling",
    "wait_for_tasks": "core.waiting",
    "load_catalog": "core.catalog",
    "TaskRequest": "api.tasks",
    "build_request": "core.requests",
    "Runner": "core.runner",
    "DownloadPlan": "core.runner",
    "TaskResult": "core.runner",
    "RunEvent": "core.runner",
    "Journal": "core.journal",
    "Downloader": "core.downloads",
}

#: names of the first release, kept importable: the name each has now
_RENAMED = {"Event": "RunEvent"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    name = _RENAMED.get(name, name)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'piapi_cli' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
