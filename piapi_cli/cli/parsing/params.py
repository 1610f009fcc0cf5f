"""How commands declare their options, arguments and groups, without importing typer.

A command module is imported on every run of that command, so it must be cheap: these
classes only record what typer will be told. ``app.build_app`` turns them into typer's
objects when the whole tree is needed (help, usage errors, the generated files), and the
generated parser table (``_argspec.py``) comes from that typer tree, so each option is
declared once, here, in typer's own words::

    def get(ctx: params.Context, as_json: Annotated[bool, params.Option("--json", help="...")] = False):
        ...
        raise params.Exit(7)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Option:
    """``typer.Option(*names, **settings)``, declared. One setting is ours: ``check``, a
    function of the converted value that returns the value to use or raises ValueError (a
    usage error); both ways of running call it."""

    def __init__(self, *names: str, **settings: Any) -> None:
        self.names = names
        self.settings = settings


class Argument:
    """``typer.Argument(**settings)``, declared."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings


class Context:
    """What a command gets as ``ctx``: the run's objects in ``obj`` (the typer path hands in
    click's context instead, which has the same two attributes)."""

    def __init__(self, obj: Any = None, invoked_subcommand: str | None = None) -> None:
        self.obj = obj
        self.invoked_subcommand = invoked_subcommand


class Exit(Exception):
    """End the command with this exit code (after its output; not an error)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.exit_code = int(code)


class Group:
    """``typer.Typer(**settings)`` for a command with subcommands, declared."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.callback_function: Callable[..., Any] | None = None
        self.callback_settings: dict[str, Any] = {}
        self.commands: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {}

    def callback(self, **settings: Any) -> Callable[[F], F]:
        def record(function: F) -> F:
            self.callback_function, self.callback_settings = function, settings
            return function

        return record

    def command(self, name: str, **settings: Any) -> Callable[[F], F]:
        def record(function: F) -> F:
            self.commands[name] = (function, settings)
            return function

        return record
