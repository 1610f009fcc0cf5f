"""A small HTTP/1.1 client connection on ``socket``, for the API engine (``http.PlainEngine``).

The API's calls are one small JSON request and answer each; ``http.client`` would do, but it
imports ``email`` (its header parser) and ``ssl`` on every run, which cost more than a get
(~100 M instructions). This reads what ``http.client`` reads, as it reads it: a status line,
at most 100 header lines of at most 64 KiB each, interim answers skipped (100 Continue, and
102 or 103 Early Hints, which http.client took for the answer), a body by ``Content-Length``,
chunked (sizes in hex digits only), or to the close; it refuses the same malformed answers, and
an answer cut short is an error, never a shorter body. Unlike http.client, it reads gzip or
deflate under the chunks (``Transfer-Encoding: gzip, chunked``: ``inflate.read_capped`` undoes
them, capped as the content codings) and refuses other transfer codings. ``ssl`` is imported for an https
connection only, when it is made, and a plain one is made with ``_socket``, the interpreter's
own module: ``socket`` wraps its constants in enums, which costs a run more than the call.
"""

from __future__ import annotations

import _socket
import io
import time

TYPE_CHECKING = False  # typing is a slow import, and every call comes through here
if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping

#: the longest status or header line read, and the most header lines (as http.client)
MAX_LINE = 65536
MAX_HEADERS = 100
#: the most interim (1xx) answers skipped before the answer itself
MAX_INTERIM = 100
#: methods whose request carries a length even without a body (as http.client)
_BODY_METHODS = frozenset({"PATCH", "POST", "PUT"})


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.x as it should be, or it ended before it was whole."""


class UnreadableCoding(ProtocolError):
    """The answer came in a transfer coding this client does not undo (the engine takes it for an
    answer that does not decode, not for a lost one)."""


class Headers:
    """An answer's headers; ``get`` by any case of the name gives the first one sent."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self._first: dict[str, str] = {}
        for name, value in pairs:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first


