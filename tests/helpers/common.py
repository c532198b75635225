"""Plain helpers the tests share (the fixtures are in conftest.py).

Nothing here waits for a server by sleeping; everything that reads from a
socket has a timeout, so a broken server fails a test instead of hanging
the run.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path
from typing import Callable

import urllib3

import gohttp

# How long anything in a test may wait for the server before the test
# fails: long, because the machine may be slow and busy, and never reached
# when the server works.
TIMEOUT = 20.0

# The directory that holds the gohttp package under test, for subprocesses.
GOHTTP_PATH = str(Path(gohttp.__file__).resolve().parent.parent)

# What a sanitizer run (make asan, make ubsan) sets for the python under
# test: the preloaded runtime and its options.  They are for gohttp only.
SANITIZER_ENV = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


def tool_env() -> dict[str, str]:
    """The environment for an external tool the tests start (curl,
    openssl, h2load, a compiler): this one without the sanitizer's
    variables.  Under a preloaded libasan, `curl -V` hangs."""
    return {k: v for k, v in os.environ.items() if k not in SANITIZER_ENV}


class Recorder:
    """What handlers saw, handed back to the test thread.

    Handlers run on Go's threads, where a failed assert would only give
    the client a 500.  Handlers record values here instead, and the test
    asserts on them once the response is in.
    """

    def __init__(self) -> None:
        self.values: list[object] = []
        self._lock = threading.Lock()

    def __call__(self, value: object) -> None:
        with self._lock:
            self.values.append(value)

    def one(self) -> object:
        assert len(self.values) == 1, self.values
        return self.values[0]


def as_in_a_terminal() -> None:
    """preexec_fn of the servers tests start: SIGINT as a terminal gives
    it, even when the test run itself ignores it (a shell's background
    job does), for Python then never makes Ctrl-C a KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def get(url: str, **kw: object) -> urllib3.BaseHTTPResponse:
    """GET url on a connection of its own, closed afterwards: no
    keep-alive connection outlives the server it went to (the OS reuses
    ports, and a later server could get a stale connection)."""
    pool = urllib3.connection_from_url(
        url, retries=False,
        timeout=urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT))
    try:
        return pool.request("GET", url, **kw)
    finally:
        pool.close()


def outcome(fn: Callable[[], object]) -> object:
    """fn()'s result, or the exception it raised: lets a handler record
    what a call did without raising."""
    try:
        return fn()
    except BaseException as exc:  # noqa: BLE001 - handed to the test
        return exc


def connect(address: tuple[str, int]) -> socket.socket:
    """A raw TCP connection, with a timeout on every operation."""
    return socket.create_connection(address, timeout=TIMEOUT)


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    """Read from sock until marker has arrived or the peer closed."""
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_to_end(sock: socket.socket) -> bytes:
    """Read from sock until the peer closes (or resets) the connection."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def get_head_and_http10(address: tuple[str, int]) -> list[bytes]:
    """GET /, HEAD / and an HTTP/1.0 GET / pipelined on one connection:
    the three responses, each from its version's digit on (what differs
    between them: their Content-Length, their body, the close)."""
    with connect(address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
                     b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
                     b"GET / HTTP/1.0\r\nHost: h\r\n\r\n")
        reply = read_to_end(sock)
    return reply.split(b"HTTP/1.")[1:]


def get_at_once(address: tuple[str, int], path: str, n: int) -> list[bytes]:
    """Send n GET requests for path at once, each on its own connection
    (Connection: close), and return the n raw replies, in order."""
    socks = [connect(address) for _ in range(n)]
    try:
        for sock in socks:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                         f"Connection: close\r\n\r\n".encode())
        return [read_to_end(sock) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def exchange(address: tuple[str, int], data: bytes) -> bytes:
    """Send data on a new connection, close the sending side, and return
    all the server sent back until it closed."""
    with connect(address) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return read_to_end(sock)


def refuses_connections(address: tuple[str, int]) -> bool:
    """True if nothing accepts TCP connections at address; False if
    something does, or if the answer was a reset (a listener closing
    with this connection in its queue): ask again to know."""
    try:
        sock = socket.create_connection(address, timeout=TIMEOUT)
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False
    with sock:
        # A free port in the ephemeral range can be picked as the client's
        # own port: TCP then connects the socket to itself.  Nobody
        # accepted that connection.
        try:
            return sock.getsockname() == sock.getpeername()
        except OSError:   # reset by a listener that closed meanwhile
            return False


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_bytes() -> int:
    """This process's resident set size (VmRSS), in bytes."""
    return _proc_status("VmRSS") * 1024


def thread_count() -> int:
    """How many OS threads this process has."""
    return _proc_status("Threads")


# AddressSanitizer keeps freed memory in quarantine (256 MiB by default):
# under it RSS says nothing about what a test frees.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
