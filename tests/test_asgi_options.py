"""Server options that live in Go, with an ASGI app behind them (issue 17:
"every existing option keeps working with ASGI"): static files beside
the app, read and write timeouts reaching receive() and send(), an
inherited listening socket."""

from __future__ import annotations

import socket
import time


import gohttp
from helpers.asgi_fixtures import (asgi_errors, read_body, respond,  # noqa: F401
                                   serve_asgi)
from helpers.common import TIMEOUT, connect


def wait_for(values: list, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not values:
        assert time.monotonic() < deadline, f"no {what} in time"
        time.sleep(0.02)


def test_static_files_beside_an_asgi_app(tmp_path, http):
    (tmp_path / "site.css").write_text("body {}\n")

    async def app(scope, receive, send):
        await respond(send, b"app " + scope["path"].encode())

    srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=5)
    srv.static("/static/", tmp_path)
    srv.mount_asgi("/", app, lifespan="off")
    with srv:
        r = http.request("GET", srv.url + "/static/site.css")
        assert (r.status, r.data) == (200, b"body {}\n")
        assert http.request("GET", srv.url + "/x").data == b"app /x"
        assert http.request("GET", srv.url + "/static/none").status == 404


def test_read_timeout_reaches_a_waiting_receive(serve_asgi, asgi_errors):
    """A body that stops coming: after read_timeout, receive() gets
    http.disconnect, and the app ends without a server error."""
    got = []

    async def app(scope, receive, send):
        started = time.monotonic()
        messages = [await receive()]
        while messages[-1]["type"] == "http.request" and \
                messages[-1].get("more_body"):
            messages.append(await receive())
        got.append((messages[-1]["type"], time.monotonic() - started))

    srv = serve_asgi(app, read_timeout=0.5)
    with connect(srv.address) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 100\r\n\r\nonly this")
        wait_for(got, "http.disconnect")
    kind, took = got[0]
    assert kind == "http.disconnect"
    assert took < 5
    assert asgi_errors() == []


def test_write_timeout_makes_send_raise(serve_asgi, asgi_errors):
    """A client that stops reading: after write_timeout, the app's send()
    raises ClientDisconnected (an OSError), not logged as an error."""
    raised = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        chunk = b"x" * 65536
        started = time.monotonic()
        try:
            while time.monotonic() - started < TIMEOUT:
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": True})
        except OSError as exc:
            raised.append((type(exc), time.monotonic() - started))
            raise

    srv = serve_asgi(app, write_timeout=0.5)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    with sock:
        sock.connect(srv.address)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(raised, "OSError from send()")
    kind, took = raised[0]
    assert issubclass(kind, gohttp.ClientDisconnected)
    assert took < 5
    assert asgi_errors() == []


def test_an_inherited_listening_socket(http):
    async def app(scope, receive, send):
        body = await read_body(receive)
        await respond(send, b"fd " + body)

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    srv = gohttp.Server(fd=listener.detach(), shutdown_timeout=5)
    srv.mount_asgi("/", app, lifespan="off")
    with srv:
        r = http.request("POST", f"http://127.0.0.1:{port}/", body=b"ok")
        assert r.data == b"fd ok"
