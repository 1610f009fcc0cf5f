"""What a run does with each row, given what the journal holds of it: the heart of resuming.

- no journaled create (or one that surely created nothing: refused, not sent): send it;
- a task still running: wait for it; completed: done (or download what is missing);
- a task that failed: report it, or with ``--retry-failed`` create a new one (paid again);
- a create that may have been carried out (its answer lost, its process killed while it was in
  flight): report it, never send it again unless ``--resubmit-unknown``;
- a create still in flight in another process running the same run: leave it to that one;
- a row whose content changed since its task was created: refuse the run unless ``--force``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from piapi_cli.api.errors import UsageError
from piapi_cli.api.records import field, record
from piapi_cli.api.tasks import SUCCEEDED, TERMINAL
from piapi_cli.core.batch.build import RowRequest
from piapi_cli.core.batch.queries import RunEntry
from piapi_cli.core.downloads.downloader import LocalFile

if TYPE_CHECKING:
    from piapi_cli.core.runner import DownloadPlan

SEND = "send"  # never created (or surely not): create it
RETRY = "retry"  # its task failed: create a new one (--retry-failed)
RESUBMIT = "resubmit"  # it may exist: create it again all the same (--resubmit-unknown)
RECREATE = "recreate"  # it changed since its task was created: create it anew (--force)
WAIT = "wait"  # its task is still running
DOWNLOAD = "download"  # completed, files missing
DONE = "done"  # completed (and saved)
FAILED = "failed"  # its task failed or was cancelled
MAYBE = "maybe"  # its create may have been carried out: not resent
ELSEWHERE = "elsewhere"  # another process is sending it right now

#: actions that send a create (and may cost credits)
CREATES = frozenset({SEND, RETRY, RESUBMIT, RECREATE})
#: actions that cost credits for a row that has (or may have) a task already
PAID_AGAIN = frozenset({RETRY, RESUBMIT, RECREATE})
NO_TASK = frozenset({"refused", "not_sent"})
MAYBE_STATES = frozenset({"unknown", "sending"})


@record()
class Step:
    """One row and what this run does with it."""

    row: RowRequest
    action: str
    #: the journal's current entry for the row (None: never journaled)
    entry: RunEntry | None = None
    #: the entry must be set aside (kept as history) before the row is created again
    supersede: bool = False

    @property
    def key(self) -> str:
        return self.row.key


class ChangedRows(UsageError):
    """Rows whose content changed since their task was created; nothing was sent."""

    def __init__(self, steps: list[Step]) -> None:
        lines = "\n".join(
            f"  line {s.row.line} (id {s.key}): changed since its task {s.entry.task_id or '(maybe created)'} "
            f"was created ({s.entry.status})"
            for s in steps
            if s.entry is not None
        )
        super().__init__(
            f"{len(steps)} row(s) changed since their task was created; nothing was sent:\n{lines}",
            advice="run_id_or_force",
        )
        self.steps = steps


@record()
class Plan:
    steps: list[Step]
    #: credits of one task of each model and task type, where known (journal history)
    costs: dict[tuple[str, str], int] = field(default_factory=dict)

    def counts(self) -> Counter[str]:
        return Counter(step.action for step in self.steps)

    def to_json(self, run_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        kinds: dict[tuple[str, str], Counter[str]] = {}
        for step in self.steps:
            kinds.setdefault(step.row.kind, Counter())[step.action] += 1
        by_kind = []
        estimate = 0
        unknown = 0
        for (model, task_type), counter in kinds.items():
            each = self.costs.get((model, task_type))
            creates = sum(n for action, n in counter.items() if action in CREATES)
            if each is None:
                unknown += creates
            else:
                estimate += each * creates
            by_kind.append(
                {
                    "model": model,
                    "task_type": task_type,
                    "rows": sum(counter.values()),
                    "to_create": creates,
                    "credits_each": each,
                }
            )
        counts = self.counts()
        return {
            "run_id": run_id,
            **(extra or {}),
            "rows": len(self.steps),
            "actions": {action: counts.get(action, 0) for action in ALL_ACTIONS},
            "kinds": by_kind,
            "estimated_credits": estimate,
            "creates_of_unknown_cost": unknown,
        }


ALL_ACTIONS = (SEND, RETRY, RESUBMIT, RECREATE, WAIT, DOWNLOAD, DONE, FAILED, MAYBE, ELSEWHERE)


def files_missing(entry: RunEntry, directory: str | None) -> bool:
    """Whether a completed task's outputs are not all saved (and still there) in ``directory``."""
    if directory is None or not entry.urls:
        return False
    root = os.path.abspath(directory)
    saved = {
        d["url"]
        for d in entry.downloads
        if os.path.abspath(str(d["path"])).startswith(root + os.sep) and os.path.exists(str(d["path"]))
    }
    return any(url not in saved for url in entry.urls)


def recorded_files(entry: RunEntry | None, plan: DownloadPlan | None) -> list[LocalFile]:
    """The files the journal has saved for a row's task (in the plan's directory, if any)."""
    if entry is None:
        return []
    files = [LocalFile(str(d["url"]), str(d["path"]), int(d["bytes"]), str(d["sha256"]), entry.task_id or "")
             for d in entry.downloads]  # fmt: skip
    if plan is not None:
        root = os.path.abspath(plan.directory) + os.sep
        files = [f for f in files if os.path.abspath(f.path).startswith(root)]
    return files


def make_plan(
    rows: list[RowRequest],
    entries: dict[str, RunEntry],
    *,
    sender_gone: Callable[[RunEntry], bool],
    retry_failed: bool = False,
    resubmit_unknown: bool = False,
    force: bool = False,
    download_dir: str | None = None,
) -> Plan:
    """Each row's step; raises ``ChangedRows`` (nothing sent) for changed rows without --force."""
    steps: list[Step] = []
    changed: list[Step] = []
    for row in rows:
        entry = entries.get(row.key)
        step = _step(row, entry, sender_gone, retry_failed, resubmit_unknown, download_dir)
        differs = entry is not None and entry.fingerprint is not None and entry.fingerprint != row.fingerprint
        if differs and step.action not in CREATES:
            if not force or step.action in (MAYBE, ELSEWHERE):
                # a maybe-created row is only ever sent again with --resubmit-unknown
                if step.action != ELSEWHERE:
                    changed.append(step)
            else:
                step = Step(row, RECREATE, entry, supersede=True)
        steps.append(step)
    if changed:
        raise ChangedRows(changed)
    return Plan(steps)


def _step(
    row: RowRequest,
    entry: RunEntry | None,
    sender_gone: Callable[[RunEntry], bool],
    retry_failed: bool,
    resubmit_unknown: bool,
    download_dir: str | None,
) -> Step:
    if entry is None:
        return Step(row, SEND)
    if entry.task_id is None:
        if entry.status in NO_TASK:
            return Step(row, SEND, entry, supersede=True)  # nothing was created: safe to send
        if entry.status == "sending" and not sender_gone(entry):
            return Step(row, ELSEWHERE, entry)
        if resubmit_unknown:
            return Step(row, RESUBMIT, entry, supersede=True)
        return Step(row, MAYBE, entry)
    if entry.status in SUCCEEDED:
        return Step(row, DOWNLOAD if files_missing(entry, download_dir) else DONE, entry)
    if entry.status in TERMINAL or entry.status == "canceled":
        return Step(row, RETRY, entry, supersede=True) if retry_failed else Step(row, FAILED, entry)
    return Step(row, WAIT, entry)
