"""The typer tree: the root group with the global options, every command, the boundary.

A run of a command usually skips typer altogether (``fastpath``, from the table generated out
of this tree); the tree is built for help, usage errors, and the generated files.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional, get_args, get_origin

import typer
from typer.core import TyperGroup

from piapi_cli import __version__
from piapi_cli.api.errors import ExitCode
from piapi_cli.cli import runtime
from piapi_cli.cli.commands._options import examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.runtime import State

__all__ = ["COMMANDS", "EPILOG", "PiapiGroup", "State", "build_app", "command_word", "root"]

EPILOG = examples(
    "piapi --sandbox create -m Qubico/flux1-dev -t txt2img -i prompt='a little cat' --wait",
    "ID=$(piapi create -m midjourney -t imagine -i prompt='a lighthouse')",
    'piapi wait "$ID" && piapi get "$ID" --jq .output.image_url',
    notes="Exit codes: " + ", ".join(f"{code.value} {code.label}" for code in ExitCode) + ".",
)


class PiapiGroup(TyperGroup):
    """The root group: global options anywhere on the line, and the one error boundary
    (``runtime.failure``: every error to its exit code, no traceback without --debug)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from piapi_cli.cli.parsing.fastpath import hoist_globals

        return super().parse_args(ctx, hoist_globals(args))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except BaseException as exc:
            code = runtime.failure(exc, ctx.obj if isinstance(ctx.obj, State) else None)
            if code is None:
                raise
            raise typer.Exit(code) from None
        finally:
            state = ctx.obj if isinstance(ctx.obj, State) else None
            if state is not None:
                state.session.close()


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"piapi {__version__}\n")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    profile: Annotated[
        Optional[str],
        typer.Option(
            "--profile", metavar="NAME", help="Config profile to use [env: PIAPI_PROFILE]", show_default=False
        ),
    ] = None,
    base_url: Annotated[
        Optional[str],
        typer.Option("--base-url", metavar="URL", help="API address [env: PIAPI_BASE_URL]", show_default=False),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option("--sandbox", help="Use the built-in offline emulator: no key, no network [env: PIAPI_SANDBOX]"),
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (also: NO_COLOR)")] = False,
    no_journal: Annotated[
        bool,
        typer.Option("--no-journal", help="Do not record created tasks in the local journal [env: PIAPI_JOURNAL=0]"),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and HTTP traffic on stderr")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """The command line for PiAPI's Unified API: create tasks on any model, wait, get results."""
    ctx.obj = runtime.start(
        ctx.obj,
        profile=profile,
        base_url=base_url,
        sandbox=sandbox,
        no_color=no_color,
        no_journal=no_journal,
        debug=debug,
    )


#: every command, in the order help lists them: (module in commands/, attribute, is a group)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "create": ("create", "create", False),
    "get": ("get", "get", False),
    "wait": ("wait", "wait", False),
    "cancel": ("cancel", "cancel", False),
    "download": ("download", "download", False),
    "report": ("report", "report", False),
    "compare": ("compare", "compare", False),
    "chat": ("chat", "chat", False),
    "image": ("image", "image", False),
    "account": ("account", "account", False),
    "models": ("models", "models", False),
    "listen": ("listen", "listen", False),
    "trigger": ("trigger", "trigger", False),
    "completion": ("completion", "completion", False),
    "batch": ("batch_cmd", "app", True),
    "tasks": ("tasks_cmd", "app", True),
    "config": ("config_cmd", "app", True),
    "sandbox": ("sandbox_cmd", "app", True),
}
#: groups inside a group, by the outer one's path: (module in commands/, attribute); commands
#: never import each other, so a group's module does not name the groups it holds
NESTED: dict[str, dict[str, tuple[str, str]]] = {"tasks": {"images": ("image_calls_cmd", "app")}}


def build_app(only: str | None = None) -> typer.Typer:
    """The Typer app; with ``only``, just that command (typer inspects every command's
    signature when it builds the tree: a run needs one, help and completions need all)."""
    from importlib import import_module

    app = typer.Typer(
        cls=PiapiGroup,
        name="piapi",
        help="The command line for PiAPI's Unified API: create tasks on any model, wait, get results.",
        epilog=EPILOG,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        # help is always laid out at 80 columns, so it is the same everywhere (and can be cached)
        context_settings={"help_option_names": ["-h", "--help"], "terminal_width": 80, "max_content_width": 80},
        add_completion=False,
    )
    app.callback()(root)
    for name, (module_name, attribute, is_group) in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = import_module(f".commands.{module_name}", __package__)
        target = getattr(module, attribute)
        if is_group:
            app.add_typer(_typer_group(target, name), name=name)
        else:
            app.command(name, epilog=getattr(module, "EPILOG", None))(_for_typer(target, name))
    return app


def _typer_group(group: params.Group, path: str) -> typer.Typer:
    settings = dict(group.settings)
    if callable(settings.get("epilog")):  # made for help only (see params.Group)
        settings["epilog"] = settings["epilog"]()
    app = typer.Typer(**settings)
    if group.callback_function is not None:
        app.callback(**group.callback_settings)(_for_typer(group.callback_function, path))
    for name, (function, settings) in group.commands.items():
        app.command(name, **settings)(_for_typer(function, f"{path} {name}"))
    from importlib import import_module

    for name, (module_name, attribute) in NESTED.get(path, {}).items():
        inner = getattr(import_module(f".commands.{module_name}", __package__), attribute)
        app.add_typer(_typer_group(inner, f"{path} {name}"), name=name)
    return app


def _for_typer(function: Callable[..., Any], path: str) -> Callable[..., Any]:
    """The command with its ``params`` declarations given to typer as typer's own; typer hands
    the wrapper its own context, and the command gets a ``params.Context`` as on the fast path."""
    signature = inspect.signature(function, eval_str=True)
    parameters = [p.replace(annotation=_typer_annotation(p.annotation)) for p in signature.parameters.values()]
    context_name = next((p.name for p in signature.parameters.values() if p.annotation is params.Context), None)
    if context_name is None:  # typer's context still comes, to tell given values from defaults
        parameters.append(inspect.Parameter(_TOOLKIT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))

    @functools.wraps(function)
    def command(**kwargs: Any) -> Any:
        toolkit = kwargs.pop(context_name or _TOOLKIT)
        return call(function, context_name, kwargs, _context(toolkit, path, kwargs))

    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


#: the name typer's context goes by for a command that takes no ``params.Context``
_TOOLKIT = "piapi_toolkit_context"


def _context(toolkit: Any, path: str, kwargs: dict[str, Any]) -> params.Context:
    """Ours from typer's: the parameters given on the line or by the environment (with the
    values the command gets)."""
    given = {
        name: value
        for name, value in kwargs.items()
        if getattr(toolkit.get_parameter_source(name), "name", None) in ("COMMANDLINE", "ENVIRONMENT")
    }
    return params.Context(toolkit.obj, toolkit.invoked_subcommand, path=path, given=given)


def _typer_annotation(annotation: Any) -> Any:
    if annotation is params.Context:
        return typer.Context
    if isinstance(annotation, params.Declared):
        annotation = annotation.typing_annotation()
    if get_origin(annotation) is not Annotated:
        return annotation
    base, *extras = get_args(annotation)
    translated = []
    for extra in extras:
        if isinstance(extra, params.Option):
            settings = dict(extra.settings)
            check = settings.pop("check", None)
            if check is not None:
                settings["callback"] = _typer_check(check)
            extra = typer.Option(*extra.names, **settings)
        elif isinstance(extra, params.Argument):
            extra = typer.Argument(**extra.settings)
        translated.append(extra)
    return Annotated[tuple([base, *translated])]


def _typer_check(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def callback(value: Any) -> Any:
        try:
            return check(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return callback


def call(function: Callable[..., Any], context_name: str | None, kwargs: dict[str, Any], ctx: params.Context) -> Any:
    """How the typer tree calls a command (the one place a test can watch what typer parsed)."""
    return params.call(function, context_name, kwargs, ctx)


def command_word(args: list[str]) -> str | None:
    """The command an argv names (``piapi --sandbox get X`` -> ``get``), if a known one."""
    from piapi_cli.cli.parsing.fastpath import command_word as read

    return read(args)


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole tree, built on first use (tests, docgen)
        whole = build_app()
        globals()["app"] = whole
        return whole
    raise AttributeError(name)
