"""Records (api/records.py) behave as the dataclasses they replace: construction, defaults,
factories, equality, hashing, frozen fields, repr, replace, and inheritance."""

from __future__ import annotations

import pickle

import pytest

from piapi_cli.api.records import FrozenInstanceError, asdict, field, fields, record, replace


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    secret: str = field(default="", repr=False)


@record(frozen=True)
class Pair:
    a: int
    b: str


@record()
class Counter:
    name: str
    seen: int = 0
    total: int = field(init=False, default_factory=int)

    def __post_init__(self) -> None:
        self.total = self.seen * 2


@record(frozen=True)
class Point3(Point):
    z: int = 0


def test_construction_by_position_keyword_default_and_factory() -> None:
    assert (Point(1).x, Point(1).y, Point(1, 2).y, Point(x=1, y=3).y) == (1, 0, 2, 3)
    first, second = Point(1), Point(1)
    first.tags.append("a")
    assert second.tags == []  # a fresh list each time
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'w'"):
        Point(1, w=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        Point(1, 2, [], "", 5)  # type: ignore[call-arg]


def test_equality_hash_frozen_and_repr() -> None:
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1) and Point(1) != Point3(1)
    assert hash(Pair(1, "s")) == hash(Pair(1, "s")) and {Pair(1, "s"), Pair(1, "s")} == {Pair(1, "s")}
    with pytest.raises(FrozenInstanceError):
        Point(1).x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del Point(1).x  # type: ignore[misc]
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=[])"  # the secret is left out
    with pytest.raises(TypeError):
        hash(Counter("a"))  # mutable: unhashable, as a dataclass


def test_post_init_and_fields_not_taken_by_init() -> None:
    counter = Counter("a", 3)
    assert counter.total == 6
    counter.seen = 4  # not frozen
    assert replace(counter, seen=5).total == 10
    with pytest.raises(ValueError):
        replace(counter, total=1)


def test_fields_replace_asdict_inheritance_and_pickle() -> None:
    assert [f.name for f in fields(Point3)] == ["x", "y", "tags", "secret", "z"]
    assert Point3(1, 2, z=3) == Point3(x=1, y=2, tags=[], secret="", z=3)
    assert replace(Point(1, 2), y=5) == Point(1, 5)
    assert asdict(Point(1)) == {"x": 1, "y": 0, "tags": [], "secret": ""}
    assert pickle.loads(pickle.dumps(Point3(1, z=2))) == Point3(1, z=2)
    with pytest.raises(TypeError):
        fields(object())
