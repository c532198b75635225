"""Bad input and faults on ASGI WebSockets, against a real server, with raw
frames (tests/helpers/wsframes.py) and the `websockets` client: frames
that break RFC 6455 get close 1002, invalid UTF-8 1007, a message over
ws_max_size 1009; a client that vanishes, one that never reads (send()
applies backpressure), one that never answers pings.  The app learns the
code in websocket.disconnect, and the server goes on serving after each.
Also the WebSocket options: ws_max_connections, ws_per_message_deflate."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import gohttp
from helpers.asgi_fixtures import asgi_errors, serve_asgi  # noqa: F401
from helpers.common import TIMEOUT
from helpers.wsframes import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING,
                              OP_TEXT, RawWebSocket, close_payload)

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402


class Closes:
    """An echo app that records the websocket.disconnect of each
    connection."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.event = threading.Event()

    async def __call__(self, scope, receive, send):
        assert scope["type"] == "websocket"
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                self.codes.append(msg["code"])
                self.event.set()
                return
            await send({"type": "websocket.send", "text": msg.get("text"),
                        "bytes": msg.get("bytes")})

    def wait(self) -> int:
        assert self.event.wait(TIMEOUT), "the app got no disconnect"
        self.event.clear()
        return self.codes[-1]


def still_serves(srv: gohttp.Server) -> None:
    with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
        ws.send("still")
        assert ws.recv(TIMEOUT) == "still"


@pytest.fixture
def echo(serve_asgi):
    app = Closes()
    srv = serve_asgi(app, ws_max_size=1000)
    return srv, app


@pytest.mark.parametrize("frame", [
    pytest.param(dict(opcode=OP_TEXT, payload=b"hi", mask=False),
                 id="unmasked"),
    pytest.param(dict(opcode=OP_TEXT, payload=b"hi", rsv=4), id="rsv1"),
    pytest.param(dict(opcode=OP_BINARY, payload=b"hi", rsv=2), id="rsv2"),
    pytest.param(dict(opcode=0x3, payload=b"hi"), id="bad-opcode"),
    pytest.param(dict(opcode=0xB, payload=b""), id="bad-control-opcode"),
    pytest.param(dict(opcode=OP_PING, payload=b"x" * 126),
                 id="control-over-125"),
    pytest.param(dict(opcode=OP_PING, payload=b"x", fin=False),
                 id="fragmented-control"),
    pytest.param(dict(opcode=OP_CONT, payload=b"x"), id="lone-continuation"),
    pytest.param(dict(opcode=OP_CLOSE, payload=close_payload(999)),
                 id="close-code-999"),
    pytest.param(dict(opcode=OP_CLOSE, payload=close_payload(1005)),
                 id="close-code-1005"),
    pytest.param(dict(opcode=OP_CLOSE, payload=close_payload(2000)),
                 id="close-code-2000"),
    pytest.param(dict(opcode=OP_CLOSE, payload=b"\x03"),
                 id="close-payload-1-byte"),
])
def test_a_protocol_error_closes_1002(echo, frame):
    srv, app = echo
    with RawWebSocket.connect(srv.port) as ws:
        ws.send_frame(frame.pop("opcode"), frame.pop("payload"), **frame)
        code, _ = ws.read_close()
        assert code == 1002
    assert app.wait() == 1002
    still_serves(srv)


def test_invalid_utf8_in_text_closes_1007(echo):
    srv, app = echo
    with RawWebSocket.connect(srv.port) as ws:
        ws.send_frame(OP_TEXT, b"ok")
        assert ws.read_message() == (OP_TEXT, b"ok")
        ws.send_frame(OP_TEXT, b"\xc3\x28 bad")
        assert ws.read_close()[0] == 1007
    assert app.wait() == 1007
    still_serves(srv)


def test_invalid_utf8_split_across_fragments_closes_1007(echo):
    srv, app = echo
    with RawWebSocket.connect(srv.port) as ws:
        ws.send_frame(OP_TEXT, b"caf\xc3", fin=False)   # valid once joined
        ws.send_frame(OP_CONT, b"\xa9")
        assert ws.read_message() == (OP_TEXT, "café".encode())
        ws.send_frame(OP_TEXT, b"a\xff", fin=False)
        ws.send_frame(OP_CONT, b"b")
        assert ws.read_close()[0] == 1007
    assert app.wait() == 1007


def test_a_message_over_ws_max_size_closes_1009(echo):
    srv, app = echo
    with connect(f"ws://127.0.0.1:{srv.port}/", compression=None) as ws:
        ws.send("x" * 1000)   # the limit itself is fine
        assert ws.recv(TIMEOUT) == "x" * 1000
        ws.send("x" * 1001)
        with pytest.raises(websockets.ConnectionClosedError) as info:
            ws.recv(TIMEOUT)
    assert info.value.rcvd.code == 1009
    assert app.wait() == 1009
    # Fragments add up, and compressed messages count uncompressed.
    with RawWebSocket.connect(srv.port) as raw:
        raw.send_frame(OP_BINARY, b"x" * 600, fin=False)
        raw.send_frame(OP_CONT, b"x" * 600)
        assert raw.read_close()[0] == 1009
    assert app.wait() == 1009
    with connect(f"ws://127.0.0.1:{srv.port}/") as ws:   # deflate
        ws.send("y" * 5000)   # compresses to a few bytes
        with pytest.raises(websockets.ConnectionClosedError) as info:
            ws.recv(TIMEOUT)
    assert info.value.rcvd.code == 1009
    still_serves(srv)


