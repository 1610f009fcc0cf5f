"""One connection of the listener's HTTP server, why a request is refused before its body is read,
and how many connections the process can hold.

Each connection is a socket (a file descriptor): a process allowed 256 of them (``ulimit -n``)
cannot hold 512 connections, and the journal, forwarding and ``--exec`` need some of their own.
The limit is raised as far as the system allows, else the connections are held to what fits:
the next get 503 at once rather than waiting, unanswered, in the backlog.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from piapi_cli.api.records import record
from piapi_cli.core.listener import http1

#: descriptors left for the rest: the journal (and its checkpoints), forwarding, --exec, downloads
RESERVED = 64

#: accept() failing for want of a descriptor or of memory
NO_ROOM = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@record(frozen=True)
class ServerLimits:
    max_body: int = 16 * 1024 * 1024
    idle_timeout: float = 15.0
    request_timeout: float = 30.0
    max_connections: int = 512
    #: how long a whole request may wait for those of the next moments to join its batch (while
    #: more keep coming, up to ``gather_max``): 0 hands each moment's requests over at once
    gather: float = 0.002
    gather_max: int = 64


#: what the server asks of the listener: is this secret right, and take these deliveries
Authorise = Callable[[str | None], bool]
Receive = Callable[[Mapping[str, str], bytes], tuple[int, str]]
ReceiveMany = Callable[[list[tuple[Mapping[str, str], bytes]]], list[tuple[int, str]]]
Report = Callable[[str, str], None]


class ServerConnection:
    def __init__(self, sock: socket.socket, peer: str, now: float) -> None:
        self.sock = sock
        self.peer = peer
        self.buffer = bytearray()
        self.out = b""  # answer bytes the socket did not take yet
        self.writing = False  # waiting until the socket takes ``out``, not for a request
        self.headers: dict[str, str] | None = None  # the head of the request whose body is read
        self.scanned = 0  # how much of ``buffer`` was searched for the head's end already
        self.whole = False  # its request is whole, waiting to be handed over with the others
        self.length = 0
        self.keep_alive = True
        self.closing = False  # closed once ``out`` is sent
        self.eof = False  # the client sent all it will (shutdown SHUT_WR): answered, then closed
        self.active = now  # the last byte received
        self.began = now  # when the server began to wait for the current request


def refusal(
    conn: ServerConnection,
    method: str,
    target: str,
    headers: dict[str, str],
    *,
    path: str,
    limits: ServerLimits,
    closing: bool,
    authorise: Authorise,
    report: Report,
) -> tuple[int, str, dict[str, str] | None] | None:
    """Why a request is refused before its body is read (status, message, headers), or None
    (``conn.length`` then says how long its body is)."""
    if method != "POST":
        return 405, "deliveries are POSTed", {"allow": "POST"}
    if closing:  # stopping: the sender tries again later, as with any 5xx
        return 503, "the listener is stopping", None
    try:
        asked = target.split("?", 1)[0].split("#", 1)[0] if target.startswith("/") else urlsplit(target).path
    except ValueError:  # (an absolute-form target such as http://[x)
        return 400, "not a request target", None
    if asked != path:
        return 404, f"deliveries go to {path}", None
    if not authorise(headers.get("x-webhook-secret")):
        report("warning", f"refused a delivery from {conn.peer}: wrong or missing x-webhook-secret (401)")
        return 401, "wrong or missing x-webhook-secret", None
    if "transfer-encoding" in headers:  # framed another way (chunked): two readings of one body
        return 411, "a delivery must have a Content-Length", None
    announced = headers.get("content-length", "").strip()
    length = http1.content_length(announced)
    if length is None:
        return (411 if not announced else 400), "a delivery must have a valid Content-Length", None
    conn.length = length
    if length > limits.max_body:
        report("warning", f"refused a {length}-byte delivery from {conn.peer} (over {limits.max_body})")
        return 413, f"a delivery may be at most {limits.max_body} bytes", None
    return None


def connection_room(wanted: int) -> tuple[int, str | None]:
    """(connections this process can hold, of the ``wanted``; what to say when not all): the
    soft limit is raised towards the hard one first, as far as ``wanted`` needs."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on this platform
        return wanted, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted, None
    room = max(1, soft - RESERVED)
    return room, f"this process may open {soft} files (ulimit -n): at most {room} connections at once, not {wanted}"


def close_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()
