"""The soak under faults (`make soak`; docs/development.md, Soak).

One `gohttp soak_app:server --workers 2 --http2-cleartext` (soak_app.py:
native routes, a WSGI app and an ASGI app in one server) takes a mixed
load over HTTP/1.1 and HTTP/2 (h2c, prior knowledge) from client threads
here, while a fault thread SIGKILLs a worker now and then (the
supervisor starts another) and SIGHUPs the supervisor (every worker
replaced, one by one).  The load kinds:

    blob         keep-alive GET, Content-Length body, every byte checked
    stream       GET of a body streamed in flushed pieces, read by a slow
                 reader (a small receive buffer, small reads, pauses)
    upload       POST of a body whose SHA-256 the server sends back
    upload-cut   POST that stops half-way: the client closes, resets or
                 (HTTP/2) cancels the stream
    raise        the handler raises before responding: a complete 500
    raise-mid    the handler raises half-way through its body: the
                 response must end cut off (or be a complete 500 when
                 nothing had reached the client), never look complete
    reset        GET of a stream the client abandons half-way with a TCP
                 RST (SO_LINGER 0) or, over HTTP/2, RST_STREAM

Each response is one of: ok (complete, the framing and every byte
right); refused (the connection closed or reset before any byte of the
response: a client may retry it); cut (closed part-way, which the framing
shows: Content-Length short, no last chunk, no END_STREAM, or a reset
stream); bad (anything else: a body that looks complete and is not, a
wrong byte, a wrong status, broken framing).  A bad response fails the
soak; so do a refused or cut one outside a fault's window (a kill:
refused or cut; a reload: refused alone, since a reload drains requests
in flight), and a timeout.

Once the load stops the harness checks, with the load gone: both workers
answer every kind; each worker's RSS, open fds, threads and goroutines
(GET /n/stats) and the supervisor's fds and threads are back within
BOUNDS of what they were after the warm-up; the supervisor stops on
SIGTERM with status 0; and the log holds no crash signature (segfault,
"fatal error:", "panic:", AddressSanitizer, a traceback other than the
app's own SoakError).  A summary is printed (and written as JSON with
--json); the exit status is 1 on any failure.

and the WebSocket kinds (over HTTP/1.1 upgrades, on /n/ws and /a/ws):

    ws-echo      one to four messages, text or binary, 0 to 200 kB, in one
                 to three frames, each answered by its SHA-256 and its
                 echo (both checked); then a close from the client, or
                 one the client asks the server for (codes 1000, 4000,
                 4999), with the close handshake checked
    ws-vanish    one exchange, then the client goes in the middle of a
                 message (a frame that says 100 kB, part of it sent): a
                 TCP RST or a FIN with no close frame

    python tests/soak/run.py --seconds 600       # what make soak runs
    python tests/soak/run.py --seconds 15        # the pytest check
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

# h2 takes a GOAWAY for the end of everything: any frame after it, even
# the rest of a stream the GOAWAY lets finish (its last_stream_id), is a
# ProtocolError.  Go's server sends GOAWAY and then finishes those
# streams (a graceful shutdown, a "Connection: close" response).  Let the
# closed state take what may still come; new streams stay refused.
_CLOSED = h2.connection.ConnectionState.CLOSED
for _input in h2.connection.ConnectionInputs:
    if _input.name not in ("SEND_HEADERS", "SEND_PUSH_PROMISE"):
        h2.connection.H2ConnectionStateMachine._transitions.setdefault(
            (_CLOSED, _input), (None, _CLOSED))

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# What a worker may have gained over the warm-up once the load has gone
# (the largest of the warm-up's workers is the reference: the workers at
# the end are mostly newer processes, started by kills and reloads).
BOUNDS = {"fds": 4, "threads": 16, "goroutines": 8}
# RSS is not compared with the warm-up: a worker's RSS climbs to what the
# load's peak needs (Go's heap and the bodies in flight: 128-151 MiB
# under the default load) and stays there, as Go and CPython keep freed
# memory for reuse. A leak is growth after that plateau: each worker's
# RSS, sampled every RSS_EVERY seconds, may not grow from the first half
# of its life under the load to the second by more than RSS_GROWTH_MIB
# (medians; workers sampled RSS_MIN_SAMPLES times or more), and no worker
# may pass RSS_CEILING_MIB, under the load or after.
RSS_EVERY = 10.0
# The server's --timeout-idle. Go's HTTP/2 server (net/http, Go 1.26.8)
# keeps every connection that ends with streams open (a client reset, a
# worker's peer gone) in memory for this long: its serve loop stops the
# idle timer, then closes the open streams, and closing the last one
# re-arms that timer, whose function holds the connection and its frame
# read buffer (the largest DATA frame read: 200 kB here when the soak
# found it, 16 KiB since gohttp caps HTTP/2 frames at that, go/server.go
# http2FrameSize). With the default 120 s, the reset HTTP/2 uploads'
# connections pile up for two minutes, which the growth check would take
# for a leak (pure Go net/http does the same: soak notes in
# bench/results.md). 10 s keeps that within the bound and the check
# sensitive to a real leak.
IDLE_TIMEOUT = 10
RSS_MIN_SAMPLES = 6
RSS_GROWTH_MIB = 16.0
RSS_CEILING_MIB = 256.0
# The supervisor lives through the whole soak: nothing may grow.
SUPERVISOR_BOUNDS = {"fds": 0, "threads": 0}
# How long a fault's window lasts, in seconds after it: a kill cuts what
# the worker was doing and the connections queued to it; a reload lets
# requests in flight finish, but closes idle keep-alive connections.
KILL_WINDOW = 2.0
RELOAD_WINDOW = 15.0  # the new workers' start, and shutdown_timeout
TIMEOUT = 30.0  # no progress for this long: a hang, which fails the soak
# The log lines that mean a crash, and the one traceback expected.
CRASH = re.compile(r"segfault|Segmentation fault|fatal error:|panic:|"
                   r"AddressSanitizer|UndefinedBehaviorSanitizer|"
                   r"runtime error:|SIGSEGV|SIGABRT|Fatal Python error|"
                   r"Exception ignored|http: panic serving")
EXPECTED_EXCEPTION = "soak_app.SoakError:"
# A native handler's write once the client has gone (a reset, a cut
# upload) raises this, and the handlers here do not catch it: gohttp logs
# it, as it documents (docs/native-api.md).
CLIENT_GONE = "BrokenPipeError: [Errno 32] the client has gone away"
IFACES = ("n", "w", "a")  # native, WSGI, ASGI (soak_app.py)
# With --tls: the client's TLS context for each ALPN protocol.
TLS: dict[str, ssl.SSLContext] = {}


SEEDS = 8  # as soak_app.py's
_BASES = [random.Random(seed).randbytes(1 << 20) for seed in range(SEEDS)]


def body_of(seed: int, size: int) -> bytes:
    """What soak_app.body_of sends for (seed, size)."""
    return _BASES[seed][:size]


def digest(data: bytes) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()} {len(data)}".encode()


def connect(addr: tuple[str, int], alpn: str,
            rcvbuf: int = 0) -> socket.socket:
    """A socket connected to addr, through TLS with ALPN alpn under
    --tls; raises Refused if that fails."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    try:
        sock.connect(addr)
        if TLS:
            sock = TLS[alpn].wrap_socket(sock, server_hostname="127.0.0.1")
            if sock.selected_alpn_protocol() != alpn:
                sock.close()
                raise Bad(f"ALPN chose {sock.selected_alpn_protocol()!r}, "
                          f"not {alpn!r}")
    except OSError as exc:
        sock.close()
        raise Refused(f"connect: {exc}") from None
    return sock


