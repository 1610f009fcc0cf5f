"""piapi compare: the same input on several models, side by side."""

from __future__ import annotations

import shlex
from pathlib import Path

from piapi_cli.cli.commands._options import IntervalOption, QuietOption, TimeoutOption, examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.cli.app import State
    from piapi_cli.core.batch.build import RowRequest
    from piapi_cli.core.catalog import Catalog
    from piapi_cli.core.journal.journal import Journal

EPILOG = examples(
    "piapi compare -m Qubico/flux1-dev -m midjourney -m Qubico/flux1-schnell -i prompt='a lighthouse at dusk'",
    "piapi compare -m Qubico/flux1-dev:txt2img -m kling -i prompt='waves' --download out",
    "piapi compare -m Qubico/flux1-dev -m midjourney -i prompt='a fox' --json",
    "piapi compare -m Qubico/flux1-dev -m midjourney -m kling -i prompt='a fox' --download out --report out/page",
    notes="One task per model for the same input, created together and waited on together; a row per model "
    "prints as each finishes (model, status, time, credits, file: the saved file with --download, else the "
    "output URL). Without :TASK_TYPE a model gets its first task type that the inputs fill (txt2img for Flux "
    "given a prompt). An input a model's task type does not take (per the catalog) is left out of its task, "
    "with a warning. --report DIR writes a page (as piapi report --compare-by model) with the models side "
    "by side when the run ends (with --download, the thumbnails of the saved files). "
    "The tasks are a batch run named from the models and inputs: the same command again "
    "resumes it (tasks that exist are waited for or shown, never paid for twice); --run-id NAME starts "
    "another. Exit code: 0 when every model's task completed, else the worst outcome, as batch run.",
)


_ModelsOption = Annotated[
    list[str],
    params.Option("--model", "-m", metavar="MODEL[:TYPE]", help="A model to compare (repeat: two or more)"),
]

_InputsOption = Annotated[
    Optional[list[str]],
    params.Option("--input", "-i", metavar="KEY=VALUE", help="An input field, sent to every model that takes it"),
]

_DownloadOption = Annotated[
    Optional[Path], params.Option("--download", metavar="DIR", help="Save each model's outputs into DIR")
]

_ReportOption = Annotated[
    Optional[Path],
    params.Option("--report", metavar="DIR", help="Write a page comparing the models side by side into DIR"),
]

_RunIdOption = Annotated[
    Optional[str],
    params.Option("--run-id", metavar="NAME", help="Name of the run (default: from what is compared)"),
]

_DryRunOption = Annotated[bool, params.Option("--dry-run", help="Show the tasks and the known cost; send nothing")]

_AsJsonOption = Annotated[
    bool, params.Option("--json", help="Print one JSON array of the models' results (time, credits, files)")
]


