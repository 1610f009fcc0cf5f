"""Everything a run settles before its first create: the file read and every row checked, the
shard picked, the run identified, files named, maybe-created rows attached, and the plan made.
Any problem here is an error with nothing sent (exit 2)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import field, record, replace
from piapi_cli.core.batch.build import Defaults, InvalidRows, RowRequest, build_rows, name_for_row
from piapi_cli.core.batch.matrix import Axis, expand
from piapi_cli.core.batch.plan import MAYBE_STATES, Plan, make_plan
from piapi_cli.core.batch.queries import RunEntry, run_entries
from piapi_cli.core.batch.rows import Problem, SourceRow, detect_format, in_shard, read_rows

if TYPE_CHECKING:
    from piapi_cli.api.tasks import Task
    from piapi_cli.core.catalog import Catalog
    from piapi_cli.core.journal.journal import Journal


@record()
class Source:
    """A batch file's text, and how to name it (a path, or ``-`` for stdin)."""

    label: str
    text: str
    fmt: str

    @property
    def is_stdin(self) -> bool:
        return self.label == "-"

    @property
    def is_file(self) -> bool:
        """Rows read from a file (not stdin, nor made by a command such as ``compare``)."""
        return not self.is_stdin and self.fmt in ("jsonl", "csv", "text")


def load_source(path: str, read_stdin: Callable[[], str]) -> Source:
    if path == "-":
        text = read_stdin()
        return Source("-", text, detect_format("", text))
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}", path=path) from None
    return Source(path, text, detect_format(path, text))


def default_run_id(source: Source, world: str, keys: list[str]) -> str:
    """A run's name: the file's name and a digest of where it is and which API it runs on, so
    the same command in the same place resumes the same run. Rows from stdin are named by
    the digest of their ids."""
    if source.is_stdin:
        stem, where = "stdin", "\0".join(sorted(keys))
    else:
        stem, where = os.path.splitext(os.path.basename(source.label))[0], os.path.abspath(source.label)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")[:40] or "batch"
    digest = hashlib.sha256(f"{world}\n{where}".encode()).hexdigest()[:8]
    return f"{stem}-{digest}"


def run_id_for(source: Source, world: str, rows: list[RowRequest], given: str | None = None) -> str:
    """The run's ID: the one given (checked), else the default for this file and world."""
    return check_run_id(given) if given else default_run_id(source, world, [r.key for r in rows])


