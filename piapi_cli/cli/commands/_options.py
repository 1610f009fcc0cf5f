"""Option aliases shared by every command, so each means the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

from piapi_cli.cli import params


def examples(*lines: str, notes: str = "") -> str:
    """A help epilog: example command lines kept as written (``\\b``), then notes.

    The man pages are generated from the same text, so each command documents itself once.
    """
    text = "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)
    return text + (f"\n\n{notes}" if notes else "")


JsonOption = Annotated[bool, params.Option("--json", help="Print the API's task object as JSON (an array for several)")]
JqOption = Annotated[
    Optional[str],
    params.Option(
        "--jq", metavar="EXPR", help="Filter the JSON with a jq expression; strings print raw", show_default=False
    ),
]
QuietOption = Annotated[bool, params.Option("--quiet", "-q", help="No progress display or notes on stderr")]
TimeoutOption = Annotated[
    Optional[float],
    params.Option(
        "--timeout",
        metavar="SECONDS",
        min=0,
        help="Give up waiting after this long (exit 8; the task goes on). 0: no deadline. [default: 1800]",
        show_default=False,
    ),
]
IntervalOption = Annotated[
    Optional[float],
    params.Option(
        "--interval",
        metavar="MAX_SECONDS",
        min=0.1,
        help="Longest pause between two polls; polls start at 1s and grow to it. [default: 10]",
        show_default=False,
    ),
]
TaskIdsArgument = Annotated[
    list[str], params.Argument(metavar="TASK_ID...", help="One or more task IDs", show_default=False)
]

# --- saving outputs (create --download, wait --download, download) -------------------

NameOption = Annotated[
    str, params.Option("--name", metavar="TEMPLATE", help="File name template (fields below)", show_default=True)
]
OverwriteOption = Annotated[bool, params.Option("--overwrite", help="Replace files that already exist")]
SkipOption = Annotated[bool, params.Option("--skip-existing", help="Leave files that already exist, without error")]
MetadataOption = Annotated[
    bool, params.Option("--metadata", help="Write NAME.json beside each file: task, model, input, source URL")
]
DownloadDirOption = Annotated[
    Optional[Path],
    params.Option("--download", metavar="DIR", help="Save the outputs into DIR when done (implies --wait)"),
]
DEFAULT_NAME = "{task_id}-{index}.{ext}"
