"""The ASGI websocket scope (asgiref's www.rst) on a real server, with the
`websockets` client library: the scope, connect, accept (subprotocol and
headers), whole messages both ways, close codes both ways (1005 when the
client gives none), close before accept (403), route_websocket's routes
(path_params, 426 for a plain request, 400 for a broken handshake), and
an app that fails."""

from __future__ import annotations

import asyncio
import threading

import pytest

import gohttp
import gohttp.asgi
from helpers.asgi_fixtures import asgi_errors, serve_asgi  # noqa: F401
from helpers.common import TIMEOUT
from helpers.wsframes import OP_CLOSE, RawWebSocket

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402


def ws_url(srv: gohttp.Server, path: str = "/") -> str:
    return "ws://127.0.0.1:%d%s" % (srv.port, path)


class Seen:
    """What the app saw, handed to the test thread."""

    def __init__(self) -> None:
        self.items: list = []
        self.done = threading.Event()

    def add(self, item) -> None:
        self.items.append(item)

    def wait(self) -> list:
        assert self.done.wait(TIMEOUT), "the app did not finish"
        return self.items


def echo_app(seen: Seen | None = None, subprotocol=None, headers=None):
    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"plain"})
            return
        try:
            msg = await receive()
            assert msg == {"type": "websocket.connect"}
            if seen is not None:
                seen.add(scope)
            await send({"type": "websocket.accept",
                        "subprotocol": subprotocol,
                        "headers": headers or []})
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    if seen is not None:
                        seen.add(msg)
                    return
                await send({"type": "websocket.send",
                            "text": msg.get("text"),
                            "bytes": msg.get("bytes")})
        finally:
            if seen is not None:
                seen.done.set()
    return app


def test_echo_text_and_bytes(serve_asgi):
    srv = serve_asgi(echo_app())
    with connect(ws_url(srv, "/echo")) as ws:
        ws.send("héllo")
        assert ws.recv(TIMEOUT) == "héllo"
        ws.send(b"\x00\xff")
        assert ws.recv(TIMEOUT) == b"\x00\xff"
        ws.send("")
        assert ws.recv(TIMEOUT) == ""
        big = "x" * 300_000
        ws.send(big)
        assert ws.recv(TIMEOUT) == big
        for i in range(50):
            ws.send(str(i))
        assert [ws.recv(TIMEOUT) for _ in range(50)] == \
            [str(i) for i in range(50)]


def test_the_websocket_scope(serve_asgi):
    seen = Seen()
    srv = serve_asgi(echo_app(seen))
    with connect(ws_url(srv, "/caf%C3%A9/room?x=1"),
                 subprotocols=["chat", "superchat"],
                 additional_headers={"X-Test": "yes"}) as ws:
        ws.send("x")
        ws.recv(TIMEOUT)
    scope = seen.wait()[0]
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert "method" not in scope
    assert scope["path"] == "/café/room"
    assert scope["raw_path"] == b"/caf%C3%A9/room"
    assert scope["query_string"] == b"x=1"
    assert scope["root_path"] == ""
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ("127.0.0.1", srv.port)
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    headers = dict(scope["headers"])
    assert headers[b"x-test"] == b"yes"
    assert headers[b"upgrade"] == b"websocket"
    assert "path_params" not in scope   # route_websocket's only


def test_a_plain_request_still_gets_the_http_scope(serve_asgi, http):
    srv = serve_asgi(echo_app())
    r = http.request("GET", srv.url + "/x")
    assert r.status == 200 and r.data == b"plain"


def test_accept_with_a_subprotocol_and_headers(serve_asgi):
    srv = serve_asgi(echo_app(subprotocol="superchat",
                              headers=[(b"x-hello", b"there")]))
    with connect(ws_url(srv), subprotocols=["chat", "superchat"]) as ws:
        assert ws.subprotocol == "superchat"
        assert ws.response.headers["X-Hello"] == "there"
        ws.send("x")
        assert ws.recv(TIMEOUT) == "x"


@pytest.mark.parametrize("code,reason,expect", [
    (1000, "bye", (1000, "bye")),
    (4001, "", (4001, "")),
    (None, None, (1005, "")),   # a close frame without a code
])
def test_the_client_closes(serve_asgi, code, reason, expect):
    seen = Seen()
    srv = serve_asgi(echo_app(seen))
    if code is None:   # websockets always sends a code: a raw frame
        with RawWebSocket.connect(srv.port) as raw:
            raw.send_frame(OP_CLOSE, b"")
            assert raw.read_close() == (None, "")   # echoed as it came
    else:
        with connect(ws_url(srv)) as ws:
            ws.send("x")
            ws.recv(TIMEOUT)
            ws.close(code, reason)
    disconnect = seen.wait()[-1]
    assert disconnect == {"type": "websocket.disconnect",
                          "code": expect[0], "reason": expect[1]}


