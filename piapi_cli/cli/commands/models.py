"""piapi models: the catalog of models, task types and their inputs (no network)."""

from __future__ import annotations

import enum

from piapi_cli.api.records import replace
from piapi_cli.cli.commands._options import ModelsJsonOption, examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from piapi_cli.cli.output import Output
    from piapi_cli.core.catalog import Catalog, Field, Model, TaskType

EPILOG = examples(
    "piapi models",
    "piapi models --category video",
    "piapi models Qubico/flux1-dev --task-type txt2img",
    "piapi models midjourney --json",
    "piapi models --chat",
    notes="--chat lists the models of the chat and image routes piapi knows (any name is still sent). "
    "The catalog is piapi's own data (PiAPI has no list endpoint); no network is used.",
)


class Category(str, enum.Enum):
    image = "image"
    video = "video"
    audio = "audio"
    threed = "3d"


_ModelOption = Annotated[
    Optional[str],
    params.Argument(metavar="MODEL", help="Show this model's task types and inputs", show_default=False),
]

_TaskTypeOption = Annotated[
    Optional[str],
    params.Option("--task-type", "-t", metavar="TYPE", help="Only this task type", show_default=False),
]

_CategoryOption = Annotated[
    Optional[Category], params.Option("--category", "-c", help="Only this category", show_default=False)
]

_ChatOption = Annotated[
    bool, params.Option("--chat", help="List the models of the chat and image routes (piapi chat, piapi image)")
]