def check_run_id(run_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", run_id):
        raise UsageError(f"run_id {run_id!r}: letters, digits, '.', '_' and '-' (at most 100)", option="run_id")
    return run_id


def check_names(rows: list[RowRequest], template: str) -> None:
    """Every row's files get names of their own (else one row's file would stop another's),
    compared as they land on disk: sanitised (``x/1`` is ``x_1``), NFC and NFD as one, cut to
    255 bytes, and case-folded (some file systems do not tell ``A`` from ``a``)."""
    if "{task_id" in template:
        return
    from piapi_cli.core.downloads.naming import safe_filename

    owners: dict[str, str] = {}
    problems = []
    for row in rows:
        try:
            # as the downloader will write it ("a/b" and "a_b" are one file), on a disk that
            # may not tell "A" from "a"
            name = safe_filename(name_for_row(template, row.fields)).casefold()
        except UsageError as exc:
            problems.append(Problem(row.line, row.key, exc.message, option=exc.option))
            continue
        except (KeyError, ValueError, IndexError) as exc:
            problems.append(Problem(row.line, row.key, f"name {template!r}: {exc}", option="name"))
            continue
        if name in owners:
            problems.append(
                Problem(
                    row.line,
                    row.key,
                    f"name {template!r} gives the same file names as row {owners[name]}: add {{id}} to it",
                    option="name",
                )
            )
        owners.setdefault(name, row.key)
    if problems:
        raise InvalidRows(problems, len(rows))


@record()
class Prepared:
    run_id: str
    #: rows in the file, and those of this shard
    total: int
    rows: list[RowRequest]
    plan: Plan
    history: list[RunEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_and_check(
    source: Source, defaults: Defaults, name_template: str | None, matrix: list[Axis] | None = None
) -> tuple[list[RowRequest], list[str]]:
    """Every row (once per ``matrix`` combination) built and checked; ``InvalidRows`` (nothing
    sent) if any cannot be sent. A text file's line is the prompt unless ``--template`` says else."""
    rows, problems, total = read_rows(source.text, source.fmt)
    if source.fmt == "text" and defaults.template is None:
        defaults = replace(defaults, template="{prompt}")
    if matrix:
        rows = expand(rows, matrix)
        total = len(rows) + len({p.line for p in problems})
    if not rows and not problems:
        raise UsageError(f"{'stdin' if source.is_stdin else source.label}: no rows")
    return build_checked(rows, defaults, name_template, problems=problems, total=total)


def build_checked(
    rows: list[SourceRow],
    defaults: Defaults,
    name_template: str | None,
    catalog: Catalog | None = None,
    *,
    problems: list[Problem] | None = None,
    total: int | None = None,
) -> tuple[list[RowRequest], list[str]]:
    """Rows (from a file or made by a command) built and checked, or ``InvalidRows``."""
    built, more, warnings = build_rows(rows, defaults, name_template=name_template, catalog=catalog)
    problems = (problems or []) + more
    if problems:
        problems.sort(key=lambda p: p.line)
        raise InvalidRows(problems, total if total is not None else len(rows))
    if name_template is not None:
        check_names(built, name_template)
    return built, warnings


def prepare(
    source: Source,
    rows: list[RowRequest],
    journal: Journal,
    *,
    world: str,
    run_id: str,
    shard: tuple[int, int] | None = None,
    retry_failed: bool = False,
    resubmit_unknown: bool = False,
    force: bool = False,
    download_dir: str | None = None,
) -> Prepared:
    """The run's plan for the rows of this shard, from what the journal holds of the run."""
    selected = [row for row in rows if in_shard(row.key, shard)]
    current, history = run_entries(journal, run_id)
    plan = make_plan(
        selected,
        current,
        sender_gone=journal.sender_gone,
        retry_failed=retry_failed,
        resubmit_unknown=resubmit_unknown,
        force=force,
        download_dir=download_dir,
    )
    plan.costs = journal.known_costs(world)
    return Prepared(run_id, len(rows), selected, plan, history)


def attach(journal: Journal, run_id: str, key: str, task: Task, rows: list[RowRequest]) -> RunEntry:
    """Give a maybe-created row the task it turned out to have (found on the dashboard), so
    the run waits for that task instead of creating another."""
    current, _ = run_entries(journal, run_id)
    entry = current.get(key)
    if entry is None or entry.task_id is not None or entry.status not in MAYBE_STATES:
        state = "has no journaled create" if entry is None else f"is {entry.task_id or entry.status}, not maybe-created"
        raise UsageError(f"attach {key}={task.task_id}: row {key!r} of run {run_id} {state}", option="attach")
    stored = _journaled_create(journal, entry.id)
    differs = attach_mismatch(task, stored)
    if differs is not None:
        raise UsageError(f"attach {key}={task.task_id}: {differs}; not attached (nothing was sent)", option="attach")
    journal.created(entry.id, task)
    return entry


def _journaled_create(journal: Journal, entry_id: int) -> tuple[str, str, dict[str, Any]]:
    """The model, task type and input of a journaled create, as the journal stores them."""
    found = journal.row(entry_id)
    if found is None:
        raise UsageError(f"journal #{entry_id} cannot be read")
    return found.model, found.task_type, found.input


def attach_mismatch(task: Task, stored: tuple[str, str, dict[str, Any]]) -> str | None:
    """Why ``task`` is not the create the journal holds, naming the field that differs, or
    None. The API echoes ``input`` with defaults filled in and some values zeroed (``"width":
    0``), or as ``{}``: a field it added, a zero value or an empty echo is no difference."""
    model, task_type, sent = stored
    if (task.model or "").lower() != model.lower():
        return f"model differs: the task is {task.model or '(none)'!r}, the row sent {model!r}"
    if (task.task_type or "").lower() != task_type.lower():
        return f"task_type differs: the task is {task.task_type or '(none)'!r}, the row sent {task_type!r}"
    echoed = task.raw.get("input")
    if not isinstance(echoed, dict) or not echoed:
        return None
    for name in sorted(sent):
        if name not in echoed:
            return f"input field {name!r} differs: the row sent it, the task has none"
        value = echoed[name]
        if value != sent[name] and value not in (0, "", None, [], {}):
            return f"input field {name!r} differs: the task has {value!r}, the row sent {sent[name]!r}"
    return None
