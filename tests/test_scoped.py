"""piapi's ``contextmanager`` (``api/scoped``: contextlib's without importing contextlib) does
what contextlib's does, case by case: the journal's transactions and the signal handling rely
on which exception comes out of a block, and whether one is swallowed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from piapi_cli.api import scoped


def plain() -> Iterator[str]:
    yield "value"


def suppressing() -> Iterator[None]:
    try:
        yield
    except KeyError:
        pass


def translating() -> Iterator[None]:
    try:
        yield
    except KeyError as exc:
        raise ValueError("translated") from exc


def cleaning(log: list[str]) -> Iterator[None]:
    try:
        yield
    finally:
        log.append("cleaned")


def no_yield() -> Iterator[None]:
    return
    yield  # pragma: no cover


def two_yields() -> Iterator[None]:
    yield
    yield


def keeps_going() -> Iterator[None]:
    try:
        yield
    except KeyError:
        yield


def reraising() -> Iterator[None]:
    try:
        yield
    except Exception:
        raise


def outcome(maker: Callable[..., Any], body: Callable[[], None], *args: Any) -> tuple[Any, ...]:
    """What a ``with`` over ``maker(*args)`` ends with: the value, or the exception's type,
    message, whether it is the very one the block raised, and its cause's type."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            body()
        except BaseException as exc:
            raised.append(exc)
            raise

    try:
        with maker(*args) as value:
            run()
    except BaseException as exc:
        same = bool(raised) and exc is raised[0]
        return type(exc).__name__, str(exc), same, type(exc.__cause__).__name__
    return ("value", value)


def nothing() -> None:
    pass


def key_error() -> None:
    raise KeyError("k")


def stop_iteration() -> None:
    raise StopIteration


def runtime_error() -> None:
    raise RuntimeError("r")


def interrupt() -> None:
    raise KeyboardInterrupt


GENERATORS = [plain, suppressing, translating, no_yield, two_yields, keeps_going, reraising]
BODIES = [nothing, key_error, stop_iteration, runtime_error, interrupt]


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.__name__)
@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.__name__)
def test_each_case_ends_as_with_contextlib(generator: Callable[[], Iterator[Any]], body: Callable[[], None]) -> None:
    ours = outcome(scoped.contextmanager(generator), body)
    theirs = outcome(contextlib.contextmanager(generator), body)
    assert ours == theirs


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.__name__)
def test_the_generator_cleans_up_whatever_the_block_did(body: Callable[[], None]) -> None:
    log: list[str] = []
    outcome(scoped.contextmanager(cleaning), body, log)
    assert log == ["cleaned"]


def test_the_manager_keeps_its_function_name_and_doc() -> None:
    def reading() -> Iterator[None]:
        """Reads."""
        yield

    made = scoped.contextmanager(reading)
    assert (made.__name__, made.__doc__) == ("reading", "Reads.")
