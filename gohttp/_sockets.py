"""The listening sockets a supervisor binds once and hands to its
workers (see _control.py): the TCP and Unix sockets, and Listeners, which
keeps them per worker slot."""

from __future__ import annotations

import errno
import os
import socket
import stat
import sys

from . import _address
from ._address import Address

# The listen backlog: the kernel caps it at its own maximum.
BACKLOG = max(socket.SOMAXCONN, 1024)


def _tcp_socket(address: Address, *, listen: bool) -> socket.socket:
    """A TCP socket bound to address ("" for every interface), with
    SO_REUSEPORT where the system has it; listening, or only holding the
    port.  OSError says which address could not be bound."""
    host, port = address.host, address.port
    try:
        if host:
            family, _, _, _, sockaddr = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE)[0]
        elif socket.has_dualstack_ipv6():
            family, sockaddr = socket.AF_INET6, ("::", port)
        else:
            family, sockaddr = socket.AF_INET, ("0.0.0.0", port)
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {address}: "
                                 f"{exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY,
                            1 if host else 0)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
        if listen:
            sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {address}: "
                                 f"{exc.strerror or exc}") from None
    return sock


def _unix_socket(path: str) -> socket.socket:
    """A listening Unix socket at path, replacing a stale one (no one
    accepts on it) as the Go side does."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(mode):
            raise OSError(errno.EEXIST, f"a file that is not a socket is at "
                                        f"{path}")
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # stale: its server has gone
        else:
            raise OSError(errno.EADDRINUSE, f"another server accepts on "
                                            f"{path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


class Listeners:
    """The sockets the supervisor binds for its workers.

    Unix sockets and inherited descriptors are one socket all workers
    accept on.  A TCP address, on Linux, is one SO_REUSEPORT socket per
    worker slot, so that the kernel spreads connections evenly (on a
    shared socket, the process that wins the accept race takes most of
    them, and a keep-alive client stays with it); a socket that binds
    and never listens keeps the port, so that port 0 is picked once.  A
    slot's sockets outlive its workers: a replacement accepts on the
    same socket, and nothing queued there is lost.  Elsewhere (macOS,
    whose SO_REUSEPORT does not balance), TCP is shared too.
    """

    def __init__(self) -> None:
        self.balanced = (sys.platform.startswith("linux")
                         and hasattr(socket, "SO_REUSEPORT"))
        self._shared: dict[str, socket.socket] = {}
        self._keepers: dict[str, socket.socket] = {}  # hold the ports
        self._slots: dict[int, dict[str, socket.socket]] = {}
        self._unix_paths: list[str] = []

    def get(self, addresses: list[str], slot: int) -> list[int]:
        """The descriptors for the worker of slot, one per address (as
        _address spells them), in order; raises OSError if an address
        cannot be bound, ValueError if it is not one."""
        own = self._slots.setdefault(slot, {})
        fds = []
        for text in addresses:
            address = _address.parse(text)
            key = str(address)
            if self.balanced and address.kind == "tcp":
                if key not in own:
                    own[key] = self._balanced(address)
                sock = own[key]
            else:
                if key not in self._shared:
                    self._shared[key] = self._shared_socket(address)
                sock = self._shared[key]
            fds.append(sock.fileno())
        return fds

    def _balanced(self, address: Address) -> socket.socket:
        key = str(address)
        if key not in self._keepers:
            self._keepers[key] = _tcp_socket(address, listen=False)
        port = self._keepers[key].getsockname()[1]
        return _tcp_socket(_address.tcp(address.host, port), listen=True)

    def _shared_socket(self, address: Address) -> socket.socket:
        if address.kind == "unix":
            sock = _unix_socket(address.path)
            self._unix_paths.append(address.path)
            return sock
        if address.kind == "fd":
            return socket.socket(fileno=address.fd)
        return _tcp_socket(address, listen=True)

    def release(self, slot: int) -> None:
        """Close slot's own sockets, as the supervisor stops (never while
        it runs: a dead worker's successor accepts the connections queued
        on them)."""
        for sock in self._slots.pop(slot, {}).values():
            sock.close()

    def close(self) -> None:
        for slot in list(self._slots):
            self.release(slot)
        for sock in [*self._shared.values(), *self._keepers.values()]:
            sock.close()
        self._shared.clear()
        self._keepers.clear()
        for path in self._unix_paths:
            try:
                os.unlink(path)
            except OSError:
                pass
