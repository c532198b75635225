"""FastAPI and Starlette WebSocket endpoints, unchanged, on gohttp: a real
server and the `websockets` client.  Path and query parameters, text,
bytes and JSON, subprotocols, closing with a code, refusing before
accept (403, and Starlette's denial response), the tutorial's broadcast
manager, and an endpoint that lets WebSocketDisconnect escape: that is a
client leaving, not a server error, so nothing is logged at ERROR."""

import json
import time

import pytest

pytest.importorskip("starlette")
websockets = pytest.importorskip("websockets")

from starlette.applications import Starlette  # noqa: E402
from starlette.endpoints import WebSocketEndpoint  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket, WebSocketDisconnect  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from helpers.asgi_fixtures import asgi_errors, serve_asgi  # noqa: E402,F401
from helpers.common import TIMEOUT  # noqa: E402


def ws_url(srv, path):
    return f"ws://127.0.0.1:{srv.port}{path}"


# ---- FastAPI ------------------------------------------------------------------


def fastapi_app():
    # Its endpoints' annotations are read by FastAPI: no "from __future__
    # import annotations" in this file, and fastapi a global.
    global fastapi
    fastapi = pytest.importorskip("fastapi")
    app = fastapi.FastAPI()

    @app.websocket("/rooms/{room}")
    async def room(websocket: fastapi.WebSocket, room: str,
                   nick: str = "anon"):
        # No try/except: WebSocketDisconnect escapes when the client goes.
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"{room}/{nick}: {text}")

    @app.websocket("/json")
    async def json_echo(websocket: fastapi.WebSocket):
        await websocket.accept(subprotocol="v2")
        data = await websocket.receive_json()
        await websocket.send_json({"got": data})
        await websocket.send_bytes(b"\x00\x01")
        await websocket.close(code=4000, reason="done")

    @app.websocket("/private")
    async def private(websocket: fastapi.WebSocket, token: str = ""):
        if token != "secret":
            raise fastapi.WebSocketException(code=1008)
        await websocket.accept()
        await websocket.send_text("welcome")
        await websocket.close()

    class Manager:   # the FastAPI tutorial's ConnectionManager
        def __init__(self):
            self.active: list = []

        async def connect(self, websocket):
            await websocket.accept()
            self.active.append(websocket)

        async def broadcast(self, message):
            for connection in self.active:
                await connection.send_text(message)

    manager = Manager()

    @app.websocket("/chat/{client_id}")
    async def chat(websocket: fastapi.WebSocket, client_id: int):
        await manager.connect(websocket)
        try:
            while True:
                data = await websocket.receive_text()
                await manager.broadcast(f"#{client_id}: {data}")
        except fastapi.WebSocketDisconnect:
            manager.active.remove(websocket)
            await manager.broadcast(f"#{client_id} left")

    return app


@pytest.fixture
def fastapi_server(serve_asgi):
    return serve_asgi(fastapi_app())


def test_fastapi_path_and_query_parameters(fastapi_server):
    with connect(ws_url(fastapi_server, "/rooms/lobby?nick=ann")) as ws:
        ws.send("hello")
        assert ws.recv(TIMEOUT) == "lobby/ann: hello"


def test_fastapi_json_bytes_subprotocol_and_close_code(fastapi_server):
    with connect(ws_url(fastapi_server, "/json"),
                 subprotocols=["v1", "v2"]) as ws:
        assert ws.subprotocol == "v2"
        ws.send(json.dumps({"a": [1, 2]}))
        assert json.loads(ws.recv(TIMEOUT)) == {"got": {"a": [1, 2]}}
        assert ws.recv(TIMEOUT) == b"\x00\x01"
        with pytest.raises(websockets.ConnectionClosed) as info:
            ws.recv(TIMEOUT)
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "done")


def test_fastapi_refusing_before_accept_is_403(fastapi_server, asgi_errors):
    with pytest.raises(websockets.InvalidStatus) as info:
        connect(ws_url(fastapi_server, "/private"), open_timeout=TIMEOUT)
    assert info.value.response.status_code == 403
    with connect(ws_url(fastapi_server, "/private?token=secret")) as ws:
        assert ws.recv(TIMEOUT) == "welcome"
    assert asgi_errors() == []


