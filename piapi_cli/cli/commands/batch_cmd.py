"""piapi batch: many tasks from a file, resumable after any crash, never paid twice."""

from __future__ import annotations

import shlex
import sys

from piapi_cli.cli.batch_options import (
    AsJsonOption,
    AttachOption,
    ConcurrencyOption,
    DownloadOption,
    DryRunOption,
    FileArgument,
    ForceOption,
    InlineOption,
    InputsOption,
    MatrixOption,
    MaxCreditsOption,
    ModelOption,
    NameOption,
    NoValidateOption,
    OnlyOption,
    OpenReportOption,
    OutputFileOption,
    ReportOption,
    ResubmitUnknownOption,
    RetryFailedOption,
    RunArgs,
    RunIdOption,
    ShardOption,
    TaskTypeOption,
    TemplateFieldOption,
    TemplateOption,
    TimeoutOption,
    WebhookOption,
    WebhookSecretOption,
)
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
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from piapi_cli.cli.app import State
    from piapi_cli.core.batch import RowRequest
    from piapi_cli.core.batch.matrix import Axis
    from piapi_cli.core.batch.prepare import Prepared, Source
    from piapi_cli.core.journal.journal import Journal
    from piapi_cli.core.runner import DownloadPlan

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
    file: FileArgument,
    model: ModelOption = None,
    task_type: TaskTypeOption = None,
    inputs: InputsOption = None,
    template: TemplateOption = None,
    matrix: MatrixOption = None,
    template_field: TemplateFieldOption = "prompt",
    webhook: WebhookOption = None,
    webhook_secret: WebhookSecretOption = None,
    concurrency: ConcurrencyOption = 8,
    max_credits: MaxCreditsOption = None,
    shard: ShardOption = None,
    run_id: RunIdOption = None,
    output_file: OutputFileOption = None,
    download: DownloadOption = None,
    name: NameOption = "{id}-{index}.{ext}",
    overwrite: OverwriteOption = False,
    skip_existing: SkipOption = False,
    metadata: MetadataOption = False,
    retry_failed: RetryFailedOption = False,
    resubmit_unknown: ResubmitUnknownOption = False,
    force: ForceOption = False,
    attach: AttachOption = None,
    timeout: TimeoutOption = None,
    interval: IntervalOption = None,
    no_validate: NoValidateOption = False,
    inline: InlineOption = False,
    dry_run: DryRunOption = False,
    as_json: AsJsonOption = False,
    quiet: QuietOption = False,
    only: OnlyOption = None,
    report: ReportOption = None,
    open_report: OpenReportOption = False,
) -> None:
    """Run a task for every row of FILE, N requests in flight; resume by running it again."""
    # every option as it came (the first line of the body: locals() holds the parameters only)
    args = RunArgs(**{name: value for name, value in locals().items() if name != "ctx"})
    _run(ctx, args)


def _run(ctx: params.Context, a: RunArgs) -> None:
    from piapi_cli.cli import batch_output as view
    from piapi_cli.cli import batch_text
    from piapi_cli.cli.report_output import publish_run
    from piapi_cli.core import batch
    from piapi_cli.core.batch.matrix import combinations

    state: State = ctx.obj
    session, output = state.session, state.output
    output.quiet = output.quiet or a.quiet
    source, rows, axes, plan, shard = _read_rows(state, a)
    journal, ready = _make_ready(ctx, a, source, rows, shard)
    if a.dry_run:
        info = {"world": session.world, "source": source.label, "file_rows": ready.total, "shard": a.shard,
                "combinations": combinations(axes)}  # fmt: skip
        batch_text.write_plan(output, ready.plan.to_json(ready.run_id, info), a.as_json)
        return
    options = batch.Options(
        concurrency=a.concurrency, download=plan, name_template=a.name, max_credits=a.max_credits,
        timeout=a.timeout or None, inline=a.inline,
        upload=lambda path: session.client.upload_file(path.name, path.read_bytes()),
    )  # fmt: skip
    resume = _resume_command(session.prog, ctx, a.file, a.run_id)
    invocation = view.Invocation(source, a.shard, a.output_file, resume)
    if a.output_file is not None:  # locked from here: a second run given the same FILE is refused
        invocation.results = view.open_results(a.output_file, source, rows)
    code = view.execute(state, journal, ready, options, invocation, interval=a.interval)
    if a.report is not None:  # at the end, or after a Ctrl-C: what finished
        code = publish_run(state, ready.run_id, a.report, a.open_report) or code
    if code:
        raise params.Exit(code)


