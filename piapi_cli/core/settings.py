"""Settings: flag > environment > the profile in config.toml > default.

config.toml lives in platformdirs' user config dir for "piapi" (``PIAPI_CONFIG_DIR``
overrides it), holds one table per profile, and is written atomically with mode 0600::

    [profiles.default]
    api_key = "..."
    max_poll_interval = 15
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from piapi_cli.api.errors import ConfigError, UsageError

DEFAULT_PROFILE = "default"
CONFIG_FILE = "config.toml"


def _positive_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _service_mode(text: str) -> str:
    if text not in ("", "public", "private"):
        raise ValueError("must be public or private")
    return text


def _url(text: str) -> str:
    text = text.strip()
    if not text.lower().startswith(("http://", "https://")) or len(text) < len("http://x"):
        raise ValueError("is not an http:// or https:// URL")
    return text.rstrip("/")


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


@dataclass(frozen=True)
class Setting:
    name: str
    help: str
    env: str | None = None
    default: Any = None
    parse: Callable[[str], Any] = str
    secret: bool = False


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("api_key", "Your PiAPI key (set it with: piapi config set-key)", "PIAPI_API_KEY", secret=True),
        Setting("base_url", "The Unified API's address", "PIAPI_BASE_URL", "https://api.piapi.ai", _url),
        Setting("upload_url", "The upload endpoint's address", "PIAPI_UPLOAD_URL", "https://upload.theapi.app", _url),
        Setting("service_mode", "Default service mode for new tasks: public or private", None, "", _service_mode),
        Setting("wait_timeout", "Default --timeout of wait, in seconds (0: none)", None, 1800.0, _positive_float),
        Setting(
            "max_poll_interval",
            "Longest pause between two polls, in seconds",
            "PIAPI_MAX_POLL_INTERVAL",
            10.0,
            _positive_float,
        ),
        Setting("sandbox", "Use the built-in sandbox instead of PiAPI", "PIAPI_SANDBOX", False, _boolean),
        Setting("journal", "Record created tasks in the local journal", "PIAPI_JOURNAL", True, _boolean),
    )
}


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    override = environ.get("PIAPI_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("piapi", appauthor=False))


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where piapi keeps its data (the sandbox's tasks); ``PIAPI_DATA_DIR`` overrides it."""
    override = environ.get("PIAPI_DATA_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("piapi", appauthor=False))


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return config_dir(environ) / CONFIG_FILE


def read_file(path: Path) -> dict[str, Any]:
    """The parsed config file; an empty document when there is none."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}",
            hint="fix it by hand, or move it away and run: piapi config set-key",
        ) from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or any(not isinstance(v, dict) for v in profiles.values()):
        raise ConfigError(f"config file {path}: [profiles] must hold one table per profile")
    document: dict[str, Any] = data
    return document


def write_file(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically replace the config file, readable by its owner only (0600)."""
    import tomli_w

    text = tomli_w.dumps(dict(data))
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        import tempfile  # only to write: every run reads settings

        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write config file {path}: {exc.strerror or exc}") from None


@dataclass
class Resolved:
    """Each setting's value and where it came from (for ``config show``)."""

    profile: str
    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def resolve(
    flags: Mapping[str, Any] | None = None,
    *,
    profile: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Resolved:
    """Resolve every setting: flag > environment > config profile > default."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    chosen = profile or environ.get("PIAPI_PROFILE") or DEFAULT_PROFILE
    path = config_path(environ)
    data = read_file(path)
    profiles = data.get("profiles", {})
    if chosen != DEFAULT_PROFILE and chosen not in profiles:
        names = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f"no profile {chosen!r} in {path} (profiles: {names})",
            hint=f"create it with: piapi --profile {chosen} config set-key",
        )
    stored = profiles.get(chosen, {})
    result = Resolved(profile=chosen, path=path)
    for name, setting in SETTINGS.items():
        if name in flags:
            value, source = flags[name], "flag"
            if isinstance(value, str) and setting.parse is not str:
                value = _parse(setting, value, source)
        elif setting.env and environ.get(setting.env):
            source = f"env {setting.env}"
            value = _parse(setting, environ[setting.env], source)
        elif name in stored:
            source = f"{path.name} [profiles.{chosen}]"
            value = stored[name]
            if isinstance(value, str) and setting.parse is not str:
                value = _parse(setting, value, source)
        else:
            value, source = setting.default, "default"
        result.values[name] = value
        result.sources[name] = source
    return result


def _parse(setting: Setting, text: str, source: str) -> Any:
    try:
        return setting.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{setting.name} from {source}: {text!r} {exc}") from None


def set_value(name: str, value: str | None, *, profile: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Store (or, with ``None``, remove) one setting in a profile; returns the file's path."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise UsageError(f"unknown setting {name!r}; settings: {', '.join(SETTINGS)}")
    path = config_path(environ)
    data = read_file(path)
    profiles = data.setdefault("profiles", {})
    table = profiles.setdefault(profile, {})
    if value is None:
        table.pop(name, None)
    else:
        if setting.parse is not str:
            try:
                parsed = setting.parse(value)
            except ValueError as exc:
                raise UsageError(f"{name}: {value!r} {exc}") from None
            table[name] = parsed
        else:
            table[name] = value
    write_file(path, data)
    return path


def mask(secret: str | None) -> str:
    """A key shown as ``****abcd``: enough to tell keys apart, never enough to use."""
    if not secret:
        return "(not set)"
    return "****" + secret[-4:] if len(secret) >= 12 else "****"
