"""A catalog field's bounds, checked as they are read: a user's catalog.json may hold anything."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

#: counts are whole numbers, 0 or more; ``min`` and ``max`` any number
_COUNTS = ("max_length", "min_items", "max_items")


def bounds(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """``min``, ``max`` and the counts of field ``name`` (None where not given).

    A value the checks could not compare with (a string, a list, true) raises ValueError naming
    the field, so a broken file stops with its name instead of failing at the first create.
    """
    found: dict[str, Any] = {}
    for key in ("min", "max", *_COUNTS):
        value = spec.get(key)
        count = key in _COUNTS
        kinds = int if count else (int, float)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds) or (count and value < 0)):
            wanted = "a count, 0 or more" if count else "a number"
            raise ValueError(f"field {name}: {key} must be {wanted}, not {value!r}")
        found[key] = value
    return found
