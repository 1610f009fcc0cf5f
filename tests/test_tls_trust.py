"""What https trusts, through the installed ``piapi``: a server on 127.0.0.1 whose certificate a
CA made here signed is trusted when SSL_CERT_FILE, SSL_CERT_DIR (a hashed directory),
REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE names that CA, in that order; without them the system's
certificates are trusted (its hashed directory, else its bundle, else certifi's), which do not
hold it: the call is refused with what was trusted and what to set. A certificate for another
name is refused too. And answers in ``Transfer-Encoding: gzip, chunked``."""

from __future__ import annotations

import gzip
import json
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from piapi_cli.api import client as client_module
from piapi_cli.api import trust
from piapi_cli.api.errors import MalformedResponse
from tests.conftest import FakeClock
from tests.test_http_engine import TASK, TASK_JSON, Raw, bomb, client
from tests.test_http_hostile import TlsHost, piapi

TASK_ID = TASK["data"]["task_id"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA (``ca.pem``), a server certificate it signed for 127.0.0.1 (``ip/cert.pem``, key
    beside it) and one for another name (``other/``); ``hashed/``: the CA under its subject hash."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make certificates")
    root = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=piapi test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", cwd=root)  # fmt: skip
    for name, alt in (("ip", "IP:127.0.0.1"), ("other", "DNS:other.example")):
        (root / name).mkdir()
        (root / f"{name}.ext").write_text(f"subjectAltName={alt}\nbasicConstraints=CA:FALSE\n")
        _openssl("req", "-new", *ec, "-keyout", f"{name}/key.pem", "-out", f"{name}.csr", "-subj", f"/CN={name}",
                 cwd=root)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}/cert.pem", cwd=root)  # fmt: skip
    (root / "hashed").mkdir()
    shutil.copy(root / "ca.pem", root / "hashed" / "ca.pem")
    _openssl("rehash", "hashed", cwd=root)
    (root / "unhashed").mkdir()
    shutil.copy(root / "ca.pem", root / "unhashed" / "ca.pem")
    return root


@pytest.fixture(autouse=True)
def _no_trust_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in trust.VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def host(pki: Path) -> Iterator[Callable[[str], TlsHost]]:
    made: list[TlsHost] = []
    yield lambda name="ip": made.append(TlsHost(pki / name / "cert.pem")) or made[-1]
    for server in made:
        server.close()


def _got_the_task(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0 and json.loads(result.stdout)["task_id"] == TASK_ID


@pytest.mark.parametrize(
    "variables",
    [{"SSL_CERT_FILE": "ca.pem"}, {"SSL_CERT_DIR": "hashed"}, {"SSL_CERT_FILE": "ip/cert.pem", "SSL_CERT_DIR": "hashed"},
     {"REQUESTS_CA_BUNDLE": "ca.pem"}, {"REQUESTS_CA_BUNDLE": "hashed"}, {"CURL_CA_BUNDLE": "ca.pem"}],
    ids=["file", "hashed-dir", "file-and-dir", "requests-bundle", "requests-dir", "curl-bundle"],
)  # fmt: skip
def test_a_ca_named_by_a_variable_is_trusted(
    host: Callable[[str], TlsHost], pki: Path, isolated: Path, variables: dict[str, str]
) -> None:
    server = host("ip")
    result, _ = piapi(server.base, "get", TASK_ID, "--json", **{k: str(pki / v) for k, v in variables.items()})
    assert _got_the_task(result), result.stderr
    assert server.requests == 1


def test_openssls_variables_come_first_then_requests_then_curls(
    host: Callable[[str], TlsHost], pki: Path, isolated: Path
) -> None:
    server = host("ip")
    elsewhere = str(pki / "other" / "cert.pem")  # a certificate that is no CA of this server's
    result, _ = piapi(server.base, "get", "t", SSL_CERT_FILE=elsewhere, REQUESTS_CA_BUNDLE=str(pki / "ca.pem"))
    assert result.returncode == 5 and f"trusted: SSL_CERT_FILE={elsewhere}" in result.stderr, result.stderr
    result, _ = piapi(server.base, "get", TASK_ID, "--json", REQUESTS_CA_BUNDLE=str(pki / "ca.pem"),
                      CURL_CA_BUNDLE=str(pki / "missing.pem"))  # fmt: skip
    assert _got_the_task(result), result.stderr  # CURL_CA_BUNDLE was not even read
    assert server.requests == 1


def test_a_certificate_no_trusted_ca_signed_is_refused_saying_what_was_trusted(
    host: Callable[[str], TlsHost], isolated: Path
) -> None:
    server = host("ip")
    result, _ = piapi(server.base, "get", "t")
    assert result.returncode == 5 and "Traceback" not in result.stderr, result.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert "trusted: the system's certificates" in result.stderr or "trusted: certifi's" in result.stderr
    assert "SSL_CERT_FILE" in result.stderr and "REQUESTS_CA_BUNDLE" in result.stderr  # what to set
    assert server.connections == 1 and server.requests == 0  # refused once, nothing sent


def test_a_certificate_for_another_name_is_refused(host: Callable[[str], TlsHost], pki: Path, isolated: Path) -> None:
    server = host("other")  # signed by the trusted CA, for other.example, served at 127.0.0.1
    result, _ = piapi(server.base, "get", "t", SSL_CERT_FILE=str(pki / "ca.pem"))
    assert result.returncode == 5 and "Traceback" not in result.stderr, result.stderr
    assert "mismatch" in result.stderr and "127.0.0.1" in result.stderr
    assert server.requests == 0


@pytest.mark.parametrize("folder", ["unhashed", "missing"])
def test_a_directory_that_would_trust_nothing_is_a_config_error(
    host: Callable[[str], TlsHost], pki: Path, isolated: Path, folder: str
) -> None:
    result, _ = piapi(host("ip").base, "get", "t", SSL_CERT_DIR=str(pki / folder))
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    assert f"SSL_CERT_DIR={pki / folder}" in result.stderr and "openssl rehash" in result.stderr


def _system_has(monkeypatch: pytest.MonkeyPatch, cafile: Path | None, capath: Path | None) -> None:
    """The system's OpenSSL defaults (the build's paths) as ``ssl.get_default_verify_paths``
    reports them; None: the system has none."""
    nowhere = Path("/nonexistent/piapi-test")
    file, folder = str(cafile or nowhere / "cert.pem"), str(capath or nowhere / "certs")
    paths = ssl.DefaultVerifyPaths(None, None, "SSL_CERT_FILE", file, "SSL_CERT_DIR", folder)
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: paths)