def _read_rows(
    state: State, a: RunArgs
) -> tuple[Source, list[RowRequest], list[Axis], DownloadPlan | None, tuple[int, int] | None]:
    """Every row of the file built and checked, and every check that can fail made: exit 2
    from here means nothing was sent."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.cli import batch_output as view
    from piapi_cli.cli.hints import noted
    from piapi_cli.cli.report_output import check_report
    from piapi_cli.core import batch
    from piapi_cli.core.batch.matrix import parse_matrix
    from piapi_cli.core.batch.rows import parse_shard
    from piapi_cli.core.listener.secret import new_webhook_secret
    from piapi_cli.core.runner import DownloadPlan

    session, output = state.session, state.output
    if a.as_json and not a.dry_run:
        raise UsageError("--json goes with --dry-run (the results are JSON lines already)")
    try:
        shard = parse_shard(a.shard) if a.shard else None
    except ValueError as exc:
        raise UsageError(str(exc), option="shard") from None
    webhook_secret = a.webhook_secret
    if a.webhook and not webhook_secret:
        webhook_secret = session.environ.get("PIAPI_WEBHOOK_SECRET") or new_webhook_secret()
        if not session.environ.get("PIAPI_WEBHOOK_SECRET") and not a.dry_run:
            output.warn(f"webhook secret (made up; give it to your receiver): {webhook_secret}")
    defaults = batch.Defaults(
        a.model, a.task_type, list(a.inputs or []), a.webhook, webhook_secret,
        default_service_mode=None if a.dry_run else session.settings["service_mode"] or None,
        template=a.template, template_field=a.template_field, validate=not a.no_validate,
    )  # fmt: skip
    axes = parse_matrix(list(a.matrix or []))
    source = batch.load_source(a.file, sys.stdin.read)
    rows, warnings = batch.read_and_check(source, defaults, a.name if a.download is not None else None, axes)
    for warning in warnings:
        output.warn(noted(warning, session))
    plan = None
    if a.download is not None:
        plan = DownloadPlan(a.download, a.name, a.overwrite, a.skip_existing, a.metadata)
    view.preflight(plan, rows, a.output_file, source)  # every check that can fail, before anything is sent
    check_report(a.report, a.open_report)
    return source, rows, axes, plan, shard


def _make_ready(
    ctx: params.Context, a: RunArgs, source: Source, rows: list[RowRequest], shard: tuple[int, int] | None
) -> tuple[Journal, Prepared]:
    """The run named, marked rows picked, found tasks attached, and its plan made."""
    from piapi_cli.cli.report_output import marked_rows
    from piapi_cli.core import batch

    state: State = ctx.obj
    session = state.session
    journal = _journal(ctx)
    run = batch.run_id_for(source, session.world, rows, a.run_id)
    if a.only is not None:
        rows = marked_rows(state, rows, a.only, a.file)
    for pair in a.attach or []:
        _attach(state, journal, run, pair, rows)
    if not a.dry_run and not a.resubmit_unknown:
        _adopt_lost(state, journal, run, rows)
    ready = batch.prepare(
        source, rows, journal, world=session.world, run_id=run, shard=shard, retry_failed=a.retry_failed,
        resubmit_unknown=a.resubmit_unknown, force=a.force,
        download_dir=str(a.download) if a.download is not None else None,
    )  # fmt: skip
    return journal, ready


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
