"""Record classes (named, typed fields), declared as dataclasses are, made without them.

Every run of piapi builds a few dozen such classes before its command starts. ``dataclasses``
imports ``inspect`` (with ``ast``, ``dis`` and ``tokenize``) and compiles each class's methods
from source text: about 47 M instructions for the import and 4 M for each class, a third of a
``piapi get``. Here each class gets the same small generic methods instead::

    @record(frozen=True)
    class Timeouts:
        connect: float | None
        read: float | None
        total: float | None = None
        hosts: list[str] = field(default_factory=list)

What a record has, as a dataclass would: ``__init__`` (fields by position or keyword, in
declaration order, base classes' first; defaults, ``default_factory``, ``init=False``; then
``__post_init__``), ``__repr__``, ``__eq__`` (the same class, equal fields), ``__hash__`` (of
the fields when frozen; none when not, as a mutable record may change), and with
``frozen=True`` assignments refused (``FrozenInstanceError``). A method the class defines
itself is kept. ``fields``, ``replace`` and ``asdict`` work as dataclasses' do (``asdict`` is
shallow). Type checkers read ``record`` as a dataclass maker (PEP 681), so constructors stay
checked.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is a slow import, and every run comes through here
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TypeVar

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: object) -> Callable[[T], T]:
        return lambda function: function


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a frozen record."""


class RecordField:
    """One field of a record: its name, default or default factory, whether ``__init__`` takes it."""

    __slots__ = ("name", "default", "default_factory", "init", "repr", "metadata")

    def __init__(
        self,
        default: Any,
        default_factory: Callable[[], Any] | Any = MISSING,
        init: bool = True,
        repr: bool = True,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.metadata = metadata or {}

    def __repr__(self) -> str:
        return f"RecordField(name={self.name!r}, default={self.default!r}, init={self.init})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    init: bool = True,
    repr: bool = True,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """A field's default made by ``default_factory`` at each construction (a fresh list...),
    a field ``__init__`` does not take (``init=False``: ``__post_init__`` sets it), one left out
    of ``repr`` (a secret), or ``metadata``."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("a field takes a default or a default_factory, not both")
    return RecordField(default, default_factory, init, repr, metadata)


@dataclass_transform(field_specifiers=(field, RecordField))
def record(*, frozen: bool = False) -> Callable[[type[T]], type[T]]:
    """Make the decorated class a record of the fields it annotates (see the module's note)."""

    def make(cls: type[T]) -> type[T]:
        found = _fields(cls)
        namespace = cls.__dict__
        made: Any = cls  # (the attributes below are no part of its declared type)
        made.__record_fields__ = tuple(found)
        made.__record_init__ = tuple(f for f in found if f.init)
        made.__record_names__ = frozenset(f.name for f in found if f.init)
        made.__record_init_names__ = tuple(f.name for f in found if f.init)
        #: fields ``__init__`` does not take that a factory makes
        made.__record_late__ = tuple(f for f in found if not f.init and f.default_factory is not MISSING)
        methods: dict[str, Any] = {"__init__": _init, "__repr__": _repr, "__eq__": _eq}
        if frozen:
            methods |= {"__setattr__": _refuse_set, "__delattr__": _refuse_delete}
        for name, method in methods.items():
            if name not in namespace:
                setattr(cls, name, method)
        if "__hash__" not in namespace or namespace["__hash__"] is None:
            made.__hash__ = _hash if frozen else None
        return cls

    return make


def _fields(cls: type) -> list[RecordField]:
    """The fields of ``cls``: its bases' (a field redeclared keeps its place), then its own."""
    found: dict[str, RecordField] = {}
    for base in reversed(cls.__mro__[1:]):
        for inherited in base.__dict__.get("__record_fields__", ()):
            found[inherited.name] = inherited
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if "ClassVar" in str(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        if isinstance(value, RecordField):
            made = value
            if made.default is MISSING:
                delattr(cls, name)  # as dataclasses: no class attribute stands in for a factory
            else:
                setattr(cls, name, made.default)
        else:
            made = RecordField(value)
        made.name = name
        found[name] = made
    return list(found.values())


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    # (every record made goes through here: the fields given by position, the common case, cost
    # one pass; the others, and the checks of what was given, are ``_init_rest``'s)
    cls = type(self)
    names: tuple[str, ...] = cls.__record_init_names__
    if len(args) > len(names):
        raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments but {len(args)} were given")
    assign = object.__setattr__
    for name, value in zip(names, args):  # noqa: B905 - fewer args than fields: the rest below
        assign(self, name, value)
    if kwargs or len(args) < len(names):
        _init_rest(self, cls, len(args), kwargs)
    if cls.__record_late__:
        for spec in cls.__record_late__:
            assign(self, spec.name, spec.default_factory())
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _init_rest(self: Any, cls: type, given: int, kwargs: dict[str, Any]) -> None:
    """The fields not given by position: by keyword, their default or default factory."""
    taken: tuple[RecordField, ...] = cls.__record_init__  # type: ignore[attr-defined]
    for spec in taken[:given] if kwargs else ():
        if spec.name in kwargs:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {spec.name!r}")
    for spec in taken[given:]:
        name = spec.name
        if name in kwargs:
            value = kwargs[name]
        elif spec.default is not MISSING:
            value = spec.default
        elif spec.default_factory is not MISSING:
            value = spec.default_factory()
        else:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
        object.__setattr__(self, name, value)
    unknown = kwargs.keys() - cls.__record_names__  # type: ignore[attr-defined]
    if unknown:
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {min(unknown)!r}")


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, f.name) for f in type(self).__record_fields__)


def _repr(self: Any) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in type(self).__record_fields__ if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: object, other: object) -> object:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return bool(_values(self) == _values(other))


def _hash(self: Any) -> int:
    return hash(_values(self))


def _refuse_set(self: Any, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delete(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def fields(record_or_class: object) -> tuple[RecordField, ...]:
    """The fields of a record class or of a record, in order."""
    cls = record_or_class if isinstance(record_or_class, type) else type(record_or_class)
    try:
        found: tuple[RecordField, ...] = cls.__record_fields__  # type: ignore[attr-defined]
    except AttributeError:
        raise TypeError(f"{cls.__name__} is not a record") from None
    return found


def replace(obj: T, **changes: Any) -> T:
    """A new record like ``obj`` with some fields changed (fields ``__init__`` does not take are made anew)."""
    for spec in fields(obj):
        if not spec.init:
            if spec.name in changes:
                raise ValueError(f"field {spec.name!r} is not set by __init__: it cannot be replaced")
            continue
        changes.setdefault(spec.name, getattr(obj, spec.name))
    return type(obj)(**changes)


def asdict(obj: object) -> dict[str, Any]:
    """The fields of a record and their values (not recursing into records held in it)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
