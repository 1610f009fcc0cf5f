"""One connection of the listener's HTTP server, and how many of them the process can hold.

Each connection is a socket (a file descriptor): a process allowed 256 of them (``ulimit -n``)
cannot hold 512 connections, and the journal, forwarding and ``--exec`` need some of their own.
The limit is raised as far as the system allows, else the connections are held to what fits:
the next get 503 at once rather than waiting, unanswered, in the backlog.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Mapping

from piapi_cli.api.records import record

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
        self.active = now  # the last byte received
        self.began = now  # when the server began to wait for the current request


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
