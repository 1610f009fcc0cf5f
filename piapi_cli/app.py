"""The root Typer app: global options, the command tree, and the one error boundary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from . import __version__
from .commands._options import examples
from .errors import ExitCode, PiapiError, exit_code_for

if TYPE_CHECKING:
    from .output import Output
    from .session import Session

EPILOG = examples(
    "piapi --sandbox create -m Qubico/flux1-dev -t txt2img -i prompt='a little cat' --wait",
    "ID=$(piapi create -m midjourney -t imagine -i prompt='a lighthouse')",
    'piapi wait "$ID" && piapi get "$ID" --jq .output.image_url',
    notes="Exit codes: 0 ok, 1 internal error, 2 usage or invalid input, 3 auth or config, "
    "4 API refused, 5 network or server, 6 rate limited, 7 task failed, 8 wait timed out, "
    "9 download failed, 130 interrupted.",
)


class State:
    """Per-run objects handed to every command through ``ctx.obj``."""

    def __init__(self, session: Session, output: Output) -> None:
        self.session = session
        self.output = output


class PiapiGroup(TyperGroup):
    """Maps every error to its exit code in one place; no traceback without --debug."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            state = ctx.obj if isinstance(ctx.obj, State) else None
            sys.stderr.write("\ninterrupted\n")
            if state is not None and state.session.created:
                ids = " ".join(state.session.created)
                sys.stderr.write(
                    f"tasks already created (not cancelled): {ids}\nresume with: {state.session.prog} wait {ids}\n"
                )
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except Exception as exc:
            # usage errors (they carry show() and exit_code) print themselves and exit 2
            if hasattr(exc, "show") and hasattr(exc, "exit_code"):
                raise
            if isinstance(exc, OSError) and getattr(exc, "errno", None) == 32:  # EPIPE: reader went away
                raise
            state = ctx.obj if isinstance(ctx.obj, State) else None
            debug = state.session.debug if state else False
            if state is not None:
                output = state.output
            else:
                from .output import Output

                output = Output()
            secrets = state.session.secrets() if state else []
            if debug:
                import traceback

                traceback.print_exc()
            if isinstance(exc, PiapiError):
                output.error(_scrub(exc.message, secrets), _scrub(exc.hint, secrets) if exc.hint else None)
            else:
                message = _scrub(f"{type(exc).__name__}: {exc}", secrets)
                output.error(f"internal error: {message}", None if debug else "run again with --debug for details")
            raise typer.Exit(exit_code_for(exc)) from None
        finally:
            state = ctx.obj if isinstance(ctx.obj, State) else None
            if state is not None:
                state.session.close()


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


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


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"piapi {__version__}\n")
        raise typer.Exit()


@app.callback()
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
    from .output import Output
    from .session import Session

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


def _register() -> None:
    from .commands import (
        account,
        cancel,
        completion,
        config_cmd,
        create,
        download,
        get,
        models,
        sandbox_cmd,
        tasks_cmd,
        wait,
    )

    app.command("create", epilog=create.EPILOG)(create.create)
    app.command("get", epilog=get.EPILOG)(get.get)
    app.command("wait", epilog=wait.EPILOG)(wait.wait)
    app.command("cancel", epilog=cancel.EPILOG)(cancel.cancel)
    app.command("download", epilog=download.EPILOG)(download.download)
    app.add_typer(tasks_cmd.app, name="tasks")
    app.command("account", epilog=account.EPILOG)(account.account)
    app.command("models", epilog=models.EPILOG)(models.models)
    app.add_typer(config_cmd.app, name="config")
    app.add_typer(sandbox_cmd.app, name="sandbox")
    app.command("completion", epilog=completion.EPILOG)(completion.completion)


_register()
