"""What https does when trust fails, through the installed ``piapi``: every route (the Unified API's
and the OpenAI-compatible ones of ``chat`` and ``image``) refuses an untrusted certificate once,
saying what was trusted; a certificate variable naming something unusable (missing, unhashed,
unreadable, a FIFO), alone or beside a good one, exits 3 naming that variable and what it should
hold, before any connection and before a create is journaled; and a Ctrl-C while the TLS
handshake is under way leaves the create journaled as not sent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from piapi_cli.api import trust
from tests.conftest import TEST_KEY
from tests.test_http_hostile import TlsHost, piapi
from tests.test_promises import FLUX, journal_rows
from tests.test_tls_trust import _no_trust_of_the_machine, host, pki

__all__ = ["_no_trust_of_the_machine", "host", "pki"]  # fixtures, used by name


@pytest.mark.parametrize("command", [["chat", "hi"], ["image", "hi"]], ids=["chat", "image"])
def test_the_openai_routes_refuse_an_untrusted_certificate_once_saying_what_was_trusted(
    host: Callable[[str], TlsHost], isolated: Path, command: list[str]
) -> None:
    server = host("ip")
    result, _ = piapi(server.base, *command)
    assert result.returncode == 5 and "Traceback" not in result.stderr, result.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert "trusted: the system's certificates" in result.stderr or "trusted: certifi's" in result.stderr
    assert "SSL_CERT_FILE" in result.stderr and "REQUESTS_CA_BUNDLE" in result.stderr  # what to set
    assert "--base-url" not in result.stderr
    assert server.connections == 1 and server.requests == 0  # not tried again: it would fail alike


@pytest.mark.parametrize("folder", ["missing", "unhashed"])
def test_a_bad_ssl_cert_dir_beside_a_good_ssl_cert_file_is_a_config_error(
    host: Callable[[str], TlsHost], pki: Path, isolated: Path, folder: str
) -> None:
    server = host("ip")
    result, _ = piapi(
        server.base, "account", SSL_CERT_FILE=str(pki / "ca.pem"), SSL_CERT_DIR=str(pki / folder)
    )  # fmt: skip
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    assert f"SSL_CERT_DIR={pki / folder}: " in result.stderr and "SSL_CERT_FILE=" not in result.stderr
    assert "point SSL_CERT_DIR at a directory of CA certificates named by their subject hash" in result.stderr
    assert server.connections == 0


@pytest.mark.parametrize(
    ("variable", "path", "wants"),
    [
        ("SSL_CERT_DIR", "missing", "point SSL_CERT_DIR at a directory of CA certificates named by their subject hash"),
        ("SSL_CERT_FILE", "missing.pem", "point SSL_CERT_FILE at a PEM file of CA certificates, or unset"),
        ("REQUESTS_CA_BUNDLE", "missing.pem", "point REQUESTS_CA_BUNDLE at a PEM file of CA certificates (or a"),
        ("CURL_CA_BUNDLE", "ip.ext", "point CURL_CA_BUNDLE at a PEM file of CA certificates (or a"),
    ],
)  # fmt: skip
def test_the_hint_names_the_variable_at_fault_and_what_it_should_hold(
    host: Callable[[str], TlsHost], pki: Path, isolated: Path, variable: str, path: str, wants: str
) -> None:
    result, _ = piapi(host("ip").base, "get", "t", **{variable: str(pki / path)})
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    assert f"{variable}={pki / path}: the certificates to trust cannot be read from it (" in result.stderr
    assert wants in result.stderr
    others = set(trust.VARIABLES) - {variable}
    assert not [name for name in others if name in result.stderr], result.stderr  # only the one at fault


def test_with_both_openssl_variables_set_the_one_that_failed_is_named(
    host: Callable[[str], TlsHost], pki: Path, isolated: Path
) -> None:
    result, _ = piapi(
        host("ip").base, "get", "t", SSL_CERT_FILE=str(pki / "ip.ext"), SSL_CERT_DIR=str(pki / "hashed")
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert f"SSL_CERT_FILE={pki / 'ip.ext'}: " in result.stderr and "NO_CERTIFICATE" in result.stderr
    assert "SSL_CERT_DIR" not in result.stderr  # the directory was fine


def test_a_directory_that_cannot_be_read_says_permission_denied(
    pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piapi_cli.api.errors import ConfigError

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    if os.access(locked, os.R_OK):  # (root reads it anyway: what it would see is made so)
        monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    with pytest.raises(ConfigError) as caught:
        trust.context(trust.choose({"SSL_CERT_DIR": str(locked)}))
    assert "(permission denied)" in caught.value.message and "hashed" not in caught.value.message
    assert caught.value.message.startswith(f"SSL_CERT_DIR={locked}: ")


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_a_fifo_is_refused_unread_and_the_create_is_not_journaled(
    host: Callable[[str], TlsHost], isolated: Path, variable: str
) -> None:
    fifo = isolated / "fifo"
    os.mkfifo(fifo)
    server = host("ip")
    result, _ = piapi(server.base, *FLUX, **{variable: str(fifo)})  # (reading it would block for ever)
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    assert f"{variable}={fifo}: " in result.stderr and "not a regular file: a FIFO" in result.stderr
    assert "in flight" not in result.stderr
    assert server.connections == 0 and _rows(isolated) == []


def test_an_unusable_trust_store_fails_a_create_before_it_is_journaled(
    host: Callable[[str], TlsHost], pki: Path, isolated: Path
) -> None:
    server = host("ip")
    result, _ = piapi(server.base, *FLUX, SSL_CERT_FILE=str(pki / "missing.pem"))
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    assert server.connections == 0
    assert _rows(isolated) == []  # never begun: no row says it may have been sent, or was refused


def _rows(isolated: Path) -> list[tuple[object, ...]]:
    """The journal's rows (none when it was never opened)."""
    return journal_rows(isolated) if (isolated / "data" / "journal.sqlite3").exists() else []


class Handshaking(TlsHost):
    """An https server that accepts, says so (``accepted``), and never shakes hands."""

    def __init__(self, certificate: Path) -> None:
        self.accepted = threading.Event()
        super().__init__(certificate, shake=False)

    def _one(self, conn: socket.socket) -> None:
        self.accepted.set()
        super()._one(conn)


def test_ctrl_c_during_the_handshake_leaves_the_create_journaled_as_not_sent(pki: Path, isolated: Path) -> None:
    server = Handshaking(pki / "ip" / "cert.pem")
    installed = Path(sys.executable).with_name("piapi")
    environ = {
        **os.environ,
        "PIAPI_API_KEY": TEST_KEY,
        "PIAPI_BASE_URL": server.base,
        "SSL_CERT_FILE": str(pki / "ca.pem"),
    }
    try:
        process = subprocess.Popen(
            [str(installed), *FLUX], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ
        )
        assert server.accepted.wait(60)  # the connection is made; the handshake waits on the server
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        server.close()
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert "in flight" not in stderr and "may exist" not in stderr
    assert journal_rows(isolated) == [(None, "not_sent")]