def test_a_client_that_vanishes_mid_message(echo):
    srv, app = echo
    with RawWebSocket.connect(srv.port) as ws:
        ws.send_raw(b"\x81\xfe\x01\x00" + b"\x00" * 4 + b"x" * 10)  # 256 claimed
    assert app.wait() == 1006
    still_serves(srv)


def test_a_client_that_never_answers_pings_is_dropped(serve_asgi):
    app = Closes()
    srv = serve_asgi(app, ws_ping_interval=0.05, ws_ping_timeout=0.1)
    with RawWebSocket.connect(srv.port) as ws:   # never reads: no pong
        assert app.wait() == 1006
        assert ws.closed_by_server()
    # One that answers (the websockets client does) stays.
    with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
        time.sleep(0.4)
        ws.send("alive")
        assert ws.recv(TIMEOUT) == "alive"


def test_a_client_that_never_reads_slows_the_app_down(serve_asgi):
    """send() applies backpressure: with the client not reading, the app
    gets stuck in send() after the socket buffers and Go's 64 KiB are
    full, instead of queueing without bound.  Once the client goes,
    send() raises ClientDisconnected (an OSError)."""
    sent = []
    outcome = []
    done = threading.Event()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        try:
            while True:
                await send({"type": "websocket.send",
                            "bytes": b"x" * 65536})
                sent.append(1)
        except OSError as exc:
            outcome.append(exc)
        finally:
            done.set()

    srv = serve_asgi(app, ws_per_message_deflate=False)
    with RawWebSocket.connect(srv.port) as ws:
        deadline = time.monotonic() + TIMEOUT
        last = -1
        while last != len(sent):   # wait until it stops growing
            assert time.monotonic() < deadline
            last = len(sent)
            time.sleep(0.3)
        # The kernel's buffers (both ends) plus Go's bound, not more.
        assert len(sent) * 65536 < 64 << 20, len(sent)
        assert not done.is_set()
    assert done.wait(TIMEOUT)
    assert isinstance(outcome[0], gohttp.ClientDisconnected)
    still_serves_plain(srv)


def still_serves_plain(srv: gohttp.Server) -> None:
    with RawWebSocket.handshake(srv.port) as ws:
        assert ws.status == 101


def test_ws_max_connections_answers_503_beyond(serve_asgi):
    app = Closes()
    srv = serve_asgi(app, ws_max_connections=2)
    a = connect(f"ws://127.0.0.1:{srv.port}/")
    b = connect(f"ws://127.0.0.1:{srv.port}/")
    try:
        with pytest.raises(websockets.InvalidStatus) as info:
            connect(f"ws://127.0.0.1:{srv.port}/", open_timeout=TIMEOUT)
        assert info.value.response.status_code == 503
    finally:
        a.close()
        app.wait()
    still_serves(srv)   # a place is free again
    b.close()


@pytest.mark.parametrize("deflate", [True, False])
def test_ws_per_message_deflate(serve_asgi, deflate):
    srv = serve_asgi(Closes(), ws_per_message_deflate=deflate)
    with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
        offered = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert ("permessage-deflate" in offered) == deflate
        ws.send("z" * 10000)
        assert ws.recv(TIMEOUT) == "z" * 10000


@pytest.mark.parametrize("name,value,exc", [
    ("ws_max_size", 0, ValueError),
    ("ws_max_size", "big", TypeError),
    ("ws_ping_interval", -1, ValueError),
    ("ws_ping_timeout", "soon", TypeError),
    ("ws_per_message_deflate", 1, TypeError),
    ("ws_max_connections", 0, ValueError),
])
def test_bad_websocket_options(name, value, exc):
    with pytest.raises(exc, match=name):
        gohttp.Server("127.0.0.1", 0, **{name: value})


def test_an_app_raising_after_accept_keeps_the_server_serving(
        serve_asgi, asgi_errors):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        msg = await receive()
        if msg.get("text") == "boom":
            raise RuntimeError("boom")
        await send({"type": "websocket.send", "text": msg["text"]})

    srv = serve_asgi(app)
    for _ in range(3):
        with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
            ws.send("boom")
            with pytest.raises(websockets.ConnectionClosedError) as info:
                ws.recv(TIMEOUT)
            assert info.value.rcvd.code == 1011
    with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
        ws.send("fine")
        assert ws.recv(TIMEOUT) == "fine"
    assert len(asgi_errors()) == 3
