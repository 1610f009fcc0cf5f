"""Building a task's ``input`` from ``-i`` assignments and an optional JSON file.

- ``key=value``: a string, coerced to the catalog's type for that field
  (``width=1024`` is 1024, ``skip_prompt_check=true`` is true); for an array field each
  assignment appends one item.
- ``key:=<json>``: raw JSON, sent as written.
- dotted keys nest: ``camera_control.config.zoom=5``; ``\\.`` is a literal dot.
- ``key=@path``: a local file, uploaded before the create (see ``uploads``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from piapi_cli.api.errors import UsageError
from piapi_cli.core.catalog import Field, TaskType
from piapi_cli.core.uploads import FileRef

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def split_key(key: str) -> list[str]:
    parts = [p.replace("\0", ".") for p in key.replace("\\.", "\0").split(".")]
    if any(not p for p in parts):
        raise UsageError(f"-i {key!r}: empty part in a dotted key")
    return parts


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None


def coerce(raw: str, spec: Field | None, where: str) -> Any:
    """A ``key=value`` string as the field's type; unknown fields stay strings.

    ``@path`` names a local file to upload (string fields); ``\\@`` is a literal ``@``.
    """
    if spec is None or spec.type == "string":
        if raw.startswith("\\@"):
            return raw[1:]
        if raw.startswith("@") and len(raw) > 1:
            return FileRef(raw[1:], where)
        return raw
    if spec.type == "integer":
        if re.fullmatch(r"[+-]?\d+", raw.strip()):
            return int(raw)
        raise UsageError(f"{where}: expected an integer ({spec.allowed()}), got {raw!r}")
    if spec.type == "number":
        try:
            number = float(raw)
        except ValueError:
            raise UsageError(f"{where}: expected a number ({spec.allowed()}), got {raw!r}") from None
        return int(number) if re.fullmatch(r"[+-]?\d+", raw.strip()) else number
    if spec.type == "boolean":
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise UsageError(f"{where}: expected true or false, got {raw!r}")
    # array or object given with '=': must be JSON
    value = _parse_json(raw, where)
    return value


def _set_nested(target: dict[str, Any], parts: list[str], value: Any, key: str) -> None:
    node = target
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UsageError(f"-i {key}: {part!r} is already set to a non-object value")
        node = child
    node[parts[-1]] = value


def _get_nested(target: dict[str, Any], parts: list[str]) -> Any:
    node: Any = target
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def parse_assignment(item: str) -> tuple[str, bool, str]:
    """``key=value`` or ``key:=json`` -> (key, is_json, text); the first ``=`` splits."""
    key, sep, text = item.partition("=")
    is_json = key.endswith(":")
    key = key[:-1] if is_json else key
    if not sep or not key.strip():
        raise UsageError(f"-i {item!r}: expected KEY=VALUE or KEY:=JSON (e.g. -i prompt='a cat' -i width=1024)")
    return key.strip(), is_json, text


def build_input(
    assignments: Iterable[str],
    base: dict[str, Any] | None = None,
    schema: TaskType | None = None,
) -> dict[str, Any]:
    """The input object: ``base`` (from --input-file) with each assignment applied in order."""
    data: dict[str, Any] = json.loads(json.dumps(base)) if base else {}
    fresh_arrays: set[str] = set()
    for item in assignments:
        key, is_json, text = parse_assignment(item)
        parts = split_key(key)
        where = f"-i {key}"
        if is_json:
            value = _parse_json(text, where)
        else:
            spec = schema.field_for(parts) if schema is not None and not schema.open else None
            if spec is not None and spec.type == "array" and not text.lstrip().startswith("["):
                # repeated -i images=a -i images=b appends; the first one replaces a file's list
                current = _get_nested(data, parts)
                items = current if isinstance(current, list) and key in fresh_arrays else []
                fresh_arrays.add(key)
                value = [*items, coerce(text, spec.items, where)]
            else:
                value = coerce(text, spec, where)
        _set_nested(data, parts, value, key)
    return data


def read_input_file(path: str, stdin_text: str | None = None) -> dict[str, Any]:
    """A JSON object from a file, or from stdin when ``path`` is ``-``."""
    if path == "-":
        text = stdin_text if stdin_text is not None else ""
        where = "--input-file - (stdin)"
    else:
        where = f"--input-file {path}"
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise UsageError(f"{where}: cannot read: {exc.strerror or exc}") from None
    value = _parse_json(text, where)
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value