def test_the_client_vanishes_without_a_close(serve_asgi):
    seen = Seen()
    srv = serve_asgi(echo_app(seen))
    with RawWebSocket.connect(srv.port) as ws:
        pass   # the socket closes without a close frame
    assert seen.wait()[-1]["code"] == 1006


def closing_app(code=None, reason=None, before=None):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        if before:
            await send({"type": "websocket.send", "text": before})
        msg = {"type": "websocket.close"}
        if code is not None:
            msg["code"] = code
        if reason is not None:
            msg["reason"] = reason
        await send(msg)
        # After the close: receive() gives websocket.disconnect.
        assert (await receive())["type"] == "websocket.disconnect"
    return app


@pytest.mark.parametrize("code,reason,expect", [
    (None, None, (1000, "")),
    (4000, "see you", (4000, "see you")),
    (1001, "", (1001, "")),
])
def test_the_app_closes(serve_asgi, code, reason, expect):
    srv = serve_asgi(closing_app(code, reason, before="last"))
    with connect(ws_url(srv)) as ws:
        assert ws.recv(TIMEOUT) == "last"
        with pytest.raises(websockets.ConnectionClosed) as info:
            ws.recv(TIMEOUT)
    assert (info.value.rcvd.code, info.value.rcvd.reason) == expect


def test_an_app_that_returns_after_accepting_closes_with_1000(serve_asgi):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "only"})

    srv = serve_asgi(app)
    with connect(ws_url(srv)) as ws:
        assert ws.recv(TIMEOUT) == "only"
        with pytest.raises(websockets.ConnectionClosedOK) as info:
            ws.recv(TIMEOUT)
    assert info.value.rcvd.code == 1000


@pytest.mark.parametrize("how", ["close", "return"])
def test_refused_before_accept_is_403(serve_asgi, http, how):
    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204})
            await send({"type": "http.response.body"})
            return
        await receive()
        if how == "close":
            await send({"type": "websocket.close"})

    srv = serve_asgi(app)
    with pytest.raises(websockets.InvalidStatus) as info:
        connect(ws_url(srv), open_timeout=TIMEOUT)
    assert info.value.response.status_code == 403
    assert http.request("GET", srv.url).status == 204   # still serving


def test_the_denial_response(serve_asgi):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "websocket.http.response.body",
                    "body": b"who ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"are you"})

    srv = serve_asgi(app)
    with RawWebSocket.handshake(srv.port) as ws:
        assert ws.status == 401
        assert ws.header("WWW-Authenticate") == "Bearer"
    with pytest.raises(websockets.InvalidStatus) as info:
        connect(ws_url(srv), open_timeout=TIMEOUT)
    assert info.value.response.status_code == 401
    assert info.value.response.body == b"who are you"


def test_an_app_raising_after_accept_closes_1011_and_logs(serve_asgi,
                                                           asgi_errors):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise ValueError("boom after accept")

    srv = serve_asgi(app)
    with connect(ws_url(srv)) as ws:
        ws.send("trigger")
        with pytest.raises(websockets.ConnectionClosedError) as info:
            ws.recv(TIMEOUT)
    assert info.value.rcvd.code == 1011
    errors = asgi_errors()
    assert len(errors) == 1 and "boom after accept" in str(errors[0].exc_info)


def test_an_app_raising_before_accept_is_500_and_logs(serve_asgi, asgi_errors):
    async def app(scope, receive, send):
        await receive()
        raise ValueError("boom before accept")

    srv = serve_asgi(app)
    with pytest.raises(websockets.InvalidStatus) as info:
        connect(ws_url(srv), open_timeout=TIMEOUT)
    assert info.value.response.status_code == 500
    assert len(asgi_errors()) == 1


def test_send_after_close_raises_a_clear_oserror(serve_asgi, asgi_errors):
    seen = Seen()

    async def app(scope, receive, send):
        try:
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close"})
            try:
                await send({"type": "websocket.send", "text": "late"})
            except gohttp.ClientDisconnected as exc:
                seen.add(exc)
            # Let it escape too: not a server error.
            await send({"type": "websocket.send", "text": "later"})
        finally:
            seen.done.set()

    srv = serve_asgi(app)
    with connect(ws_url(srv)) as ws:
        with pytest.raises(websockets.ConnectionClosedOK):
            ws.recv(TIMEOUT)
    exc = seen.wait()[0]
    assert isinstance(exc, OSError)
    assert "websocket.close" in str(exc)
    assert asgi_errors() == []


