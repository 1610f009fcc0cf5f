"""Changing settings: ``config set``'s one change, stored in config.toml atomically with mode
0600. Every run reads settings (``settings``); only ``config set`` and ``config set-key`` write
them, so what writing needs is loaded by them alone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from piapi_cli.api.errors import ConfigError, UsageError
from piapi_cli.core.settings import SETTINGS, config_path, read_file


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
        try:
            parsed = setting.parse(value)
        except ValueError as exc:
            shown = "" if setting.secret else f" {value!r}"
            raise UsageError(f"{name}:{shown} {exc}") from None
        if parsed is None:
            table.pop(name, None)
        else:
            table[name] = parsed
    write_file(path, data)
    return path


def unset_value(name: str, *, profile: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Remove one setting from a profile; whether it was there (the file is left as it is if not)."""
    if name not in SETTINGS:
        set_value(name, None, profile=profile, environ=environ)  # the unknown setting's error
    path = config_path(environ)
    if name not in read_file(path).get("profiles", {}).get(profile, {}):
        return False
    set_value(name, None, profile=profile, environ=environ)
    return True


def write_file(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically replace the config file, readable by its owner only (0600)."""
    text = tomli_w.dumps(dict(data))
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