def compare(
    ctx: params.Context,
    models: _ModelsOption,
    inputs: _InputsOption = None,
    download: _DownloadOption = None,
    report: _ReportOption = None,
    run_id: _RunIdOption = None,
    timeout: TimeoutOption = None,
    interval: IntervalOption = None,
    no_validate: Annotated[bool, params.Option("--no-validate", help="Send unknown models and fields anyway")] = False,
    dry_run: _DryRunOption = False,
    as_json: _AsJsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run the same input on several models at once and show the results side by side."""
    from piapi_cli.cli import batch_output as view
    from piapi_cli.cli import batch_text
    from piapi_cli.cli.compare_output import CompareWriter
    from piapi_cli.core import batch
    from piapi_cli.core.batch.compare import compare_run_id, parse_targets
    from piapi_cli.core.batch.prepare import check_run_id
    from piapi_cli.core.catalog import load_catalog
    from piapi_cli.core.runner import DownloadPlan

    state: State = ctx.obj
    session, output = state.session, state.output
    output.quiet = output.quiet or quiet
    assignments = list(inputs or [])
    catalog = load_catalog(user=True)
    targets = parse_targets(models, assignments, catalog)
    rows = _rows(state, targets, assignments, catalog, validate=not no_validate, dry_run=dry_run, download=download)
    plan = DownloadPlan(download, "{id}-{index}.{ext}") if download is not None else None
    source = batch.Source("compare", "", "compare")
    view.preflight(plan, rows, None, source)
    if report is not None:
        from piapi_cli.core.report.build import check_target

        check_target(report)  # refused before anything is sent
    journal = _journal(ctx)
    run = check_run_id(run_id) if run_id else compare_run_id(session.world, targets, assignments)
    ready = batch.prepare(source, rows, journal, world=session.world, run_id=run,
                          download_dir=str(download) if download is not None else None)  # fmt: skip
    if dry_run:
        info = {"world": session.world, "source": "compare", "file_rows": ready.total, "shard": None}
        batch_text.write_plan(output, ready.plan.to_json(ready.run_id, info), as_json)
        return
    options = batch.Options(
        concurrency=min(16, len(rows)), download=plan, name_template="{id}-{index}.{ext}", timeout=timeout or None,
        upload=lambda path: session.client.upload_file(path.name, path.read_bytes()),
    )  # fmt: skip
    resume = _resume_command(session.prog, models, assignments, download, report, run_id)
    invocation = view.Invocation(source, None, None, resume)
    kinds = {row.key: spec.output if (spec := catalog.task_type(*row.kind)) else "" for row in rows}
    writer = CompareWriter(output, kinds, as_json=as_json)
    code = view.execute(state, journal, ready, options, invocation, interval=interval, writer=writer)
    if report is not None:
        _write_report(state, report, ready.run_id)
    if code:
        raise params.Exit(code)


def _rows(
    state: State, targets: Any, assignments: list[str], catalog: Catalog, *, validate: bool, dry_run: bool,
    download: Path | None,
) -> list[RowRequest]:  # fmt: skip
    """A row per model, built and checked as a batch run's; the warnings shown once each."""
    from piapi_cli.cli.hints import noted
    from piapi_cli.core import batch
    from piapi_cli.core.batch.compare import compare_rows

    session = state.session
    source_rows, warnings = compare_rows(targets, assignments, catalog)
    defaults = batch.Defaults(
        default_service_mode=None if dry_run else session.settings["service_mode"] or None, validate=validate
    )
    rows, more = batch.build_checked(source_rows, defaults, "{id}-{index}.{ext}" if download else None, catalog)
    for warning in warnings + more:
        state.output.warn(noted(warning, session))
    return rows


def _write_report(state: State, out: Path, run_id: str) -> None:
    """The run's page, its compare table with a column per model (what finished so far)."""
    from piapi_cli.core.report.build import compare_report
    from piapi_cli.core.report.select import Selection, select_entries

    journal = state.session.journal
    assert journal is not None  # the run needed it
    entries = select_entries(journal, Selection(run_id=run_id, world=state.session.world))
    from piapi_cli.cli.hints import recreate_command

    result = compare_report(entries, out, field="model", title=f"piapi compare: {run_id}", command=recreate_command)
    state.output.info(f"report of {len(entries)} tasks: {result.page}")


def _resume_command(
    prog: str, models: list[str], inputs: list[str], download: Path | None, report: Path | None, run_id: str | None
) -> str:
    words = [prog, "compare"]
    for model in models:
        words += ["-m", shlex.quote(model)]
    for item in inputs:
        words += ["-i", shlex.quote(item)]
    for flag, value in (("--download", download), ("--report", report), ("--run-id", run_id)):
        if value is not None:
            words += [flag, shlex.quote(str(value))]
    return " ".join(words)


def _journal(ctx: params.Context) -> Journal:
    from piapi_cli.cli.hints import journal_needed

    why = "compare runs its tasks as a batch run, which needs the task journal (never to pay twice); it is off"
    return journal_needed(ctx.obj.session, why)
