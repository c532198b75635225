"""Leaks on the WebSocket path: many connections opened and closed (by the
client, by the app, by a client that vanishes) leave no goroutines,
Python objects, traced memory or RSS behind."""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc

import pytest

from gohttp import _gohttp
from helpers.asgi_fixtures import serve_asgi  # noqa: F401 (a fixture)
from helpers.common import TIMEOUT, rss_bytes
from helpers.wsframes import OP_CLOSE, OP_TEXT, RawWebSocket, close_payload
from test_asgi_leak import live_calls, settle

MiB = 1024 * 1024


async def app(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        msg = await receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("text") == "bye":
            await send({"type": "websocket.close", "code": 4000})
            return
        await send({"type": "websocket.send", "text": msg["text"] * 2,
                    "bytes": None})


def one_of_each(port: int) -> None:
    """Three connections: the client closes, the app closes, the client
    vanishes."""
    with RawWebSocket.connect(port) as ws:
        ws.send_frame(OP_TEXT, b"x" * 100)
        assert ws.read_message() == (OP_TEXT, b"x" * 200)
        ws.send_frame(OP_CLOSE, close_payload(1000))
        assert ws.read_close()[0] == 1000
    with RawWebSocket.connect(port) as ws:
        ws.send_frame(OP_TEXT, b"bye")
        assert ws.read_close()[0] == 4000
    with RawWebSocket.connect(port) as ws:
        ws.send_frame(OP_TEXT, b"y")
        assert ws.read_message() == (OP_TEXT, b"yy")


def goroutines_settle(at_most: int = 0) -> int:
    """The goroutine count once it is at most at_most, or else once it
    stops falling (a closed connection's end on the server side comes
    after the client's)."""
    deadline = time.monotonic() + TIMEOUT
    last, same = -1, 0
    while (n := _gohttp._goroutines()) > at_most and same < 5:
        if time.monotonic() > deadline:
            break
        same = same + 1 if n == last else 0
        last = n
        time.sleep(0.02)
    return n


@pytest.mark.heavy
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's quarantine holds freed memory")
def test_connections_leave_nothing_behind(serve_asgi):
    srv = serve_asgi(app)
    for _ in range(100):
        one_of_each(srv.port)
    settle()
    goroutines = goroutines_settle()
    refs_before = sys.getrefcount(app)
    objects_before = len(gc.get_objects())
    rss_before = rss_bytes()
    tracemalloc.start()
    snap_before = tracemalloc.take_snapshot()

    for _ in range(500):
        one_of_each(srv.port)

    settle()
    snap_after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    after = goroutines_settle(goroutines)
    traced = sum(s.size_diff for s in snap_after.compare_to(snap_before,
                                                            "filename"))
    growth = rss_bytes() - rss_before
    assert after <= goroutines, (goroutines, after)
    assert traced < 256 * 1024, f"Python heap grew by {traced} bytes"
    assert growth < 8 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"
    assert len(gc.get_objects()) - objects_before < 500
    assert sys.getrefcount(app) == refs_before
    assert live_calls() == 0


def test_a_few_connections_leave_no_goroutines(serve_asgi):
    """The quick version, in every run: 30 connections' goroutines end."""
    srv = serve_asgi(app)
    one_of_each(srv.port)
    settle()
    before = goroutines_settle()
    for _ in range(10):
        one_of_each(srv.port)
    assert goroutines_settle(before) <= before
    settle()
    assert live_calls() == 0
