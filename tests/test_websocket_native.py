"""The native WebSocket API (@srv.websocket, gohttp/_websocket.py), against
a real server with the `websockets` client library.

Handlers run on the ASGI loop (async def) or in threads of their own
(def): what they see goes into a queue.Queue the test reads with a
timeout, never asserted inside the handler.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import resource
import threading
from typing import Any, Callable

import pytest

import gohttp
from helpers.common import TIMEOUT, get

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402


def ws_url(srv: gohttp.Server, path: str) -> str:
    return "ws://127.0.0.1:%d%s" % (srv.port, path)


def dial(srv: gohttp.Server, path: str, **kw: Any) -> Any:
    kw.setdefault("open_timeout", TIMEOUT)
    kw.setdefault("close_timeout", TIMEOUT)
    return connect(ws_url(srv, path), **kw)


def closed_with(client: Any) -> tuple[int, str]:
    """Wait for the server's close frame: (code, reason)."""
    with pytest.raises(ConnectionClosed) as info:
        client.recv(timeout=TIMEOUT)
    rcvd = info.value.rcvd
    assert rcvd is not None, "the server dropped the connection without a close frame"
    return rcvd.code, rcvd.reason


@pytest.fixture
def seen() -> "queue.Queue[Any]":
    return queue.Queue()


def take(seen: "queue.Queue[Any]") -> Any:
    return seen.get(timeout=TIMEOUT)


# ---- messages both ways ---------------------------------------------------

def test_async_handler_echoes_text_and_bytes(server, seen):
    @server.websocket("/echo")
    async def echo(ws, req):
        seen.put((type(ws), threading.current_thread().name))
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    with dial(server, "/echo") as client:
        client.send("héllo")
        assert client.recv(timeout=TIMEOUT) == "héllo"
        client.send(b"\x00\xffbin")
        assert client.recv(timeout=TIMEOUT) == b"\x00\xffbin"
        client.send("")
        assert client.recv(timeout=TIMEOUT) == ""
    kind, thread = take(seen)
    assert kind is gohttp.AsyncWebSocket
    assert thread == "gohttp-asgi"


def test_sync_handler_runs_in_a_thread_of_its_own(server, seen):
    @server.websocket("/echo")
    def echo(ws, req):
        seen.put((type(ws), threading.current_thread().name))
        ws.accept()
        for message in ws:
            ws.send(message)
        seen.put((ws.close_code, ws.close_reason))

    with dial(server, "/echo") as client:
        client.send("text")
        assert client.recv(timeout=TIMEOUT) == "text"
        client.send(b"bytes")
        assert client.recv(timeout=TIMEOUT) == b"bytes"
        client.close(4001, "bye")
    kind, thread = take(seen)
    assert kind is gohttp.WebSocket
    assert thread.startswith("gohttp-ws ")
    assert take(seen) == (4001, "bye")


@pytest.mark.parametrize("style", ["async", "sync"])
def test_iteration_ends_when_the_client_closes(server, seen, style):
    if style == "async":
        @server.websocket("/it")
        async def handler(ws, req):
            await ws.accept()
            seen.put([m async for m in ws])
            seen.put((ws.close_code, ws.close_reason, ws.closed))
    else:
        @server.websocket("/it")
        def handler(ws, req):
            ws.accept()
            seen.put(list(ws))
            seen.put((ws.close_code, ws.close_reason, ws.closed))

    with dial(server, "/it") as client:
        client.send("a")
        client.send(b"b")
    assert take(seen) == ["a", b"b"]
    assert take(seen) == (1000, "", True)


def test_receive_raises_websocketclosed_and_send_after_it(server, seen):
    @server.websocket("/r")
    async def handler(ws, req):
        await ws.accept()
        seen.put(await ws.receive())
        with pytest.raises(gohttp.WebSocketClosed) as info:
            await ws.receive()
        seen.put((info.value.code, info.value.reason))
        for again in (ws.receive(), ws.send("late")):
            try:
                await again
            except gohttp.WebSocketClosed as exc:
                seen.put(("closed", exc.code))

    with dial(server, "/r") as client:
        client.send("one")
        client.close(4002, "done here")
    assert take(seen) == "one"
    assert take(seen) == (4002, "done here")
    assert take(seen) == ("closed", 4002)
    assert take(seen) == ("closed", 4002)


