"""Settings: flag > environment > the profile in config.toml > default, typed and validated.

config.toml lives in platformdirs' user config dir for "piapi" (``PIAPI_CONFIG_DIR``
overrides it) and holds one table per profile (``settings_store`` writes it)::

    [profiles.default]
    api_key = "..."
    max_poll_interval = 15

Every setting is defined once, as a field of :class:`Settings`: its type, default, help,
environment variable and validator (from ``setting_values``). Every other environment
variable piapi reads is an :class:`EnvVar` below. Help texts, the README's tables and the
man pages are generated from these definitions.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from piapi_cli.api.errors import ConfigError
from piapi_cli.api.records import field, fields, record
from piapi_cli.core import setting_values as values

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PROFILE = "default"
CONFIG_FILE = "config.toml"
#: the shortest pause between two polls a setting or --interval may ask for
MIN_POLL_INTERVAL = 0.1


# --- the settings -----------------------------------------------------------------------


@record(frozen=True)
class Setting:
    """What is known about one setting: everything documentation and ``config`` need."""

    name: str
    help: str
    default: Any
    parse: Callable[[object], Any]
    env: str | None = None
    #: the global option that sets it, if any
    flag: str | None = None
    #: never shown: masked by ``config show``, never repeated in an error
    secret: bool = False
    #: how the default reads in help and README, when its value says too little
    default_text: str | None = None

    @property
    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return "none" if self.default is None else str(self.default)


def _setting(
    default: Any, help: str, parse: Callable[[object], Any], *, env: str | None = None, flag: str | None = None,
    secret: bool = False, default_text: str | None = None,
) -> Any:  # fmt: skip
    spec = {"help": help, "parse": parse, "env": env, "flag": flag, "secret": secret, "default_text": default_text}
    return field(default=default, metadata=spec)


@record(frozen=True)
class Settings:
    """Every setting, typed and validated (see :func:`resolve`). Field order is help order."""

    api_key: str | None = _setting(
        None, "your PiAPI key (set it with: piapi config set-key)", values.api_key, env="PIAPI_API_KEY", secret=True
    )
    base_url: str = _setting(
        "https://api.piapi.ai", "the Unified API's address", values.url, env="PIAPI_BASE_URL", flag="--base-url"
    )
    upload_url: str = _setting(
        "https://upload.theapi.app", "the upload endpoint's address", values.url, env="PIAPI_UPLOAD_URL"
    )
    service_mode: str = _setting(
        "", "service mode of new tasks: public or private", values.service_mode, default_text="account default"
    )
    wait_timeout: float = _setting(1800.0, "deadline of waits, in seconds; 0: none (as --timeout)", values.seconds(0))
    request_timeout: float = _setting(
        30.0,
        "deadline of one API call (a create, a get), its retries included, in seconds; 0: none",
        values.seconds(0),
        env="PIAPI_REQUEST_TIMEOUT",
    )
    download_stall: float = _setting(
        60.0,
        "a download that receives under 64 KiB in this many seconds stops, its .part kept for resuming; 0: never",
        values.seconds(0),
        env="PIAPI_DOWNLOAD_STALL",
    )
    max_poll_interval: float = _setting(
        10.0,
        "longest pause between polls, in seconds (as --interval)",
        values.seconds(MIN_POLL_INTERVAL),
        env="PIAPI_MAX_POLL_INTERVAL",
    )
    read_timeout: float = _setting(
        600.0,
        "seconds a chat or image answer may stay silent (between two pieces of a stream) before piapi "
        "stops waiting; 0: never",
        values.seconds(0),
        env="PIAPI_READ_TIMEOUT",
    )
    sandbox: bool = _setting(
        False, "use the built-in sandbox instead of PiAPI", values.boolean, env="PIAPI_SANDBOX", flag="--sandbox"
    )
    journal: bool = _setting(
        True, "record created tasks in the local journal", values.boolean, env="PIAPI_JOURNAL", flag="--no-journal"
    )
    sandbox_speed: float = _setting(
        1.0, "speed of in-process sandbox tasks (10: ten times faster)", values.speed, env="PIAPI_SANDBOX_SPEED"
    )
    preview: bool = _setting(
        False,
        "show images in the terminal after get, wait and create --wait (as --preview)",
        values.boolean,
        env="PIAPI_PREVIEW",
    )
    preview_protocol: str = _setting(
        "auto",
        "how previews are drawn: auto (from the terminal), kitty, iterm, sixel or blocks",
        values.preview_protocol,
        env="PIAPI_PREVIEW_PROTOCOL",
    )
    webhook_secret: str | None = _setting(
        None,
        "secret of create --webhook without --webhook-secret, and of listen and trigger",
        values.webhook_secret,
        env="PIAPI_WEBHOOK_SECRET",
        secret=True,
    )


SETTINGS: dict[str, Setting] = {f.name: Setting(f.name, default=f.default, **f.metadata) for f in fields(Settings)}


@record(frozen=True)
class EnvVar:
    """An environment variable piapi reads that is no setting of its own."""

    name: str
    help: str


PROFILE_ENV = EnvVar("PIAPI_PROFILE", "config profile to use (default: default), as --profile")
CONFIG_DIR_ENV = EnvVar("PIAPI_CONFIG_DIR", "directory of config.toml")
DATA_DIR_ENV = EnvVar("PIAPI_DATA_DIR", "directory of piapi's data: the task journal, the in-process sandbox's tasks")
SANDBOX_KEY_ENV = EnvVar(
    "PIAPI_SANDBOX_KEY", "the only key (x-api-key, or a Bearer key on /v1 routes) piapi sandbox serve accepts"
)
NO_COLOR_ENV = EnvVar("NO_COLOR", "no colour in output, as --no-color")
#: read by every HTTP client piapi makes (api/factory.py)
NETWORK_ENVIRONMENT = (
    EnvVar("HTTPS_PROXY", "proxy for https (HTTP_PROXY: for http, ALL_PROXY: both; NO_PROXY: hosts to reach directly)"),
    # the certificates https trusts, looked at in this order (api/trust.py); verification is never off
    EnvVar(
        "SSL_CERT_FILE",
        "a PEM file of CA certificates to trust instead of the system's (OpenSSL's hashed directory, e.g. "
        "/etc/ssl/certs, else its bundle, else certifi's); certifi's bundle: SSL_CERT_FILE=$(python3 -m certifi)",
    ),
    EnvVar(
        "SSL_CERT_DIR",
        "a directory of CA certificates named by subject hash (openssl rehash DIR) to trust; "
        "with SSL_CERT_FILE's when both are set (both must be usable)",
    ),
    EnvVar(
        "REQUESTS_CA_BUNDLE",
        "as requests and pip read it, when neither SSL_CERT_FILE nor SSL_CERT_DIR is set: a PEM file (or a "
        "hashed directory) of CA certificates to trust",
    ),
    EnvVar("CURL_CA_BUNDLE", "as REQUESTS_CA_BUNDLE, when that is not set"),
)
#: set (not read) by piapi listen --exec, for the command it runs on each event
EXEC_ENVIRONMENT = (
    EnvVar("PIAPI_TASK_ID", "set for listen --exec's command: the event's task ID"),
    EnvVar("PIAPI_STATUS", "set for listen --exec's command: the task's status"),
    EnvVar("PIAPI_EVENT", "set for listen --exec's command: the event, e.g. task.completed"),
    EnvVar("PIAPI_EVENT_ID", "set for listen --exec's command: the event's number in the journal"),
)
OTHER_ENVIRONMENT = (
    PROFILE_ENV, CONFIG_DIR_ENV, DATA_DIR_ENV, SANDBOX_KEY_ENV, NO_COLOR_ENV, *NETWORK_ENVIRONMENT, *EXEC_ENVIRONMENT,
)  # fmt: skip


def environment() -> list[EnvVar]:
    """Every environment variable piapi reads: the settings' first, then the others."""
    found = [EnvVar(s.env, f"{s.help}; setting {s.name}") for s in SETTINGS.values() if s.env]
    return found + list(OTHER_ENVIRONMENT)


