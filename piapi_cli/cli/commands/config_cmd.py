"""piapi config: the API key and settings, per profile."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

from piapi_cli.cli import params
from piapi_cli.cli.commands._options import JsonOption, examples

if TYPE_CHECKING:
    from piapi_cli.cli.app import State

app = params.Group(
    help="Set the API key and settings (config.toml, one table per profile).",
    no_args_is_help=True,
    epilog=examples(
        "piapi config set-key",
        'printf %s "$KEY" | piapi config set-key',
        "piapi --profile work config set max_poll_interval 20",
        "piapi config show",
    ),
)


def _profile(state: State) -> str:
    from piapi_cli.core.settings import DEFAULT_PROFILE

    env = state.session.environ
    return state.session.profile or env.get("PIAPI_PROFILE") or DEFAULT_PROFILE


@app.command(
    "set-key", epilog=examples("piapi config set-key", 'printf %s "$PIAPI_KEY" | piapi --profile work config set-key')
)
def set_key(ctx: params.Context) -> None:
    """Store your PiAPI key: asked for hidden on a terminal, read from stdin when piped.

    The key is never taken as an argument, so it stays out of shell history and ps.
    """
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.settings import set_value

    state: State = ctx.obj
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass("PiAPI key (input hidden): ", stream=sys.stderr)
    else:
        key = sys.stdin.readline()
    key = key.strip()
    if not key:
        raise UsageError("no key given", hint='paste it at the prompt, or: printf %s "$KEY" | piapi config set-key')
    if any(c.isspace() for c in key):
        raise UsageError("a PiAPI key holds no spaces; was more than the key pasted?")
    profile = _profile(state)
    path = set_value("api_key", key, profile=profile, environ=state.session.environ)
    state.output.info(f"key saved for profile {profile} in {path} (mode 0600)")


@app.command("show", epilog=examples("piapi config show", "piapi --profile work config show --json"))
def show(ctx: params.Context, as_json: JsonOption = False) -> None:
    """Show every setting, its value (the key masked) and where it comes from."""
    from piapi_cli.core.settings import SETTINGS, mask, resolve

    state: State = ctx.obj
    session = state.session
    flags = {"base_url": session.base_url, "sandbox": True if session.sandbox else None}
    resolved = resolve(flags, profile=session.profile, environ=session.environ)
    rows = []
    for name, setting in SETTINGS.items():
        value = resolved[name]
        rows.append((name, mask(value) if setting.secret else value, resolved.sources[name]))
    if as_json:
        doc = {
            "profile": resolved.profile,
            "path": str(resolved.path),
            "settings": {n: {"value": v, "source": s} for n, v, s in rows},
        }
        state.output.document(doc)
        return
    if state.output.stdout_tty:
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
        table.title = f"profile {resolved.profile} · {resolved.path}"
        for column in ("setting", "value", "from"):
            table.add_column(column, overflow="fold")
        for name, value, source in rows:
            table.add_row(name, _text(value), source)
        state.output.out.print(table)
    else:
        for name, value, source in rows:
            state.output.line(f"{name}\t{_text(value)}\t{source}")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@app.command("path", epilog=examples('$EDITOR "$(piapi config path)"'))
def path(ctx: params.Context) -> None:
    """Print the config file's path."""
    from piapi_cli.core.settings import config_path

    state: State = ctx.obj
    state.output.line(str(config_path(state.session.environ)))


@app.command(
    "set", epilog=examples("piapi config set max_poll_interval 20", "piapi --profile ci config set sandbox true")
)
def set_(
    ctx: params.Context,
    name: Annotated[
        str,
        params.Argument(
            metavar="NAME",
            help="Setting: base_url, upload_url, service_mode, wait_timeout, max_poll_interval, sandbox, journal",
        ),
    ],
    value: Annotated[str, params.Argument(metavar="VALUE", help="Its value (after --, a value may start with -)")],
) -> None:
    """Store a setting in the current profile."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.settings import set_value

    state: State = ctx.obj
    if name == "api_key":
        raise UsageError("the key is not taken as an argument", hint="use: piapi config set-key")
    profile = _profile(state)
    set_value(name, value, profile=profile, environ=state.session.environ)
    state.output.info(f"{name} set for profile {profile}")


@app.command("unset", epilog=examples("piapi config unset base_url", "piapi --profile old config unset api_key"))
def unset(
    ctx: params.Context,
    name: Annotated[str, params.Argument(metavar="NAME", help="Setting to remove (api_key included)")],
) -> None:
    """Remove a setting from the current profile (it falls back to the environment or default)."""
    from piapi_cli.core.settings import set_value

    state: State = ctx.obj
    profile = _profile(state)
    set_value(name, None, profile=profile, environ=state.session.environ)
    state.output.info(f"{name} removed from profile {profile}")
