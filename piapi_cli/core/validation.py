"""Checking an input against its task type's schema before anything is sent: types, ranges,
required fields, and the names a few keystrokes from a known one (refused as typos)."""

from __future__ import annotations

import json
import math

from piapi_cli.api.errors import ValidationError
from piapi_cli.api.records import record
from piapi_cli.core.suggest import did_you_mean, near_misses

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.core.catalog import Field, TaskType


@record(frozen=True)
class Problem:
    """One thing wrong with an input: where, what, and the known name it may have meant."""

    field: str
    text: str
    suggestion: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.text}"


def _type_ok(value: Any, ftype: str) -> bool:
    if ftype == "string":
        return isinstance(value, str)
    if ftype == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if ftype == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ftype == "boolean":
        return isinstance(value, bool)
    if ftype == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def _show(value: Any) -> str:
    """A value for a message, short whatever its size (a fuzzer sends megabytes)."""
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 40 else value[:40] + "...", ensure_ascii=False)
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    text = json.dumps(value) if isinstance(value, (bool, float)) or value is None else str(value)
    return text if len(text) <= 40 else text[:20] + "..." + text[-8:]


def _blank(value: Any) -> bool:
    return (isinstance(value, str) and not value.strip()) or (isinstance(value, (list, dict)) and not value)


def _check_value(path: str, value: Any, spec: Field, problems: list[Problem], notes: list[str]) -> None:
    if not _type_ok(value, spec.type):
        problems.append(Problem(path, f"expected {spec.allowed()}, got {_show(value)}"))
        return
    if spec.enum is not None and value not in spec.enum:
        close = near_misses(value, [str(v) for v in spec.enum]) if isinstance(value, str) else []
        if spec.strict or close:
            advice = did_you_mean(close) if close else f"expected {spec.allowed()}"
            problems.append(Problem(path, f"{_show(value)} is not allowed; {advice}", close[0] if close else None))
        else:
            # PiAPI adds models, ratios and durations faster than any catalog follows
            notes.append(f"{path}={_show(value)} is not in piapi's catalog ({spec.allowed()}): sent anyway")
        return
    if spec.type in ("integer", "number"):
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(Problem(path, f"{value} is not a number JSON can carry"))
        elif (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
            problems.append(Problem(path, f"{_show(value)} is out of range; expected {spec.allowed()}"))
    elif spec.type == "string" and spec.max_length is not None and len(value) > spec.max_length:
        problems.append(Problem(path, f"{len(value)} characters is too long; at most {spec.max_length}"))
    elif spec.type == "array":
        if (spec.min_items is not None and len(value) < spec.min_items) or (
            spec.max_items is not None and len(value) > spec.max_items
        ):
            problems.append(Problem(path, f"{len(value)} items; expected {spec.allowed()}"))
        if spec.items is not None:
            for index, item in enumerate(value):
                _check_value(f"{path}[{index}]", item, spec.items, problems, notes)
    elif spec.type == "object":
        for key, sub in spec.properties.items():
            if key in value:
                _check_value(f"{path}.{key}", value[key], sub, problems, notes)


def _unknown_keys(data: dict[str, Any], fields: dict[str, Field], prefix: str = "") -> list[tuple[str, list[str]]]:
    """Keys the schema does not list, with the known names each may be a typo of; objects
    the schema describes are searched too (``camera_control.config.zom``)."""
    found: list[tuple[str, list[str]]] = []
    for key, value in data.items():
        spec = fields.get(key)
        path = f"{prefix}{key}"
        if spec is None:
            found.append((path, near_misses(str(key), fields)))
        elif spec.properties and isinstance(value, dict):
            found.extend(_unknown_keys(value, spec.properties, path + "."))
        elif spec.items is not None and spec.items.properties and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    found.extend(_unknown_keys(item, spec.items.properties, f"{path}[{index}]."))
    return found


def _check_fields(task_type: TaskType, data: dict[str, Any], problems: list[Problem], notes: list[str]) -> None:
    """Every field the schema lists: present when required, of its type and range."""
    for name, spec in task_type.fields.items():
        if name not in data:
            if spec.required:
                problems.append(Problem(name, f"required ({spec.allowed()}) but missing"))
        elif spec.required and _blank(data[name]):
            problems.append(Problem(name, f"required ({spec.allowed()}) but empty"))
        else:
            _check_value(name, data[name], spec, problems, notes)
    given = [name for name in task_type.require_one_of if name in data and not _blank(data[name])]
    if task_type.require_one_of and not given:
        names = ", ".join(task_type.require_one_of)
        problems.append(Problem(task_type.require_one_of[0], f"missing: give at least one of {names}"))
    if task_type.max_pixels and not problems:
        width, height = data.get("width"), data.get("height")
        if isinstance(width, int) and isinstance(height, int) and width * height > task_type.max_pixels:
            text = f"{_show(width)}x{_show(height)} is over {task_type.max_pixels:,} pixels"
            problems.append(Problem("width x height", text))


def validate_input(task_type: TaskType, data: dict[str, Any], *, validate: bool = True) -> list[str]:
    """Check an input against the task type's schema.

    Raises ``ValidationError`` naming every bad field and what it allows: a wrong type or
    range, a required field missing or empty, a key a typo away from a known one (``field``
    and ``suggestion`` say which). Returns warnings: keys the schema does not list and that
    look like no known one (PiAPI may accept more than it documents). With ``validate``
    false nothing is refused; typos are only warned about.
    """
    if task_type.open:
        return []
    problems: list[Problem] = []
    warnings: list[str] = []
    unknown: list[str] = []
    where = f"{task_type.model} {task_type.name}"
    for path, close in _unknown_keys(data, task_type.fields):
        if not close:
            unknown.append(path)
        elif validate:
            problems.append(Problem(path, f"unknown input; {did_you_mean(close)}", close[0]))
        else:
            note = f"input {path} is not in piapi's catalog for {where} ({did_you_mean(close)}); sending as given"
            warnings.append(note)
    if validate:
        _check_fields(task_type, data, problems, warnings)
    if problems:
        raise ValidationError(
            f"invalid input for {where}: " + "; ".join(str(p) for p in problems),
            field=problems[0].field,
            suggestion=problems[0].suggestion,
            advice="model_schema",
            model=task_type.model,
            task_type=task_type.name,
        )
    if unknown:
        warnings.append(f"input {', '.join(unknown)} not in piapi's catalog for {where}; sending as given")
    return warnings
