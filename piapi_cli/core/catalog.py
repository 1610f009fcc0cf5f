"""The model catalog: PiAPI has no list-models endpoint, so the catalog is our own data.

``catalog.json`` beside this module lists every model, its task types and each one's input
fields. This module loads it, and checks an input against a task type's schema before
anything is sent. The catalog may lag PiAPI: a name it does not know is a warning for the
caller to show, unless it is a near miss of a known one (``midjourny``, ``widht``), which is
refused as the typo it most likely is.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from piapi_cli.api.errors import ConfigError, Note, ValidationError
from piapi_cli.api.records import field, record
from piapi_cli.core.catalog_bounds import bounds
from piapi_cli.core.suggest import did_you_mean, near_misses

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

CATEGORIES = ("image", "video", "audio", "3d")
TYPES = ("string", "integer", "number", "boolean", "array", "object")


@record(frozen=True)
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
    #: an enum PiAPI cannot grow (a protocol value such as Midjourney's ``process_mode``): a
    #: value outside it is refused; other enums may lag PiAPI, so an unknown value only warns
    strict: bool = False

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
            **bounds(spec, name),
            items=cls.from_spec(f"{name}[]", spec["items"]) if "items" in spec else None,
            properties={k: cls.from_spec(k, v) for k, v in spec.get("properties", {}).items()},
            description=spec.get("description", ""),
            strict=bool(spec.get("strict", False)),
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


@record(frozen=True)
class TaskType:
    model: str
    name: str
    fields: dict[str, Field]
    open: bool = False
    output: str = "image"
    max_pixels: int | None = None
    #: at least one of these inputs must be given (a video needs a prompt or a start image)
    require_one_of: tuple[str, ...] = ()
    docs: str = ""

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


@record(frozen=True)
class Model:
    name: str
    category: str
    output: str
    description: str
    task_types: dict[str, TaskType]
    discontinued: bool = False
    service_mode: str | None = None
    #: the PiAPI documentation page the entry was read from
    docs: str = ""
    #: names people use for it (``flux``): taken for a typo of this model, never sent as such
    aliases: tuple[str, ...] = ()


class Catalog:
    """The models of a catalog document. Each model is made when first asked for: a create
    needs one of the hundred (``models`` makes them all)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._sets: dict[str, dict[str, Any]] = data.get("sets", {})
        self._specs: dict[str, dict[str, Any]] = {spec["name"]: spec for spec in data["models"]}
        self._made: dict[str, Model] = {}
        self._folded = {name.lower(): name for name in self._specs}

    @property
    def models(self) -> dict[str, Model]:
        """Every model by name, in the catalog's order."""
        return {name: self._model(name) for name in self._specs}

    def model(self, name: str) -> Model | None:
        """A model by name; names are matched case-insensitively."""
        found = name if name in self._specs else self._folded.get(name.lower())
        return self._model(found) if found is not None else None

    def _model(self, name: str) -> Model:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = _made_model(self._specs[name], self._sets)
        return made

    def task_type(self, model: str, task_type: str) -> TaskType | None:
        found = self.model(model)
        return found.task_types.get(task_type) if found else None

    def lookup_warning(self, model: str, task_type: str) -> str | None:
        """A warning when the catalog does not know the pair (the request is still sent)."""
        notes = check_model(self, model, task_type, validate=False)
        return notes[0] if notes else None


def _made_model(spec: dict[str, Any], sets: dict[str, dict[str, Any]]) -> Model:
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
            require_one_of=tuple(options.get("require_one_of", ())),
            docs=tspec.get("docs", spec.get("docs", "")),
        )
    return Model(
        name=spec["name"],
        category=spec["category"],
        output=spec.get("output", "image"),
        description=spec.get("description", ""),
        task_types=types,
        discontinued=bool(spec.get("discontinued", False)),
        service_mode=spec.get("service_mode"),
        docs=spec.get("docs", ""),
        aliases=tuple(spec.get("aliases", ())),
    )


#: a catalog file of the user's own, in the config directory, merged over the shipped one
USER_CATALOG = "catalog.json"


def load_catalog(*, user: bool = False) -> Catalog:
    """The shipped catalog; with ``user``, merged with the user's own ``catalog.json`` in
    the config directory (models and task types PiAPI added after this release)."""
    if not user:
        return _shipped()
    from piapi_cli.core.settings import config_dir

    path = config_dir() / USER_CATALOG
    try:
        found = path.stat()
    except OSError:
        return _shipped()
    return _with_overlay(str(path), found.st_mtime_ns, found.st_size)


