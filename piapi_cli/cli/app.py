"""The root Typer app: global options, the command tree, and the one error boundary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from piapi_cli import __version__
from piapi_cli.api.errors import ExitCode, PiapiError, exit_code_for
from piapi_cli.cli.commands._options import examples

if TYPE_CHECKING:
    from piapi_cli.cli.output import Output
    from piapi_cli.cli.session import Session

EPILOG = examples(
    "piapi --sandbox create -m Qubico/flux1-dev -t txt2img -i prompt='a little cat' --wait",
    "ID=$(piapi create -m midjourney -t imagine -i prompt='a lighthouse')",
    'piapi wait "$ID" && piapi get "$ID" --jq .output.image_url',
    notes="Exit codes: " + ", ".join(f"{code.value} {code.label}" for code in ExitCode) + ".",
)


class State:
    """Per-run objects handed to every command through ``ctx.obj``."""

    def __init__(self, session: Session, output: Output) -> None:
        self.session = session
        self.output = output


class PiapiGroup(TyperGroup):
    """Maps every error to its exit code in one place; no traceback without --debug."""

    @staticmethod
    def _interrupted(ctx: Any, exc: BaseException) -> None:
        """Ctrl-C, SIGTERM, SIGHUP: where things stand and how to resume, then 130 / 128+N."""
        from piapi_cli.cli.signals import Terminated
        from piapi_cli.cli.terminal import safe_text

        state = ctx.obj if isinstance(ctx.obj, State) else None
        code = exc.exit_code if isinstance(exc, Terminated) else int(ExitCode.INTERRUPTED)
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        lines = state.session.interrupted() if state is not None else []
        partial = getattr(exc, "partial", None)
        if partial:
            lines.insert(0, f"partial files kept (resumed by the next run): {' '.join(partial)}")
        sys.stderr.write(f"\n{what}\n" + "".join(f"{safe_text(line)}\n" for line in lines))
        sys.stderr.flush()
        raise typer.Exit(code) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt as exc:
            self._interrupted(ctx, exc)
        except Exception as exc:
            if isinstance(exc, PiapiError) and exc.exit_code == ExitCode.INTERRUPTED:
                self._interrupted(ctx, exc)  # downloads stopped by Ctrl-C: the same report
            # usage errors (they carry show() and exit_code) print themselves and exit 2
            if hasattr(exc, "show") and hasattr(exc, "exit_code"):
                raise
            if isinstance(exc, OSError) and getattr(exc, "errno", None) == 32:  # EPIPE: reader went away
                from piapi_cli.cli.output import end_on_closed_pipe

                end_on_closed_pipe()
            state = ctx.obj if isinstance(ctx.obj, State) else None
            debug = state.session.debug if state else False
            if state is not None:
                output = state.output
            else:
                from piapi_cli.cli.output import Output

                output = Output()
            secrets = state.session.secrets() if state else []
            if debug:
                import traceback

                from piapi_cli.api.tasks import scrub as scrub_text
                from piapi_cli.cli.terminal import safe_text

                # a traceback quotes what servers sent, too
                sys.stderr.write(safe_text(scrub_text(traceback.format_exc(), *secrets), multiline=True))
            from piapi_cli.api.tasks import scrub

            if isinstance(exc, PiapiError):
                from piapi_cli.cli.hints import hint_for

                hint = hint_for(exc, state.session if state else None)
                output.error(scrub(exc.message, *secrets), scrub(hint, *secrets) if hint else None)
            else:
                message = scrub(f"{type(exc).__name__}: {exc}", *secrets)
                output.error(f"internal error: {message}", None if debug else "run again with --debug for details")
            raise typer.Exit(exit_code_for(exc)) from None
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
    from piapi_cli.cli import signals
    from piapi_cli.cli.output import Output
    from piapi_cli.cli.session import Session

    signals.install()
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="debug: %(name)s: %(message)s")
        for noisy in ("httpcore", "httpx"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if isinstance(ctx.obj, Session):  # tests hand in a prepared session
        session = ctx.obj
        session.profile, session.base_url, session.debug = profile, base_url, debug
        session.sandbox = session.sandbox or sandbox
        session.no_journal = session.no_journal or no_journal
    else:
        session = Session(profile=profile, base_url=base_url, sandbox=sandbox, debug=debug, no_journal=no_journal)
    ctx.obj = State(session, Output(no_color=no_color))


#: every command, in the order help lists them: (module in commands/, attribute, is a group)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "create": ("create", "create", False),
    "get": ("get", "get", False),
    "wait": ("wait", "wait", False),
    "cancel": ("cancel", "cancel", False),
    "download": ("download", "download", False),
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
#: global options that take a value (to find the command word in argv)
VALUED_GLOBALS = frozenset({"--profile", "--base-url"})


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
            app.add_typer(target, name=name)
        else:
            app.command(name, epilog=getattr(module, "EPILOG", None))(target)
    return app


def command_word(args: list[str]) -> str | None:
    """The command an argv names (``piapi --sandbox get X`` -> ``get``), if a known one."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in VALUED_GLOBALS:
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole tree, built on first use (tests, docgen)
        whole = build_app()
        globals()["app"] = whole
        return whole
    raise AttributeError(name)
