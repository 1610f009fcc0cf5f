"""An https origin on 127.0.0.1 for the start-up benchmark: a CA made here (``openssl``), a
certificate it signed for 127.0.0.1, and a server that answers every request with one recorded
answer (a task, as the API gives it).

    python bench/tls_origin.py ANSWER.json   # serves until stopped; prints its URL and folder

The CA is trusted in the two ways whose costs differ (bench/README.md, "https"):

- ``bundle.pem``: certifi's bundle with the CA added, for ``SSL_CERT_FILE``: a PEM file is
  parsed whole when the context is made (what certifi's bundle cost every https run before);
- ``hashed/``: links to the system's hashed certificates (OpenSSL's default directory) and the
  CA under its subject hash, for ``SSL_CERT_DIR``: looked up when a chain needs one, which is
  what trusting the system's directory costs a run.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

#: the trust variables a run may inherit: the benchmark sets the one it measures, alone
TRUST_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder: Path) -> None:
    """ca.pem, cert.pem + key.pem (127.0.0.1), bundle.pem and hashed/ in ``folder``."""
    import certifi

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]
    _openssl("req", "-x509", *ec, *ca, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench CA",
             cwd=folder)  # fmt: skip
    (folder / "leaf.ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    _openssl("req", "-new", *ec, "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1", cwd=folder)
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
             "-extfile", "leaf.ext", "-out", "cert.pem", cwd=folder)  # fmt: skip
    (folder / "bundle.pem").write_bytes(Path(certifi.where()).read_bytes() + (folder / "ca.pem").read_bytes())
    hashed = folder / "hashed"
    hashed.mkdir()
    system = ssl.get_default_verify_paths().openssl_capath
    for entry in os.scandir(system) if os.path.isdir(system) else []:
        if len(entry.name) > 9 and entry.name[8] == ".":
            (hashed / entry.name).symlink_to(Path(system, entry.name).resolve())
    named = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", "ca.pem"], cwd=folder, check=True,
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    index = 0
    while (hashed / f"{named}.{index}").exists():
        index += 1
    shutil.copy(folder / "ca.pem", hashed / f"{named}.{index}")  # (rehash would drop the links)


class Origin:
    """The https server: every request gets ``answer`` (a JSON body), then the connection closes."""

    def __init__(self, folder: Path, answer: bytes) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(answer)}\r\n"
        self.reply = (head + "connection: close\r\n\r\n").encode() + answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base = f"https://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                data = b""
                while b"\r\n\r\n" not in data:
                    if not (chunk := tls.recv(65536)):
                        return
                    data += chunk
                tls.sendall(self.reply)
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="tls-origin-"))
    make_pki(folder)
    origin = Origin(folder, Path(sys.argv[1]).read_bytes())
    print(origin.base, folder, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