def test_fastapi_broadcast(fastapi_server):
    with connect(ws_url(fastapi_server, "/chat/1")) as one, \
            connect(ws_url(fastapi_server, "/chat/2")) as two:
        one.send("hi")
        assert one.recv(TIMEOUT) == "#1: hi"
        assert two.recv(TIMEOUT) == "#1: hi"
        two.close()
        assert one.recv(TIMEOUT) == "#2 left"


def test_fastapi_websocketdisconnect_escaping_logs_no_error(
        fastapi_server, asgi_errors, caplog):
    for _ in range(3):
        with connect(ws_url(fastapi_server, "/rooms/a")) as ws:
            ws.send("x")
            ws.recv(TIMEOUT)
    # Each endpoint raised WebSocketDisconnect: logged at DEBUG only.
    deadline = time.monotonic() + TIMEOUT
    while len([r for r in caplog.records
               if "WebSocket is closed" in r.getMessage()]) < 3:
        assert time.monotonic() < deadline, caplog.records
        time.sleep(0.02)
    with connect(ws_url(fastapi_server, "/rooms/b")) as ws:
        ws.send("y")
        assert ws.recv(TIMEOUT) == "b/anon: y"
    assert asgi_errors() == []


def test_fastapi_a_plain_request_to_a_websocket_route_is_404(
        fastapi_server, http):
    # FastAPI's own answer: gohttp gives it the http scope as uvicorn does.
    assert http.request("GET", fastapi_server.url + "/json").status == 404


# ---- Starlette ----------------------------------------------------------------


class Echo(WebSocketEndpoint):
    encoding = "text"

    async def on_connect(self, websocket):
        await websocket.accept()

    async def on_receive(self, websocket, data):
        await websocket.send_text(data.upper())


async def iterate(websocket: WebSocket):
    await websocket.accept()
    count = 0
    async for message in websocket.iter_bytes():
        count += len(message)
        await websocket.send_bytes(message[::-1])
    # iter_bytes ends at the close: the loop is done, with no exception.
    assert count > 0


async def deny(websocket: WebSocket):
    await websocket.send_denial_response(
        PlainTextResponse("go away", status_code=401))


async def state(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_json({
        "path": websocket.url.path, "query": str(websocket.query_params),
        "client": websocket.client.host,
        "room": websocket.path_params["room"],
        "header": websocket.headers.get("x-hello")})
    try:
        await websocket.receive_text()
    except WebSocketDisconnect as exc:
        assert exc.code == 1000


@pytest.fixture
def starlette_server(serve_asgi):
    app = Starlette(routes=[
        WebSocketRoute("/echo", Echo),
        WebSocketRoute("/reverse", iterate),
        WebSocketRoute("/deny", deny),
        WebSocketRoute("/state/{room}", state),
    ])
    return serve_asgi(app)


def test_starlette_endpoint_class(starlette_server):
    with connect(ws_url(starlette_server, "/echo")) as ws:
        ws.send("shout")
        assert ws.recv(TIMEOUT) == "SHOUT"


def test_starlette_iter_bytes_ends_at_the_close(starlette_server,
                                                asgi_errors):
    with connect(ws_url(starlette_server, "/reverse")) as ws:
        ws.send(b"abc")
        assert ws.recv(TIMEOUT) == b"cba"
    with connect(ws_url(starlette_server, "/echo")) as ws:   # served on
        ws.send("x")
        assert ws.recv(TIMEOUT) == "X"
    assert asgi_errors() == []


def test_starlette_denial_response(starlette_server):
    with pytest.raises(websockets.InvalidStatus) as info:
        connect(ws_url(starlette_server, "/deny"), open_timeout=TIMEOUT)
    assert info.value.response.status_code == 401
    assert info.value.response.body == b"go away"


def test_starlette_websocket_fields(starlette_server, asgi_errors):
    with connect(ws_url(starlette_server, "/state/blue?a=1"),
                 additional_headers={"X-Hello": "there"}) as ws:
        got = json.loads(ws.recv(TIMEOUT))
    assert got == {"path": "/state/blue", "query": "a=1",
                   "client": "127.0.0.1", "room": "blue",
                   "header": "there"}
    assert asgi_errors() == []
