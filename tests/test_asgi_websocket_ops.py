"""ASGI WebSockets in operation: the access log (one line at close, status
101, with the duration), graceful shutdown (open WebSockets get 1001),
wss:// over TLS, and the command with --workers."""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time

import pytest

import gohttp
from helpers.asgi_fixtures import serve_asgi  # noqa: F401 (a fixture)
from helpers.common import TIMEOUT
from helpers.net import key_pair  # noqa: F401 (a fixture)
from test_cli import gohttp_command, stop

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402
from asgi_apps.ws_echo import app as echo  # noqa: E402


def test_the_access_log_has_one_line_at_close_with_the_duration(tmp_path):
    log = tmp_path / "access.log"
    srv = gohttp.Server("127.0.0.1", 0, access_log=str(log),
                        access_log_format="json")
    srv.mount_asgi("/", echo, lifespan="off")
    srv.start()
    try:
        with connect(f"ws://127.0.0.1:{srv.port}/chat?x=1") as ws:
            ws.send("hi")
            assert ws.recv(TIMEOUT) == "hi"
            time.sleep(0.3)
    finally:
        srv.shutdown(timeout=5)   # writes the log out
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["status"] == 101
    assert line["method"] == "GET" and line["uri"] == "/chat?x=1"
    assert line["duration_ms"] >= 300
    assert line["bytes"] == len("hi")   # the messages' bytes sent


def test_graceful_shutdown_closes_open_websockets_with_1001():
    seen = []
    done = threading.Event()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        while (msg := await receive())["type"] != "websocket.disconnect":
            await send({"type": "websocket.send", "text": msg["text"]})
        seen.append(msg["code"])
        done.set()

    srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=10)
    srv.mount_asgi("/", app, lifespan="off")
    srv.start()
    with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
        ws.send("x")
        assert ws.recv(TIMEOUT) == "x"
        started = time.monotonic()
        stopper = threading.Thread(target=srv.shutdown)
        stopper.start()
        with pytest.raises(websockets.ConnectionClosedOK) as info:
            ws.recv(TIMEOUT)
        assert info.value.rcvd.code == 1001
    stopper.join(TIMEOUT)
    assert not stopper.is_alive()
    assert time.monotonic() - started < 5   # not the whole shutdown_timeout
    assert done.wait(TIMEOUT) and seen == [1001]


def test_wss_over_tls(key_pair):
    srv = gohttp.Server("127.0.0.1", 0, certfile=str(key_pair.cert),
                        keyfile=str(key_pair.key))
    scopes = []

    async def app(scope, receive, send):
        scopes.append(scope)
        await echo(scope, receive, send)

    srv.mount_asgi("/", app, lifespan="off")
    srv.start()
    try:
        context = ssl.create_default_context(cafile=str(key_pair.cert))
        with connect(f"wss://localhost:{srv.port}/secure",
                     ssl=context) as ws:
            ws.send("secret")
            assert ws.recv(TIMEOUT) == "secret"
    finally:
        srv.shutdown(timeout=5)
    assert scopes[0]["scheme"] == "wss"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")
def test_the_command_with_workers(subprocess_env):
    with gohttp_command(subprocess_env, "asgi_apps.ws_echo:app",
                        "-b", "127.0.0.1:0", "--workers", "2",
                        "--ws-max-size", "100") as (proc, banner):
        _, url = banner.wait()
        ws_url = url.replace("http://", "ws://")
        pids = set()
        deadline = time.monotonic() + TIMEOUT
        while len(pids) < 2 and time.monotonic() < deadline:
            with connect(ws_url) as ws:
                ws.send("pid")
                pids.add(ws.recv(TIMEOUT))
        assert len(pids) == 2   # both workers serve WebSockets
        with connect(ws_url) as ws:
            ws.send("x" * 101)   # --ws-max-size reached the workers
            with pytest.raises(websockets.ConnectionClosedError) as info:
                ws.recv(TIMEOUT)
            assert info.value.rcvd.code == 1009
        # SIGTERM with a WebSocket open: it gets 1001, the command exits 0.
        ws = connect(ws_url)
        ws.send("y")
        assert ws.recv(TIMEOUT) == "y"
        assert stop(proc) == 0
        with pytest.raises(websockets.ConnectionClosed) as info:
            ws.recv(TIMEOUT)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        ws.close()


def test_http_timeouts_stop_at_the_upgrade(serve_asgi):
    """read_timeout, write_timeout, idle_timeout and read_header_timeout
    are HTTP's: a WebSocket outlives them, quiet or not."""
    srv = serve_asgi(echo, read_header_timeout=0.2, read_timeout=0.2,
                     write_timeout=0.2, idle_timeout=0.2)
    with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
        for _ in range(4):
            time.sleep(0.25)
            ws.send("still here")
            assert ws.recv(TIMEOUT) == "still here"


def test_shutdown_lets_http_requests_finish_before_closing_websockets():
    """A request in flight has shutdown_timeout to finish; the WebSockets
    open meanwhile are closed (1001) once it has."""
    import urllib3

    release = threading.Event()
    order = []

    async def app(scope, receive, send):
        if scope["type"] == "http":
            import asyncio
            while not release.is_set():
                await asyncio.sleep(0.01)
            order.append("http done")
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"late"})
            return
        await echo(scope, receive, send)

    srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=10)
    srv.mount_asgi("/", app, lifespan="off")
    srv.start()
    pool = urllib3.PoolManager(retries=False, timeout=TIMEOUT)
    with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
        result = []
        fetch = threading.Thread(target=lambda: result.append(
            pool.request("GET", srv.url + "/slow")))
        fetch.start()
        time.sleep(0.2)   # the request is in flight
        stopper = threading.Thread(target=srv.shutdown)
        stopper.start()
        time.sleep(0.3)
        ws.send("open still")   # the WebSocket waits for the request
        assert ws.recv(TIMEOUT) == "open still"
        release.set()
        with pytest.raises(websockets.ConnectionClosedOK) as info:
            ws.recv(TIMEOUT)
        assert info.value.rcvd.code == 1001
    fetch.join(TIMEOUT)
    stopper.join(TIMEOUT)
    assert result[0].status == 200 and result[0].data == b"late"


def test_shutdown_with_many_websockets_open():
    """200 open WebSockets, some with a message the app has not taken:
    a shutdown closes each with 1001, their apps end, and it returns well
    within shutdown_timeout."""
    from helpers.wsframes import OP_TEXT, RawWebSocket

    srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=10)
    srv.mount_asgi("/", echo, lifespan="off")
    srv.start()
    clients = [RawWebSocket.connect(srv.port) for _ in range(200)]
    try:
        for i, ws in enumerate(clients):
            ws.send_frame(OP_TEXT, b"m%d" % i)
        for i, ws in enumerate(clients[:100]):
            assert ws.read_message() == (OP_TEXT, b"m%d" % i)
        started = time.monotonic()
        stopper = threading.Thread(target=srv.shutdown)
        stopper.start()
        codes = {ws.read_close()[0] for ws in clients}
        stopper.join(TIMEOUT)
        assert codes == {1001}
        assert time.monotonic() - started < 8
    finally:
        for ws in clients:
            ws.close()