def test_close_from_the_handler(server, seen):
    @server.websocket("/c")
    async def handler(ws, req):
        seen.put((ws.accepted, ws.closed, ws.close_code))
        await ws.accept()
        seen.put((ws.accepted, ws.closed, ws.close_code))
        await ws.send("before")
        await ws.close(4003, "go away")
        seen.put((ws.accepted, ws.closed))
        seen.put((ws.close_code, ws.close_reason))
        await ws.close()            # harmless twice
        async for _ in ws:          # nothing: already closed
            seen.put("message after close")
        seen.put("end")

    with dial(server, "/c") as client:
        assert client.recv(timeout=TIMEOUT) == "before"
        assert closed_with(client) == (4003, "go away")
    assert take(seen) == (False, False, None)
    assert take(seen) == (True, False, None)
    assert take(seen) == (True, True)
    assert take(seen) == (4003, "go away")
    assert take(seen) == "end"


# ---- the request ----------------------------------------------------------

def test_req_from_the_upgrade_request(server, seen):
    @server.websocket("/rooms/{room}/{rest...}")
    async def handler(ws, req):
        seen.put({
            "method": req.method, "path": req.path, "url": req.url,
            "query": req.query, "query_params": req.query_params,
            "room": req.path_value("room"), "rest": req.path_value("rest"),
            "none": req.path_value("nope"), "token": req.headers["x-token"],
            "host": req.host, "scheme": req.scheme,
            "remote": req.remote_addr,
            "headers_type": type(req.headers),
        })
        await ws.accept()

    with dial(server, "/rooms/r%201/a/b?x=1&x=2&y=",
              additional_headers={"X-Token": "t0k"}) as client:
        closed_with(client)
    got = take(seen)
    assert got == {
        "method": "GET", "path": "/rooms/r 1/a/b",
        "url": "/rooms/r%201/a/b?x=1&x=2&y=",
        "query": "x=1&x=2&y=", "query_params": {"x": ["1", "2"], "y": [""]},
        "room": "r 1", "rest": "a/b", "none": "", "token": "t0k",
        "host": f"127.0.0.1:{server.port}", "scheme": "ws",
        "remote": got["remote"], "headers_type": gohttp.Headers,
    }
    assert got["remote"].startswith("127.0.0.1:")


def test_a_plain_get_gets_426(server):
    @server.websocket("/ws")
    async def handler(ws, req):
        raise AssertionError("not a WebSocket: never called")

    resp = get(server.url + "/ws")
    assert resp.status == 426
    assert resp.headers["Upgrade"].lower() == "websocket"


# ---- the handshake --------------------------------------------------------

def test_subprotocol_negotiation(server, seen):
    @server.websocket("/p")
    async def handler(ws, req):
        seen.put(ws.subprotocols)
        try:
            await ws.accept(subprotocol="not-offered")
        except ValueError as exc:
            seen.put(str(exc))
        await ws.accept(subprotocol=ws.subprotocols[-1])
        await ws.send(ws.subprotocol)

    with dial(server, "/p", subprotocols=["chat.v1", "chat.v2"]) as client:
        assert client.subprotocol == "chat.v2"
        assert client.recv(timeout=TIMEOUT) == "chat.v2"
    assert take(seen) == ["chat.v1", "chat.v2"]
    assert "did not offer" in take(seen)


def test_no_subprotocol_offered(server, seen):
    @server.websocket("/p")
    async def handler(ws, req):
        seen.put((ws.subprotocols, ws.subprotocol))
        await ws.accept(headers={"X-Served-By": "gohttp"})

    with dial(server, "/p") as client:
        assert client.subprotocol is None
        assert client.response.headers["X-Served-By"] == "gohttp"
    assert take(seen) == ([], None)


@pytest.mark.parametrize("style", ["async", "sync"])
def test_refuse_with_a_plain_http_response(server, style):
    if style == "async":
        @server.websocket("/no")
        async def handler(ws, req):
            await ws.refuse(401, "log in first\n",
                            {"WWW-Authenticate": "Bearer"})
    else:
        @server.websocket("/no")
        def handler(ws, req):
            ws.refuse(401, "log in first\n", {"WWW-Authenticate": "Bearer"})

    with pytest.raises(InvalidStatus) as info:
        dial(server, "/no")
    response = info.value.response
    assert response.status_code == 401
    assert bytes(response.body) == b"log in first\n"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_returning_without_accepting_is_403(server):
    @server.websocket("/quiet")
    async def handler(ws, req):
        return None

    with pytest.raises(InvalidStatus) as info:
        dial(server, "/quiet")
    assert info.value.response.status_code == 403


def test_close_before_accept_is_403(server):
    @server.websocket("/c")
    def handler(ws, req):
        ws.close()

    with pytest.raises(InvalidStatus) as info:
        dial(server, "/c")
    assert info.value.response.status_code == 403