def models(
    ctx: params.Context,
    model: _ModelOption = None,
    task_type: _TaskTypeOption = None,
    category: _CategoryOption = None,
    as_json: ModelsJsonOption = False,
    chat: _ChatOption = False,
) -> None:
    """List models and task types; with MODEL, each task type's input schema."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.catalog import load_catalog

    output: Output = ctx.obj.output
    if chat:
        if model is not None or task_type is not None or category is not None:
            raise UsageError("--chat lists every model of the chat and image routes: it takes no other filter")
        _chat_models(output, as_json)
        return
    catalog = load_catalog(user=True)
    if model is not None:
        _show_model(output, catalog, model, task_type, as_json)
        return

    chosen = [
        m if task_type is None else replace(m, task_types={task_type: m.task_types[task_type]})
        for m in catalog.models.values()
        if (category is None or m.category == category.value) and (task_type is None or task_type in m.task_types)
    ]
    output.render(
        lambda: [_model_json(m, m.task_types) for m in chosen],
        as_json=as_json,
        table=lambda console: console.print(_models_table(chosen, console.width)),
        lines=lambda: [f"{m.name}\t{name}\t{m.category}" for m in chosen for name in m.task_types],
    )


def _chat_models(output: Output, as_json: bool) -> None:
    from piapi_cli.core.chat_models import listed

    rows = listed()

    def table(console: Any) -> None:
        from rich.markup import escape
        from rich.table import Table

        grid = Table(box=None, header_style="bold", pad_edge=False)
        grid.add_column("model", no_wrap=True)
        grid.add_column("route", no_wrap=True)
        grid.add_column("answers with", overflow="fold")
        for row in rows:
            grid.add_row(escape(row["model"]), escape(row["route"]), escape(row["answers"]))
        console.print(grid)
        output.info("any other name is sent as given: the server decides")

    output.render(
        lambda: rows, as_json=as_json, table=table, lines=lambda: [f"{r['model']}\t{r['route']}" for r in rows]
    )


def _models_table(chosen: list[Model], width: int) -> Any:
    """Models as a table that reads at 80 columns: a model name or a task type is never split
    over lines (task types wrap between names); notes get what room is left, cut to one line.

    Widths are worked out here: rich, short of room, cuts even no-wrap columns.
    """
    from rich.table import Table

    model_width = max((len(m.name) for m in chosen), default=5)
    type_width = max((len(t) + 1 for m in chosen for t in m.task_types), default=10)
    left = width - model_width - len("category") - type_width - 6  # three gaps of two
    type_width += max(0, (left - 40) // 2)  # a wide terminal: fewer lines of task types
    notes_width = width - model_width - len("category") - type_width - 6
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("model", no_wrap=True, width=model_width)
    table.add_column("category", no_wrap=True, width=len("category"))
    table.add_column("task types", width=type_width)
    if notes_width >= 10:
        table.add_column("notes", no_wrap=True, overflow="ellipsis", width=notes_width)
    for m in chosen:
        notes = "discontinued" if m.discontinued else m.description
        table.add_row(m.name, m.category, ", ".join(m.task_types), notes)
    return table


def _field_json(field: Field) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": field.type, "required": field.required}
    for key in ("default", "min", "max", "max_length", "min_items", "max_items"):
        value = getattr(field, key)
        if value is not None:
            doc[key] = value
    if field.enum is not None:
        doc["enum"] = list(field.enum)
    if field.items is not None:
        doc["items"] = _field_json(field.items)
    if field.properties:
        doc["properties"] = {k: _field_json(v) for k, v in field.properties.items()}
    if field.description:
        doc["description"] = field.description
    return doc


def _model_json(model: Model, types: dict[str, TaskType]) -> dict[str, Any]:
    return {
        "model": model.name,
        "category": model.category,
        "description": model.description,
        "discontinued": model.discontinued,
        "docs": model.docs,
        "task_types": {
            name: {
                "output": spec.output,
                "open_schema": spec.open,
                "docs": spec.docs,
                "input": {k: _field_json(v) for k, v in spec.fields.items()},
                "require_one_of": list(spec.require_one_of),
            }
            for name, spec in types.items()
        },
    }


def _render_model(console: Console, model: Model, types: list[TaskType]) -> None:
    from rich.markup import escape
    from rich.table import Table

    status = " [red](discontinued)[/]" if model.discontinued else ""
    console.print(f"[bold]{escape(model.name)}[/]  {model.category} · {escape(model.description)}{status}")
    if model.service_mode:
        console.print(f"needs service mode {model.service_mode} (piapi sets it)")
    for spec in types:
        console.print(f"\n[bold cyan]{escape(spec.name)}[/] → {spec.output}  [dim]{escape(spec.docs)}[/]")
        if spec.open:
            console.print("  no public input schema: any keys are sent as given")
            continue
        table = Table(box=None, header_style="dim", pad_edge=False, padding=(0, 2, 0, 2))
        table.add_column("input", no_wrap=True)  # a field name is never split
        for column in ("type", "default", "description"):
            table.add_column(column)
        for field in spec.fields.values():
            name = f"[bold]{escape(field.name)}[/]" + (" [red]*[/]" if field.required else "")
            default = "" if field.default is None else str(field.default)
            table.add_row(name, escape(field.allowed()), escape(default), escape(field.description))
        console.print(table)
        if spec.require_one_of:
            console.print(f"  [red]*[/] at least one of: {escape(', '.join(spec.require_one_of))}")
    console.print("\n[dim]* required · set inputs with -i KEY=VALUE, or -i KEY:=JSON[/]")


def _show_model(output: Output, catalog: Catalog, model: str, task_type: str | None, as_json: bool) -> None:
    """One model: each task type's input schema (or the one asked for)."""
    from piapi_cli.api.errors import UsageError

    found = catalog.model(model)
    if found is None:
        import difflib

        names = list(catalog.models)
        close = [n for n in names if model.lower() in n.lower()][:5]
        close = close or difflib.get_close_matches(model, names, n=3, cutoff=0.4)
        raise UsageError(
            f"unknown model {model!r}" + (f"; did you mean {', '.join(close)}?" if close else ""),
            hint="list them with: piapi models",
        )
    types = found.task_types
    if task_type is not None:
        if task_type not in types:
            from piapi_cli.core.suggest import did_you_mean, near_misses

            close = near_misses(task_type, types)
            listed = f"it has: {', '.join(types)}"
            known = f"{did_you_mean(close)} ({listed})" if close else listed
            raise UsageError(f"{found.name} has no task type {task_type!r}; {known}")
        types = {task_type: types[task_type]}
    output.render(
        lambda: _model_json(found, types),
        as_json=as_json,
        table=lambda console: _render_model(console, found, list(types.values())),
        lines=lambda: [
            f"{spec.name}\t{field.name}\t{field.allowed()}\t{'required' if field.required else ''}"
            for spec in types.values()
            for field in spec.fields.values()
        ],
    )
