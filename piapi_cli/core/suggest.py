"""Telling a typo from a new name: ``widht`` is ``width`` mistyped, ``lora_scale`` is not.

A create costs money, so a name a few keystrokes away from a known one is worth stopping
for; a name far from every known one may be something PiAPI added after the catalog was
written, and only warrants a warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_VERSION = re.compile(r"[0-9.]+")


def edit_distance(a: str, b: str) -> int:
    """Edits that turn ``a`` into ``b``: insert, delete, replace, or swap two neighbours.

    Swaps count once (``widht`` -> ``width`` is 1), as people mistype that way.
    """
    if a == b:
        return 0
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1]


def allowed_edits(name: str) -> int:
    """How far a name may be from a known one and still count as a typo of it.

    Short names get little room: ``fps`` one edit from ``fp`` says nothing.
    """
    size = len(name)
    if size <= 2:
        return 0
    if size <= 5:
        return 1
    if size <= 11:
        return 2
    return 3


def _fold(name: str) -> str:
    # case and -/_ are the cheapest typos of all, and PiAPI's names are case-sensitive
    return name.lower().replace("-", "_")


def _other_version(a: str, b: str) -> bool:
    """``veo4`` next to ``veo3``, ``trellis3`` next to ``trellis2``: a new version, not a typo.
    A number missing altogether (``flux-dev`` for ``flux1-dev``) is a typo all the same."""
    versions_a, versions_b = _VERSION.findall(a), _VERSION.findall(b)
    return (
        a != b
        and _VERSION.sub("", a) == _VERSION.sub("", b)
        and len(versions_a) == len(versions_b)
        and versions_a != versions_b
    )


def near_misses(name: str, known: Iterable[str]) -> list[str]:
    """The known names ``name`` is most likely a typo of (nearest first); empty when ``name``
    is itself known or is not close to any of them."""
    folded = _fold(name)
    limit = allowed_edits(folded)
    found: list[tuple[int, str]] = []
    for candidate in known:
        if candidate == name:
            return []
        other = _fold(candidate)
        # the length check first: a fuzzer's megabyte of name costs nothing
        if abs(len(other) - len(folded)) > limit or _other_version(folded, other):
            continue
        distance = edit_distance(folded, other)
        if distance <= limit:
            found.append((distance, candidate))
    if not found:
        return []
    best = min(distance for distance, _ in found)
    return sorted({candidate for distance, candidate in found if distance == best})


def did_you_mean(names: list[str]) -> str:
    """``did you mean width?`` / ``did you mean image_url or image_urls?``"""
    if len(names) == 1:
        return f"did you mean {names[0]}?"
    return f"did you mean {', '.join(names[:-1])} or {names[-1]}?"
