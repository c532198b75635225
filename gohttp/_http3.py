"""What the Python side says about HTTP/3: where it listens (the banner)
and whether the kernel's UDP buffers are large enough for QUIC (one
warning per server start, from the supervisor rather than each worker)."""

from __future__ import annotations

import socket
import sys
from typing import Optional

from . import _address

# The receive and send buffers quic-go asks the kernel for (its
# protocol.DesiredReceiveBufferSize; go/http3.go's wantUDPBuffer).
WANT_UDP_BUFFER = 7 << 20


def url(bind: Optional[str], tcp: Optional[_address.Address],
        port: int = 0) -> str:
    """``udp://127.0.0.1:8443``: the host of http3_bind if given, else of
    the first TCP listener, as go/http3.go's h3Address, with port, the
    UDP port Go bound (the one the OS picked for port 0); without it
    (not listening yet), the port configured."""
    try:
        where = _address.parse(bind) if bind else tcp
    except ValueError:  # not checked yet: listen will say what is wrong
        return f"udp://{bind}"
    if where is None or where.kind != "tcp":
        return "udp://?"
    if port:
        where = _address.tcp(where.host, port)
    return where.url("udp")


def check_supervised(bind: Optional[str]) -> None:
    """ValueError if http3_bind asks the OS for a port (port 0) where
    worker processes serve: each would bind a UDP port of its own, and a
    replaced worker another, where TCP's port 0 is bound once by the
    supervisor and its socket shared."""
    try:
        where = _address.parse(bind) if bind else None
    except ValueError:
        return  # listen says what is wrong
    if where is not None and where.kind == "tcp" and where.port == 0:
        raise ValueError(
            f"http3_bind {bind!r}: port 0 cannot be shared by worker "
            f"processes (workers, max_requests, max_rss or reload); give "
            f"a port, or leave http3_bind out to share the TCP port")


# Linux's SO_RCVBUFFORCE and SO_SNDBUFFORCE, which quic-go tries when the
# plain options fall short: they pass the cap with CAP_NET_ADMIN.
_FORCE = {socket.SO_RCVBUF: getattr(socket, "SO_RCVBUFFORCE", 33),
          socket.SO_SNDBUF: getattr(socket, "SO_SNDBUFFORCE", 32)}


def udp_buffer_warning(want: int = WANT_UDP_BUFFER) -> Optional[str]:
    """The line to log when the kernel caps UDP socket buffers below what
    QUIC wants (Linux: net.core.rmem_max and wmem_max), else None.  It
    asks for want bytes on a UDP socket as quic-go does (the plain
    option, then the forcing one on Linux) and reads back what it got,
    which Linux reports doubled, as quic-go compares it."""
    got = {}
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for name, opt in (("rmem_max", socket.SO_RCVBUF),
                              ("wmem_max", socket.SO_SNDBUF)):
                s.setsockopt(socket.SOL_SOCKET, opt, want)
                got[name] = s.getsockopt(socket.SOL_SOCKET, opt)
                if got[name] < want and sys.platform == "linux":
                    try:
                        s.setsockopt(socket.SOL_SOCKET, _FORCE[opt], want)
                    except OSError:
                        pass  # no CAP_NET_ADMIN: the cap holds
                    got[name] = s.getsockopt(socket.SOL_SOCKET, opt)
    except OSError:
        return None  # no UDP here: HTTP/3's own bind will say so
    short = [name for name, n in got.items() if n < want]
    if not short:
        return None
    sysctls = " ".join(f"net.core.{name}={want}" for name in short)
    return (f"HTTP/3: the kernel grants UDP sockets "
            f"{min(got.values()) // 1024} KiB of buffer, below the "
            f"{want // 1024} KiB QUIC wants for fast transfers; raise the "
            f"cap: sysctl -w {sysctls} (docs: HTTP/3, UDP buffer sizes)")
