"""Listening addresses: the one parser and formatter of the forms that
``Server(bind=...)``, ``--bind``, the supervisor and Go all use
(gunicorn's spelling)::

    127.0.0.1:8000   [::1]:8000   localhost:8000   TCP
    :8000                                          TCP, every interface
    unix:/run/app.sock                             a Unix domain socket
    fd://3                                         a listening socket
                                                   inherited (systemd)

``str(address)`` gives the canonical form back, which is what Go is
given and what it reports once bound; ``address.url(scheme)`` is how the
banner and ``Server.urls`` show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

FORMS = ("HOST:PORT (127.0.0.1:8000, [::1]:8000, :8000 for every "
         "interface), unix:PATH or fd://N")


@dataclass(frozen=True)
class Address:
    """One listening address: kind "tcp" (host, port), "unix" (path) or
    "fd" (fd)."""

    kind: str
    host: str = ""  # "": every interface
    port: int = 0   # 0: the OS picks
    path: str = ""
    fd: int = -1

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        if self.kind == "fd":
            return f"fd://{self.fd}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, scheme: str = "http") -> str:
        """``http://127.0.0.1:8000`` for TCP (``0.0.0.0`` for every
        interface, as Go binds "" and "::": both IPv4 and IPv6); the
        address itself for the other kinds."""
        if self.kind != "tcp":
            return str(self)
        host = "0.0.0.0" if self.host in ("", "::") else self.host
        return f"{scheme}://{tcp(host, self.port)}"


def tcp(host: str, port: int) -> Address:
    """The TCP address of host and port, already checked."""
    return Address("tcp", host=host, port=port)


def parse(text: object) -> Address:
    """The Address text spells (an Address is itself); TypeError if it is
    not a str, ValueError saying what is wanted if it is not one of the
    forms."""
    if isinstance(text, Address):
        return text
    if not isinstance(text, str):
        raise TypeError(f"an address is a str, not "
                        f"{type(text).__name__}: {text!r}")
    found = _parse(text)
    if found is None:
        raise ValueError(f"bad address {text!r}: want {FORMS}")
    return found


def _parse(text: str) -> Optional[Address]:
    if "\0" in text:
        return None
    if text.startswith("unix:"):
        return Address("unix", path=text[5:]) if len(text) > 5 else None
    if text.startswith("fd://"):
        number = text[5:]
        if not (number.isascii() and number.isdigit()):
            return None
        return Address("fd", fd=int(number))
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) \
            or int(port) > 65535:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            return None
    elif ":" in host or "[" in host or "]" in host:
        return None  # a bare IPv6 address: its port is ambiguous
    return tcp(host, int(port))
