"""The model catalog: PiAPI has no list-models endpoint, so the catalog is our own data.

``catalog.json`` beside this module lists every model, its task types and each one's input
fields. This module loads it, and checks an input against a task type's schema before
anything is sent. The catalog may lag PiAPI: an unknown model or task type is a warning for
the caller to show, never a refusal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from piapi_cli.api.errors import ValidationError

CATEGORIES = ("image", "video", "audio", "3d")
TYPES = ("string", "integer", "number", "boolean", "array", "object")


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    enum: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    items: Field | None = None
    properties: dict[str, Field] = field(default_factory=dict)
    description: str = ""

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any]) -> Field:
        ftype = spec.get("type", "string")
        if ftype not in TYPES:
            raise ValueError(f"catalog: field {name} has unknown type {ftype}")
        return cls(
            name=name,
            type=ftype,
            required=bool(spec.get("required", False)),
            default=spec.get("default"),
            enum=tuple(spec["enum"]) if "enum" in spec else None,
            min=spec.get("min"),
            max=spec.get("max"),
            max_length=spec.get("max_length"),
            min_items=spec.get("min_items"),
            max_items=spec.get("max_items"),
            items=cls.from_spec(f"{name}[]", spec["items"]) if "items" in spec else None,
            properties={k: cls.from_spec(k, v) for k, v in spec.get("properties", {}).items()},
            description=spec.get("description", ""),
        )

    def allowed(self) -> str:
        """What the field accepts, in words: ``integer 1-4``, ``one of 5, 10``."""
        if self.enum is not None:
            return "one of " + ", ".join(str(v) for v in self.enum)
        text = self.type
        if self.type == "array" and self.items is not None:
            text = f"array of {self.items.type}"
        if self.min is not None and self.max is not None:
            text += f" {_num(self.min)}-{_num(self.max)}"
        elif self.min is not None:
            text += f" >= {_num(self.min)}"
        elif self.max is not None:
            text += f" <= {_num(self.max)}"
        if self.max_length is not None:
            text += f", at most {self.max_length} characters"
        if self.min_items is not None or self.max_items is not None:
            text += f", {self.min_items or 0}-{self.max_items if self.max_items is not None else 'any'} items"
        return text


def _num(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class TaskType:
    model: str
    name: str
    fields: dict[str, Field]
    open: bool = False
    output: str = "image"
    max_pixels: int | None = None

    def field_for(self, dotted: list[str]) -> Field | None:
        """The schema of a (possibly nested) key, or None where the schema says nothing."""
        fields = self.fields
        found: Field | None = None
        for part in dotted:
            found = fields.get(part)
            if found is None:
                return None
            fields = found.properties
        return found


@dataclass(frozen=True)
class Model:
    name: str
    category: str
    output: str
    description: str
    task_types: dict[str, TaskType]
    discontinued: bool = False
    service_mode: str | None = None


class Catalog:
    def __init__(self, data: dict[str, Any]) -> None:
        sets: dict[str, dict[str, Any]] = data.get("sets", {})
        self.models: dict[str, Model] = {}
        for spec in data["models"]:
            types = {}
            for type_name, tspec in spec["task_types"].items():
                merged: dict[str, Any] = {}
                for set_name in tspec.get("use", []):
                    merged.update(sets[set_name])
                merged.update(tspec.get("fields", {}))
                options = {k[1:]: merged.pop(k) for k in list(merged) if k.startswith("$")}
                types[type_name] = TaskType(
                    model=spec["name"],
                    name=type_name,
                    fields={k: Field.from_spec(k, v) for k, v in merged.items()},
                    open=bool(tspec.get("open", False)),
                    output=tspec.get("output", spec.get("output", "image")),
                    max_pixels=options.get("max_pixels"),
                )
            self.models[spec["name"]] = Model(
                name=spec["name"],
                category=spec["category"],
                output=spec.get("output", "image"),
                description=spec.get("description", ""),
                task_types=types,
                discontinued=bool(spec.get("discontinued", False)),
                service_mode=spec.get("service_mode"),
            )
        self._folded = {name.lower(): model for name, model in self.models.items()}

    def model(self, name: str) -> Model | None:
        """A model by name; names are matched case-insensitively."""
        return self.models.get(name) or self._folded.get(name.lower())

    def task_type(self, model: str, task_type: str) -> TaskType | None:
        found = self.model(model)
        return found.task_types.get(task_type) if found else None

    def lookup_warning(self, model: str, task_type: str) -> str | None:
        """A warning when the catalog does not know the pair (the request is still sent)."""
        found = self.model(model)
        if found is None:
            return f"model {model!r} is not in piapi's catalog; sending it anyway (see: piapi models)"
        if task_type not in found.task_types:
            known = ", ".join(found.task_types)
            return (
                f"task type {task_type!r} is not in piapi's catalog for {found.name} (known: {known}); "
                "sending it anyway"
            )
        if found.discontinued:
            return f"model {found.name} is discontinued by PiAPI; the request will likely be refused"
        return None


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    # beside this file (importlib.resources would import zipfile and tempfile for the same read)
    text = Path(__file__).with_name("catalog.json").read_text("utf-8")
    return Catalog(json.loads(text))


# --- validation -----------------------------------------------------------------


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


def _check_value(path: str, value: Any, spec: Field, problems: list[str]) -> None:
    if not _type_ok(value, spec.type):
        problems.append(f"{path}: expected {spec.allowed()}, got {json.dumps(value)}")
        return
    if spec.enum is not None and value not in spec.enum:
        problems.append(f"{path}: {json.dumps(value)} is not allowed; expected {spec.allowed()}")
        return
    if spec.type in ("integer", "number"):
        if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
            problems.append(f"{path}: {value} is out of range; expected {spec.allowed()}")
    elif spec.type == "string" and spec.max_length is not None and len(value) > spec.max_length:
        problems.append(f"{path}: {len(value)} characters is too long; at most {spec.max_length}")
    elif spec.type == "array":
        if (spec.min_items is not None and len(value) < spec.min_items) or (
            spec.max_items is not None and len(value) > spec.max_items
        ):
            problems.append(f"{path}: {len(value)} items; expected {spec.allowed()}")
        if spec.items is not None:
            for index, item in enumerate(value):
                _check_value(f"{path}[{index}]", item, spec.items, problems)
    elif spec.type == "object":
        for key, sub in spec.properties.items():
            if key in value:
                _check_value(f"{path}.{key}", value[key], sub, problems)


def validate_input(task_type: TaskType, data: dict[str, Any]) -> list[str]:
    """Check an input against the task type's schema.

    Raises ``ValidationError`` naming every bad field and what it allows. Returns warnings
    (keys the schema does not list: PiAPI may accept more than it documents).
    """
    if task_type.open:
        return []
    problems: list[str] = []
    for name, spec in task_type.fields.items():
        if name not in data:
            if spec.required:
                problems.append(f"{name}: required ({spec.allowed()}) but missing")
            continue
        _check_value(name, data[name], spec, problems)
    if task_type.max_pixels and not problems:
        width, height = data.get("width"), data.get("height")
        if isinstance(width, int) and isinstance(height, int) and width * height > task_type.max_pixels:
            problems.append(f"width x height: {width}x{height} is over {task_type.max_pixels:,} pixels")
    if problems:
        raise ValidationError(
            f"invalid input for {task_type.model} {task_type.name}: " + "; ".join(problems),
            field=problems[0].split(":", 1)[0],
            hint=f"see: piapi models {task_type.model} -t {task_type.name}  (or skip the checks: --no-validate)",
        )
    unknown = sorted(set(data) - set(task_type.fields))
    if unknown:
        return [
            f"input {', '.join(unknown)} not in piapi's catalog for {task_type.model} {task_type.name}; "
            "sending as given"
        ]
    return []
