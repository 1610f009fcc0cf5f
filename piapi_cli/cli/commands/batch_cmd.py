"""piapi batch: many tasks from a file, resumable after any crash, never paid twice."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

from piapi_cli.cli.commands._options import (
    IntervalOption,
    JqOption,
    MetadataOption,
    OverwriteOption,
    QuietOption,
    SkipOption,
    examples,
)
from piapi_cli.cli.parsing import params

if TYPE_CHECKING:
    from piapi_cli.cli.app import State
    from piapi_cli.core.batch import RowRequest
    from piapi_cli.core.journal.journal import Journal

app = params.Group(
    help="Many tasks from a JSONL or CSV file: resumable after any crash, never paid twice, split across machines.",
    no_args_is_help=True,
    epilog=examples(
        "piapi batch run prompts.jsonl --download out --output results.jsonl",
        "piapi batch status",
        "piapi batch list",
    ),
)

RUN_EPILOG = examples(
    "piapi batch run prompts.jsonl --download out",
    "piapi batch run prompts.txt -m Qubico/flux1-dev -t txt2img --matrix seed=1,2,3 --dry-run",
    "piapi batch run shots.csv -m Qubico/flux1-dev -t txt2img --template 'a {animal} in {style}' --dry-run",
    "piapi batch run prompts.jsonl --shard 2/3 --max-credits 2000000 --output results-2.jsonl",
    "piapi batch run prompts.jsonl --attach row-17=1631d053-2352-4add-95cc-360fc52d5f89",
    notes='JSONL rows: {"id", "model", "task_type", "input": {...}, "config": {...}}. CSV: a header with an '
    "id column, optional model and task_type columns; every other column is an input field (dotted names nest, "
    "NAME: takes JSON), coerced as -i is. A .txt file: one prompt a line, its line number the row's id. "
    "--matrix KEY=V1,V2 runs every row once per value (several: every combination), each keyed ID[KEY=V,...]. "
    "Every row is checked before the first create: one bad row exits 2 "
    "with nothing sent. Each create is journaled before it is sent; running the same command again resumes: "
    "finished rows are skipped, running tasks waited for, rows never sent are sent, and rows whose create may "
    "have been carried out are reported, never resent unless --resubmit-unknown. Results: one JSON line per row "
    "({id, task_id, status, model, task_type, outputs, files, usage, error}). Exit code: 0 when every row "
    "completed (and downloaded), else the worst outcome: 7 a task failed, 9 a download failed, 5 a create may "
    "exist, 8 rows remain (a deadline, --max-credits, a stop): run the same command again. Ctrl-C, SIGTERM and "
    "SIGHUP start no new row and print the command that resumes; a second one exits at once.",
)


def run(
    ctx: params.Context,
    file: Annotated[str, params.Argument(metavar="FILE", help="JSONL or CSV rows; - reads stdin", show_default=False)],
    model: Annotated[
        Optional[str], params.Option("--model", "-m", metavar="MODEL", help="Model of rows that name none")
    ] = None,
    task_type: Annotated[
        Optional[str], params.Option("--task-type", "-t", metavar="TYPE", help="Task type of rows that name none")
    ] = None,
    inputs: Annotated[
        Optional[list[str]],
        params.Option("--input", "-i", metavar="KEY=VALUE", help="An input field of every row; a row's own wins"),
    ] = None,
    template: Annotated[
        Optional[str],
        params.Option(
            "--template", metavar="TEXT", help="Build the prompt from the row's fields: 'a {animal} in {style}'"
        ),
    ] = None,
    matrix: Annotated[
        Optional[list[str]],
        params.Option("--matrix", metavar="KEY=V1,V2", help="Run every row once per value (repeat: every combination)"),
    ] = None,
    template_field: Annotated[
        str, params.Option("--template-field", metavar="KEY", help="The input field --template sets")
    ] = "prompt",
    webhook: Annotated[
        Optional[str], params.Option("--webhook", metavar="URL", help="PiAPI POSTs each task's updates here")
    ] = None,
    webhook_secret: Annotated[
        Optional[str],
        params.Option("--webhook-secret", metavar="SECRET", help="Secret of --webhook [env: PIAPI_WEBHOOK_SECRET]"),
    ] = None,
    concurrency: Annotated[
        int, params.Option("--concurrency", "-c", metavar="N", min=1, max=256, help="API requests in flight")
    ] = 8,
    max_credits: Annotated[
        Optional[int],
        params.Option("--max-credits", metavar="N", min=0, help="Start no row once this run's credits would pass N"),
    ] = None,
    shard: Annotated[
        Optional[str], params.Option("--shard", metavar="K/N", help="Run only shard K of N (a stable split by id)")
    ] = None,
    run_id: Annotated[
        Optional[str],
        params.Option("--run-id", metavar="NAME", help="Name of the run (default: from the file's path)"),
    ] = None,
    output_file: Annotated[
        Optional[Path], params.Option("--output", "-o", metavar="FILE", help="Write the result lines here, not stdout")
    ] = None,
    download: Annotated[
        Optional[Path], params.Option("--download", metavar="DIR", help="Save each row's outputs into DIR")
    ] = None,
    name: Annotated[
        str, params.Option("--name", metavar="TEMPLATE", help="File names: {id}, the row's fields, {index}, {ext}...")
    ] = "{id}-{index}.{ext}",
    overwrite: OverwriteOption = False,
    skip_existing: SkipOption = False,
    metadata: MetadataOption = False,
    retry_failed: Annotated[
        bool, params.Option("--retry-failed", help="Create new tasks for rows whose task failed (paid again)")
    ] = False,
    resubmit_unknown: Annotated[
        bool,
        params.Option("--resubmit-unknown", help="Send again rows whose create may have been carried out"),
    ] = False,
    force: Annotated[
        bool, params.Option("--force", help="Create again rows that changed since their task was created")
    ] = False,
    attach: Annotated[
        Optional[list[str]],
        params.Option("--attach", metavar="ID=TASK_ID", help="The task a maybe-created row turned out to have"),
    ] = None,
    timeout: Annotated[
        Optional[float],
        params.Option(
            "--timeout",
            metavar="SECONDS",
            min=0,
            help="Stop waiting after this long (exit 8). [default: none]",
            show_default=False,
        ),
    ] = None,
    interval: IntervalOption = None,
    no_validate: Annotated[bool, params.Option("--no-validate", help="Send unknown models and fields anyway")] = False,
    inline: Annotated[bool, params.Option("--inline", help="Send KEY=@FILE inputs as data: URIs")] = False,
    dry_run: Annotated[
        bool, params.Option("--dry-run", help="Print the plan (rows by model, what resumes, known cost); send nothing")
    ] = False,
    as_json: Annotated[bool, params.Option("--json", help="With --dry-run: the plan as JSON")] = False,
    quiet: QuietOption = False,
    only: Annotated[
        Optional[str],
        params.Option("--only", metavar="MARKS", help="Run only the rows a report's exported marks file names"),
    ] = None,
    report: Annotated[
        Optional[Path], params.Option("--report", metavar="DIR", help="Write the run's report into DIR when it ends")
    ] = None,
    open_report: Annotated[
        bool, params.Option("--open", help="Open the --report page in the desktop's browser")
    ] = False,
) -> None:
    """Run a task for every row of FILE, N requests in flight; resume by running it again."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.cli import batch_output as view
    from piapi_cli.cli import batch_text
    from piapi_cli.cli.report_output import check_report, marked_rows, publish_run
    from piapi_cli.core import batch
    from piapi_cli.core.batch.matrix import combinations, parse_matrix
    from piapi_cli.core.batch.rows import parse_shard
    from piapi_cli.core.listener.secret import new_webhook_secret
    from piapi_cli.core.runner import DownloadPlan

    state: State = ctx.obj
    session, output = state.session, state.output
    output.quiet = output.quiet or quiet
    if as_json and not dry_run:
        raise UsageError("--json goes with --dry-run (the results are JSON lines already)")
    try:
        shard_pair = parse_shard(shard) if shard else None
    except ValueError as exc:
        raise UsageError(str(exc), option="shard") from None
    if webhook and not webhook_secret:
        webhook_secret = session.environ.get("PIAPI_WEBHOOK_SECRET") or new_webhook_secret()
        if not session.environ.get("PIAPI_WEBHOOK_SECRET") and not dry_run:
            output.warn(f"webhook secret (made up; give it to your receiver): {webhook_secret}")
    defaults = batch.Defaults(
        model, task_type, list(inputs or []), webhook, webhook_secret,
        default_service_mode=None if dry_run else session.settings["service_mode"] or None,
        template=template, template_field=template_field, validate=not no_validate,
    )  # fmt: skip
    axes = parse_matrix(list(matrix or []))
    source = batch.load_source(file, sys.stdin.read)
    rows, warnings = batch.read_and_check(source, defaults, name if download is not None else None, axes)
    from piapi_cli.cli.hints import noted

    for warning in warnings:
        output.warn(noted(warning, state.session))
    plan = DownloadPlan(download, name, overwrite, skip_existing, metadata) if download is not None else None
    view.preflight(plan, rows, output_file, source)  # every check that can fail, before anything is sent
    check_report(report, open_report)
    journal = _journal(ctx)
    run = batch.run_id_for(source, session.world, rows, run_id)
    if only is not None:
        rows = marked_rows(state, rows, only, file)
    for pair in attach or []:
        _attach(state, journal, run, pair, rows)
    if not dry_run and not resubmit_unknown:
        _adopt_lost(state, journal, run, rows)
    ready = batch.prepare(
        source, rows, journal, world=session.world, run_id=run, shard=shard_pair, retry_failed=retry_failed,
        resubmit_unknown=resubmit_unknown, force=force, download_dir=str(download) if download is not None else None,
    )  # fmt: skip
    if dry_run:
        info = {"world": session.world, "source": source.label, "file_rows": ready.total, "shard": shard,
                "combinations": combinations(axes)}  # fmt: skip
        batch_text.write_plan(output, ready.plan.to_json(ready.run_id, info), as_json)
        return
    options = batch.Options(
        concurrency=concurrency, download=plan, name_template=name, max_credits=max_credits,
        timeout=timeout or None, inline=inline,
        upload=lambda path: session.client.upload_file(path.name, path.read_bytes()),
    )  # fmt: skip
    invocation = view.Invocation(source, shard, output_file, _resume_command(session.prog, ctx, file, run_id))
    if output_file is not None:  # locked from here: a second run given the same FILE is refused
        invocation.results = view.open_results(output_file, source, rows)
    code = view.execute(state, journal, ready, options, invocation, interval=interval)
    if report is not None:  # at the end, or after a Ctrl-C: what finished
        code = publish_run(state, ready.run_id, report, open_report) or code
    if code:
        raise params.Exit(code)


