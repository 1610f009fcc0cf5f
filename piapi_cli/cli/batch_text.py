"""A batch run in words: its summary, a dry run's plan, a run's status and the list of runs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from piapi_cli.cli.output import Output
    from piapi_cli.core.batch import Summary
    from piapi_cli.core.batch.status import RunStatus


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s"


def summary_lines(summary: Summary, *, resume: str, max_credits: int | None) -> tuple[list[str], list[str]]:
    """The run's end, for stderr: (notes, warnings)."""
    counts = ", ".join(f"{n} {status}" for status, n in summary.counts.most_common())
    notes = [
        f"run {summary.run_id}: {summary.rows} rows: {counts or 'none finished'}; "
        f"{summary.consumed:,} credits consumed"
        + (f", {summary.held:,} held" if summary.held else "")
        + f"; {summary.created} created in {_duration(summary.wall)}"
    ]
    warnings = []
    if summary.failed:
        warnings.append(
            f"{len(summary.failed)} row(s) failed: {_keys(summary.failed)}; create them again with "
            "--retry-failed (paid again)"
        )
    if summary.maybe_created:
        rows = ", ".join(
            f"{r.key} (journal #{r.entry_id})" if r.entry_id else r.key for r in summary.maybe_created[:10]
        )
        more = f" and {len(summary.maybe_created) - 10} more" if len(summary.maybe_created) > 10 else ""
        warnings.append(
            f"{len(summary.maybe_created)} row(s) may have been created (not resent): {rows}{more}; "
            "find them on your PiAPI dashboard and give them with --attach ID=TASK_ID, or, if they "
            "are not there, send them again with --resubmit-unknown"
        )
    if summary.unrecorded:
        tasks = ", ".join(f"{key} (task {task_id})" for key, task_id in summary.unrecorded)
        attach = " ".join(f"--attach {key}={task_id}" for key, task_id in summary.unrecorded[:3])
        warnings.append(f"the journal could not record {len(summary.unrecorded)} task(s): {tasks}; the next run "
                        f"will report them as maybe created: give them back with {attach}")  # fmt: skip
    if summary.elsewhere:
        warnings.append(
            f"{len(summary.elsewhere)} row(s) are being sent by another process running this run: "
            f"{_keys(summary.elsewhere)}"
        )
    if summary.left:
        why = {
            "max_credits": f"--max-credits {max_credits:,}" if max_credits else "--max-credits",
            "deadline": "the deadline",
            "interrupted": "the stop",
            "unreachable": "the API being unreachable",
            "auth": "the API refusing the key",
            "journal": "the journal",
            "output closed": "stdout being closed",
        }.get(summary.stopped or "", "the stop")
        notes.append(f"{len(summary.left)} row(s) not started because of {why}: left for a later run")
    if summary.running:
        notes.append(f"{len(summary.running)} task(s) still running (not cancelled)")
    if summary.left or summary.running or summary.elsewhere:
        notes.append(f"resume with: {resume}")
    return notes, warnings


def _keys(keys: list[str], limit: int = 10) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


#: what each step of a plan means, in words
ACTION_WORDS = {"send": "to create", "retry": "to create again (failed; paid again)",
                "resubmit": "to send again (may exist; paid again if so)", "recreate": "changed: to create again",
                "wait": "to wait for", "download": "to download", "done": "done", "failed": "failed (not retried)",
                "maybe": "may exist (not resent)", "elsewhere": "being sent by another process"}  # fmt: skip


def plan_text(doc: dict[str, Any]) -> list[str]:
    """A dry run's plan for a person."""
    shard = f" (shard {doc['shard']} of {doc['file_rows']} rows)" if doc.get("shard") else ""
    combos = doc.get("combinations") or 1
    matrix = f" ({doc['file_rows'] // combos} file rows x {combos} combinations)" if combos > 1 else ""
    lines = [f"run {doc['run_id']} ({doc['world']}): {doc['rows']} rows{shard or matrix}"]
    for kind in doc["kinds"]:
        each = kind["credits_each"]
        cost = f"~{each:,} credits each (from earlier tasks)" if each is not None else "cost unknown (no earlier task)"
        lines.append(
            f"  {kind['model']} {kind['task_type']}: {kind['rows']} rows, {kind['to_create']} to create; {cost}"
        )
    actions = doc["actions"]
    words = {
        "send": "to create",
        "retry": "to create again (failed; paid again)",
        "resubmit": "to send again (may exist; paid again if so)",
        "recreate": "changed: to create again",
        "wait": "to wait for",
        "download": "to download",
        "done": "done",
        "failed": "failed (not retried)",
        "maybe": "may exist (not resent)",
        "elsewhere": "being sent by another process",
    }
    lines.append("  " + ", ".join(f"{n} {words[a]}" for a, n in actions.items() if n))
    estimate = doc["estimated_credits"]
    unknown = doc["creates_of_unknown_cost"]
    lines.append(
        f"  expected cost: ~{estimate:,} credits" + (f" and {unknown} create(s) of unknown cost" if unknown else "")
    )
    return lines


def status_text(status: RunStatus) -> list[str]:
    from piapi_cli.cli.hints import with_row_advice

    doc = with_row_advice(status.to_json())
    counts = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in doc["counts"].items() if n)
    rows = f"{doc['rows']} rows" if doc["rows"] is not None else "rows"
    lines = [
        f"{doc['run_id']} ({doc['world']}): {rows}: {counts or 'nothing journaled'}",
        f"  credits: {doc['credits_consumed']:,} consumed, {doc['credits_held']:,} held",
        f"  source: {doc['source']}" + (f", shard {doc['shard']}" if doc["shard"] else ""),
    ]
    for item in doc["attention"]:
        what = item["task_id"] or f"journal #{item['journal_row']}"
        lines.append(f"  {item['id']}: {item['state'].replace('_', ' ')} ({what}): {item['advice']}")
    if doc["resume"] and any(doc["counts"][s] for s in ("running", "not_started", "refused", "sending")):
        lines.append(f"  resume with: {doc['resume']}")
    return lines


def list_row(status: RunStatus) -> str:
    doc = status.to_json()
    total = doc["rows"] if doc["rows"] is not None else "?"
    attention = sum(doc["counts"][s] for s in ("failed", "maybe_created", "refused"))
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(doc["created_at"]))
    return (
        f"{doc['run_id']}\t{when}\t{status.done}/{total} done\t{attention} need attention\t"
        f"{doc['credits_consumed']:,} credits\t{doc['source']}"
    )


def write_plan(output: Output, doc: dict[str, Any], as_json: bool) -> None:
    output.render(lambda: doc, as_json=as_json, lines=lambda: plan_text(doc))
