"""receive(): the request body as http.request messages, streamed from Go
with flow control, and http.disconnect when the client goes."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from helpers.asgi_fixtures import (asgi_errors, read_body, respond,  # noqa: F401
                           serve_asgi)
from helpers.common import (TIMEOUT, UNDER_ASAN, connect, read_to_end,
                            read_until, rss_bytes)
from helpers.net import key_pair, curl, needs_curl_http2  # noqa: F401

MiB = 1024 * 1024


async def echo(scope, receive, send):
    await respond(send, await read_body(receive))


def test_body_of_known_length(serve_asgi, http):
    srv = serve_asgi(echo)
    body = bytes(range(256)) * 4000   # ~1 MiB: several chunks
    r = http.request("POST", srv.url + "/", body=body)
    assert (r.status, r.data) == (200, body)
    assert r.headers["Content-Length"] == str(len(body))


def test_no_body_is_one_empty_message(serve_asgi, http):
    messages = []

    async def app(scope, receive, send):
        messages.append(await receive())
        await respond(send, b"ok")

    srv = serve_asgi(app)
    assert http.request("GET", srv.url + "/").status == 200
    assert messages == [{"type": "http.request", "body": b"",
                         "more_body": False}]


def test_chunked_upload_arrives_chunk_by_chunk(serve_asgi):
    """The app answers each chunk before the client sends the next: the
    body streams both ways, as it comes."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        while True:
            message = await receive()
            await send({"type": "http.response.body",
                        "body": b"[%s:%d]" % (message["body"],
                                              message["more_body"]),
                        "more_body": message["more_body"]})
            if not message["more_body"]:
                return

    srv = serve_asgi(app)
    with connect(srv.address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for part in (b"one", b"two", b"three"):
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            assert part + b":1]" in read_until(sock, part + b":1]")
        sock.sendall(b"0\r\n\r\n")
        assert b"[:0]" in read_until(sock, b"0\r\n\r\n")


@pytest.mark.skipif(UNDER_ASAN, reason="AddressSanitizer's quarantine holds "
                    "freed memory: RSS says nothing under it")
def test_large_upload_holds_bounded_memory(serve_asgi, http):
    """A 256 MiB upload read slowly: Go reads a chunk only when the app
    asks, so memory does not grow with the body."""
    seen = {"bytes": 0, "peak": 0}

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen["bytes"] += len(message["body"])
            seen["peak"] = max(seen["peak"], rss_bytes())
            await asyncio.sleep(0)   # a slow reader
            if not message["more_body"]:
                break
        await respond(send, b"%d" % seen["bytes"])

    srv = serve_asgi(app)
    total = 256 * MiB
    block = b"x" * MiB

    def body():
        for _ in range(total // MiB):
            yield block

    before = rss_bytes()
    r = http.request("POST", srv.url + "/", body=body(),
                     headers={"Content-Length": str(total)})
    assert (r.status, r.data) == (200, b"%d" % total)
    assert seen["peak"] - before < 64 * MiB, (before, seen["peak"])


def test_disconnect_reaches_a_waiting_receive(serve_asgi):
    waiting = threading.Event()
    got = []

    async def app(scope, receive, send):
        await read_body(receive)
        waiting.set()
        got.append(await receive())   # nothing more until the client goes

    serve = serve_asgi(app)
    with connect(serve.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert waiting.wait(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == [{"type": "http.disconnect"}]


def test_disconnect_before_the_receive_that_waits_for_it(serve_asgi):
    """Go watches for the client going only once the app waits for it (a
    receive() after the whole body): one that has gone already is found
    at once, and an app that sends meanwhile learns it from send()."""
    gone = threading.Event()
    got = []

    async def app(scope, receive, send):
        await read_body(receive)
        while not gone.is_set():
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)   # the close has reached the server
        got.append(await asyncio.wait_for(receive(), TIMEOUT))
        try:
            for _ in range(100):
                await send({"type": "http.response.start", "status": 200}
                           if not got[1:] else
                           {"type": "http.response.body", "body": b"x" * 65536,
                            "more_body": True})
                got.append("sent")
                await asyncio.sleep(0.001)
        except OSError as exc:
            got.append(type(exc).__name__)

    serve = serve_asgi(app)
    with connect(serve.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    gone.set()
    deadline = time.monotonic() + TIMEOUT
    while (not got or got[-1] == "sent") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got[0] == {"type": "http.disconnect"}
    assert got[-1] == "ClientDisconnected", got


@pytest.mark.parametrize("size", [10, 1 << 20])
def test_completing_the_response_wakes_a_waiting_receive(serve_asgi, http,
                                                         asgi_errors, size):
    """asgiref's www.rst: receive() after the response is sent gives
    http.disconnect; one waiting when the response completes gets it too.
    Litestar's streams wait for it in a task group beside the stream (a
    large body: the last send() waits for Go as receive() resolves)."""
    got = []

    async def app(scope, receive, send):
        await read_body(receive)
        watcher = asyncio.ensure_future(receive())
        await asyncio.sleep(0)   # receive() waits
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"x" * size})
        got.append(await asyncio.wait_for(watcher, TIMEOUT))
        got.append(await receive())   # and every receive() after

    srv = serve_asgi(app)
    r = http.request("GET", srv.url + "/")
    assert (r.status, len(r.data)) == (200, size)
    deadline = time.monotonic() + TIMEOUT
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == [{"type": "http.disconnect"}] * 2
    assert asgi_errors() == []


def test_disconnect_mid_upload(serve_asgi, asgi_errors):
    got = []
    done = threading.Event()

    async def app(scope, receive, send):
        try:
            while True:
                message = await receive()
                got.append(message["type"])
                if message["type"] == "http.disconnect":
                    return
        finally:
            done.set()

    srv = serve_asgi(app)
    with connect(srv.address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000"
                     b"\r\n\r\n" + b"x" * 1000)
        time.sleep(0.1)
    assert done.wait(TIMEOUT)
    assert got[-1] == "http.disconnect"
    assert "http.request" in got
    # returned without a response to a client that is gone: not an error
    assert asgi_errors() == []


def test_app_that_never_reads_the_body(serve_asgi, http):
    async def app(scope, receive, send):
        await respond(send, b"ignored")

    srv = serve_asgi(app)
    for _ in range(3):   # the connection stays usable
        r = http.request("POST", srv.url + "/", body=b"x" * 100_000)
        assert (r.status, r.data) == (200, b"ignored")


def test_body_over_the_limit_is_413_before_the_app(serve_asgi, http):
    calls = []

    async def app(scope, receive, send):
        calls.append(1)
        await echo(scope, receive, send)

    srv = serve_asgi(app, max_body_bytes=1000)
    assert http.request("POST", srv.url + "/", body=b"x" * 2000).status == 413
    assert calls == []
    # a chunked body learns it while the app reads: 413 all the same
    r = http.request("POST", srv.url + "/", body=iter([b"x" * 2000]),
                     chunked=True)
    assert r.status == 413
    assert http.request("POST", srv.url + "/", body=b"ok").data == b"ok"


@needs_curl_http2
def test_body_over_h2c_and_tls(serve_asgi, key_pair, tmp_path):
    body = tmp_path / "body"
    body.write_bytes(b"y" * 300_000)
    srv = serve_asgi(echo, http2_cleartext=True)
    out = curl("--http2-prior-knowledge", "--data-binary", f"@{body}",
               srv.url + "/")
    assert out.returncode == 0 and len(out.stdout) == 300_000, out.stderr
    srv = serve_asgi(echo, certfile=key_pair.cert, keyfile=key_pair.key)
    out = curl("--http2", "--cacert", str(key_pair.cert), "--data-binary",
               f"@{body}", "-w", "%{http_version}", srv.url + "/")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "y" * 300_000 + "2"
