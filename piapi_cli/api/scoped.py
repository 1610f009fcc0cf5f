"""``contextmanager``: ``contextlib``'s, without importing ``contextlib``.

Every command goes through a few generator-made context managers (the signal handling, the
journal's transactions, reading ``--input-file``), and ``contextlib`` costs a run about 2.7 M
instructions to import, most of it classes piapi never uses (``ExitStack``, the async
managers, ``suppress``, ``redirect_stdout``...). This is its ``contextmanager``: the same
protocol (``__exit__`` follows CPython 3.11's line by line: an exception thrown into the
generator and raised back is the caller's, a ``StopIteration`` raised in the block is not
swallowed, a generator that does not yield or does not stop is a ``RuntimeError``), without
the rest: the managers it makes are not decorators, and are used once, as every
``@contextmanager``'s is. Type checkers see ``contextlib``'s own (tests/test_scoped.py holds
the two alike).
"""

from __future__ import annotations

from functools import wraps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator
    from contextlib import contextmanager as contextmanager
    from types import TracebackType
    from typing import Any
else:

    def contextmanager(function):
        """A context manager from a generator function that yields once (``contextlib``'s)."""

        @wraps(function)
        def helper(*args, **kwargs):
            return _GeneratorManager(function(*args, **kwargs))

        return helper


class _GeneratorManager:
    __slots__ = ("gen",)

    def __init__(self, gen: Generator[Any, None, None]) -> None:
        self.gen = gen

    def __enter__(self) -> Any:
        try:
            return next(self.gen)
        except StopIteration:
            raise RuntimeError("generator didn't yield") from None

    def __exit__(
        self, typ: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        gen = self.gen
        if typ is None:
            try:
                next(gen)
            except StopIteration:
                return False
            try:
                raise RuntimeError("generator didn't stop")
            finally:
                gen.close()
        if value is None:  # an exception class only: made an instance, to know it when it comes back
            value = typ()
        try:
            gen.throw(typ, value, traceback)
        except StopIteration as exc:  # the generator ended: suppressed, unless it is the one thrown in
            return exc is not value
        except RuntimeError as exc:
            if exc is value:
                exc.__traceback__ = traceback
                return False
            if isinstance(value, StopIteration) and exc.__cause__ is value:  # (PEP 479's wrapping)
                value.__traceback__ = traceback
                return False
            raise
        except BaseException as exc:
            if exc is not value:  # the generator raised another one: that one propagates
                raise
            exc.__traceback__ = traceback
            return False
        try:
            raise RuntimeError("generator didn't stop after throw()")
        finally:
            gen.close()
