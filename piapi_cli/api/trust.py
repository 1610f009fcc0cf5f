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
What a variable names must be usable, or the run stops (a ConfigError naming that variable)
before anything is sent: a file must be a regular, readable file of PEM certificates, a
directory readable and hashed, even when ``SSL_CERT_FILE`` beside it would do alone (where
OpenSSL would skip a directory it cannot use, a variable naming a wrong one is a mistake to say).
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
    in words, for messages, and the variable that named each ("" for the system's)."""

    def __init__(
        self, cafile: str | None, capath: str | None, said: str, file_from: str = "", dir_from: str = ""
    ) -> None:
        self.cafile, self.capath, self.said = cafile, capath, said
        self.file_from, self.dir_from = file_from, dir_from


def choose(environ: Mapping[str, str] = os.environ) -> Choice:
    """The certificates to trust, from the environment and what the system has (nothing loaded)."""
    cafile, capath = environ.get(OPENSSL_FILE) or None, environ.get(OPENSSL_DIR) or None
    if cafile or capath:
        named = " and ".join(f"{n}={v}" for n, v in ((OPENSSL_FILE, cafile), (OPENSSL_DIR, capath)) if v)
        return Choice(cafile, capath, named, OPENSSL_FILE if cafile else "", OPENSSL_DIR if capath else "")
    for name in BUNDLE_VARIABLES:
        if value := environ.get(name):
            if os.path.isdir(value):
                return Choice(None, value, f"{name}={value}", dir_from=name)
            return Choice(value, None, f"{name}={value}", file_from=name)
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
        return _hash_named(folder)
    except OSError:
        return False


def _hash_named(folder: str) -> bool:
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if len(name) > 9 and name[8] == "." and name[9:].isdigit() and _is_hex(name[:8]):
                return True
    return False


def _is_hex(text: str) -> bool:
    return not text.strip("0123456789abcdef")


def context(choice: Choice | None = None) -> ssl.SSLContext:
    """A verifying context (``CERT_REQUIRED``, host names checked) trusting ``choice`` (default:
    ``choose()``). A file or directory that cannot be used is a ConfigError naming the variable
    that named it; each is looked at (a regular file, a readable hashed directory) before it is
    opened, so a FIFO or a device is refused instead of read from."""
    import ssl

    choice = choice or choose()
    if choice.cafile and (why := _file_unusable(choice.cafile)):
        raise _unusable(choice.file_from, choice.cafile, why)
    # (the system's directory was found hashed as it was chosen: not listed twice)
    if choice.capath and choice.dir_from and (why := _folder_unusable(choice.capath)):
        raise _unusable(choice.dir_from, choice.capath, why)
    try:
        made = ssl.create_default_context(cafile=choice.cafile, capath=None if choice.cafile else choice.capath)
    except (OSError, ValueError) as exc:  # (ssl.SSLError is an OSError)
        named = (choice.file_from, choice.cafile) if choice.cafile else (choice.dir_from, choice.capath or "")
        raise _unusable(*named, _reason(exc)) from None
    if choice.cafile and choice.capath:  # (a directory is only named here: read when a chain needs one of it)
        made.load_verify_locations(capath=choice.capath)
    return made


def _file_unusable(path: str) -> str:
    """Why ``path`` cannot be the PEM file of certificates ("" when it can be read)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return _reason(exc)
    if not stat.S_ISREG(mode):
        return f"not a regular file: {_kind(mode)}"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return ""


def _folder_unusable(path: str) -> str:
    """Why ``path`` cannot be the hashed directory of certificates ("" when it can be used)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return _reason(exc)
    if not stat.S_ISDIR(mode):
        return f"not a directory: {_kind(mode)}"
    if not os.access(path, os.R_OK | os.X_OK):
        return "permission denied"
    try:
        hashed = _hash_named(path)
    except OSError as exc:
        return _reason(exc)
    return "" if hashed else "no certificate in it is named by its subject hash"


def _kind(mode: int) -> str:
    import stat

    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a file"))  # fmt: skip
    return next((said for test, said in kinds if test(mode)), "something else")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and not exc.__class__.__name__.startswith("SSL"):
        return exc.strerror.lower() if exc.strerror.startswith(("No such", "Permission")) else exc.strerror
    return str(exc) or type(exc).__name__


#: what each variable must name, for the message of one that names something else
WANTS = {
    OPENSSL_FILE: "a PEM file of CA certificates",
    OPENSSL_DIR: "a directory of CA certificates named by their subject hash (`openssl rehash DIR` names them)",
    **dict.fromkeys(BUNDLE_VARIABLES, "a PEM file of CA certificates (or a hashed directory, as requests takes it)"),
}


def _unusable(variable: str, path: str, reason: str) -> Exception:
    """The error for ``path``, named by ``variable`` ("" for the system's), that cannot be used."""
    from piapi_cli.api.errors import ConfigError

    if not variable:  # the system's own: only the variables can change what is trusted
        return ConfigError(
            f"the system's certificates cannot be read from {path} ({reason})",
            hint=f"set {OPENSSL_FILE} to {WANTS[OPENSSL_FILE]} to trust",
        )
    return ConfigError(
        f"{variable}={path}: the certificates to trust cannot be read from it ({reason})",
        hint=f"point {variable} at {WANTS[variable]}, or unset it to trust the system's",
    )
