"""Batch runs: thousands of tasks from a JSONL or CSV file, resumable after any crash, never
paid twice, split across machines.

The pieces, in the order a run uses them:

- ``rows``: reading the file (JSONL or CSV) into rows; shards (``--shard K/N``);
- ``build``: each row's request, checked as ``create`` checks its options;
- ``prepare``: the run's identity, file names, attaching found tasks, and the plan;
- ``plan``: what to do with each row given what the journal holds of it (resuming);
- ``pacing``: when the next row may start (429s, staged tasks, ``--max-credits``);
- ``engine``: the run loop (creates, polls and downloads, N requests in flight);
- ``queries``: the rows of a run, read through the task journal; ``status``: where a run stands.

Every read and write goes through the journal (``core.journal``); a run turns on its group
commit while it runs.

From Python::

    from piapi_cli.core.batch import BatchRun, Defaults, Options, load_source, prepare, read_and_check

    source = load_source("prompts.jsonl", read_stdin=lambda: "")
    rows, warnings = read_and_check(source, Defaults(model="Qubico/flux1-dev", task_type="txt2img"), None)
    ready = prepare(source, rows, journal, world=runner.world, run_id=run_id_for(source, runner.world, rows))
    summary = BatchRun(runner, journal, ready.run_id, ready.plan, Options(concurrency=16)).run()
"""

from __future__ import annotations

from piapi_cli.core.batch.build import Defaults, InvalidRows, RowRequest
from piapi_cli.core.batch.engine import BatchRun
from piapi_cli.core.batch.plan import ChangedRows, Plan
from piapi_cli.core.batch.prepare import (
    Prepared,
    Source,
    build_checked,
    load_source,
    prepare,
    read_and_check,
    run_id_for,
)
from piapi_cli.core.batch.queries import RunEntry, RunRecord, run_entries
from piapi_cli.core.batch.results import RowResult, Summary
from piapi_cli.core.batch.work import BatchEvent, Options

__all__ = [
    "BatchEvent",
    "BatchRun",
    "ChangedRows",
    "Defaults",
    "InvalidRows",
    "Options",
    "Plan",
    "Prepared",
    "RowRequest",
    "RowResult",
    "RunEntry",
    "RunRecord",
    "Source",
    "Summary",
    "build_checked",
    "load_source",
    "prepare",
    "read_and_check",
    "run_entries",
    "run_id_for",
]
