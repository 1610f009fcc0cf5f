"""Output files from an https origin, through the installed ``piapi``: downloads trust what the
API's calls trust (``api/trust.py``), and a certificate that is not trusted is refused once, as
``get`` refuses it: the error says what was trusted and what to set, exit 5, nothing retried,
nothing left on disk. The API here is plain http on 127.0.0.1; the files are on a TLS server
whose certificate a CA made here signed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.test_http_engine import Raw, json_answer
from tests.test_http_hostile import TlsHost, piapi
from tests.test_promises import FLUX
from tests.test_tls_trust import _no_trust_of_the_machine, host, pki

__all__ = ["_no_trust_of_the_machine", "host", "pki"]  # fixtures, used by name

COMPLETED = json.loads((Path(__file__).parent / "fixtures" / "flux-kontext-completed.json").read_text())
TASK_ID = COMPLETED["data"]["task_id"]


@pytest.fixture
def api(host: Callable[[str], TlsHost]) -> Iterator[tuple[Raw, TlsHost]]:
    """The API (plain http), answering every call with a completed task whose image is on ``files``."""
    files = host("ip")
    task = {**COMPLETED, "data": {**COMPLETED["data"], "output": {"image_url": f"{files.base}/out.png"}}}
    server = Raw(json_answer(200, task))
    yield server, files
    server.close()


COMMANDS = {
    "download": ["download", TASK_ID, "--dir", "out"],
    "create": [*FLUX, "--download", "out"],
    "batch": ["batch", "run", "rows.jsonl", "-m", "Qubico/flux1-dev", "-t", "txt2img", "--download", "out"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_untrusted_certificate_fails_the_download_once_saying_what_was_trusted(
    api: tuple[Raw, TlsHost], isolated: Path, command: str
) -> None:
    server, files = api
    (isolated / "rows.jsonl").write_text('{"id": "r1", "input": {"prompt": "a cat"}}\n')
    result, _ = piapi(server.base, *COMMANDS[command])
    assert result.returncode == 5 and "Traceback" not in result.stderr, result.stderr  # as get exits
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert "trusted: the system's certificates" in result.stderr or "trusted: certifi's" in result.stderr
    if command != "batch":  # (a batch row tells its error; the run's summary follows)
        assert "hint: the server's certificate is not trusted" in result.stderr and "SSL_CERT_FILE" in result.stderr
    assert files.connections == 1 and files.requests == 0  # not tried again: it would fail alike
    assert not list((isolated / "out").glob("*"))  # no file, no part


def test_the_ca_the_api_is_told_to_trust_is_trusted_for_files_too(
    api: tuple[Raw, TlsHost], pki: Path, isolated: Path
) -> None:
    server, files = api
    result, _ = piapi(server.base, *COMMANDS["download"], SSL_CERT_FILE=str(pki / "ca.pem"))
    assert result.returncode == 0, result.stderr
    [saved] = (isolated / "out").glob("*.png")
    assert result.stdout.split() == [str(saved)] and files.requests == 1


def test_an_image_on_an_untrusted_host_is_refused_once_too(host: Callable[[str], TlsHost], isolated: Path) -> None:
    files = host("ip")
    server = Raw(json_answer(200, {"created": 1, "data": [{"url": f"{files.base}/out.png"}]}))
    try:
        result, _ = piapi(server.base, "image", "a fox", "--download", "out")
    finally:
        server.close()
    assert result.returncode == 5 and "Traceback" not in result.stderr, result.stderr
    assert (
        "CERTIFICATE_VERIFY_FAILED" in result.stderr
        and "hint: the server's certificate is not trusted" in result.stderr
    )
    assert files.connections == 1 and files.requests == 0