class Connection:
    """One HTTP/1.1 connection: connected when first used, reused while answers allow it.

    ``tls``: the context of an https connection (None: plain http). ``connect_timeout``
    bounds the connection's set-up, ``timeout`` every read and write after it.
    """

    def __init__(
        self, host: str, port: int, tls: ssl.SSLContext | None, connect_timeout: float | None, timeout: float | None
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.sock: _socket.socket | None = None
        self._reader: _Reader | None = None
        self._method = "GET"
        self._sock_timeout: float | None = None  # as set on the socket (None: blocking)

    def connect(self, within: float | None = None) -> None:
        """Connect (and shake hands, for https) in ``connect_timeout`` seconds, and in ``within``
        if given: what is left of the call's deadline holds here as well."""
        end = None if within is None else time.monotonic() + within
        # a str host goes through the idna codec (a slow import); an ASCII one need not
        host = self.host.encode("ascii") if self.host.isascii() else self.host
        if self.tls is not None:  # (ssl imports socket, and wraps only its sockets)
            import socket

            sock: _socket.socket = socket.create_connection((host, self.port), _least(self.connect_timeout, end))  # type: ignore[arg-type]
        else:
            sock = _connected(host, self.port, _least(self.connect_timeout, end))
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock.settimeout(_least(self.connect_timeout, end))  # the handshake: what is left
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)  # type: ignore[arg-type]
            sock.settimeout(self.timeout)
        except BaseException:
            sock.close()
            raise
        self.sock, self._sock_timeout = sock, self.timeout

    def watched(self, watched: bool) -> None:
        """No socket timeout (a poll before each read and write) while a watchdog cuts reads sooner."""
        if self.sock is not None and (wanted := None if watched else self.timeout) != self._sock_timeout:
            self.sock.settimeout(wanted)
            self._sock_timeout = wanted

    def request(self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]) -> None:
        """Send one request (the connection must be connected)."""
        assert self.sock is not None
        self._method = method
        if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in target) or any(c in method for c in " \r\n\0"):
            raise ValueError(f"can't send {method!r} {target!r}: control characters or spaces in it")
        lines = [f"{method} {target} HTTP/1.1"]
        given = {name.lower() for name in headers}
        if "host" not in given:
            lines.append(f"Host: {self._host_header()}")
        if "accept-encoding" not in given:
            lines.append("Accept-Encoding: identity")
        if "content-length" not in given and (body is not None or method in _BODY_METHODS):
            lines.append(f"Content-Length: {len(body or b'')}")
        for name, value in headers.items():
            if not name or any(c in name for c in ":\r\n\0 ") or any(c in value for c in "\r\n\0"):
                raise ValueError(f"invalid header {name!r}: no line breaks or NULs allowed")
            lines.append(f"{name}: {value}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.sock.sendall(head + body if body and len(body) < 16384 else head)
        if body and len(body) >= 16384:
            self.sock.sendall(body)

    def _host_header(self) -> str:
        host = self.host
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        if ":" in host:
            host = f"[{host}]"
        default = 443 if self.tls is not None else 80
        return host if self.port == default else f"{host}:{self.port}"

    def getresponse(self) -> Response:
        """The answer to the request just sent: its status and headers read, its body to ``read``."""
        assert self.sock is not None
        if self._reader is None:
            self._reader = io.BufferedReader(_SocketReader(self.sock))
        return Response(self._reader, self._method)

    def overran(self) -> bool:
        """Whether bytes past the answer just read came with it (a Content-Length short of the
        body): they would be read as the next request's answer, so the connection is not reused.
        Plain: what the reader holds (PlainEngine reuses no idle socket that is readable); TLS: read."""
        reader, sock = self._reader, self.sock
        if reader is None or sock is None:
            return False
        raw = reader.raw if isinstance(reader.raw, _SocketReader) and self.tls is None else None
        if raw is None:
            sock.settimeout(0)  # what is buffered, or has come: never a wait
        else:
            raw.held_only = True
        try:
            return bool(reader.peek(1))
        except OSError as exc:  # nothing has come (SSLWantReadError for https), or the connection failed
            return not isinstance(exc, BlockingIOError) and type(exc).__name__ != "SSLWantReadError"
        finally:
            if raw is None:
                sock.settimeout(self._sock_timeout)
            else:
                raw.held_only = False

    def close(self) -> None:
        reader, sock = self._reader, self.sock
        self._reader = self.sock = None
        if reader is not None:
            reader.close()
        if sock is not None:
            sock.close()


def _least(timeout: float | None, end: float | None) -> float | None:
    """``timeout``, or the seconds left until ``end`` (a ``time.monotonic()``) if fewer."""
    if end is None:
        return timeout
    left = max(end - time.monotonic(), 0.001)  # (0 would make the socket non-blocking)
    return left if timeout is None else min(timeout, left)


def _connected(host: bytes | str, port: int, timeout: float | None) -> _socket.socket:
    """A TCP connection to the first address of ``host`` that answers (as ``socket.create_connection``)."""
    failed: OSError | None = None
    for family, kind, proto, _, address in _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            failed = exc
    raise failed or OSError(f"no address found for {host!r}")


class _SocketReader(io.RawIOBase):
    """A connection's incoming bytes, for a ``BufferedReader`` (what ``socket.makefile`` makes)."""

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock
        self.held_only = False  # no read: a peek gives what the reader holds, or b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int | None:  # type: ignore[override]
        return None if self.held_only else self._sock.recv_into(buffer)


class Response:
    """An answer: ``status``, ``headers``, ``will_close``, and the body by ``read(amount)``.

    ``length`` is what is still to come of a body of known length: non-zero after ``read``
    returned ``b""``, the answer was cut (``read`` raises for that itself, as well).
    """

    def __init__(self, reader: _Reader, method: str) -> None:
        self._reader = reader
        version, self.status = _status_line(reader)
        interim = 0
        while 100 <= self.status < 200 and self.status != 101:  # 100 Continue, 103 Early Hints...
            interim += 1
            if interim > MAX_INTERIM:
                raise ProtocolError(f"the answer is over {MAX_INTERIM} interim (1xx) answers")
            _header_lines(reader)  # an interim answer's headers, then the next answer
            version, self.status = _status_line(reader)
        self.headers = Headers(_header_lines(reader))
        #: the transfer codings to undo after the chunks, in the order applied (``gzip, chunked``: gzip)
        self.transfer_codings = _transfer_codings(self.headers.get("transfer-encoding"))
        self.chunked = self.transfer_codings[-1:] == ["chunked"]
        if self.chunked:
            self.transfer_codings.pop()
        self.length: int | None = None
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self.length = 0
            self.transfer_codings = []
        elif "transfer-encoding" not in self.headers:  # (with one, a Content-Length is not the length)
            self.length = _content_length(self.headers.get("content-length"))
        connection = (self.headers.get("connection") or "").lower()
        if version == "HTTP/1.0":
            self.will_close = "keep-alive" not in connection
        else:
            self.will_close = "close" in connection or self.status == 101  # (101: no longer HTTP)
        if self.length is None and not self.chunked:
            self.will_close = True  # the body ends with the connection
        self._chunk_left = 0
        self._done = self.length == 0

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def read(self, amount: int) -> bytes:
        """Up to ``amount`` bytes of the body; ``b""`` at its end."""
        if self._done:
            return b""
        if self.chunked:
            return self._read_chunked(amount)
        if self.length is None:  # to the close
            data = self._reader.read1(amount) if amount else b""
            self._done = not data
            return data
        data = self._reader.read1(min(amount, self.length))
        if not data:
            raise ProtocolError(f"the answer ended {self.length} bytes short of its Content-Length")
        self.length -= len(data)
        self._done = self.length == 0
        return data

    def _read_chunked(self, amount: int) -> bytes:
        if self._chunk_left == 0:
            size = _chunk_size(_line(self._reader, "chunk size"))
            if size == 0:
                _header_lines(self._reader)  # trailers, up to the empty line
                self._done = True
                return b""
            self._chunk_left = size
        data = self._reader.read1(min(amount, self._chunk_left))
        if not data:
            raise ProtocolError("the answer ended inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and _line(self._reader, "chunk end") not in (b"\r\n", b"\n"):
            raise ProtocolError("a chunk of the answer is longer than it said")
        return data


if TYPE_CHECKING:
    from io import BufferedReader as _Reader


def _line(reader: _Reader, what: str) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProtocolError(f"the answer's {what} line is over {MAX_LINE} bytes")
    if not line:
        raise ProtocolError(f"the connection closed before the answer's {what}")
    return line


def _status_line(reader: _Reader) -> tuple[str, int]:
    line = reader.readline(MAX_LINE + 1)
    if not line:
        raise ProtocolError("the server closed the connection without an answer")
    if len(line) > MAX_LINE:
        raise ProtocolError(f"the answer's status line is over {MAX_LINE} bytes")
    parts = line.decode("iso-8859-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise ProtocolError(f"not an HTTP answer: {line[:80]!r}")
    status = int(parts[1])
    if status < 100:
        raise ProtocolError(f"not an HTTP status: {status}")
    return parts[0], status


def _header_lines(reader: _Reader) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    while True:
        line = _line(reader, "header")
        if line in (b"\r\n", b"\n"):
            return pairs
        if len(pairs) >= MAX_HEADERS:
            raise ProtocolError(f"the answer has over {MAX_HEADERS} headers")
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and pairs:  # a folded line continues the header before it
            name, value = pairs[-1]
            pairs[-1] = (name, f"{value} {text.strip()}")
            continue
        name, colon, value = text.partition(":")
        if colon:
            pairs.append((name.strip(), value.strip()))


def _content_length(value: str | None) -> int | None:
    """The length a Content-Length header gives; None for none or one that is no length."""
    if value is None:
        return None
    try:
        length = int(value.strip())
    except ValueError:
        return None
    return length if length >= 0 else None


#: the transfer codings read: chunked (last, as it must be), and gzip or deflate under it
TRANSFER_CODINGS = frozenset({"chunked", "gzip", "x-gzip", "deflate"})


def _transfer_codings(value: str | None) -> list[str]:
    """The codings a Transfer-Encoding header lists, in the order applied; ProtocolError for
    one this client cannot undo (``compress``, ``br``...) or a ``chunked`` before the last."""
    codings = [c.split(";", 1)[0].strip().lower() for c in (value or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]  # (identity: RFC 2616's no-op)
    unknown = [c for c in codings if c not in TRANSFER_CODINGS]
    if unknown:
        raise UnreadableCoding(f"the answer's Transfer-Encoding {value!r} is not one this client reads")
    if "chunked" in codings[:-1]:
        raise UnreadableCoding(f"the answer's Transfer-Encoding {value!r} has chunked before its last coding")
    return codings


def _chunk_size(line: bytes) -> int:
    """A chunk's size: hex digits only (``int`` would take a sign, ``0x`` and ``_`` too, and a
    negative size would read the rest of the connection as the chunk)."""
    digits = line.split(b";", 1)[0].strip()
    if not digits or len(digits) > 16 or digits.translate(None, b"0123456789abcdefABCDEF"):
        raise ProtocolError(f"not a chunk size: {line[:40]!r}")
    return int(digits, 16)


def split_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, target)`` of an absolute http(s) URL: host lowercased, as
    ``urlsplit(url).hostname`` gives it; the fragment dropped. ValueError for another URL."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url[:80]!r}")
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    netloc, target = rest[:end], rest[end:].partition("#")[0]
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, after = hostport[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise ValueError(f"no host in {url[:80]!r}")
    port = 443 if scheme == "https" else 80
    if port_text:
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"not a port: {port_text[:20]!r}")
        port = int(port_text)
    if not target.startswith("/"):
        target = "/" + target
    return scheme, host.lower(), port, target
