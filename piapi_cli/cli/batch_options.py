"""The options of ``piapi batch run``, declared once: the command takes them, and ``RunArgs``
carries them on to the steps of a run."""

from __future__ import annotations

from pathlib import Path

from piapi_cli.api.records import record
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

FileArgument = Annotated[
    str, params.Argument(metavar="FILE", help="JSONL or CSV rows; - reads stdin", show_default=False)
]
ModelOption = Annotated[
    Optional[str], params.Option("--model", "-m", metavar="MODEL", help="Model of rows that name none")
]
TaskTypeOption = Annotated[
    Optional[str], params.Option("--task-type", "-t", metavar="TYPE", help="Task type of rows that name none")
]
InputsOption = Annotated[
    Optional[list[str]],
    params.Option("--input", "-i", metavar="KEY=VALUE", help="An input field of every row; a row's own wins"),
]
TemplateOption = Annotated[
    Optional[str],
    params.Option("--template", metavar="TEXT", help="Build the prompt from the row's fields: 'a {animal} in {style}'"),
]
MatrixOption = Annotated[
    Optional[list[str]],
    params.Option("--matrix", metavar="KEY=V1,V2", help="Run every row once per value (repeat: every combination)"),
]
TemplateFieldOption = Annotated[
    str, params.Option("--template-field", metavar="KEY", help="The input field --template sets")
]
WebhookOption = Annotated[
    Optional[str], params.Option("--webhook", metavar="URL", help="PiAPI POSTs each task's updates here")
]
WebhookSecretOption = Annotated[
    Optional[str],
    params.Option("--webhook-secret", metavar="SECRET", help="Secret of --webhook [env: PIAPI_WEBHOOK_SECRET]"),
]
ConcurrencyOption = Annotated[
    int, params.Option("--concurrency", "-c", metavar="N", min=1, max=256, help="API requests in flight")
]
MaxCreditsOption = Annotated[
    Optional[int],
    params.Option("--max-credits", metavar="N", min=0, help="Start no row once this run's credits would pass N"),
]
ShardOption = Annotated[
    Optional[str], params.Option("--shard", metavar="K/N", help="Run only shard K of N (a stable split by id)")
]
RunIdOption = Annotated[
    Optional[str],
    params.Option("--run-id", metavar="NAME", help="Name of the run (default: from the file's path)"),
]
OutputFileOption = Annotated[
    Optional[Path], params.Option("--output", "-o", metavar="FILE", help="Write the result lines here, not stdout")
]
DownloadOption = Annotated[
    Optional[Path], params.Option("--download", metavar="DIR", help="Save each row's outputs into DIR")
]
NameOption = Annotated[
    str, params.Option("--name", metavar="TEMPLATE", help="File names: {id}, the row's fields, {index}, {ext}...")
]
RetryFailedOption = Annotated[
    bool, params.Option("--retry-failed", help="Create new tasks for rows whose task failed (paid again)")
]
ResubmitUnknownOption = Annotated[
    bool,
    params.Option("--resubmit-unknown", help="Send again rows whose create may have been carried out"),
]
ForceOption = Annotated[
    bool, params.Option("--force", help="Create again rows that changed since their task was created")
]
AttachOption = Annotated[
    Optional[list[str]],
    params.Option("--attach", metavar="ID=TASK_ID", help="The task a maybe-created row turned out to have"),
]
TimeoutOption = Annotated[
    Optional[float],
    params.Option(
        "--timeout",
        metavar="SECONDS",
        min=0,
        help="Stop waiting after this long (exit 8). [default: none]",
        show_default=False,
    ),
]
NoValidateOption = Annotated[bool, params.Option("--no-validate", help="Send unknown models and fields anyway")]
InlineOption = Annotated[bool, params.Option("--inline", help="Send KEY=@FILE inputs as data: URIs")]
DryRunOption = Annotated[
    bool, params.Option("--dry-run", help="Print the plan (rows by model, what resumes, known cost); send nothing")
]
AsJsonOption = Annotated[bool, params.Option("--json", help="With --dry-run: the plan as JSON")]
OnlyOption = Annotated[
    Optional[str],
    params.Option("--only", metavar="MARKS", help="Run only the rows a report's exported marks file names"),
]
ReportOption = Annotated[
    Optional[Path], params.Option("--report", metavar="DIR", help="Write the run's report into DIR when it ends")
]
OpenReportOption = Annotated[bool, params.Option("--open", help="Open the --report page in the desktop's browser")]


@record(frozen=True)
class RunArgs:
    """The options of one ``batch run`` line, as the command received them."""

    file: str
    model: Optional[str]
    task_type: Optional[str]
    inputs: Optional[list[str]]
    template: Optional[str]
    matrix: Optional[list[str]]
    template_field: str
    webhook: Optional[str]
    webhook_secret: Optional[str]
    concurrency: int
    max_credits: Optional[int]
    shard: Optional[str]
    run_id: Optional[str]
    output_file: Optional[Path]
    download: Optional[Path]
    name: str
    overwrite: bool
    skip_existing: bool
    metadata: bool
    retry_failed: bool
    resubmit_unknown: bool
    force: bool
    attach: Optional[list[str]]
    timeout: Optional[float]
    interval: Optional[float]
    no_validate: bool
    inline: bool
    dry_run: bool
    as_json: bool
    quiet: bool
    only: Optional[str]
    report: Optional[Path]
    open_report: bool
