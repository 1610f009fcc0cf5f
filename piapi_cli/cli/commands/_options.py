"""Option aliases shared by every command, so each means the same everywhere."""

from __future__ import annotations

from pathlib import Path

from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional
from piapi_cli.core.settings import MIN_POLL_INTERVAL, SETTINGS


def examples(*lines: str, notes: str = "") -> str:
    """A help epilog: example command lines kept as written (``\\b``), then notes.

    The man pages are generated from the same text, so each command documents itself once.
    """
    text = "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)
    return text + (f"\n\n{notes}" if notes else "")


# --json: one JSON document on stdout; each command says which
JsonOption = Annotated[
    bool,
    params.Option(
        "--json",
        help="Print the task as JSON: the API's task object, an array for several "
        "(after downloads, each with local_files)",
    ),
]
TaskJsonOption = Annotated[
    bool, params.Option("--json", help="Print the API's task object as JSON (an array for several IDs)")
]
ModelsJsonOption = Annotated[
    bool,
    params.Option(
        "--json",
        help="Print the catalog as JSON: an array of models, each with its task types and their "
        "input schemas (one object with MODEL)",
    ),
]
AccountJsonOption = Annotated[
    bool, params.Option("--json", help="Print the account info as JSON, as the API returns it (the key redacted)")
]
ConfigJsonOption = Annotated[
    bool,
    params.Option(
        "--json", help="Print the profile, the config file's path and each setting's value and source as JSON"
    ),
]
JournalJsonOption = Annotated[
    bool, params.Option("--json", help="Print the journal's rows as a JSON array (input, status, output URLs, files)")
]
JournalTaskJsonOption = Annotated[
    bool,
    params.Option("--json", help="Print the journal's row as JSON, with the API's last task object under \"task\""),
]
UsageJsonOption = Annotated[
    bool, params.Option("--json", help="Print the totals as a JSON array of {group, tasks, credits, chats, tokens}")
]
JqOption = Annotated[
    Optional[str],
    params.Option(
        "--jq", metavar="EXPR", help="Filter the JSON with a jq expression; strings print raw", show_default=False
    ),
]
QuietOption = Annotated[bool, params.Option("--quiet", "-q", help="No progress display or notes on stderr")]


def _seconds(setting: str, value: Optional[float]) -> Optional[float]:
    """What the setting would refuse, refused (NaN, infinity: the range check lets them pass)."""
    if value is None:
        return None
    try:
        parsed: float = SETTINGS[setting].parse(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} {exc}") from None
    return parsed


def timeout_seconds(value: Optional[float]) -> Optional[float]:
    """--timeout, checked as the wait_timeout setting is."""
    return _seconds("wait_timeout", value)


def interval_seconds(value: Optional[float]) -> Optional[float]:
    """--interval, checked as the max_poll_interval setting is."""
    return _seconds("max_poll_interval", value)


TimeoutOption = Annotated[
    Optional[float],
    params.Option(
        "--timeout",
        metavar="SECONDS",
        min=0,
        check=timeout_seconds,
        help="Give up waiting after this long (exit 8; the task goes on). 0: no deadline. "
        f"[default: {SETTINGS['wait_timeout'].shown_default}]",
        show_default=False,
    ),
]
IntervalOption = Annotated[
    Optional[float],
    params.Option(
        "--interval",
        metavar="MAX_SECONDS",
        min=MIN_POLL_INTERVAL,
        check=interval_seconds,
        help="Longest pause between two polls; polls start at 1s and grow to it. "
        f"[default: {SETTINGS['max_poll_interval'].shown_default}]",
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

# --- pictures in the terminal (get, wait, create --wait) ------------------------------

PreviewOption = Annotated[
    bool,
    params.Option("--preview", help="Show the image outputs in the terminal (kitty, iTerm2, sixel or half-blocks)"),
]
NoPreviewOption = Annotated[bool, params.Option("--no-preview", help="No images, even if the preview setting is on")]


#: the most rows a listing of the journal shows (``--limit``): more than anyone lists, and a
#: bound that keeps the number inside SQLite's integers
MAX_LIMIT = 1_000_000


def check_listing(limit: int, jq: Optional[str]) -> None:
    """A journal listing's ``--limit`` in range and ``--jq`` compiled: usage errors (exit 2)
    before anything is read."""
    if not 1 <= limit <= MAX_LIMIT:
        from piapi_cli.api.errors import UsageError

        shown = str(limit) if len(str(limit)) <= 20 else str(limit)[:20] + "..."
        raise UsageError(f"--limit {shown}: expected a whole number from 1 to {MAX_LIMIT:,}")
    if jq is not None:
        from piapi_cli.cli.jqfilter import compile_jq

        compile_jq(jq)