def _attach(state: State, journal: Journal, run_id: str, pair: str, rows: list[RowRequest]) -> None:
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.batch.prepare import attach

    key, sep, task_id = pair.partition("=")
    if not sep or not key.strip() or not task_id.strip():
        raise UsageError(f"--attach {pair!r}: expected ID=TASK_ID (a row id and the task it turned out to have)")
    task = state.session.client.get_task(task_id.strip())
    entry = attach(journal, run_id, key.strip(), task, rows)
    state.output.info(f"row {key.strip()}: journal #{entry.id} now has task {task.task_id} ({task.status})")


def _adopt_lost(state: State, journal: Journal, run_id: str, rows: list[RowRequest]) -> None:
    """Rows whose create's answer was lost take the task PiAPI's history shows for them, as
    --attach would; where the history cannot be read or shows several, they stay as they are."""
    from piapi_cli.api.errors import PiapiError
    from piapi_cli.core.batch.plan import MAYBE_STATES
    from piapi_cli.core.batch.prepare import attach
    from piapi_cli.core.batch.queries import run_entries
    from piapi_cli.core.history import Lost, look_up_lost

    current, _ = run_entries(journal, run_id)
    by_key = {row.key: row for row in rows}
    keys = {}
    lost = []
    for key, entry in current.items():
        if key in by_key and entry.task_id is None and entry.status in MAYBE_STATES:
            if entry.status == "unknown" or journal.sender_gone(entry):
                request = by_key[key].request
                lost.append(Lost(entry.id, request.model, request.task_type, request.input, entry.created_at))
                keys[entry.id] = key
    if not lost:
        return
    known = {e.task_id for e in current.values() if e.task_id}
    try:
        report = look_up_lost(state.session.client, lost, known)
    except PiapiError as exc:
        state.output.warn(f"could not read the account's history to find lost creates: {exc.message}")
        return
    for entry_id, task_id in report.found:
        task = state.session.client.get_task(task_id)
        attach(journal, run_id, keys[entry_id], task, rows)
        state.output.info(f"row {keys[entry_id]}: its create's answer was lost; the history shows task {task_id}")
    for entry_id, ids in report.ambiguous:
        state.output.warn(f"row {keys[entry_id]}: several tasks of the history fit its lost create: {', '.join(ids)}")


