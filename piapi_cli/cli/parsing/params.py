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

TYPE_CHECKING = False  # typing is a slow import, and a run needs none of it
if TYPE_CHECKING:
    from typing import Annotated as Annotated
    from typing import Any, TypeVar
    from typing import Optional as Optional

    F = TypeVar("F", bound=Callable[..., Any])
else:

    class Annotated:
        """``typing.Annotated`` as commands declare their options with it (type checkers read
        typing's): at run time, only a record of the type and its declarations (``Declared``).
        A run never evaluates a command's annotations; ``app`` turns these into typing's own
        when it builds the typer tree."""

        def __class_getitem__(cls, items: tuple[Any, ...]) -> Declared:
            return Declared(items[0], items[1:])

    class Optional:
        """``typing.Optional`` (``X | None``) for the same declarations."""

        def __class_getitem__(cls, item: Any) -> Any:
            return item | None


class Declared:
    """A type with its declarations (``Annotated[bool, Option(...)]``), as typing's keeps them."""

    def __init__(self, origin: Any, metadata: tuple[Any, ...]) -> None:
        self.__origin__ = origin
        self.__metadata__ = metadata

    def typing_annotation(self) -> Any:
        """``typing.Annotated[...]`` of the same type and declarations (for typer)."""
        from typing import Annotated

        return Annotated.__class_getitem__((self.__origin__, *self.__metadata__))  # type: ignore[attr-defined]


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
    """What a command gets as ``ctx``, whichever parser read its line: the run's objects in
    ``obj``, the subcommand a group's callback runs before, and the parameters given on the
    command line or by an environment variable (``given``, with their values), as opposed to
    those left at their defaults. Commands never see the toolkit's own context."""

    def __init__(
        self,
        obj: Any = None,
        invoked_subcommand: str | None = None,
        *,
        path: str = "",
        given: dict[str, Any] | None = None,
    ) -> None:
        self.obj = obj
        self.invoked_subcommand = invoked_subcommand
        self.path = path  # the command path: "batch run"
        self.given: dict[str, Any] = dict(given or {})
        self._closers: list[Callable[[], object]] = []

    def call_on_close(self, function: Callable[[], object]) -> None:
        """Call ``function`` when the command ends, however it ends."""
        self._closers.append(function)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def flag(self, name: str) -> str:
        """The longest option name of a parameter of this command (``--max-credits``)."""
        from piapi_cli.cli.parsing._argspec import COMMANDS

        for param in COMMANDS[self.path]["params"]:
            if param["name"] == name:
                return str(max(param["opts"], key=len))
        raise KeyError(name)


def call(function: Callable[..., Any], context_name: str | None, kwargs: dict[str, Any], context: Context) -> Any:
    """Call a command (or a group's callback) as both parsers do: with its ``Context`` under
    its own parameter name, closing what it asked to close when it ends."""
    if context_name is not None:
        kwargs = {**kwargs, context_name: context}
    try:
        return function(**kwargs)
    finally:
        context.close()


class Exit(Exception):
    """End the command with this exit code (after its output; not an error)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.exit_code = int(code)


class Group:
    """``typer.Typer(**settings)`` for a command with subcommands, declared. An ``epilog``
    may be a function that makes it: only help needs it, and a run of a subcommand does not."""

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
