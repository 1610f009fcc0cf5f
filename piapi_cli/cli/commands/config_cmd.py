"""piapi config: the API key and settings, per profile."""

from __future__ import annotations

import sys

from piapi_cli.cli.commands._options import ConfigJsonOption, examples
from piapi_cli.cli.parsing import params
from piapi_cli.cli.parsing.params import Annotated, Optional
from piapi_cli.core.settings import SETTINGS

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    from typing import Any

    from rich.table import Table

    from piapi_cli.cli.app import State
    from piapi_cli.core.settings import Resolved


def _settings_help() -> str:
    """The list of settings under ``piapi config --help``, from their definitions."""
    import textwrap

    lines = []
    for setting in SETTINGS.values():
        # help indents this block by 4: 24 columns of names, 56 of text fit in 80
        facts = ([f"env {setting.env}"] if setting.env else []) + [f"default: {setting.shown_default}"]
        text = textwrap.wrap(setting.help, 56, break_long_words=False, break_on_hyphens=False)
        text += textwrap.wrap(", ".join(facts), 56, break_long_words=False, break_on_hyphens=False)
        lines.append(f"  {setting.name:<18}  {text[0]}")
        lines += [" " * 22 + rest for rest in text[1:]]
    return "Settings (a flag beats the environment, which beats the profile):\n\n\b\n" + "\n".join(lines)


app = params.Group(
    help="Set the API key and settings (config.toml, one table per profile).",
    no_args_is_help=True,
    epilog=lambda: examples(
        "piapi config set-key",
        'printf %s "$KEY" | piapi config set-key',
        "piapi --profile work config set max_poll_interval 20",
        "piapi config show",
        notes=_settings_help(),
    ),
)


def _profile(state: State) -> str:
    from piapi_cli.core.settings import DEFAULT_PROFILE, PROFILE_ENV

    env = state.session.environ
    return state.session.profile or env.get(PROFILE_ENV.name) or DEFAULT_PROFILE


def _read_secret(prompt: str) -> str:
    """A secret asked for hidden on a terminal, else the first line of stdin; never from argv."""
    if sys.stdin.isatty():
        import getpass

        try:
            return getpass.getpass(prompt, stream=sys.stderr).strip()
        except EOFError:  # Ctrl-D: nothing given
            sys.stderr.write("\n")
            return ""
    return sys.stdin.readline().strip()


@app.command(
    "set-key", epilog=examples("piapi config set-key", 'printf %s "$WORK_KEY" | piapi --profile work config set-key')
)
def set_key(ctx: params.Context) -> None:
    """Store your PiAPI key: asked for hidden on a terminal, read from stdin when piped.

    The key is never taken as an argument, so it stays out of shell history and ps.
    """
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.settings_store import set_value

    state: State = ctx.obj
    key = _read_secret("PiAPI key (input hidden): ")
    if not key:
        raise UsageError("no key given", hint='paste it at the prompt, or: printf %s "$KEY" | piapi config set-key')
    if any(c.isspace() for c in key):
        raise UsageError("a PiAPI key holds no spaces; was more than the key pasted?")
    profile = _profile(state)
    path = set_value("api_key", key, profile=profile, environ=state.session.environ)
    state.output.info(f"key saved for profile {profile} in {path} (mode 0600)")


@app.command("show", epilog=examples("piapi config show", "piapi --profile work config show --json"))
def show(ctx: params.Context, as_json: ConfigJsonOption = False) -> None:
    """Show every setting, its value (the key masked) and where it comes from.

    Invalid values are listed as such (a secret is never shown); the command then exits 3.
    """
    from piapi_cli.api.errors import ConfigError
    from piapi_cli.core.settings import mask, resolve

    state: State = ctx.obj
    session = state.session
    flags = {"base_url": session.base_url, "sandbox": True if session.sandbox else None}
    resolved = resolve(flags, profile=session.profile, environ=session.environ, strict=False)
    rows: list[tuple[str, Any, str]] = []
    for name, setting in SETTINGS.items():
        value = resolved[name]
        if name in resolved.problems:
            value = "(invalid)"
        elif setting.secret:
            value = mask(value)
        rows.append((name, value, resolved.sources[name]))
    _listener_secret_row(rows, session)
    for key in resolved.unknown:
        state.output.warn(f"{resolved.path} [profiles.{resolved.profile}]: {key!r} is no setting; it is ignored")
    state.output.render(
        lambda: _settings_json(resolved, rows),
        as_json=as_json,
        table=lambda console: console.print(_settings_table(resolved, rows)),
        lines=lambda: [f"{name}\t{_text(value)}\t{source}" for name, value, source in rows],
    )
    problems = list(resolved.problems.values())
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigError(f"{len(problems)} invalid settings: " + "; ".join(p.message for p in problems))