class InvalidSetting(ConfigError):
    """A setting's value was refused; ``origin`` says where it came from."""

    def __init__(
        self, setting: str, origin: str, reason: str, *, hint: str | None = None, advice: str | None = None,
        profile: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(f"{setting} from {origin}: {reason}", hint=hint, setting=setting, advice=advice)
        #: the profile whose value it is (None: not the file's)
        self.profile = profile
        self.setting = setting
        self.origin = origin
        self.reason = reason


# --- files ------------------------------------------------------------------------------


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    override = environ.get(CONFIG_DIR_ENV.name)
    if override:
        return Path(override).expanduser()
    found = _xdg_dir(environ, "XDG_CONFIG_HOME", ".config")
    if found is not None:
        return found
    from platformdirs import user_config_dir

    return Path(user_config_dir("piapi", appauthor=False))


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where piapi keeps its data (the sandbox's tasks); ``PIAPI_DATA_DIR`` overrides it."""
    override = environ.get(DATA_DIR_ENV.name)
    if override:
        return Path(override).expanduser()
    found = _xdg_dir(environ, "XDG_DATA_HOME", ".local/share")
    if found is not None:
        return found
    from platformdirs import user_data_dir

    return Path(user_data_dir("piapi", appauthor=False))


def _xdg_dir(environ: Mapping[str, str], variable: str, default: str) -> Path | None:
    """On Linux, piapi's directory by the XDG rules platformdirs follows there (the variable if it
    is an absolute path, else ``default`` under an absolute ``$HOME``), worked out without
    importing platformdirs (whose releases since 4.13 import tempfile, shutil and random: 4–6 ms
    of every command's start). None elsewhere, or for a case to leave to platformdirs."""
    if not sys.platform.startswith("linux"):
        return None
    value = environ.get(variable, "")
    if value.startswith("/"):
        return Path(value, "piapi")
    home = environ.get("HOME", "")
    return Path(home, default, "piapi") if home.startswith("/") else None


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return config_dir(environ) / CONFIG_FILE


def read_file(path: Path) -> dict[str, Any]:
    """The parsed config file; an empty document when there is none."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if sys.version_info >= (3, 11):  # imported only when there is a file to parse (~1.5 ms)
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}",
            path=str(path),
            advice="set_key_file",
        ) from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or any(not isinstance(v, dict) for v in profiles.values()):
        raise ConfigError(f"config file {path}: [profiles] must hold one table per profile")
    document: dict[str, Any] = data
    return document


# --- resolving --------------------------------------------------------------------------


@record()
class Resolved:
    """Each setting's value and where it came from (for ``config show``)."""

    profile: str
    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    #: settings whose value was refused (only with ``strict=False``); they hold their default
    problems: dict[str, InvalidSetting] = field(default_factory=dict)
    #: keys of the profile that are no setting (a typo?); they are ignored
    unknown: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def settings(self) -> Settings:
        return Settings(**self.values)


def resolve(
    flags: Mapping[str, Any] | None = None,
    *,
    profile: str | None = None,
    environ: Mapping[str, str] = os.environ,
    strict: bool = True,
) -> Resolved:
    """Resolve every setting: flag > environment > config profile > default.

    Every value is validated: the first one refused raises :class:`InvalidSetting` naming
    where it came from, so nothing is sent with a bad setting. With ``strict=False`` the
    refusals are collected in ``problems`` instead (``config show`` lists them all).
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    chosen = profile or environ.get(PROFILE_ENV.name) or DEFAULT_PROFILE
    path = config_path(environ)
    data = read_file(path)
    profiles = data.get("profiles", {})
    if chosen != DEFAULT_PROFILE and chosen not in profiles:
        names = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f"no profile {chosen!r} in {path} (profiles: {names})",
            path=str(path),
            advice="profile_create",
        )
    stored = profiles.get(chosen, {})
    result = Resolved(profile=chosen, path=path, unknown=sorted(k for k in stored if k not in SETTINGS))
    for name, setting in SETTINGS.items():
        if name in flags:
            raw, source, origin = flags[name], "flag", "flag"
        elif setting.env and environ.get(setting.env):
            raw, source = environ[setting.env], f"env {setting.env}"
            origin = source
        elif name in stored:
            raw, source, origin = stored[name], f"{path.name} [profiles.{chosen}]", f"{path} [profiles.{chosen}]"
        else:
            result.values[name], result.sources[name] = setting.default, "default"
            continue
        result.sources[name] = source
        try:
            result.values[name] = _parse(setting, raw, origin, source, chosen)
        except InvalidSetting as exc:
            if strict:
                raise
            result.problems[name] = exc
            result.values[name] = setting.default
    return result


def _parse(setting: Setting, raw: object, origin: str, source: str, profile: str) -> Any:
    try:
        return setting.parse(raw)
    except ValueError as exc:
        reason = str(exc)
        if not setting.secret and isinstance(raw, (str, int, float)):
            shown = repr(raw) if len(repr(raw)) <= 80 else repr(raw)[:77] + "..."
            reason = f"{shown} {reason}"
        if source.startswith("env "):
            raise InvalidSetting(setting.name, origin, reason, hint=f"fix or unset {setting.env}") from None
        fix: str | None = "fix_flag" if source == "flag" else "fix_key" if setting.name == "api_key" else "fix_setting"
        if source == "flag" and not setting.flag:
            fix = None
        raise InvalidSetting(setting.name, origin, reason, advice=fix, profile=profile) from None


def mask(secret: str | None) -> str:
    """A key shown as ``****abcd``: enough to tell keys apart, never enough to use."""
    if not secret:
        return "(not set)"
    return "****" + secret[-4:] if len(secret) >= 12 else "****"
