"""A raw WebSocket client for the tests of bad input: it sends the frames
it is told to, right or wrong (unmasked, reserved bits, bad opcodes,
oversized control frames), and reads the server's frames as they come.
The `websockets` library refuses to send such frames; this does not.

    with RawWebSocket.connect(srv.port, "/echo") as ws:
        ws.send_frame(OP_TEXT, b"hi", mask=False)   # a protocol error
        assert ws.read_close()[0] == 1002

Every read has a timeout (helpers.common.TIMEOUT): a server that never
answers fails the test instead of hanging it.  Both native handlers and
ASGI apps are served through the same Go code, so the same helper tests
both (tests/test_asgi_websocket_faults.py; wsb's tests of the native API).
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from typing import Optional

from helpers.common import TIMEOUT

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True,
                 rsv: int = 0, mask: bool = True,
                 length: Optional[int] = None) -> bytes:
    """One frame as the wire carries it (RFC 6455 5.2).  rsv is the three
    reserved bits (0 to 7); length, when given, is the length the header
    claims instead of len(payload)."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv & 7) << 4 | opcode & 0xF
    second = 0x80 if mask else 0
    if n < 126:
        header = struct.pack("!BB", first, second | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, second | 126, n)
    else:
        header = struct.pack("!BBQ", first, second | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + masked


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame."""
    return struct.pack("!H", code) + reason.encode()


class RawWebSocket:
    """A client socket after a successful handshake (connect), or the
    socket and the server's answer to one it refused (handshake)."""

    def __init__(self, sock: socket.socket, status: int, head: bytes,
                 rest: bytes) -> None:
        self.sock = sock
        self.status = status   # of the handshake's response
        self.head = head       # the response's status line and headers
        self.buf = rest        # bytes read past the headers

    # ---- the handshake ---------------------------------------------------

    @classmethod
    def handshake(cls, port: int, path: str = "/", *,
                  headers: Optional[dict[str, str]] = None,
                  host: str = "127.0.0.1",
                  request: Optional[bytes] = None) -> "RawWebSocket":
        """Send a handshake (headers are added to, or replace, the usual
        ones; a value None drops one) or the raw request given, and read
        the response's head, whatever its status."""
        sock = socket.create_connection((host, port), timeout=TIMEOUT)
        if request is None:
            fields = {
                "Host": f"{host}:{port}",
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
                "Sec-WebSocket-Version": "13",
            }
            for k, v in (headers or {}).items():
                if v is None:
                    fields.pop(k, None)
                else:
                    fields[k] = v
            request = (f"GET {path} HTTP/1.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head else 0
        return cls(sock, status, head, rest)

    @classmethod
    def connect(cls, port: int, path: str = "/", **kw: object
                ) -> "RawWebSocket":
        """handshake, which must succeed (101)."""
        ws = cls.handshake(port, path, **kw)  # type: ignore[arg-type]
        if ws.status != 101:
            ws.close()
            raise AssertionError(f"handshake refused: {ws.head!r}")
        return ws

    def header(self, name: str) -> Optional[str]:
        """A header of the handshake's response."""
        for line in self.head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == name.lower().encode():
                return v.strip().decode()
        return None

    # ---- frames ----------------------------------------------------------

    def send_frame(self, opcode: int, payload: bytes = b"", **kw: object
                   ) -> None:
        """Send one frame (encode_frame's keywords)."""
        self.sock.sendall(encode_frame(opcode, payload, **kw))  # type: ignore[arg-type]

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"the server closed the connection "
                               f"({len(self.buf)} of {n} bytes read)")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self) -> tuple[int, bool, bytes]:
        """The next frame from the server: (opcode, fin, payload).  The
        server's frames must be unmasked."""
        first, second = self._read(2)
        assert not second & 0x80, "the server masked a frame"
        n = second & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read(8))
        return first & 0xF, bool(first & 0x80), self._read(n)

    def read_message(self) -> tuple[int, bytes]:
        """The next data message, whole (control frames before it are
        skipped, pings answered): (opcode, payload).  A close frame is
        returned as (OP_CLOSE, payload)."""
        opcode, data = None, b""
        while True:
            op, fin, payload = self.read_frame()
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                return op, payload
            opcode = op if opcode is None else opcode
            data += payload
            if fin:
                return opcode, data

    def read_close(self) -> tuple[Optional[int], str]:
        """Read frames until the server's close frame: its (code, reason),
        code None for an empty one.  Answers it with a close frame."""
        while True:
            op, payload = self.read_message()
            if op == OP_CLOSE:
                break
        try:
            self.send_frame(OP_CLOSE, payload[:2])
        except OSError:
            pass
        if len(payload) < 2:
            return None, ""
        return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    def closed_by_server(self) -> bool:
        """Whether the server closes the TCP connection (EOF or reset)
        within TIMEOUT, whatever it sends first."""
        try:
            while self.sock.recv(65536):
                pass
        except socket.timeout:
            return False
        except OSError:
            pass
        return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawWebSocket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