class Refused(Exception):
    """Closed or reset before any byte of the response.  since: when the
    connection last worked (a kill long after that may explain it);
    goaway: an HTTP/2 stream past a GOAWAY's last stream, which the
    server says it never processed (a client retries it elsewhere)."""

    def __init__(self, why: str, since: Optional[float] = None,
                 goaway: bool = False) -> None:
        super().__init__(why)
        self.since = since
        self.goaway = goaway


class Cut(Exception):
    """Closed part-way through a response, as its framing shows."""


class Bad(Exception):
    """A response that is wrong: the soak fails."""


# ---- HTTP/1.1 ---------------------------------------------------------------
@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class H1:
    """One HTTP/1.1 connection, read strictly: a body is complete only
    when its Content-Length or its last chunk says so."""

    def __init__(self, addr: tuple[str, int], rcvbuf: int = 0) -> None:
        self.sock = connect(addr, "http/1.1", rcvbuf)
        self.buf = b""
        self.since = time.monotonic()  # when it last worked
        self.got = 0  # bytes of the current response
        self.requests = 0
        self.slow = 0.0  # pause between reads, for a slow reader
        self.read_size = 65536

    def close(self, reset: bool = False) -> None:
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise Bad("timed out sending") from None
        except OSError as exc:
            # The server went before it read all of it: an answer may
            # still be there to read.
            raise Refused(f"send: {exc}", self.since) from None

    def request(self, method: str, target: str, body: bytes = b"",
                length: Optional[int] = None) -> None:
        self.requests += 1
        self.got = 0
        head = f"{method} {target} HTTP/1.1\r\nHost: soak\r\n"
        if method == "POST":
            head += f"Content-Length: {len(body) if length is None else length}\r\n"
        self.send(head.encode() + b"\r\n" + body)

    def _fill(self) -> None:
        if self.slow:
            time.sleep(self.slow)
        try:
            data = self.sock.recv(self.read_size)
        except socket.timeout:
            raise Bad(f"no byte for {TIMEOUT}s (after {self.got})") from None
        except OSError as exc:
            if self.got:
                raise Cut(f"{exc} after {self.got} bytes") from None
            raise Refused(str(exc), self.since) from None
        if not data:
            if self.got:
                raise Cut(f"closed after {self.got} bytes")
            raise Refused("closed before the response", self.since)
        self.got += len(data)
        self.buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise Bad("a line longer than 64 KiB")
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, head_only: bool = False) -> Response:
        status_line = self._line()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or parts[0] != b"HTTP/1.1" or not parts[1].isdigit():
            raise Bad(f"status line {status_line[:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        while True:
            line = self._line()
            if not line:
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise Bad(f"header line {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        self.since = time.monotonic()
        if head_only:
            return Response(status, headers, b"")
        te = headers.get("transfer-encoding", "")
        if te:
            if te.lower() != "chunked" or "content-length" in headers:
                raise Bad(f"framing: transfer-encoding {te!r}, "
                          f"content-length {headers.get('content-length')}")
            body = self._chunked()
        elif "content-length" in headers:
            body = self._exactly(int(headers["content-length"]))
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            raise Bad(f"status {status}: neither Content-Length nor chunked")
        return Response(status, headers, body)

    def _chunked(self) -> bytes:
        parts = []
        while True:
            line = self._line()
            size_text = line.split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise Bad(f"chunk size line {line[:40]!r}") from None
            if size == 0:
                while self._line():  # trailers
                    pass
                return b"".join(parts)
            parts.append(self._exactly(size))
            if self._exactly(2) != b"\r\n":
                raise Bad("a chunk not followed by CRLF")

    def closes(self, r: Response) -> bool:
        return r.headers.get("connection", "").lower() == "close"


# ---- HTTP/2 -----------------------------------------------------------------
@dataclass
class Stream:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset: Optional[str] = None
    refused: bool = False  # past a GOAWAY's last stream: never processed


class H2:
    """One HTTP/2 connection (h2c, prior knowledge) with the h2 library;
    several streams at once."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.sock = connect(addr, "h2")
        config = h2.config.H2Configuration(client_side=True,
                                           header_encoding="latin-1")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.streams: dict[int, Stream] = {}
        self.lost: Optional[str] = None  # the socket failed or closed
        self.goaway: Optional[str] = None  # the server is closing it
        self.since = time.monotonic()  # when it last worked
        self.slow = 0.0
        self._flush()

    def close(self, reset: bool = False) -> None:
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.close()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            try:
                self.sock.sendall(data)
            except OSError as exc:
                self._lost(f"send: {exc}")

    @property
    def dead(self) -> Optional[str]:
        """Why no new stream may start, if so."""
        return self.lost or self.goaway

    def _lost(self, why: str) -> None:
        self.lost = why
        for s in self.streams.values():
            if not s.ended and s.reset is None:
                s.reset = why

    def start(self, method: str, path: str, end: bool = True) -> int:
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":path", path), (":scheme", "https" if TLS else "http"),
                   (":authority", "soak")]
        self.conn.send_headers(sid, headers, end_stream=end)
        self.streams[sid] = Stream()
        self._flush()
        return sid

    def send_body(self, sid: int, data: bytes, end: bool) -> None:
        """Send data on sid as flow control allows, reading meanwhile."""
        view = memoryview(data)
        while view and self.dead is None:
            s = self.streams[sid]
            if s.ended or s.reset is not None:
                return
            window = min(self.conn.local_flow_control_window(sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self.pump()
                continue
            try:
                self.conn.send_data(sid, bytes(view[:window]))
            except h2.exceptions.StreamClosedError:
                return
            view = view[window:]
            self._flush()
        if end and self.dead is None:
            try:
                self.conn.end_stream(sid)
            except h2.exceptions.StreamClosedError:
                return
            self._flush()

    def cancel(self, sid: int) -> None:
        try:
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        except h2.exceptions.StreamClosedError:
            pass
        self.streams.pop(sid, None)
        self._flush()

    def pump(self) -> None:
        """Read once, and apply what came."""
        if self.lost is not None:
            return
        if self.slow:
            time.sleep(self.slow)
        try:
            data = self.sock.recv(16384 if self.slow else 65536)
        except socket.timeout:
            inbound = self.conn._inbound_flow_control_window_manager
            raise Bad(f"HTTP/2: no byte for {TIMEOUT}s (our receive "
                      f"window: the connection's "
                      f"{inbound.current_window_size}, the streams' "
                      f"{[(sid, self.conn.remote_flow_control_window(sid)) for sid in self.streams if sid in self.conn.streams]}"
                      f"; goaway {self.goaway})") from None
        except OSError as exc:
            self._lost(str(exc))
            return
        if not data:
            self._lost("closed")
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 checks Content-Length against the DATA received, among
            # the rest.
            raise Bad(f"HTTP/2 protocol error: {exc!r}") from None
        for ev in events:
            s = self.streams.get(getattr(ev, "stream_id", 0) or 0)
            if isinstance(ev, h2.events.ResponseReceived) and s:
                self.since = time.monotonic()
                s.headers = dict(ev.headers)
                s.status = int(s.headers.get(":status", "0"))
            elif isinstance(ev, h2.events.DataReceived):
                if s:
                    s.body += ev.data
                self.conn.acknowledge_received_data(
                    ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded) and s:
                s.ended = True
            elif isinstance(ev, h2.events.StreamReset) and s:
                s.reset = f"RST_STREAM {ev.error_code!r}"
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = f"GOAWAY {ev.error_code!r}"
                last = ev.last_stream_id or 0
                for sid, st in self.streams.items():
                    if sid > last and not st.ended:
                        st.refused = True
        self._flush()

    def wait(self, sids: list[int], until: Callable[[Stream], bool]
             = lambda s: False) -> None:
        """Read until each of sids has ended or was reset, or until(s)."""
        while True:
            pending = [s for sid in sids if (s := self.streams[sid])
                       and not s.ended and s.reset is None and not s.refused
                       and not until(s)]
            if not pending:
                return
            if self.lost is not None:
                for s in pending:
                    s.reset = self.lost
                return
            self.pump()

    def outcome(self, sid: int) -> Stream:
        """The stream, done with; raises Refused or Cut as it ended."""
        s = self.streams.pop(sid)
        if s.ended:
            return s
        if s.refused:
            raise Refused(f"past {self.goaway}", self.since, goaway=True)
        if not s.status and not s.body:
            raise Refused(s.reset or "refused", self.since)
        raise Cut(f"{s.reset} after {len(s.body)} bytes")


# ---- the load -----------------------------------------------------------------
class Client:
    """One client thread's connections: an HTTP/1.1 keep-alive one and an
    HTTP/2 one, remade when lost."""

    def __init__(self, addr: tuple[str, int], rng: random.Random) -> None:
        self.addr = addr
        self.rng = rng
        self.h1: Optional[H1] = None
        self.h2: Optional[H2] = None

    def conn1(self) -> H1:
        if self.h1 is None:
            self.h1 = H1(self.addr)
        return self.h1

    def conn2(self) -> H2:
        if self.h2 is not None and self.h2.dead is not None:
            self.h2.close()
            self.h2 = None
        if self.h2 is None:
            self.h2 = H2(self.addr)
        return self.h2

    def drop(self, proto: str, reset: bool = False) -> None:
        if proto == "h1" and self.h1 is not None:
            self.h1.close(reset)
            self.h1 = None
        if proto == "h2" and self.h2 is not None:
            self.h2.close(reset)
            self.h2 = None

    def close(self) -> None:
        self.drop("h1")
        self.drop("h2")


def where_from(segment: bytes) -> str:
    """Where segment appears in the bodies the server can send."""
    for seed, base in enumerate(_BASES):
        at = base.find(segment)
        if at >= 0:
            return f"seed {seed} offset {at}"
    return "nowhere in the bodies"


def diff(body: bytes, want: bytes) -> str:
    """Where body and want differ, and what body holds there."""
    n = min(len(body), len(want))
    first = next((i for i in range(n) if body[i] != want[i]), n)
    if first == n:
        return f"{len(body)} bytes, want {len(want)}; the same up to there"
    last = max(i for i in range(n) if body[i] != want[i])
    return (f"{len(body)} bytes, want {len(want)}; differ from {first} to "
            f"{last}; the bytes at {first} are "
            f"{where_from(body[first:first + 32])}")


def expect_body(status: int, body: bytes, want: bytes, what: str) -> None:
    if status != 200:
        raise Bad(f"{what}: status {status}")
    if body != want:
        raise Bad(f"{what}: {diff(body, want)}")


def h1_get(c: Client, path: str, want: bytes, slow: bool = False) -> str:
    conn = H1(c.addr, rcvbuf=8192) if slow else c.conn1()
    if slow:
        conn.slow, conn.read_size = 0.002, 4096
    try:
        conn.request("GET", path)
        r = conn.response()
    except (Refused, Cut):
        conn.close()
        if not slow:
            c.h1 = None
        raise
    expect_body(r.status, r.body, want, path)
    if slow or conn.closes(r):
        conn.close()
        if not slow:
            c.h1 = None
    return "ok"


def params(seed: int, size: int, **more: int) -> str:
    q = {"seed": seed, "size": size, **more}
    return "&".join(f"{k}={v}" for k, v in q.items())


def kind_blob(c: Client, proto: str, iface: str) -> str:
    seed, size = c.rng.randrange(SEEDS), c.rng.choice((0, 1, 700, 16384, 200_000))
    path = f"/{iface}/blob?{params(seed, size)}"
    want = body_of(seed, size)
    if proto == "h1":
        return h1_get(c, path, want)
    conn = c.conn2()
    sids = [conn.start("GET", path) for _ in range(c.rng.randint(1, 4))]
    conn.wait(sids)
    outcomes = []
    for sid in sids:
        try:
            s = conn.outcome(sid)
            if s.headers.get("content-length") != str(size):
                raise Bad(f"{path}: content-length "
                          f"{s.headers.get('content-length')}")
            expect_body(s.status, bytes(s.body), want, path)
            outcomes.append("ok")
        except (Refused, Cut) as exc:
            outcomes.append(exc)
    for o in outcomes:
        if isinstance(o, Exception):
            raise o
    return "ok"


def kind_stream(c: Client, proto: str, iface: str) -> str:
    seed = c.rng.randrange(SEEDS)
    size = c.rng.choice((65536, 300_000, 1_000_000))
    path = f"/{iface}/stream?" + params(seed, size, chunk=c.rng.choice(
        (1000, 16384, 65536)), pause=c.rng.choice((0, 0, 1)))
    want = body_of(seed, size)
    if proto == "h1":
        return h1_get(c, path, want, slow=True)
    conn = c.conn2()
    sid = conn.start("GET", path)
    conn.slow = 0.002
    try:
        conn.wait([sid])
    finally:
        conn.slow = 0.0
    s = conn.outcome(sid)
    expect_body(s.status, bytes(s.body), want, path)
    return "ok"


def kind_upload(c: Client, proto: str, iface: str) -> str:
    size = c.rng.choice((0, 10, 70_000, 500_000))
    data = body_of(c.rng.randrange(SEEDS), size)
    path = f"/{iface}/upload"
    if proto == "h1":
        conn = c.conn1()
        try:
            conn.request("POST", path, data)
            r = conn.response()
        except (Refused, Cut):
            c.drop("h1")
            raise
        expect_body(r.status, r.body, digest(data), path)
        if conn.closes(r):
            c.drop("h1")
        return "ok"
    conn2 = c.conn2()
    sid = conn2.start("POST", path, end=False)
    conn2.send_body(sid, data, end=True)
    conn2.wait([sid])
    s = conn2.outcome(sid)
    expect_body(s.status, bytes(s.body), digest(data), path)
    return "ok"


def kind_upload_cut(c: Client, proto: str, iface: str) -> str:
    """Half an upload, then the client gives up: what comes back does
    not matter (the server must only survive it); the outcome names how
    it gave up."""
    size = c.rng.choice((20_000, 400_000))
    data = body_of(c.rng.randrange(SEEDS), size)
    path = f"/{iface}/upload"
    # (A TLS socket cannot half-close: shutdown() drops TLS first.)
    how = c.rng.choice(("close", "reset") if TLS else
                       ("close", "reset", "half-close"))
    if proto == "h1":
        conn = H1(c.addr)
        try:
            conn.request("POST", path, data[:size // 2], length=size)
            if how == "half-close":
                conn.sock.shutdown(socket.SHUT_WR)
                try:
                    r = conn.response()
                except (Refused, Cut):
                    return "gave-up:half-close"
                if r.status == 200:
                    raise Bad(f"{path}: 200 for half a body")
        finally:
            conn.close(reset=how == "reset")
        return f"gave-up:{how}"
    conn2 = c.conn2()
    sid = conn2.start("POST", path, end=False)
    conn2.send_body(sid, data[:size // 2], end=False)
    if how == "reset":
        c.drop("h2", reset=True)
    else:
        conn2.cancel(sid)
        how = "rst-stream"
    return f"gave-up:{how}"


def kind_raise(c: Client, proto: str, iface: str) -> str:
    path = f"/{iface}/raise"
    if proto == "h1":
        conn = c.conn1()
        try:
            conn.request("GET", path)
            r = conn.response()
        except (Refused, Cut):
            c.drop("h1")
            raise
        if conn.closes(r):
            c.drop("h1")
        status, body = r.status, r.body
    else:
        conn2 = c.conn2()
        sid = conn2.start("GET", path)
        conn2.wait([sid])
        s = conn2.outcome(sid)
        status, body = s.status, bytes(s.body)
    if status != 500:
        raise Bad(f"{path}: status {status}, want 500")
    return "ok"


def kind_raise_mid(c: Client, proto: str, iface: str) -> str:
    """The response must not end complete unless it is a 500 (the app
    raised before its start reached the client)."""
    seed, size = c.rng.randrange(SEEDS), c.rng.choice((10_000, 300_000))
    path = f"/{iface}/raise-mid?{params(seed, size)}"
    try:
        if proto == "h1":
            conn = H1(c.addr)
            try:
                conn.request("GET", path)
                r = conn.response()
            finally:
                conn.close()
            status, n = r.status, len(r.body)
        else:
            conn2 = c.conn2()
            sid = conn2.start("GET", path)
            conn2.wait([sid])
            s = conn2.outcome(sid)
            status, n = s.status, len(s.body)
    except Cut:
        return "ok:cut"
    if status == 500:
        return "ok:500"
    raise Bad(f"{path}: status {status} with {n} bytes, complete: a "
              f"truncated body passed off as whole")


def kind_reset(c: Client, proto: str, iface: str) -> str:
    """A download the client abandons part-way."""
    seed, size = c.rng.randrange(SEEDS), 1_000_000
    path = f"/{iface}/stream?{params(seed, size, chunk=16384)}"
    if proto == "h1":
        conn = H1(c.addr, rcvbuf=8192)
        try:
            conn.request("GET", path)
            conn.response(head_only=True)
            conn._fill()
        finally:
            conn.close(reset=True)
        return "gave-up:rst"
    conn2 = c.conn2()
    sid = conn2.start("GET", path)
    conn2.wait([sid], until=lambda s: len(s.body) > 20000)
    if c.rng.random() < 0.5:
        conn2.cancel(sid)
        return "gave-up:rst-stream"
    c.drop("h2", reset=True)
    return "gave-up:rst"


# ---- WebSockets -------------------------------------------------------------
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WS(H1):
    """A WebSocket client on a connection of its own (an HTTP/1.1
    upgrade, RFC 6455; gohttp serves no WebSocket over HTTP/2), read
    strictly: masks what it sends, checks what it gets."""

    def __init__(self, addr: tuple[str, int], path: str,
                 rng: random.Random) -> None:
        super().__init__(addr)
        self.rng = rng
        key = base64.b64encode(rng.randbytes(16))
        self.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: soak\r\n"
                  b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: " + key + b"\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        r = self.response(head_only=True)
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        if r.status != 101:
            raise Bad(f"{path}: upgrade answered {r.status}")
        if r.headers.get("sec-websocket-accept", "").encode() != accept:
            raise Bad(f"{path}: Sec-WebSocket-Accept "
                      f"{r.headers.get('sec-websocket-accept')!r}")

    def frame(self, opcode: int, payload: bytes, fin: bool = True,
              length: Optional[int] = None) -> bytes:
        """A masked frame; length: the length its header claims."""
        n = len(payload) if length is None else length
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = self.rng.randbytes(4)
        masked = (int.from_bytes(payload, "big")
                  ^ int.from_bytes((mask * (len(payload) // 4 + 1))
                                   [:len(payload)], "big"))
        return (head + mask
                + masked.to_bytes(len(payload), "big") if payload
                else head + mask)

    def send_message(self, data: bytes, text: bool) -> None:
        """data as a message in one to three frames."""
        cuts = sorted(self.rng.randrange(len(data) + 1)
                      for _ in range(self.rng.choice((0, 0, 1, 2))))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        out = b""
        for i, piece in enumerate(pieces):
            out += self.frame((1 if text else 2) if i == 0 else 0, piece,
                              fin=i == len(pieces) - 1)
        self.send(out)

    def _frame_in(self) -> tuple[bool, int, bytes]:
        b0, b1 = self._exactly(2)
        if b1 & 0x80 or b0 & 0x70:
            raise Bad(f"server frame with mask or RSV bits: {b0:#x} {b1:#x}")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exactly(8))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self._exactly(n)

    def message(self) -> tuple[int, bytes]:
        """The next (opcode, payload): 1 text, 2 binary, or 8 close (the
        payload its code and reason); answers pings."""
        opcode, parts = -1, []
        while True:
            fin, op, payload = self._frame_in()
            if op == 9:
                self.send(self.frame(10, payload))
                continue
            if op == 10:
                continue
            if op == 8:
                return 8, payload
            if (op == 0) == (opcode < 0) or op not in (0, 1, 2):
                raise Bad(f"frame opcode {op} after {opcode}")
            opcode = op if opcode < 0 else opcode
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    def closed_by_server(self, payload: bytes, asked: int) -> None:
        """A close frame came: asked is the code the client asked the
        server for (0: none). Answers it, and reads to the end."""
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        if code != asked:
            if not asked and code in (1001, 1012):  # a reload's drain
                raise Refused(f"the server closed the WebSocket ({code})",
                              self.since)
            raise Bad(f"close code {code}, want {asked or 'none'}")
        self.send(self.frame(8, payload[:2]))
        self.drain()

    def drain(self) -> None:
        """Read to the end of the connection: the server closes it once
        the close handshake is done."""
        try:
            while True:
                self._fill()
        except Cut:
            return

    def expect_echo(self, data: bytes, text: bool) -> None:
        op, got = self.message()
        if op == 8:
            self.closed_by_server(got, 0)
        want = "sha256 " + digest(data).decode()
        if op != 1 or got.decode("latin-1") != want:
            raise Bad(f"digest message {op} {got[:80]!r}, want {want!r}")
        op, got = self.message()
        if op == 8:
            self.closed_by_server(got, 0)
        if op != (1 if text else 2):
            raise Bad(f"echo opcode {op}, want {1 if text else 2}")
        if got != data:
            raise Bad(f"echo: {diff(got, data)}")


def ws_path(iface: str) -> str:
    """The WebSocket echo of iface: WSGI has none, so /w's load goes to
    the native one."""
    return f"/{'a' if iface == 'a' else 'n'}/ws"


def ws_payload(c: Client, text: bool) -> bytes:
    seed = c.rng.randrange(SEEDS)
    size = c.rng.choice((0, 1, 125, 126, 4000, 65536, 200_000))
    data = body_of(seed, size)
    return data.hex()[:size].encode() if text else data


def kind_ws_echo(c: Client, proto: str, iface: str) -> str:
    """A WebSocket conversation: messages, text and binary, in one to
    three frames, each answered by its digest and its echo; then a close
    from either side."""
    ws = WS(c.addr, ws_path(iface), c.rng)
    try:
        for _ in range(c.rng.randint(1, 4)):
            text = c.rng.random() < 0.5
            data = ws_payload(c, text)
            ws.send_message(data, text)
            ws.expect_echo(data, text)
        if c.rng.random() < 0.5:
            code = c.rng.choice((1000, 4000, 4999))
            ws.send_message(f"close {code}".encode(), True)
            op, got = ws.message()
            if op != 8:
                raise Bad(f"opcode {op} where a close was asked for")
            ws.closed_by_server(got, code)
        else:
            ws.send(ws.frame(8, struct.pack("!H", 1000) + b"bye"))
            op, got = ws.message()
            if op != 8 or got[:2] != struct.pack("!H", 1000):
                raise Bad(f"the close answered by {op} {got[:20]!r}")
            ws.drain()
        return "ok"
    finally:
        ws.close()


def kind_ws_vanish(c: Client, proto: str, iface: str) -> str:
    """A WebSocket client that goes away in the middle of a message
    (after one whole exchange): a TCP RST, or a FIN with no close frame."""
    ws = WS(c.addr, ws_path(iface), c.rng)
    reset = c.rng.random() < 0.5
    try:
        data = ws_payload(c, False)
        ws.send_message(data, False)
        ws.expect_echo(data, False)
        part = body_of(c.rng.randrange(SEEDS), 30_000)
        ws.send(ws.frame(2, part, length=100_000)[:-c.rng.randrange(
            1, 20_000)])
    finally:
        ws.close(reset=reset)
    return "gave-up:rst" if reset else "gave-up:fin"


# name -> (function, weight).  The WebSocket kinds run on connections of
# their own over HTTP/1.1 whatever the client's protocol, and on the
# native echo for /w (see ws_path).
KINDS: dict[str, tuple[Callable[[Client, str, str], str], int]] = {
    "blob": (kind_blob, 30),
    "stream": (kind_stream, 8),
    "upload": (kind_upload, 12),
    "upload-cut": (kind_upload_cut, 5),
    "raise": (kind_raise, 5),
    "raise-mid": (kind_raise_mid, 5),
    "reset": (kind_reset, 5),
    "ws-echo": (kind_ws_echo, 8),
    "ws-vanish": (kind_ws_vanish, 3),
}
# Kinds whose refused or cut outcome needs a fault to excuse it.
MUST_SUCCEED = {"blob", "stream", "upload", "raise", "ws-echo"}


@dataclass
class Event:
    what: str  # "kill" or "reload"
    at: float
    pid: int = 0


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out / "server.log"
        self.proc: Optional[subprocess.Popen] = None
        self.addr = ("127.0.0.1", 0)
        self.t0 = time.monotonic()  # times in failures count from here
        self.stop_load = threading.Event()
        self.stop_faults = threading.Event()
        self.lock = threading.Lock()
        self.counts: collections.Counter = collections.Counter()
        self.failures: list[str] = []
        self.events: list[Event] = []
        self.excused: collections.Counter = collections.Counter()
        # The most each resource reached under the load, and every
        # worker process seen.
        self.peak: dict[str, dict[str, float]] = {
            "supervisor": {}, "workers": {}}
        self.pids_seen: set[int] = set()
        self.rss_series: dict[int, list[tuple[int, float]]] = {}
        self.reasons: collections.Counter = collections.Counter()

    # The server.
    def start(self) -> None:
        # The gohttp of PYTHONPATH if it names one (the tests'), else
        # this tree's.
        path = [p for p in (os.environ.get("PYTHONPATH"), str(ROOT)) if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path),
                   PYTHONUNBUFFERED="1")
        if self.args.tls:
            cert, key = self.make_certificate()
            how = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
            for alpn in ("http/1.1", "h2"):
                ctx = ssl.create_default_context(cafile=str(cert))
                ctx.set_alpn_protocols([alpn])
                TLS[alpn] = ctx
        else:
            how = ["--http2-cleartext"]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gohttp", "soak_app:server",
             "--workers", "2", "--bind", "127.0.0.1:0", *how,
             "--timeout-idle", str(IDLE_TIMEOUT), "--log-level", "info"],
            cwd=HERE, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        banner = re.compile(r"serving .* on https?://127\.0\.0\.1:(\d+) "
                            r"with 2")
        while time.monotonic() < deadline:
            m = banner.search(self.log_path.read_text(errors="replace"))
            if m:
                self.addr = ("127.0.0.1", int(m.group(1)))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"soak: the server did not start; see "
                         f"{self.log_path}")

    def make_certificate(self) -> tuple[Path, Path]:
        """A self-signed certificate for 127.0.0.1, with openssl."""
        if shutil.which("openssl") is None:
            raise SystemExit("soak: --tls needs the openssl command")
        cert, key = self.out / "soak.crt", self.out / "soak.key"
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, env=env, timeout=60)
        return cert, key

    def workers(self) -> list[int]:
        """The supervisor's live children."""
        assert self.proc is not None
        kids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                kids.append(int(entry))
        return sorted(kids)

    @staticmethod
    def proc_stats(pid: int) -> dict[str, float]:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
        threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
        return {"rss_mib": round(rss, 1),
                "fds": len(os.listdir(f"/proc/{pid}/fd")),
                "threads": threads}

    def goroutines(self, pids: list[int], stacks: bool = False,
                   tag: str = "") -> dict[int, int]:
        """Each worker's goroutines, from GET /n/stats on new connections
        until every one of pids has answered; with stacks, their stacks
        are saved to goroutines-PID.txt in the output folder."""
        found: dict[int, int] = {}
        for _ in range(400):
            conn = H1(self.addr)
            try:
                conn.request("GET", "/n/stats" + ("?stacks" if stacks
                                                  else ""))
                r = conn.response()
            finally:
                conn.close()
            stats = json.loads(r.body)
            # This request's own connection counts: one goroutine.
            found[stats["pid"]] = stats["goroutines"] - 1
            if stacks:
                (self.out / f"{tag}goroutines-{stats['pid']}.txt").write_text(
                    stats["stacks"])
            if all(p in found for p in pids):
                break
        return {p: found[p] for p in pids if p in found}

    def settled_workers(self, timeout: float = 60.0) -> list[int]:
        """Wait until the supervisor has two workers, the same for 2 s,
        each answering."""
        deadline = time.monotonic() + timeout
        last: list[int] = []
        since = time.monotonic()
        while time.monotonic() < deadline:
            now = self.workers()
            if now != last:
                last, since = now, time.monotonic()
            elif len(now) == 2 and time.monotonic() - since >= 2.0:
                return now
            time.sleep(0.2)
        raise SystemExit(f"soak: the supervisor did not settle on two "
                         f"workers (has {last}); see {self.log_path}")

    def snapshot(self, stacks: bool = False) -> dict[str, Any]:
        """Everything measured, with no load: per worker and for the
        supervisor."""
        assert self.proc is not None
        pids = self.settled_workers()
        time.sleep(1.0)  # connections just closed: their goroutines end
        gor = self.goroutines(pids, stacks)
        return {"supervisor": self.proc_stats(self.proc.pid),
                "workers": {p: dict(self.proc_stats(p),
                                    goroutines=gor.get(p, -1))
                            for p in pids}}

    # The load.
    def load(self, n: int) -> None:
        rng = random.Random(self.args.seed * 1000 + n)
        client = Client(self.addr, rng)
        names = self.args.kinds or list(KINDS)
        weights = [KINDS[k][1] for k in names]
        ifaces = self.args.interfaces or IFACES
        protos = self.args.protocols or ("h1", "h1", "h2")
        proto = protos[n % len(protos)]  # by default a third on HTTP/2
        try:
            while not self.stop_load.is_set():
                kind = rng.choices(names, weights)[0]
                iface = rng.choice(ifaces)
                started = time.monotonic()
                try:
                    outcome = KINDS[kind][0](client, proto, iface)
                except Refused as exc:
                    client.drop(proto)
                    outcome = ("refused:goaway" if exc.goaway else
                               self._judge("refused", kind, started, exc))
                    with self.lock:
                        self.reasons[re.sub(r"\d+", "N", str(exc))[:70]] += 1
                    # As a client would, back off a little: with both
                    # workers down, refusals come at once.
                    time.sleep(0.05)
                except Cut as exc:
                    client.drop(proto)
                    outcome = self._judge("cut", kind, started, exc)
                except Bad as exc:
                    if "no byte for" in str(exc):
                        # A hang: what the server's goroutines are doing,
                        # while the connection is still open.
                        try:
                            self.goroutines(self.workers(), stacks=True,
                                            tag=f"hang-t{time.monotonic() - self.t0:.0f}-")
                        except Exception:  # noqa: BLE001 - best effort
                            pass
                    client.drop(proto)
                    outcome = "bad"
                    self._fail(f"{proto} {kind} /{iface}: {exc}")
                except Exception as exc:  # noqa: BLE001 - a harness bug
                    client.close()
                    outcome = "harness-error"
                    self._fail(f"{proto} {kind} /{iface}: the harness "
                               f"raised {exc!r}")
                with self.lock:
                    self.counts[(proto, iface, kind, outcome)] += 1
        finally:
            client.close()

    def _judge(self, outcome: str, kind: str, started: float,
               exc: Exception) -> str:
        """outcome, or outcome-unexcused (a failure) if no fault explains
        it: one during the request, or since its connection last worked,
        or a window before."""
        if kind not in MUST_SUCCEED:
            return outcome
        ended = time.monotonic()
        since = min(started, getattr(exc, "since", None) or started)
        for ev in list(self.events):
            window = KILL_WINDOW if ev.what == "kill" else RELOAD_WINDOW
            if ev.what == "reload" and outcome != "refused":
                continue
            if since - window <= ev.at <= ended + 0.5:
                with self.lock:
                    self.excused[(ev.what, outcome)] += 1
                return outcome
        if self.events and len(self.workers()) < 2:
            # A worker killed again and again within a second of its
            # start is restarted after a delay that doubles (the
            # supervisor's crash-loop backoff, up to 5 s), connections
            # waiting on its socket meanwhile: the kill's effect outlasts
            # KILL_WINDOW.
            with self.lock:
                self.excused[("kill", outcome + " (worker restarting)")] += 1
            return outcome
        self._fail(f"{kind}: {outcome} with no fault near: {exc}")
        return outcome + "-unexcused"

    def _fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(f"t={time.monotonic() - self.t0:.1f}s "
                                 f"{what}")

    def sample(self) -> None:
        """Every second or so under the load: the peaks."""
        assert self.proc is not None
        next_rss = time.monotonic() + RSS_EVERY
        while not self.stop_load.wait(1.0):
            now = time.monotonic()
            series = now >= next_rss
            if series:
                next_rss += RSS_EVERY
            for pid in [self.proc.pid] + self.workers():
                try:
                    stats = self.proc_stats(pid)
                except (OSError, AttributeError):
                    continue  # it has just gone
                who = "supervisor" if pid == self.proc.pid else "workers"
                if who == "workers":
                    self.pids_seen.add(pid)
                    if series:
                        self.rss_series.setdefault(pid, []).append(
                            (round(now - self.t0), stats["rss_mib"]))
                peak = self.peak[who]
                for k, v in stats.items():
                    peak[k] = max(peak.get(k, 0), v)

    # The faults.
    def faults(self, start: float, stop: float) -> None:
        rng = random.Random(self.args.seed)
        next_kill = start + self.args.kill_every
        next_reload = start + self.args.reload_every
        assert self.proc is not None
        while not self.stop_faults.wait(0.05):
            now = time.monotonic()
            if now >= stop:
                return
            if now >= next_kill:
                next_kill = now + self.args.kill_every
                pids = self.workers()
                if pids:
                    pid = rng.choice(pids)
                    self.events.append(Event("kill", time.monotonic(), pid))
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            if now >= next_reload:
                next_reload = now + self.args.reload_every
                self.events.append(Event("reload", time.monotonic()))
                self.proc.send_signal(signal.SIGHUP)

    # The checks at the end.
    def check_kinds(self) -> None:
        """With no load and no fault, every kind answers right on both
        protocols, from both workers."""
        rng = random.Random(self.args.seed + 1)
        for proto in ("h1", "h2"):
            for iface in IFACES:
                for kind in ("blob", "stream", "upload", "raise",
                             "raise-mid", "ws-echo"):
                    for _ in range(2):
                        client = Client(self.addr, rng)
                        try:
                            KINDS[kind][0](client, proto, iface)
                        except (Refused, Cut, Bad) as exc:
                            self._fail(f"after the load: {proto} {kind} "
                                       f"/{iface}: {type(exc).__name__} "
                                       f"{exc}")
                        finally:
                            client.close()

    def compare(self, before: dict[str, Any], after: dict[str, Any]
                ) -> None:
        ref = {k: max(w[k] for w in before["workers"].values())
               for k in BOUNDS}
        for pid, w in after["workers"].items():
            for k, bound in BOUNDS.items():
                if w[k] > ref[k] + bound:
                    where = (f" (their stacks: {self.out}/goroutines-{pid}"
                             f".txt)" if k == "goroutines" else "")
                    self._fail(f"worker {pid}: {k} {w[k]}, over the "
                               f"warm-up's {ref[k]} + {bound}{where}")
        for pid, w in after["workers"].items():
            if w["rss_mib"] > RSS_CEILING_MIB:
                self._fail(f"worker {pid}: RSS {w['rss_mib']} MiB after "
                           f"the load, over {RSS_CEILING_MIB}")
        for k, bound in SUPERVISOR_BOUNDS.items():
            b, a = before["supervisor"][k], after["supervisor"][k]
            if a > b + bound:
                self._fail(f"supervisor: {k} {a}, was {b}")

    def rss_growth(self) -> dict[str, Any]:
        """Each long-lived worker's RSS in the first and second half of
        its samples (medians), checked against RSS_GROWTH_MIB and
        RSS_CEILING_MIB."""
        out: dict[str, Any] = {}
        for pid, series in self.rss_series.items():
            peak = max(r for _, r in series)
            if peak > RSS_CEILING_MIB:
                self._fail(f"worker {pid}: RSS {peak} MiB under the load, "
                           f"over {RSS_CEILING_MIB}")
            if len(series) < RSS_MIN_SAMPLES:
                continue
            half = len(series) // 2
            first = sorted(r for _, r in series[:half])[half // 2]
            second = sorted(r for _, r in series[half:])[
                (len(series) - half) // 2]
            growth = round(second - first, 1)
            out[str(pid)] = {"seconds": series[-1][0] - series[0][0],
                             "first_half_mib": first,
                             "second_half_mib": second,
                             "growth_mib": growth, "peak_mib": peak,
                             "samples": [r for _, r in series]}
            if growth > RSS_GROWTH_MIB:
                self._fail(f"worker {pid}: RSS grew by {growth} MiB from "
                           f"the first half of its life under the load to "
                           f"the second ({first} -> {second}), over "
                           f"{RSS_GROWTH_MIB}: "
                           f"{[r for _, r in series]}")
        return out

    def scan_log(self) -> dict[str, int]:
        text = self.log_path.read_text(errors="replace")
        lines = text.splitlines()
        found = {"tracebacks_expected": 0, "tracebacks_client_gone": 0,
                 "tracebacks_other": 0, "crash_lines": 0}
        i = 0
        while i < len(lines):
            line = lines[i]
            if CRASH.search(line):
                found["crash_lines"] += 1
                self._fail(f"log line {i + 1}: {line[:200]}")
            if line.startswith("Traceback (most recent call last):"):
                j = i + 1
                while j < len(lines) and (lines[j].startswith(" ")
                                          or not lines[j].strip()):
                    j += 1
                last = lines[j] if j < len(lines) else ""
                if last.startswith(EXPECTED_EXCEPTION):
                    found["tracebacks_expected"] += 1
                elif last.startswith(CLIENT_GONE):
                    found["tracebacks_client_gone"] += 1
                else:
                    found["tracebacks_other"] += 1
                    self._fail(f"log line {i + 1}: a traceback ending "
                               f"{last[:200]!r}")
                i = j
            i += 1
        return found

    def stop_server(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._fail("the supervisor did not stop within 60 s of SIGTERM")
            return -1

    def run(self) -> int:
        a = self.args
        t0 = self.t0 = time.monotonic()
        self.start()
        summary: dict[str, Any] = {"seconds": a.seconds,
                                   "clients": a.clients, "tls": a.tls}
        threads: list[threading.Thread] = []
        try:
            # Warm-up: the load without faults, then the reference.
            warm = max(2.0, a.seconds * 0.05)
            threads = [threading.Thread(target=self.load, args=(n,),
                                        daemon=True)
                       for n in range(a.clients)]
            for t in threads:
                t.start()
            time.sleep(warm)
            self.stop_load.set()
            for t in threads:
                t.join(TIMEOUT * 2)
            summary["before"] = before = self.snapshot()
            # The soak: load throughout, faults but in the last fifth.
            self.stop_load.clear()
            start = time.monotonic()
            quiet = start + a.seconds * 0.8
            fault_thread = threading.Thread(target=self.faults,
                                            args=(start, quiet), daemon=True)
            threads = [threading.Thread(target=self.load, args=(n,),
                                        daemon=True)
                       for n in range(a.clients)]
            threads.append(threading.Thread(target=self.sample, daemon=True))
            for t in threads + [fault_thread]:
                t.start()
            time.sleep(a.seconds)
            self.stop_faults.set()
            self.stop_load.set()
            for t in threads + [fault_thread]:
                t.join(TIMEOUT * 2)
                if t.is_alive():
                    self._fail(f"a client thread hung ({t.name})")
            self.check_kinds()
            summary["after"] = after = self.snapshot(stacks=True)
            self.compare(before, after)
        finally:
            self.stop_load.set()
            self.stop_faults.set()
            code = self.stop_server()
            self.log.close()
        if code != 0:
            self._fail(f"the supervisor exited with status {code} on SIGTERM")
        summary["log"] = self.scan_log()
        summary["faults"] = dict(collections.Counter(e.what
                                                     for e in self.events))
        summary["fault_times"] = [f"{e.what} {e.pid or ''} "
                                  f"t={e.at - self.t0:.1f}s"
                                  for e in self.events]
        summary["excused"] = {f"{w} {o}": n
                              for (w, o), n in self.excused.items()}
        by_kind: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter)
        for (proto, iface, kind, outcome), n in self.counts.items():
            by_kind[f"{kind} {proto}"][outcome] += n
        summary["requests"] = {k: dict(v) for k, v in sorted(by_kind.items())}
        per_iface: collections.Counter = collections.Counter()
        for (_, iface, _, _), n in self.counts.items():
            per_iface[iface] += n
        summary["by_interface"] = dict(per_iface)
        summary["total_requests"] = sum(self.counts.values())
        summary["peak"] = self.peak
        summary["rss_growth"] = self.rss_growth()
        summary["refused_why"] = dict(self.reasons.most_common(8))
        ready = re.findall(r"worker \d+ \(pid (\d+)\) ready",
                           self.log_path.read_text(errors="replace"))
        summary["worker_processes"] = len(set(ready) | {
            str(p) for p in self.pids_seen})
        summary["failures"] = self.failures
        summary["wall_seconds"] = round(time.monotonic() - t0, 1)
        self.report(summary)
        if a.json:
            Path(a.json).write_text(json.dumps(summary, indent=1,
                                               default=str))
        if a.results:
            write_results(Path(a.results), summary, self.args)
        return 1 if self.failures else 0

    def report(self, s: dict[str, Any]) -> None:
        print(f"soak: {s['seconds']:g} s of load ({s['wall_seconds']} s in "
              f"all), {'TLS, ' if s['tls'] else ''}{s['clients']} client "
              f"threads, "
              f"{s['total_requests']} requests "
              f"({', '.join(f'{k} {v}' for k, v in s['by_interface'].items())})")
        print(f"soak: faults {s['faults']}; refused/cut excused by them: "
              f"{s['excused']}")
        print(f"soak: why refused: {s['refused_why']}")
        for kind, outcomes in s["requests"].items():
            print(f"  {kind:18} " + ", ".join(f"{o} {n}" for o, n in
                                               sorted(outcomes.items())))
        for when in ("before", "after"):
            if when in s:
                snap = s[when]
                print(f"soak: {when:6} supervisor {snap['supervisor']}")
                for pid, w in snap["workers"].items():
                    print(f"soak: {when:6} worker {pid} {w}")
        print(f"soak: log: {s['log']} ({self.log_path})")
        for pid, g in s["rss_growth"].items():
            print(f"soak: worker {pid} RSS over {g['seconds']} s: first "
                  f"half {g['first_half_mib']} MiB, second "
                  f"{g['second_half_mib']}, growth {g['growth_mib']}, "
                  f"peak {g['peak_mib']}")
        print(f"soak: bounds per worker over the warm-up: {BOUNDS}; RSS "
              f"growth (second half of a worker's life over the first) "
              f"{RSS_GROWTH_MIB} MiB, ceiling {RSS_CEILING_MIB} MiB; "
              f"supervisor: {SUPERVISOR_BOUNDS}")
        if s["failures"]:
            print(f"soak: FAILED, {len(s['failures'])} failures:")
            for f in s["failures"][:40]:
                print(f"  {f}")
        else:
            print("soak: passed")


def write_results(path: Path, s: dict[str, Any],
                  args: argparse.Namespace) -> None:
    """Replace the soak's section of path (bench/results.md), keeping the
    others."""
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, text=True,
                                  capture_output=True).stdout.strip()
        except OSError:
            return "?"

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    outcomes = sorted({o for v in s["requests"].values() for o in v},
                      key=lambda o: (o != "ok", o))
    out = ["## Soak under faults", "",
           f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
           f"- machine: {os.cpu_count()} CPUs, load average at the end "
           f"{load} (a shared machine; the soak ran under `nice`)",
           f"- gohttp: {git('rev-parse', '--short', 'HEAD')}, Python "
           f"{sys.version.split()[0]}",
           f"- `python tests/soak/run.py --seconds {s['seconds']:g}"
           f"{' --tls' if s['tls'] else ''}` (`make soak`): "
           f"{s['clients']} client threads (a third on HTTP/2: "
           f"{'TLS with ALPN' if s['tls'] else 'h2c, prior knowledge'}), "
           f"`gohttp --workers 2`; {s['wall_seconds']} s in all with the "
           f"warm-up and the checks",
           f"- faults: {s['faults'].get('kill', 0)} SIGKILLs of a worker "
           f"(every {args.kill_every:g} s), {s['faults'].get('reload', 0)} "
           f"SIGHUP reloads (every {args.reload_every:g} s), none in the "
           f"last fifth; {s['worker_processes']} worker processes in all",
           f"- requests: {s['total_requests']:,} "
           f"({', '.join(f'{k} {v:,}' for k, v in s['by_interface'].items())}"
           f": native, WSGI, ASGI)",
           f"- failures: {len(s['failures'])}"
           + ("" if not s["failures"] else ": " + "; ".join(
               f"`{f}`" for f in s["failures"][:10])),
           "", "| kind | " + " | ".join(outcomes) + " |",
           "|---|" + "--:|" * len(outcomes)]
    for kind, v in s["requests"].items():
        out.append(f"| {kind} | " + " | ".join(
            f"{v[o]:,}" if o in v else "" for o in outcomes) + " |")
    out += ["", "ok: complete and every byte right (ok:500 and ok:cut: a "
            "raise-mid that ended as a whole 500, or cut off); refused: "
            "closed before any byte of the response; cut: closed part-way, "
            "as the framing shows; gave-up: the client's own reset or "
            "cancel.  Refused and cut answers of the kinds that must "
            "succeed came within a fault's window: "
            + (", ".join(f"{k} {n}" for k, n in s["excused"].items())
               or "none") + ".",
            "", "| process | RSS MiB | fds | threads | goroutines |",
            "|---|--:|--:|--:|--:|"]
    for when in ("before", "after"):
        snap = s.get(when)
        if not snap:
            continue
        sup = snap["supervisor"]
        out.append(f"| supervisor, {when} | {sup['rss_mib']} | {sup['fds']} "
                   f"| {sup['threads']} | |")
        for pid, w in snap["workers"].items():
            out.append(f"| worker {pid}, {when} | {w['rss_mib']} | "
                       f"{w['fds']} | {w['threads']} | {w['goroutines']} |")
    for who in ("supervisor", "workers"):
        p = s["peak"].get(who)
        if p:
            out.append(f"| {who}, peak under the load | {p['rss_mib']} | "
                       f"{p['fds']:g} | {p['threads']:g} | |")
    if s.get("rss_growth"):
        out += ["", f"RSS of each worker that lived {RSS_MIN_SAMPLES} "
                f"samples or more under the load, sampled every "
                f"{RSS_EVERY:g} s (medians of the first and second half; "
                f"bounds: growth {RSS_GROWTH_MIB:g} MiB, ceiling "
                f"{RSS_CEILING_MIB:g} MiB):", "",
                "| worker | seconds | first half MiB | second half MiB | "
                "growth MiB | peak MiB |", "|---|--:|--:|--:|--:|--:|"]
        for pid, g in s["rss_growth"].items():
            out.append(f"| {pid} | {g['seconds']} | {g['first_half_mib']} | "
                       f"{g['second_half_mib']} | {g['growth_mib']} | "
                       f"{g['peak_mib']} |")
    out += ["", f"Before: after the warm-up, with no load; after: once the "
            f"load stopped and every client connection closed.  Bounds "
            f"checked, per worker over the largest warm-up figure: "
            f"{', '.join(f'{k} +{v}' for k, v in BOUNDS.items())}; the "
            f"supervisor: fds and threads unchanged.  Log: "
            f"{s['log']['tracebacks_expected']:,} tracebacks of the app's "
            f"SoakError, {s['log']['tracebacks_client_gone']:,} of "
            f"BrokenPipeError from native handlers writing to a client "
            f"that reset, {s['log']['tracebacks_other']} others; "
            f"{s['log']['crash_lines']} lines with a crash signature.", ""]
    begin, end = "<!-- soak -->", "<!-- /soak -->"
    block = f"{begin}\n" + "\n".join(out) + f"{end}\n"
    old = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?",
                         re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old)
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=600.0,
                   help="how long the load runs (default 600)")
    p.add_argument("--clients", type=int, default=6,
                   help="client threads, a third of them on HTTP/2 "
                        "(default 6)")
    p.add_argument("--kill-every", type=float, default=None,
                   help="seconds between SIGKILLs of a worker (default: "
                        "the load's 1/30, at least 2)")
    p.add_argument("--reload-every", type=float, default=None,
                   help="seconds between SIGHUPs (default: the load's "
                        "1/8, at least 4)")
    p.add_argument("--tls", action="store_true",
                   help="serve HTTPS, HTTP/2 chosen by ALPN (default: "
                        "plain HTTP/1.1 and h2c with prior knowledge)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kinds", type=lambda t: t.split(","),
                   help="only these kinds of load, comma-separated (to "
                        "chase a finding): " + ",".join(KINDS))
    p.add_argument("--interfaces", type=lambda t: t.split(","),
                   help="only these of n,w,a (native, WSGI, ASGI)")
    p.add_argument("--protocols", type=lambda t: t.split(","),
                   help="the client threads' protocols in turn (default "
                        "h1,h1,h2)")
    p.add_argument("--out", default=str(ROOT / "build" / "soak"),
                   help="where the server's log goes")
    p.add_argument("--json", help="write the summary there as JSON")
    p.add_argument("--results", help="write the figures into this "
                   "markdown file's soak section (make soak: "
                   "bench/results.md)")
    args = p.parse_args(argv)
    if args.kill_every is None:
        args.kill_every = max(2.0, args.seconds / 30)
    if args.reload_every is None:
        args.reload_every = max(4.0, args.seconds / 8)
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