def test_without_variables_the_systems_hashed_directory_is_trusted_before_its_bundle(
    host: Callable[[str], TlsHost], pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _system_has(monkeypatch, pki / "other" / "cert.pem", pki / "hashed")
    choice = trust.choose()
    assert (choice.capath, choice.cafile) == (str(pki / "hashed"), None)
    made = trust.context()
    assert made.verify_mode == ssl.CERT_REQUIRED and made.check_hostname
    assert made.cert_store_stats()["x509_ca"] == 0  # nothing loaded yet: looked up when a chain needs it
    server = host("ip")
    with client(server, FakeClock()) as api:  # type: ignore[arg-type]
        assert api.get_task("t").task_id == TASK_ID


def test_without_a_hashed_directory_the_systems_bundle_is_trusted_else_certifis(
    pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import certifi

    _system_has(monkeypatch, pki / "ca.pem", pki / "unhashed")  # a folder never rehashed trusts nothing
    assert (trust.choose().cafile, trust.choose().capath) == (str(pki / "ca.pem"), None)
    assert trust.context().cert_store_stats()["x509_ca"] == 1
    _system_has(monkeypatch, None, None)
    assert trust.choose().cafile == certifi.where() and "certifi's" in trust.choose().said


# --- Transfer-Encoding: gzip, chunked -----------------------------------------------------------


def _chunked(body: bytes, size: int = 1000) -> bytes:
    pieces = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(pieces) + b"0\r\n\r\n"


def _coded(transfer: str, body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "content-type: application/json", f"transfer-encoding: {transfer}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
def raw() -> Iterator[Callable[..., Raw]]:
    made: list[Raw] = []
    yield lambda *replies: made.append(Raw(*replies)) or made[-1]
    for server in made:
        server.close()


@pytest.mark.parametrize(
    "reply",
    [
        _coded("gzip, chunked", _chunked(gzip.compress(TASK_JSON))),
        _coded("GZIP , Chunked", _chunked(gzip.compress(gzip.compress(TASK_JSON))), "content-encoding: gzip"),
        _coded("gzip", gzip.compress(TASK_JSON), "content-length: 5"),
    ],
    ids=["gzip-chunked", "and-content-gzip", "gzip-to-the-close"],
)
def test_an_answer_in_gzip_under_its_chunks_is_read(raw: Callable[..., Raw], isolated: Path, reply: bytes) -> None:
    result, _ = piapi(raw(reply).base, "get", TASK_ID, "--json")
    assert _got_the_task(result), result.stderr


def test_a_gzip_bomb_under_chunks_is_cut_off_at_the_cap(
    raw: Callable[..., Raw], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_ANSWER", 1 << 20)
    server = raw(_coded("gzip, chunked", _chunked(bomb())))
    with client(server, clock) as made, pytest.raises(MalformedResponse, match="over 1 MiB"):
        made.get_task(TASK_ID)


@pytest.mark.parametrize("coding", ["br, chunked", "chunked, gzip", "compress"])
def test_a_transfer_coding_not_read_is_refused_clearly(raw: Callable[..., Raw], isolated: Path, coding: str) -> None:
    result, _ = piapi(raw(_coded(coding, _chunked(TASK_JSON))).base, "get", TASK_ID, "--json")
    assert result.returncode == 5 and "Traceback" not in result.stderr, result.stderr
    assert f"Transfer-Encoding {coding!r}" in result.stderr


def test_the_variables_read_for_trust_are_documented_in_the_order_they_are_read() -> None:
    from piapi_cli.core import settings

    documented = [var.name for var in settings.NETWORK_ENVIRONMENT if var.name in trust.VARIABLES]
    assert documented == list(trust.VARIABLES)
