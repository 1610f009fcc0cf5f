"""How ``piapi tasks images`` shows the journaled image calls: the listing at a terminal or
down a pipe, one call label by label, and what to do about a call whose answer was lost."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

#: the call ID's characters a terminal's listing shows (``img-`` and 6 of its own), a prefix
#: ``piapi tasks images show`` takes
SHORT_ID = 10
#: what a call's request holds besides the prompt, the model and the edited images
_ASKED = ("n", "size", "quality", "output_format", "response_format")
#: the route as the table names it, in few characters
_ROUTE_WORDS = {"generation": "gen"}
_COLUMNS = ("call", "created", "model", "route", "status", "saved")


def one_line(text: str) -> str:
    return " ".join(text.split())


def table(console: Console, calls: list[dict[str, Any]], *, every_world: bool) -> None:
    """The listing at a terminal; with every world, one table under each world's name."""
    from rich.markup import escape

    worlds = list(dict.fromkeys(c["world"] for c in calls)) if every_world else [None]
    for number, world in enumerate(worlds):
        if world is not None:
            console.print(("\n" if number else "") + f"[bold]{escape(world)}[/]")
        _table(console, [c for c in calls if world is None or c["world"] == world])


def _table(console: Console, calls: list[dict[str, Any]]) -> None:
    """An ID, a date or a model is never cut or folded; the prompt takes what is left, on one
    line, cut with an ellipsis."""
    from rich.markup import escape
    from rich.table import Table

    from piapi_cli.cli.output import status_text
    from piapi_cli.cli.tasks_view import when

    def widest(texts: list[str], least: int) -> int:
        return max([least, *(len(t) for t in texts)])

    routes = [_ROUTE_WORDS.get(c["route"], c["route"]) for c in calls]
    saved = [f"{len(c['files'])}/{c['images']}" for c in calls]
    widths = [SHORT_ID, 11, widest([c["model"] for c in calls], 5), widest(routes, 5),
              widest([c["status"] for c in calls], 6) + 2, widest(saved, 5)]  # fmt: skip
    # one space between columns; the prompt gets what is left (at 80 columns, with a
    # 13-character model: 19), and at least 12
    left = max(12, console.width - sum(widths) - len(widths))
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    for (name, width), justify in zip(zip(_COLUMNS, widths, strict=True), ("left",) * 5 + ("right",), strict=True):
        table.add_column(name, no_wrap=True, min_width=width, justify=justify)  # type: ignore[arg-type]
    table.add_column("prompt", no_wrap=True, overflow="ellipsis", max_width=left)
    for call, route, count in zip(calls, routes, saved, strict=True):
        table.add_row(
            escape(call["call_id"][:SHORT_ID]),
            when(call["created_at"], short=True),
            escape(call["model"]),
            escape(route),
            status_text(call["status"]),
            count,
            escape(one_line(call["prompt"])),
        )
    if calls:
        console.print(table)


def lines(calls: list[dict[str, Any]]) -> list[str]:
    """A pipe's listing: one call a line, tab-separated, the whole prompt last (on one line)."""
    from piapi_cli.cli.tasks_view import when

    return [
        "\t".join((c["call_id"], c["status"], c["model"], c["route"], when(c["created_at"]), c["world"],
                   str(len(c["files"])), one_line(c["prompt"])))
        for c in calls
    ]  # fmt: skip


def advice(call: dict[str, Any], prog: str = "piapi") -> str | None:
    """What to do about a call whose end is not known (None for one that ended)."""
    if call["status"] not in ("unknown", "sending"):
        return None
    lost = (
        "its answer was lost"
        if call["status"] == "unknown"
        else "piapi stopped before its answer came (or another piapi is still waiting for it)"
    )
    paths = ", ".join(str(f.get("path")) for f in call["files"])
    came, asked = len(call["files"]), call["images"]
    anew = f"ask anew ({prog} image ...): that is a new call, paid again"
    if not came:
        kept = f"no image came whole; to have the images, {anew}"
    elif came >= asked:
        kept = f"{'every image' if came > 1 else 'the image'} asked for came whole and is kept: {paths}"
    else:
        kept = f"{came} of the {asked} images came whole and are kept: {paths}; for the others, {anew}"
    return f"{lost}: the call may have been carried out and paid for. piapi will not send it again; {kept}."


def rows(call: dict[str, Any], prog: str = "piapi") -> list[tuple[str, str]]:
    """One call, a label and a value a line."""
    from piapi_cli.cli.tasks_view import when

    request = call["request"]
    usage = call["usage"]
    found = [
        ("call", call["call_id"]),
        ("world", call["world"]),
        ("model", f"{call['model']} · {call['route']} ({call['path']})"),
        ("status", call["status"] + (f": {call['message']}" if call["message"] else "")),
        ("created", when(call["created_at"])),
        ("prompt", call["prompt"]),
    ]
    asked = [f"{key}={request[key]}" for key in _ASKED if request.get(key) is not None]
    if asked:
        found.append(("asked", " ".join(asked)))
    images = request.get("image")
    found += [("edited", str(path)) for path in (images if isinstance(images, list) else [])]
    if isinstance(usage, dict):
        found.append(("usage", _usage(usage)))
    found += [("saved", f"{f.get('path')} ({f.get('bytes') or 0:,} bytes)") for f in call["files"]]
    if not call["files"]:
        found.append(("saved", "nothing"))
    note = advice(call, prog)
    if note:
        found.append(("what now", note))
    return found


def _usage(usage: dict[str, Any]) -> str:
    parts = [f"{usage[key]:,} {key.replace('_tokens', '')}" for key in ("input_tokens", "output_tokens")
             if isinstance(usage.get(key), int)]  # fmt: skip
    total = usage.get("total_tokens")
    text = f"{total:,} tokens" if isinstance(total, int) else "tokens not given"
    return text + (f" ({', '.join(parts)})" if parts else "")
