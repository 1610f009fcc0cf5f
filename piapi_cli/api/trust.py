"""The certificates piapi trusts for https, and the one verifying TLS context made from them.

Where they come from, the first that is set (documented with the other variables in
``core/settings.py``, ``NETWORK_ENVIRONMENT``):

1. ``SSL_CERT_FILE`` (a PEM file) and ``SSL_CERT_DIR`` (a hashed directory, as ``openssl rehash``
   makes): OpenSSL's own variables, which httpx, curl and Go programs (gh) read too; both when
   both are set, as OpenSSL and Go take them.
2. ``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``: what requests (and so pip) reads, in that
   order, and what users behind a proxy that re-signs TLS set for it; a PEM file or, as requests
   takes it, a hashed directory.
3. The system's: OpenSSL's default directory when it holds hashed certificates (``/etc/ssl/certs``
   on Debian, Ubuntu, Alpine, Arch, SUSE), as curl and gh trust on Linux. OpenSSL reads a
   certificate there only when a chain names its subject: making the context costs ~10 M
   instructions, where parsing a whole bundle costs ~280 M (bench/README.md). Else OpenSSL's
   default file (Fedora and RHEL keep only a bundle; Homebrew), else certifi's bundle (as httpx
   trusts), where the system has neither (Windows, macOS's python.org builds).

Verification is always on (``CERT_REQUIRED``, host names checked); no variable turns it off.
Nothing is written to disk: the choice is made from what is there at each run.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # (typing is a slow import)
if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping

#: OpenSSL's variables: a PEM file, a hashed directory (loaded together when both are set)
OPENSSL_FILE, OPENSSL_DIR = "SSL_CERT_FILE", "SSL_CERT_DIR"
#: requests' and curl's, in requests' order: the first set is taken (a PEM file or a hashed directory)
BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
#: every variable read here, in the order they are looked at
VARIABLES = (OPENSSL_FILE, OPENSSL_DIR, *BUNDLE_VARIABLES)


class Choice:
    """Where the certificates come from: a PEM file, a hashed directory (either may be None),
    and in words, for messages (``origin``: the variable that named them, "" for the default)."""

    def __init__(self, cafile: str | None, capath: str | None, said: str, origin: str = "") -> None:
        self.cafile, self.capath, self.said, self.origin = cafile, capath, said, origin


def choose(environ: Mapping[str, str] = os.environ) -> Choice:
    """The certificates to trust, from the environment and what the system has (nothing loaded)."""
    cafile, capath = environ.get(OPENSSL_FILE) or None, environ.get(OPENSSL_DIR) or None
    if cafile or capath:
        named = " and ".join(f"{n}={v}" for n, v in ((OPENSSL_FILE, cafile), (OPENSSL_DIR, capath)) if v)
        return Choice(cafile, capath, named, OPENSSL_FILE if cafile else OPENSSL_DIR)
    for name in BUNDLE_VARIABLES:
        if value := environ.get(name):
            folder = os.path.isdir(value)
            return Choice(None if folder else value, value if folder else None, f"{name}={value}", name)
    return _system()


def _system() -> Choice:
    import ssl

    paths = ssl.get_default_verify_paths()  # (the openssl_ ones: the build's, whatever the environment says)
    if _hashed(paths.openssl_capath):
        return Choice(None, paths.openssl_capath, f"the system's certificates ({paths.openssl_capath})")
    if os.path.isfile(paths.openssl_cafile):
        return Choice(paths.openssl_cafile, None, f"the system's certificates ({paths.openssl_cafile})")
    import certifi

    return Choice(certifi.where(), None, f"certifi's certificates ({certifi.where()})")


def _hashed(folder: str) -> bool:
    """Whether ``folder`` holds a certificate under its subject hash (``1a2b3c4d.0``), as OpenSSL
    looks one up; a directory of PEM files that was never rehashed trusts nothing."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if len(name) > 9 and name[8] == "." and name[9:].isdigit() and _is_hex(name[:8]):
                    return True
    except OSError:
        return False
    return False


def _is_hex(text: str) -> bool:
    return not text.strip("0123456789abcdef")


def context(choice: Choice | None = None) -> ssl.SSLContext:
    """A verifying context (``CERT_REQUIRED``, host names checked) trusting ``choice`` (default:
    ``choose()``). A file or directory named by a variable that cannot be used is a ConfigError."""
    import ssl

    choice = choice or choose()
    if choice.capath and not choice.cafile and not _hashed(choice.capath):  # (it would trust nothing)
        reason = "not a directory" if not os.path.isdir(choice.capath) else "no hashed certificates in it"
        raise _unusable(choice, f"{reason}; `openssl rehash DIR` names them as OpenSSL looks them up")
    try:
        made = ssl.create_default_context(cafile=choice.cafile, capath=choice.capath)
    except (OSError, ValueError) as exc:  # (ssl.SSLError is an OSError)
        raise _unusable(choice, str(exc) or type(exc).__name__) from None
    return made


def _unusable(choice: Choice, reason: str) -> Exception:
    from piapi_cli.api.errors import ConfigError

    hint = f"point {choice.origin or OPENSSL_FILE} at a PEM file of CA certificates ({OPENSSL_DIR}: a hashed directory)"
    return ConfigError(
        f"{choice.said}: the certificates to trust cannot be read from it ({reason})",
        hint=hint + (", or unset it to trust the system's" if choice.origin else ""),
    )