#: options a resume repeats (they decide what rows send and where results go); one-time
#: choices (--retry-failed, --resubmit-unknown, --force, --attach, --dry-run) are left out
_REPEATED = (
    "model",
    "task_type",
    "inputs",
    "matrix",
    "template",
    "template_field",
    "webhook",
    "concurrency",
    "max_credits",
    "shard",
    "output_file",
    "download",
    "name",
    "overwrite",
    "skip_existing",
    "metadata",
    "no_validate",
    "inline",
    "interval",
    "only",
    "report",
)


def _resume_command(prog: str, ctx: params.Context, file: str, run_id: str | None) -> str:
    """The command that resumes this run, from the options given to it (never a secret)."""
    import inspect

    defaults = {name: p.default for name, p in inspect.signature(run).parameters.items()}
    words = [prog, "batch", "run", shlex.quote(file)]
    if run_id:
        words += ["--run-id", shlex.quote(run_id)]
    for key in _REPEATED:
        value = ctx.given.get(key)
        if value is None or value is False or value == defaults[key] or value in ((), []):
            continue
        flag = ctx.flag(key)
        if value is True:
            words.append(flag)
        else:
            for item in value if isinstance(value, (list, tuple)) else [value]:
                words += [flag, shlex.quote(str(item))]
    return " ".join(words) + (" < FILE" if file == "-" else "")


