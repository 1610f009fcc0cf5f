"""Building a task's ``input`` from ``-i`` assignments and an optional JSON file.

- ``key=value``: a string, coerced to the catalog's type for that field
  (``width=1024`` is 1024, ``skip_prompt_check=true`` is true); for an array field each
  assignment appends one item.
- ``key:=<json>``: raw JSON, sent as written.
- dotted keys nest: ``camera_control.config.zoom=5``; ``\\.`` is a literal dot.
- ``key=@path``: a local file, uploaded before the create (see ``uploads``).

Whatever is typed, what comes out is JSON a server can read: finite numbers, integers that
fit 64 bits, at most ``MAX_DEPTH`` levels of nesting; anything else is a ``UsageError``
(exit 2, nothing sent), never an internal error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator

from piapi_cli.api.errors import UsageError
from piapi_cli.api.scoped import contextmanager
from piapi_cli.core.catalog import Field, TaskType
from piapi_cli.core.uploads import FileRef

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_INTEGER = re.compile(r"[+-]?[0-9]+")

#: levels of arrays and objects an input may nest; real inputs use 3 or 4
MAX_DEPTH = 64
#: integers are 64-bit on PiAPI's side (and anything longer is no seed, width or count)
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class _NotJSON(ValueError):
    """A number the JSON parser accepted that no server should receive."""


def _int_from(text: str) -> int:
    digits = text.strip().lstrip("+-").lstrip("0") or "0"
    # the length first: Python refuses to convert more than 4300 digits (and 10**100 is no width)
    value = int(digits) if len(digits) <= 19 else None
    if value is None or not INT_MIN <= (-value if text.strip().startswith("-") else value) <= INT_MAX:
        raise _NotJSON(f"{_short(text)} is out of range (integers are 64-bit)")
    return -value if text.strip().startswith("-") else value


def _float_from(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJSON(f"{_short(text)} is not a finite number (JSON has no NaN or Infinity)")
    return value


def _no_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not a finite number (JSON has no NaN or Infinity)")


def _short(text: str) -> str:
    text = text.strip()
    return repr(text) if len(text) <= 24 else f"{text[:12]!r}...({len(text)} characters)"


def split_key(key: str) -> list[str]:
    parts = [p.replace("\0", ".") for p in key.replace("\\.", "\0").split(".")]
    if any(not p for p in parts):
        raise UsageError(f"-i {key!r}: empty part in a dotted key")
    return parts


def _parse_json(text: str, where: str) -> Any:
    try:
        value = json.loads(text, parse_int=_int_from, parse_float=_float_from, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except _NotJSON as exc:
        raise UsageError(f"{where}: {exc}") from None
    except RecursionError:
        raise UsageError(f"{where}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    check_values(value, where)
    return value


def check_values(value: Any, where: str) -> None:
    """Refuse what JSON cannot carry or a server should not get: NaN and infinities, integers
    beyond 64 bits, nesting deeper than ``MAX_DEPTH``. Iterative, so depth cannot crash it."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth >= MAX_DEPTH:
                raise UsageError(f"{where}: nested too deeply (at most {MAX_DEPTH} levels)")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(node, float) and not math.isfinite(node):
            raise UsageError(f"{where}: {node} is not a finite number (JSON has no NaN or Infinity)")
        elif isinstance(node, int) and not isinstance(node, bool) and not INT_MIN <= node <= INT_MAX:
            raise UsageError(f"{where}: an integer is out of range (integers are 64-bit)")


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
    try:
        if spec.type == "integer":
            if _INTEGER.fullmatch(raw.strip()):
                return _int_from(raw)
            raise UsageError(f"{where}: expected an integer ({spec.allowed()}), got {_short(raw)}")
        if spec.type == "number":
            if _INTEGER.fullmatch(raw.strip()):
                return _int_from(raw)
            try:
                return _float_from(raw)
            except ValueError as exc:
                if isinstance(exc, _NotJSON):
                    raise
                raise UsageError(f"{where}: expected a number ({spec.allowed()}), got {_short(raw)}") from None
    except _NotJSON as exc:
        raise UsageError(f"{where}: {exc}") from None
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
    if base:
        with about_option("input_file"):
            check_values(base, "input_file")
    data: dict[str, Any] = json.loads(json.dumps(base)) if base else {}
    fresh_arrays: set[str] = set()
    for item in assignments:
        key, is_json, text = parse_assignment(item)
        parts = split_key(key)
        if len(parts) > MAX_DEPTH:
            raise UsageError(f"-i {_short(key)}: nested too deeply (at most {MAX_DEPTH} levels)")
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
    check_values(data, "input")
    return data


def read_input_file(path: str, stdin_text: str | None = None) -> dict[str, Any]:
    """A JSON object from a file, or from stdin when ``path`` is ``-``."""
    with about_option("input_file"):
        return _read_input_file(path, stdin_text)


@contextmanager
def about_option(option: str) -> Iterator[None]:
    """A usage error raised inside is about ``option`` (its message starts with its name)."""
    try:
        yield
    except UsageError as exc:
        exc.option = exc.option or option
        raise


def _read_input_file(path: str, stdin_text: str | None) -> dict[str, Any]:
    if path == "-":
        text = stdin_text if stdin_text is not None else ""
        where = "input_file - (stdin)"
    else:
        where = f"input_file {path}"
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise UsageError(f"{where}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{where}: not UTF-8 text (byte {exc.start})") from None
        except ValueError:  # a NUL in the path
            raise UsageError(f"{where}: cannot read: not a valid path") from None
    value = _parse_json(text, where)
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value
