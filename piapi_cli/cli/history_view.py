"""Showing the account's history: ``tasks --remote`` and ``tasks sync``, and the active tasks
that ``account`` lists."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from piapi_cli.api.history import ProviderLoad
    from piapi_cli.cli.output import Output
    from piapi_cli.core.history import RemoteTask, SyncReport


def _when(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp is not None else "-"


def show_remote(output: Output, tasks: list[RemoteTask], *, as_json: bool, jq: str | None) -> None:
    def table(console: Console) -> None:
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("task", "model", "task type", "status", "created", "journal"):
            table.add_column(column, no_wrap=column in ("task", "created", "journal"))
        for item in tasks:
            e = item.entry
            row = f"#{item.row}" if item.row is not None else "[yellow]missing[/]"
            table.add_row(
                e.task_id[:8], escape(e.model), escape(e.task_type), escape(e.status), _when(e.created_at), row
            )
        console.print(table)
        missing = sum(1 for t in tasks if t.row is None)
        if missing:
            output.info(f"{missing} of {len(tasks)} not in the journal: bring them in with tasks sync")

    def lines() -> list[str]:
        found = []
        for item in tasks:
            e = item.entry
            known = str(item.row) if item.row is not None else "-"
            found.append("\t".join((e.task_id, e.status, e.model, e.task_type, _when(e.created_at), known)))
        return found

    output.render(lambda: [t.to_json() for t in tasks], as_json=as_json, jq=jq, table=table, lines=lines)


def sync_summary(output: Output, report: SyncReport) -> None:
    for row, task_id in report.found:
        output.line(task_id)
        output.info(f"#{row}: its create's answer was lost; the history shows its task {task_id}")
    for _, task_id in report.added:
        output.line(task_id)
    for row, ids in report.ambiguous:
        output.warn(f"#{row}: several tasks of the history fit its lost create ({', '.join(ids)}); left as it is")
    for task_id, why in report.failed:
        output.warn(f"{task_id}: could not be fetched: {why}")
    added, found = len(report.added), len(report.found)
    output.info(
        f"added {added} task{'s' * (added != 1)} the journal lacked; found {found} lost create{'s' * (found != 1)}"
    )


def active_table(output: Output, loads: list[ProviderLoad]) -> None:
    if not loads:
        output.info("no active tasks")
        return

    def table(console: Console) -> None:
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False, title="active tasks", title_justify="left")
        for column in ("provider", "staged", "pending", "processing"):
            table.add_column(column, justify="left" if column == "provider" else "right")
        for load in loads:
            table.add_row(escape(load.provider), str(load.staged), str(load.pending), str(load.processing))
        console.print(table)

    output.render(
        lambda: [load.to_json() for load in loads],
        table=table,
        lines=lambda: [f"active\t{x.provider}\t{x.staged}\t{x.pending}\t{x.processing}" for x in loads],
    )