@lru_cache(maxsize=1)
def _shipped_text() -> str:
    # beside this file (importlib.resources would import zipfile and tempfile for the same read)
    return Path(__file__).with_name("catalog.json").read_text("utf-8")


@lru_cache(maxsize=1)
def _shipped() -> Catalog:
    return Catalog(json.loads(_shipped_text()))


@lru_cache(maxsize=4)
def _with_overlay(path: str, mtime_ns: int, size: int) -> Catalog:
    """The shipped catalog with the user's file merged over it (cached per file version)."""
    try:
        extra = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"cannot read the catalog file {path}: {exc}") from None
    try:
        merged = Catalog(merge_catalog(json.loads(_shipped_text()), extra))
        merged.models  # noqa: B018 - every model made now: a broken one is this file's error
        return merged
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise ConfigError(f"the catalog file {path} is not a catalog: {type(exc).__name__}: {exc}") from None


def merge_catalog(base: dict[str, Any], extra: Any) -> dict[str, Any]:
    """``extra`` over ``base``: sets and models by name, task types by name, fields by name.

    A model that ``base`` lacks is added whole (it needs a ``category``); for one it has,
    the keys given replace its own, and its task types are merged one by one.
    """
    if not isinstance(extra, dict):
        raise TypeError("expected a JSON object with 'models' and/or 'sets'")
    for name, fields in extra.get("sets", {}).items():
        base["sets"].setdefault(name, {}).update(fields)
    known = {spec["name"]: spec for spec in base["models"]}
    for spec in extra.get("models", []):
        mine = known.get(spec["name"])
        if mine is None:
            if spec.get("category") not in CATEGORIES:
                raise ValueError(f"model {spec['name']!r} needs a category: one of {', '.join(CATEGORIES)}")
            base["models"].append(spec)
            continue
        for key, value in spec.items():
            if key != "task_types":
                mine[key] = value
        for type_name, tspec in spec.get("task_types", {}).items():
            current = mine["task_types"].setdefault(type_name, {})
            fields = {**current.get("fields", {}), **tspec.get("fields", {})}
            current.update(tspec)
            if fields:
                current["fields"] = fields
    return base


# --- checking a request against the catalog ---------------------------------------


def check_model(catalog: Catalog, model: str, task_type: str, *, validate: bool = True) -> list[str]:
    """Warnings about a model and task type the catalog does not know (still sent: the
    catalog may lag PiAPI).

    A name within a few keystrokes of a known one is a typo that would cost a task: it
    raises ``ValidationError`` with ``field`` (``model`` or ``task_type``) and ``suggestion``,
    unless ``validate`` is false, when it is only a warning.
    """
    found = catalog.model(model)
    if found is None:
        full_names = {m.lower(): m for m in catalog.models}
        # "flux1-dev" for "Qubico/flux1-dev": the short name is a near miss too
        short_names = {m.rsplit("/", 1)[-1]: m for m in catalog.models if "/" in m}
        exact = [m for short, m in short_names.items() if short.lower() == model.lower()]
        exact += [m.name for m in catalog.models.values() if model.lower() in (a.lower() for a in m.aliases)]
        close = exact or near_misses(model, [*catalog.models, *short_names])
        suggestions = sorted({short_names.get(name) or full_names.get(name.lower(), name) for name in close})
        if suggestions:
            return _typo(
                f"model {model!r} is not in piapi's catalog; {did_you_mean(suggestions)}",
                "model",
                suggestions[0],
                validate,
            )
        return [Note(f"model {model!r} is not in piapi's catalog; sending it anyway", advice="models")]
    if task_type not in found.task_types:
        close = near_misses(task_type, found.task_types)
        if close:
            return _typo(
                f"{found.name} has no task type {task_type!r}; {did_you_mean(close)}",
                "task_type",
                close[0],
                validate,
            )
        known = ", ".join(found.task_types) or "none listed"
        return [
            f"task type {task_type!r} is not in piapi's catalog for {found.name} (known: {known}); sending it anyway"
        ]
    if found.discontinued:
        return [f"model {found.name} is discontinued by PiAPI; the request will likely be refused"]
    return []


def _typo(message: str, field_name: str, suggestion: str, validate: bool) -> list[str]:
    if validate:
        raise ValidationError(
            message,
            field=field_name,
            suggestion=suggestion,
            advice="typo",
        )
    return [f"{message} (sending it as written)"]
