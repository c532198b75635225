"""send() of a large body: lent to Go, not copied (bridge.h, rule 8g).

A read-only body over 64 KiB (bytes, a memoryview of bytes) stays where
Python has it: C holds a buffer of it, Go writes from it, and gives it
back once done, whatever happened: written, the client gone, the app
failed or cancelled, the server shut down.  Each test checks the last by
the body's reference count, which must come back to what it was (the
loop releases the loan when it takes Go's RELEASE event: poll for it).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from typing import Callable

import pytest

from helpers.asgi_fixtures import (asgi_errors, serve_asgi,  # noqa: F401
                                   stops_growing)
from helpers.common import TIMEOUT, connect, read_to_end
from helpers.net import curl, needs_curl_http2

KiB, MiB = 1024, 1024 * 1024


def unique(size: int, fill: bytes) -> bytes:
    """A bytes object nothing else shares (a literal's would be a
    constant of the test's code)."""
    return bytes(bytearray(fill * size))


def refs(obj: object) -> Callable[[], int]:
    """A counter of obj's references, the same from any frame (the
    counter holds one of them)."""
    return lambda: sys.getrefcount(obj)


def released(count: Callable[[], int], before: int) -> bool:
    """Whether count() comes back to before within TIMEOUT: every loan
    of the object given back and released."""
    deadline = time.monotonic() + TIMEOUT
    while count() > before:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return count() == before


BIG1 = unique(200 * KiB, b"1")
BIG2 = unique(100 * KiB, b"2")
BIG3 = unique(MiB, b"3")
PARTS = [b"head,", BIG1, b"b" * 1000, memoryview(BIG2),
         bytearray(b"c" * (100 * KiB)), BIG3]
EXPECTED = b"".join(bytes(p) for p in PARTS)


async def parts_app(scope, receive, send):
    """/whole: BIG3 in one message (Go declares its length); /parts:
    small and large parts, lent and copied, in order."""
    await send({"type": "http.response.start", "status": 200})
    if scope["path"] == "/whole":
        await send({"type": "http.response.body", "body": BIG3})
        return
    for part in PARTS[:-1]:
        await send({"type": "http.response.body", "body": part,
                    "more_body": True})
    await send({"type": "http.response.body", "body": PARTS[-1]})


COUNTS = [refs(BIG1), refs(BIG2), refs(BIG3)]


def refcounts() -> list[int]:
    return [count() for count in COUNTS]


def all_released(before: list[int]) -> bool:
    return all(released(count, n) for count, n in zip(COUNTS, before))


def test_large_bodies_arrive_whole_and_in_order(serve_asgi, http):
    """HTTP/1.1: Go writes the lent bodies from Python's memory, between
    the copied parts, and gives each back."""
    srv = serve_asgi(parts_app)
    before = refcounts()
    for _ in range(3):
        r = http.request("GET", srv.url + "/whole")
        assert (r.status, r.headers["Content-Length"]) == (200, str(MiB))
        assert r.data == BIG3
        r = http.request("GET", srv.url + "/parts")
        assert r.data == EXPECTED
    assert all_released(before)


@needs_curl_http2
def test_large_bodies_over_http2(serve_asgi):
    """HTTP/2 writes a lent body through a buffer of Go's (its frame
    writer may read a buffer after Write returned): the same bytes."""
    srv = serve_asgi(parts_app, http2_cleartext=True)
    before = refcounts()
    for path in ("/whole", "/parts"):
        done = curl("--http2-prior-knowledge", "--output", "-",
                    "--write-out", "%{http_version}", srv.url + path)
        assert done.returncode == 0, done.stderr
    r = curl("--http2-prior-knowledge", "--silent", "--output", "/dev/null",
             "--write-out", "%{http_version} %{size_download}",
             srv.url + "/parts")
    assert r.stdout == f"2 {len(EXPECTED)}"
    assert all_released(before)


def test_the_last_large_body_does_not_wait_but_others_do(serve_asgi):
    """With a client that does not read: the last body's send() returns
    at once (nothing can follow it); a 1 MiB part with more_body waits
    until Go has written it, so the app sends no further than the socket
    buffers allow.  The client's going ends the app, and every loan is
    released."""
    chunk = unique(MiB, b"s")
    count = refs(chunk)
    before = count()
    sent, ended = [0], threading.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        if scope["path"] == "/last":
            await send({"type": "http.response.body", "body": chunk})
            ended.set()
            return
        try:
            while True:
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": True})
                sent[0] += 1
        finally:
            ended.set()

    srv = serve_asgi(app)
    with connect(srv.address) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
        sock.sendall(b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n")
        assert ended.wait(TIMEOUT)   # while Go still writes
    assert released(count, before)

    ended.clear()
    with connect(srv.address) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        assert stops_growing(lambda: sent[0])
        assert sent[0] < 16, f"{sent[0]} MiB went without waiting"
    assert ended.wait(TIMEOUT)
    assert released(count, before)


@pytest.mark.parametrize("how", ["raise", "cancel"])
def test_an_app_that_fails_after_a_large_send_releases_it(serve_asgi, how,
                                                          asgi_errors):
    """The app fails with its large part unwritten (queued, or being
    written to a client that does not read): the response is aborted,
    and the part released."""
    chunk = unique(MiB, b"f")
    count = refs(chunk)
    before = count()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        pending = send({"type": "http.response.body", "body": chunk,
                        "more_body": True})
        if how == "raise":
            raise ValueError("after a large send")
        task = asyncio.current_task()
        asyncio.get_running_loop().call_soon(task.cancel)
        await pending

    srv = serve_asgi(app)
    for _ in range(5):
        with connect(srv.address) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            got = read_to_end(sock)   # cut short: no whole response
            assert not got.endswith(b"0\r\n\r\n")
    assert released(count, before)


def test_a_server_shut_down_mid_body_releases_it(asgi_errors):
    """Shutdown cancels the app that waits in send() for a client that
    does not read; its loan is released, by the loop if it runs on, or
    when it is freed (the last server using it has stopped)."""
    import gohttp

    chunk = unique(MiB, b"d")
    count = refs(chunk)
    before = count()
    waiting = threading.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        while True:
            waiting.set()
            await send({"type": "http.response.body", "body": chunk,
                        "more_body": True})

    srv = gohttp.Server("127.0.0.1", 0)
    srv.mount_asgi("/", app, lifespan="off")
    srv.start()
    with connect(srv.address) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert waiting.wait(TIMEOUT)
        srv.shutdown(timeout=0.2)
    assert released(count, before)