# ---- faults ---------------------------------------------------------------

@pytest.mark.parametrize("style", ["async", "sync"])
def test_a_handler_that_raises_closes_1011_and_logs(server, caplog, style):
    if style == "async":
        @server.websocket("/boom")
        async def handler(ws, req):
            await ws.accept()
            if await ws.receive() == "boom":
                raise ZeroDivisionError("the handler's bug")
    else:
        @server.websocket("/boom")
        def handler(ws, req):
            ws.accept()
            if ws.receive() == "boom":
                raise ZeroDivisionError("the handler's bug")

    with caplog.at_level(logging.ERROR, logger="gohttp.error"):
        with dial(server, "/boom") as client:
            client.send("boom")
            assert closed_with(client) == (1011, "internal error")
        # the server goes on
        with dial(server, "/boom") as client:
            client.send("fine")
            assert closed_with(client)[0] == 1000
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "Exception in WebSocket handler" in errors[0].getMessage()
    assert "/boom" in errors[0].getMessage()
    assert errors[0].exc_info[0] is ZeroDivisionError


def test_a_handler_that_raises_before_accepting_is_500(server, caplog):
    @server.websocket("/boom")
    async def handler(ws, req):
        raise KeyError("before accept")

    with caplog.at_level(logging.ERROR, logger="gohttp.error"):
        with pytest.raises(InvalidStatus) as info:
            dial(server, "/boom")
    assert info.value.response.status_code == 500
    assert [r.exc_info[0] for r in caplog.records
            if r.levelno >= logging.ERROR] == [KeyError]


def test_websocketclosed_escaping_the_handler_is_not_an_error(server, caplog,
                                                              seen):
    @server.websocket("/w")
    async def handler(ws, req):
        await ws.accept()
        try:
            while True:
                await ws.receive()
        finally:
            seen.put("left")

    with caplog.at_level(logging.ERROR, logger="gohttp.error"):
        with dial(server, "/w") as client:
            client.send("x")
        assert take(seen) == "left"
        get(server.url + "/")   # a request after: the handler has ended
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_wrong_use_raises_clear_exceptions(server, seen):
    @server.websocket("/wrong")
    async def handler(ws, req):
        async def outcome(awaitable):
            try:
                await awaitable
            except Exception as exc:
                return type(exc).__name__, str(exc)
            return "ok"

        seen.put(("receive before accept", await outcome(ws.receive())))
        seen.put(("send before accept", await outcome(ws.send("x"))))
        seen.put(("accept", await outcome(ws.accept())))
        seen.put(("accept twice", await outcome(ws.accept())))
        seen.put(("refuse after accept", await outcome(ws.refuse(403))))
        seen.put(("send int", await outcome(ws.send(42))))
        seen.put(("send dict", await outcome(ws.send({"a": 1}))))
        seen.put(("close 1005", await outcome(ws.close(1005))))
        seen.put(("close str", await outcome(ws.close("1000"))))
        seen.put(("long reason", await outcome(ws.close(1000, "é" * 62))))
        seen.put(("accept headers str",
                  await outcome(ws.accept(headers="X: y"))))
        seen.put(("close", await outcome(ws.close(4000, "done"))))
        seen.put(("send after close", await outcome(ws.send("x"))))
        seen.put(("receive after close", await outcome(ws.receive())))
        seen.put(("close again", await outcome(ws.close())))
        seen.put("end")

    with dial(server, "/wrong") as client:
        assert closed_with(client) == (4000, "done")
    got = {}
    while (item := take(seen)) != "end":
        got[item[0]] = item[1]
    assert got["receive before accept"] == (
        "StateError", "receive(): call accept() first")
    assert got["send before accept"][0] == "StateError"
    assert got["accept"] == "ok"
    assert got["accept twice"] == (
        "StateError", "accept(): the WebSocket is accepted already")
    assert got["refuse after accept"][0] == "StateError"
    assert got["send int"][0] == "TypeError"
    assert "not int" in got["send int"][1]
    assert got["send dict"][0] == "TypeError"
    assert got["close 1005"][0] == "ValueError"
    assert got["close str"][0] == "TypeError"
    assert got["long reason"][0] == "ValueError"
    assert got["accept headers str"][0] == "TypeError"
    assert got["close"] == "ok"
    assert got["send after close"][0] == "StateError"
    assert "closed the WebSocket" in got["send after close"][1]
    assert got["receive after close"][0] == "StateError"
    assert got["close again"] == "ok"