def test_bad_messages_raise_clear_errors(serve_asgi):
    seen = Seen()

    async def app(scope, receive, send):
        try:
            await receive()
            for bad, exc in [
                ({"type": "websocket.send", "text": "x"}, gohttp.StateError),
                ({"type": "http.response.start", "status": 200}, ValueError),
            ]:
                with pytest.raises(exc):
                    await send(bad)
            await send({"type": "websocket.accept"})
            for bad, exc in [
                ({"type": "websocket.send"}, ValueError),
                ({"type": "websocket.send", "text": "a", "bytes": b"b"},
                 ValueError),
                ({"type": "websocket.send", "text": b"x"}, TypeError),
                ({"type": "websocket.send", "bytes": "x"}, TypeError),
                ({"type": "websocket.accept"}, gohttp.StateError),
                ({"type": "websocket.close", "code": 999}, ValueError),
                ({"type": "websocket.close", "code": 1005}, ValueError),
                ({"type": "websocket.close", "reason": "x" * 124},
                 ValueError),
                ({"type": "websocket.http.response.start", "status": 200},
                 gohttp.StateError),
            ]:
                with pytest.raises(exc):
                    await send(bad)
            seen.add("ok")
            await send({"type": "websocket.send", "text": "fine"})
        finally:
            seen.done.set()

    srv = serve_asgi(app)
    with connect(ws_url(srv)) as ws:
        assert ws.recv(TIMEOUT) == "fine"
    assert seen.wait() == ["ok"]


# ---- route_websocket ----------------------------------------------------------


@pytest.fixture
def ws_server():
    srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=5)
    yield srv
    srv.shutdown(timeout=5)


def test_route_websocket_path_params(ws_server):
    seen = Seen()
    gohttp.asgi.route_websocket(ws_server, "/chat/{room}/{rest...}",
                                echo_app(seen))
    ws_server.start()
    with connect(ws_url(ws_server, "/chat/lobby/a/b")) as ws:
        ws.send("hi")
        assert ws.recv(TIMEOUT) == "hi"
    scope = seen.wait()[0]
    assert scope["path_params"] == {"room": "lobby", "rest": "a/b"}
    assert scope["path"] == "/chat/lobby/a/b"


def test_route_websocket_without_wildcards_has_empty_path_params(ws_server):
    seen = Seen()
    gohttp.asgi.route_websocket(ws_server, "/ws", echo_app(seen))
    ws_server.start()
    with connect(ws_url(ws_server, "/ws")) as ws:
        ws.send("hi")
        ws.recv(TIMEOUT)
    assert seen.wait()[0]["path_params"] == {}


def test_route_websocket_answers_426_to_a_plain_request(ws_server, http):
    gohttp.asgi.route_websocket(ws_server, "/ws", echo_app())

    @ws_server.route("/plain")
    def plain(w, req):
        w.write(b"ok")

    ws_server.start()
    r = http.request("GET", ws_server.url + "/ws")
    assert r.status == 426
    assert r.headers["Upgrade"] == "websocket"
    assert http.request("GET", ws_server.url + "/plain").data == b"ok"


@pytest.mark.parametrize("headers,status", [
    ({"Sec-WebSocket-Key": None}, 400),
    ({"Sec-WebSocket-Key": "short"}, 400),
    ({"Sec-WebSocket-Version": "8"}, 426),
])
def test_a_broken_handshake_is_refused(ws_server, headers, status):
    gohttp.asgi.route_websocket(ws_server, "/ws", echo_app())
    ws_server.start()
    with RawWebSocket.handshake(ws_server.port, "/ws", headers=headers) as ws:
        assert ws.status == status
    with connect(ws_url(ws_server, "/ws")) as ws:   # still serving
        ws.send("x")
        assert ws.recv(TIMEOUT) == "x"


def test_route_websocket_checks_its_arguments(ws_server):
    with pytest.raises(TypeError):
        gohttp.asgi.route_websocket(ws_server, "/ws", "not an app")
    with pytest.raises(ValueError):
        gohttp.asgi.route_websocket(ws_server, "/{bad", echo_app())


def test_many_connections_at_once(serve_asgi):
    srv = serve_asgi(echo_app())
    clients = [connect(ws_url(srv)) for _ in range(20)]
    try:
        for i, ws in enumerate(clients):
            ws.send(str(i))
        assert [ws.recv(TIMEOUT) for ws in clients] == \
            [str(i) for i in range(20)]
    finally:
        for ws in clients:
            ws.close()


def test_several_tasks_send_at_once(serve_asgi):
    """A chat's broadcast: tasks send on one WebSocket at once, big
    messages among them (their send() waits for Go to write), while
    another receive() waits."""
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})

        async def sender(n):
            for i in range(20):
                await send({"type": "websocket.send",
                            "bytes": bytes([n]) * 50_000})

        waiting = asyncio.ensure_future(receive())
        await asyncio.gather(*(sender(n) for n in range(5)))
        await send({"type": "websocket.send", "text": "done"})
        msg = await waiting
        assert msg == {"type": "websocket.receive", "text": "bye"}

    srv = serve_asgi(app)
    with connect(ws_url(srv), max_size=None) as ws:
        counts = [0] * 5
        while (msg := ws.recv(TIMEOUT)) != "done":
            assert msg == bytes([msg[0]]) * 50_000
            counts[msg[0]] += 1
        assert counts == [20] * 5
        ws.send("bye")
        with pytest.raises(websockets.ConnectionClosedOK):
            ws.recv(TIMEOUT)