def _listener_secret_row(rows: list[tuple[str, Any, str]], session: Any) -> None:
    """webhook_secret unset while piapi listen keeps a secret: that one is what create --webhook
    sends, so the row says so (where it is kept, never its value)."""
    from piapi_cli.core.listener.secret import SECRET_FILE
    from piapi_cli.core.settings import config_dir

    stored = config_dir(session.environ) / SECRET_FILE
    for index, (name, _value, source) in enumerate(rows):
        if name == "webhook_secret" and source == "default" and stored.exists():
            rows[index] = (name, "(piapi listen's, not shown)", str(stored))


def _settings_json(resolved: Resolved, rows: list[tuple[str, Any, str]]) -> dict[str, Any]:
    settings: dict[str, dict[str, object]] = {n: {"value": v, "source": s} for n, v, s in rows}
    for name, problem in resolved.problems.items():
        settings[name] = {"value": None, "source": resolved.sources[name], "error": problem.reason}
    return {"profile": resolved.profile, "path": str(resolved.path), "settings": settings}


def _settings_table(resolved: Resolved, rows: list[tuple[str, Any, str]]) -> Table:
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    table.title = f"profile {resolved.profile} · {resolved.path}"
    for column in ("setting", "value", "from"):
        table.add_column(column, overflow="fold")
    for name, value, source in rows:
        table.add_row(name, _text(value), source)
    return table


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
    "set",
    epilog=examples(
        "piapi config set max_poll_interval 20",
        "piapi --profile ci config set sandbox true",
        'printf %s "$SECRET" | piapi config set webhook_secret',
    ),
)
def set_(
    ctx: params.Context,
    name: Annotated[
        str, params.Argument(metavar="NAME", help="Setting: " + ", ".join(n for n in SETTINGS if n != "api_key"))
    ],
    value: Annotated[
        Optional[str],
        params.Argument(
            metavar="VALUE",
            help="Its value (after --, a value may start with -). A secret is asked for, never given here",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Store a setting in the current profile (see: piapi config --help)."""
    from piapi_cli.api.errors import UsageError
    from piapi_cli.core.settings_store import set_value

    state: State = ctx.obj
    setting = SETTINGS.get(name)
    if setting is None:
        raise UsageError(f"unknown setting {name!r}; settings: {', '.join(SETTINGS)}")
    if name == "api_key":
        raise UsageError("the key is not taken as an argument", hint="use: piapi config set-key")
    if setting.secret:
        if value is not None:
            raise UsageError(
                f"{name} is a secret: it is not taken as an argument (shell history and ps would show it)",
                hint=f'run: piapi config set {name}, then paste it; or: printf %s "$SECRET" | piapi config set {name}',
            )
        value = _read_secret(f"{name} (input hidden): ")
        if not value:
            raise UsageError(f"no {name} given")
    elif value is None:
        raise UsageError(f"missing VALUE of {name}", hint=f"piapi config set {name} VALUE")
    profile = _profile(state)
    set_value(name, value, profile=profile, environ=state.session.environ)
    state.output.info(f"{name} set for profile {profile}")


@app.command("unset", epilog=examples("piapi config unset base_url", "piapi --profile old config unset api_key"))
def unset(
    ctx: params.Context,
    name: Annotated[str, params.Argument(metavar="NAME", help="Setting to remove (api_key included)")],
) -> None:
    """Remove a setting from the current profile (it falls back to the environment or default)."""
    from piapi_cli.core.settings_store import unset_value

    state: State = ctx.obj
    profile = _profile(state)
    if unset_value(name, profile=profile, environ=state.session.environ):
        state.output.info(f"{name} removed from profile {profile}")
    else:
        state.output.info(f"{name} was not set in profile {profile}: nothing to remove")
