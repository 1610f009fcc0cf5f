"""Webhook secrets: PiAPI sends a task's secret back verbatim in ``x-webhook-secret``.

``piapi listen`` keeps one secret of its own (made once, 0600, in the config directory) so it
stays the same across restarts and every ``create --webhook`` / ``trigger`` can use it without
being told; ``--secret``, ``--secret-file`` or ``PIAPI_WEBHOOK_SECRET`` choose another.
"""

from __future__ import annotations

import _thread  # (threading: a larger import, for one thread ID)
import os
from pathlib import Path

from piapi_cli.api.errors import ConfigError, UsageError

SECRET_FILE = "webhook-secret"


def new_webhook_secret() -> str:
    """A fresh webhook secret: 48 hex characters, safe in any header, shell or config file."""
    import secrets  # only when one is made: reading the kept one needs no randomness

    return secrets.token_hex(24)


def check_secret(secret: str, source: str = "the webhook secret", *, option: str | None = None) -> str:
    """The secret, if it can travel in a header: not empty, no spaces or control characters."""
    if not secret or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in secret):
        raise UsageError(f"{source} must be non-empty, without spaces or control characters", option=option)
    return secret


def stored_webhook_secret(directory: Path) -> str:
    """The secret kept in ``directory/webhook-secret``, made on first use (mode 0600).

    Made atomically: a second process starting at the same moment gets the same secret.
    """
    path = directory / SECRET_FILE
    try:
        return read_secret_file(path)
    except FileNotFoundError:
        pass
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = directory / f".{SECRET_FILE}.{os.getpid()}.{_thread.get_ident()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(new_webhook_secret() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # fails if another process made it first: theirs wins
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
        return read_secret_file(path)
    except OSError as exc:
        raise ConfigError(f"cannot keep the webhook secret in {path}: {exc.strerror or exc}") from None


def read_secret_file(path: Path) -> str:
    """The secret in a file: its first line, trimmed (raises FileNotFoundError if none)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"cannot read the webhook secret in {path}: {reason}") from None
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    return check_secret(first, f"the secret in {path}")


def resolve_secret(given: str | None, secret_file: Path | None, directory: Path) -> str:
    """``--secret``, else ``--secret-file``, else the stored secret (made if need be)."""
    if given is not None and secret_file is not None:
        raise UsageError("a secret given twice", advice="secret_once")
    if given is not None:
        return check_secret(given.strip(), "secret", option="secret")
    if secret_file is not None:
        try:
            return read_secret_file(secret_file)
        except FileNotFoundError:
            raise UsageError(f"secret_file {secret_file}: no such file", option="secret_file") from None
    return stored_webhook_secret(directory)