def test_a_sync_ws_cannot_block_the_loop(server, seen):
    held: "queue.Queue[gohttp.WebSocket]" = queue.Queue()

    @server.websocket("/sync")
    def sync_handler(ws, req):
        ws.accept()
        held.put(ws)
        for message in ws:
            ws.send(message)

    @server.websocket("/async")
    async def async_handler(ws, req):
        other = held.get_nowait()
        try:
            other.send("from the loop")
        except gohttp.StateError as exc:
            seen.put(str(exc))
        await ws.accept()

    with dial(server, "/sync") as sync_client:
        sync_client.send("ping")
        assert sync_client.recv(timeout=TIMEOUT) == "ping"
        with dial(server, "/async"):
            pass
        assert "event loop" in take(seen)
        sync_client.send("still there")
        assert sync_client.recv(timeout=TIMEOUT) == "still there"

def test_another_thread_may_send_to_a_sync_ws(server, seen):
    @server.websocket("/s")
    def handler(ws, req):
        ws.accept()
        sender = threading.Thread(target=ws.send, args=("from elsewhere",))
        sender.start()
        sender.join(TIMEOUT)
        seen.put(ws.receive())

    with dial(server, "/s") as client:
        assert client.recv(timeout=TIMEOUT) == "from elsewhere"
        client.send("thanks")
    assert take(seen) == "thanks"


def test_registration_errors(server):
    with pytest.raises(TypeError, match="pattern string"):
        @server.websocket
        async def bare(ws, req):
            pass

    with pytest.raises(TypeError, match="two arguments"):
        @server.websocket("/one")
        async def one(ws):
            pass

    with pytest.raises(TypeError, match="callable"):
        server.websocket("/x")(42)

    with pytest.raises(ValueError):
        server.websocket("/{bad")(lambda ws, req: None)


def test_the_default_server_decorator():
    """gohttp.websocket registers on the server gohttp.run() serves (not
    started here)."""
    async def handler(ws, req):
        pass

    assert gohttp.websocket("/default-server-ws")(handler) is handler


# ---- many connections -----------------------------------------------------

@pytest.mark.heavy
def test_a_thousand_idle_async_connections_need_no_threads():
    """1,000 WebSockets waiting in receive() hold no thread and no place
    among max_handlers (4 here): plain requests are served meanwhile, and
    every connection still answers afterwards."""
    count = 1000
    # Both ends live in this process: two descriptors a connection.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * count + 500:
        if hard != resource.RLIM_INFINITY and hard < 2 * count + 500:
            pytest.skip(f"the open-file limit ({hard}) is below "
                        f"{2 * count + 500}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = gohttp.Server("127.0.0.1", 0, max_handlers=4, shutdown_timeout=5)

    @srv.websocket("/idle")
    async def idle(ws, req):
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    @srv.route("GET /plain")
    def plain(w, req):
        w.write(f"threads {threading.active_count()}")

    srv.start()
    try:
        threads_before = threading.active_count()

        async def run() -> tuple[list[Any], int]:
            from websockets.asyncio.client import connect as aconnect

            url = ws_url(srv, "/idle")
            gate = asyncio.Semaphore(100)

            async def open_one() -> Any:
                async with gate:
                    return await aconnect(url, open_timeout=TIMEOUT,
                                          ping_interval=None)

            conns = await asyncio.gather(*(open_one() for _ in range(count)))
            # all open and idle: the server still serves plain requests
            plain_threads = await asyncio.to_thread(
                lambda: get(srv.url + "/plain"))
            assert plain_threads.status == 200
            during = threading.active_count()
            for i, conn in enumerate(conns):
                await conn.send(str(i))
            answers = [await conn.recv() for conn in conns]
            await asyncio.gather(*(conn.close() for conn in conns))
            return answers, during

        answers, during = asyncio.run(run())
        assert answers == [str(i) for i in range(count)]
        assert during - threads_before < 20, (threads_before, during)
    finally:
        srv.shutdown(timeout=5)


def test_shutdown_closes_open_websockets(make_server, seen):
    srv = make_server(shutdown_timeout=0.5)

    @srv.websocket("/long")
    def handler(ws, req):
        ws.accept()
        try:
            ws.receive()
        except gohttp.WebSocketClosed as exc:
            seen.put(exc.code)

    client = dial(srv, "/long")
    try:
        srv.shutdown(timeout=0.5)
        code, _ = closed_with(client)
        assert code == 1001
    finally:
        client.close()
    assert take(seen) == 1001