def status(
    ctx: params.Context,
    run_id: Annotated[Optional[str], params.Argument(metavar="[RUN]", help="A run (default: the latest)")] = None,
    as_json: Annotated[bool, params.Option("--json", help="The run's status as one JSON object")] = False,
    jq: JqOption = None,
) -> None:
    """Show a run: counts by state, credits, and the rows that need attention."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.cli import batch_text
    from piapi_cli.core.batch.status import run_status

    state: State = ctx.obj
    journal = _journal(ctx)
    if run_id is None:
        runs = journal.runs(state.session.world)
        if not runs:
            raise UsageError("no batch runs in the journal yet (start one: piapi batch run FILE)")
        record = runs[0]
    else:
        found = journal.run(run_id)
        if found is None:
            raise UsageError(f"no batch run {run_id!r} in the journal (see: piapi batch list)")
        record = found
    result = run_status(journal, record)
    from piapi_cli.cli.hints import with_row_advice

    state.output.render(
        lambda: with_row_advice(result.to_json()), as_json=as_json, jq=jq, lines=lambda: batch_text.status_text(result)
    )


def list_runs(
    ctx: params.Context,
    all_worlds: Annotated[
        bool, params.Option("--all", help="Runs of every API (sandbox and real), not just this one")
    ] = False,
    as_json: Annotated[bool, params.Option("--json", help="The runs as a JSON array")] = False,
    jq: JqOption = None,
) -> None:
    """List batch runs with their progress, newest first."""
    from piapi_cli.cli import batch_text
    from piapi_cli.cli.output import structured
    from piapi_cli.core.batch.status import list_runs as runs_of

    state: State = ctx.obj
    found = runs_of(_journal(ctx), None if all_worlds else state.session.world)
    if not found and not structured(as_json, jq):
        state.output.info("no batch runs in the journal yet")
    state.output.render(
        lambda: [r.to_json() for r in found], as_json=as_json, jq=jq, lines=lambda: map(batch_text.list_row, found)
    )


def _journal(ctx: params.Context) -> Journal:
    from piapi_cli.cli.hints import journal_needed

    why = "batch runs need the task journal (to resume and never pay twice); it is turned off"
    return journal_needed(ctx.obj.session, why)


app.command("run", epilog=RUN_EPILOG)(run)
app.command("status", epilog=examples("piapi batch status", "piapi batch status prompts-3f9a2c1b --json"))(status)
app.command("list", epilog=examples("piapi batch list", "piapi batch list --json --jq '.[].run_id'"))(list_runs)
