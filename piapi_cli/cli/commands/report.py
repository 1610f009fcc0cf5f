"""piapi report: journaled tasks and their downloaded files as a page that opens from disk."""

from __future__ import annotations

import time
from pathlib import Path

from piapi_cli.cli.commands._options import JqOption, NoPreviewOption, PreviewOption, examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from piapi_cli.cli.app import State
    from piapi_cli.core.report.build import ReportResult

EPILOG = examples(
    "piapi report",
    "piapi report --batch prompts.jsonl@sandbox --out out/report --open",
    "piapi report --since 2d --model Qubico/flux1-dev --status failed",
    "piapi report --batch RUN --compare-by seed --out compare.html",
    "piapi report 1631d053 9f2c41aa --json",
    notes="Without --batch, --since or IDs: the tasks of the last 7 days (of the API in use). The page "
    "(DIR/index.html) and its thumbnails folder travel together: every path inside is relative, so the "
    "folder can be zipped or kept as a CI artifact; files saved outside it show only where they sit beside "
    "it. stdout: the page's path (with --json: the report's data). Paths the journal recorded relative "
    "are read from the current directory.",
)

DEFAULT_SINCE = "7d"
DEFAULT_OUT = Path("piapi-report")


_IdsOption = Annotated[
    Optional[list[str]],
    params.Argument(
        metavar="[ID]...",
        help="Tasks: IDs, unique prefixes (4+ characters) or #N for journal row N",
        show_default=False,
    ),
]

_BatchOption = Annotated[
    Optional[str],
    params.Option("--batch", metavar="RUN", help="The tasks of this batch run (piapi batch list)", show_default=False),
]

_SinceOption = Annotated[
    Optional[str],
    params.Option("--since", metavar="AGE", help="Tasks created this recently: 30m, 12h, 7d, 2w", show_default=False),
]

_ModelOption = Annotated[
    Optional[str],
    params.Option("--model", "-m", metavar="MODEL", help="Only this model's tasks", show_default=False),
]

_StatusOption = Annotated[
    Optional[str],
    params.Option("--status", "-s", metavar="STATUS", help="Only tasks with this status", show_default=False),
]

_CompareByOption = Annotated[
    Optional[str],
    params.Option(
        "--compare-by",
        metavar="FIELD",
        help="Add a table with FIELD's values as columns (model, task_type or an input such as seed)",
        show_default=False,
    ),
]

_OutOption = Annotated[
    Optional[Path],
    params.Option(
        "--out",
        "-o",
        metavar="DIR|FILE.html",
        help="Where to write the page [default: piapi-report/]",
        show_default=False,
    ),
]

_NoThumbnailsOption = Annotated[
    bool, params.Option("--no-thumbnails", help="Show the full-size images instead of making thumbnails")
]

_AsJsonOption = Annotated[
    bool,
    params.Option("--json", help="Print the report's data (summary, tasks, outputs) as JSON; the page only with --out"),
]


def report(
    ctx: params.Context,
    ids: _IdsOption = None,
    batch: _BatchOption = None,
    since: _SinceOption = None,
    model: _ModelOption = None,
    status: _StatusOption = None,
    compare_by: _CompareByOption = None,
    out: _OutOption = None,
    open_page: Annotated[bool, params.Option("--open", help="Open the page in the desktop's browser")] = False,
    no_thumbnails: _NoThumbnailsOption = False,
    as_json: _AsJsonOption = False,
    jq: JqOption = None,
    preview: PreviewOption = False,
    no_preview: NoPreviewOption = False,
) -> None:
    """Write an offline report of journaled tasks: their outputs in a grid, with prompt, cost and status."""
    from piapi_cli.cli.report_output import publish
    from piapi_cli.core.journal.journal import parse_since
    from piapi_cli.core.report.build import ReportOptions, check_target, collect, report_data
    from piapi_cli.core.report.select import Selection, select_entries

    state: State = ctx.obj
    journal = state.session.journal
    if journal is None:
        from piapi_cli.api.errors import ConfigError
        from piapi_cli.cli.hints import journal_back_on

        raise ConfigError("the task journal is turned off", hint=journal_back_on(state.session))
    structured = as_json or jq is not None
    if jq is not None:
        from piapi_cli.cli.jqfilter import compile_jq

        compile_jq(jq)  # a bad expression is a usage error before anything is read
    age = since or (None if batch or ids else DEFAULT_SINCE)
    selection = Selection(run_id=batch, since=parse_since(age, time.time()) if age else None, ids=list(ids or []),
                          model=model, status=status, world=state.session.world)  # fmt: skip
    selection.check()
    from piapi_cli.cli.hints import recreate_command

    options = ReportOptions(
        out or DEFAULT_OUT, compare_by=compare_by, thumbnails=not no_thumbnails, command=recreate_command
    )
    if out is not None or not structured:
        check_target(options.out)  # refused before any work
    entries = select_entries(journal, selection)
    if structured and out is None:  # the data alone: nothing written
        records = collect(entries, command=recreate_command)
        state.output.render(lambda: report_data(records, Path.cwd(), compare_by=compare_by), as_json=True, jq=jq)
        return
    result = publish(state, entries, options, open_page=open_page)
    state.output.render(lambda: result.data, as_json=as_json, jq=jq, lines=lambda: [str(result.page)])
    if not structured and not no_preview and (preview or state.session.settings["preview"]):
        _preview(state, result, asked=preview)


#: the most pictures a report previews in the terminal (the page has them all)
PREVIEWS = 6


def _preview(state: State, result: ReportResult, *, asked: bool) -> None:
    """The first pictures of the report (their thumbnails), drawn on the terminal."""
    from urllib.parse import unquote

    from piapi_cli.cli import preview as pictures

    items = []
    for task in result.data["tasks"]:
        for output in task["outputs"]:
            href = output.get("thumbnail") or output.get("file")
            if href and pictures.is_image_name(href):
                items.append(str(result.page.parent / unquote(href)))
                break
        if len(items) == PREVIEWS:
            break
    pictures.show(state, items, asked=asked)
