"""Listening sockets for the service: one plain socket, or N sharing a port.

Shared by :mod:`movierec.service.server` (one process) and :mod:`movierec.service.workers`
(``--workers N``); every failure is a one-line :class:`~movierec.errors.MovierecError`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from movierec.errors import MovierecError


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1 or ``localhost``)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0 picks a free one).

    Raises:
        MovierecError: the port is in use, the address is not local, or binding failed.
    """
    if not 0 <= port <= 65535:
        raise MovierecError(f"port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise MovierecError(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise listen_error(exc, host, port) from exc
    sock.set_inheritable(True)
    return sock


def listen_error(
    exc: OSError,
    host: str,
    port: int,
    in_use: str = "the port is already in use (is another server running? choose another "
    "with --port)",
) -> MovierecError:
    """The one-line error for a failed bind/listen on ``host:port`` (``in_use`` says what a
    taken port means where the caller binds)."""
    if exc.errno == errno.EADDRINUSE:
        return MovierecError(f"cannot listen on {host}:{port}: {in_use}")
    if exc.errno == errno.EACCES:
        return MovierecError(
            f"cannot listen on {host}:{port}: permission denied (ports below 1024 need "
            "privileges; choose another with --port)"
        )
    return MovierecError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def bind_reuseport(host: str, port: int, n: int) -> list[socket.socket]:
    """``n`` listening sockets on ``host:port`` sharing the port (``SO_REUSEPORT``).

    Port 0 picks a free port for all of them. A plain probe bind comes first, so a port
    held by anything else (another ``movierec serve`` too) is the usual "in use" error.

    Raises:
        MovierecError: the port is in use, or the system has no ``SO_REUSEPORT``.
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        raise MovierecError("--workers needs SO_REUSEPORT (Linux, BSD, macOS)")
    probe = bind_socket(host, port)  # a plain bind: fails if anyone holds the port
    family = probe.family
    address = probe.getsockname()
    probe.close()
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in socks:
            sock.close()
        taken = (
            "the port was taken while starting the workers; try again or choose another with --port"
        )
        raise listen_error(exc, host, address[1], taken) from exc
    return socks
