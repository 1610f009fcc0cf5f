"""What a setting's value may be: one parser per kind, for a value from a flag, the
environment (text) or config.toml (any TOML type).

Each raises ValueError with a reason that never repeats the value: the caller decides
whether the value may be shown (a key never is).
"""

from __future__ import annotations

import math
from collections.abc import Callable

#: longer than any task runs; beyond it deadlines and sleeps overflow
MAX_SECONDS = 1e9


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def seconds(minimum: float) -> Callable[[object], float]:
    def parse(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"must be a number of seconds, not {_kind(value)}")
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise ValueError("is not a number of seconds") from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number of seconds")
        if number < 0:
            raise ValueError("must not be negative")
        if number < minimum:
            raise ValueError(f"must be at least {minimum:g} seconds")
        if number > MAX_SECONDS:
            raise ValueError(f"must be at most {MAX_SECONDS:g} seconds")
        return number

    return parse


def speed(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a number, not {_kind(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError("is not a number (10: ten times faster)") from None
    if not math.isfinite(number) or not 0.001 <= number <= 1e6:
        raise ValueError("must be a number from 0.001 to 1000000")
    return number


def url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (an http:// or https:// URL), not {_kind(value)}")
    from urllib.parse import urlsplit

    text = value.strip()
    if any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError("is not a valid URL: it holds whitespace or a control character")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number or out of range
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http:// or https:// URL")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("is not a base URL: it holds a query (?) or a fragment (#)")
    import re

    # urlsplit takes `h[::1]x` for a host; the HTTP client does not
    if not re.fullmatch(r"(\[[^\[\]]*\]|[^\[\]:]*)(:[0-9]*)?", parts.netloc.rpartition("@")[2]):
        raise ValueError("is not a valid URL: the host and port do not parse")
    problem = _host_problem(parts.hostname)
    if problem:
        raise ValueError(f"is not a valid URL: {problem}")
    return text.rstrip("/")


def _host_problem(host: str) -> str | None:
    """Why the HTTP client would refuse this host name, if it would."""
    import ipaddress

    try:
        if ":" in host:
            ipaddress.IPv6Address(host.partition("%")[0])
        elif host.replace(".", "").isdigit():
            ipaddress.IPv4Address(host)
        elif not host.isascii():
            return "write a non-ASCII host name in its xn-- form"
        elif not all(c.isalnum() or c in "-._" for c in host):
            return "the host name holds a character a host name cannot"
        else:
            for label in host.split("."):
                label.encode("ascii").decode("idna")  # a malformed xn-- label raises
    except ValueError:  # UnicodeError is one
        return f"{host!r} is not a valid host"
    return None


def _printable_ascii(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {_kind(value)}")
    for char in value:
        if char == "\r":
            raise ValueError(f"{what} holds a carriage return (read from a file with Windows line endings?)")
        if char == "\n":
            raise ValueError(f"{what} holds a line break")
        if char.isspace():
            raise ValueError(f"{what} holds whitespace")
        if not char.isprintable():
            raise ValueError(f"{what} holds a control character")
        if not char.isascii():
            raise ValueError(f"{what} holds a non-ASCII character")
    return value


def api_key(value: object) -> str | None:
    # sent in the x-api-key header: anything else would be refused by the server at best,
    # and echoed in an error at worst
    return _printable_ascii(value, "the key") or None


def webhook_secret(value: object) -> str | None:
    # PiAPI sends it back in the x-webhook-secret header of every delivery
    return _printable_ascii(value, "the secret") or None


def service_mode(value: object) -> str:
    if value not in ("", "public", "private"):
        raise ValueError("must be public or private")
    return str(value)


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
    raise ValueError("must be true or false")


#: how images are drawn in a terminal: ``auto`` picks from the terminal's environment
PREVIEW_PROTOCOLS = ("auto", "kitty", "iterm", "sixel", "blocks")


def preview_protocol(value: object) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else value
    if text not in PREVIEW_PROTOCOLS:
        raise ValueError("must be one of " + ", ".join(PREVIEW_PROTOCOLS))
    return str(text)
