"""Leaks on the ASGI path: many requests through the loop leave no memory,
objects or references behind (tracemalloc sees the bytes and str that
gc.get_objects() cannot)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
import tracemalloc

import pytest
import urllib3

import gohttp
from gohttp import _gohttp
from helpers.asgi_fixtures import read_body, respond, serve_asgi  # noqa: F401
from helpers.common import TIMEOUT, rss_bytes
from helpers.leak import (REFS_PER_REQUEST, needs_pydebug, refs_per_request,
                          traced)

MiB = 1024 * 1024
WARM_UP = 3_000
REQUESTS = 20_000


async def app(scope, receive, send):
    """Touches every part of the scope, reads the body, streams a reply."""
    body = await read_body(receive)
    dict(scope["headers"])
    (scope["path"], scope["raw_path"], scope["query_string"],
     scope["client"], scope["server"])
    if scope["path"].startswith("/fail"):
        raise ValueError("expected")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"x-len", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": b"part,",
                "more_body": True})
    await send({"type": "http.response.body", "body": body})


def hammer(pool, url, n, path="/hello/{i}", status=200):
    body = b"payload\0" * 16
    for i in range(n):
        r = pool.request("POST", url + path.format(i=i) + "?q=1", body=body,
                         headers={"User-Agent": "leak-test"})
        assert r.status == status, (i, r.status, r.data)


def settle():
    """Let the loop finish the step it may still be in (a response reaches
    the client before its task's last step ends), then collect."""
    from gohttp import asgi

    asyncio.run_coroutine_threadsafe(asyncio.sleep(0.01),
                                     asgi.event_loop().loop).result(TIMEOUT)
    for _ in range(3):
        gc.collect()


def loop_settle():
    """settle() without the collection: refs_per_request collects."""
    from gohttp import asgi

    asyncio.run_coroutine_threadsafe(asyncio.sleep(0.01),
                                     asgi.event_loop().loop).result(TIMEOUT)


def live_calls():
    return sum(type(o).__name__ == "ASGICall" for o in gc.get_objects())


@pytest.fixture
def pool():
    manager = urllib3.PoolManager(maxsize=1, block=True, retries=False,
                                  timeout=urllib3.Timeout(connect=TIMEOUT,
                                                          read=TIMEOUT))
    yield manager
    manager.clear()


@pytest.mark.heavy
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's quarantine holds freed memory")
def test_memory_settles_after_20000_requests(serve_asgi, pool):
    srv = serve_asgi(app)
    hammer(pool, srv.url, WARM_UP)
    settle()
    refs_before = sys.getrefcount(app)
    objects_before = len(gc.get_objects())
    rss_before = rss_bytes()
    tracemalloc.start()
    snap_before = tracemalloc.take_snapshot()

    hammer(pool, srv.url, REQUESTS)

    settle()
    snap_after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    rss_after = rss_bytes()
    objects_after = len(gc.get_objects())
    refs_after = sys.getrefcount(app)
    traced = sum(s.size_diff for s in snap_after.compare_to(snap_before,
                                                            "filename"))
    growth = rss_after - rss_before
    assert traced < 256 * 1024, f"Python heap grew by {traced} bytes"
    assert growth < 8 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"
    assert objects_after - objects_before < 500
    assert refs_after == refs_before
    assert live_calls() == 0


def test_errors_and_disconnects_do_not_leak(serve_asgi, pool, caplog):
    srv = serve_asgi(app)
    with caplog.at_level(logging.CRITICAL + 1, logger="gohttp"):
        hammer(pool, srv.url, 300, "/fail/{i}", 500)
        settle()
        objects_before = len(gc.get_objects())
        hammer(pool, srv.url, 2_000, "/fail/{i}", 500)
        settle()
        objects_after = len(gc.get_objects())
    assert objects_after - objects_before < 500
    assert live_calls() == 0


def test_servers_and_mounts_come_and_go():
    def one():
        async def hello(scope, receive, send):
            await respond(send, b"hi")

        srv = gohttp.Server("127.0.0.1", 0)
        srv.mount_asgi("/", hello, lifespan="off")
        client = urllib3.PoolManager(retries=False, timeout=TIMEOUT)
        with srv:
            assert client.request("GET", srv.url + "/").data == b"hi"
        client.clear()

    one()
    settle()
    before = len(gc.get_objects())
    for _ in range(20):
        one()
    settle()
    assert len(gc.get_objects()) - before < 200
    assert sum(type(o).__name__ == "ASGIApp" for o in gc.get_objects()) <= 1


BIG = bytes(bytearray(b"L" * (200 * 1024)))   # lent to Go, never copied


async def four_paths(scope, receive, send):
    """/hello answers at once; /upload reads a body of several chunks;
    /stream sends five messages; /fail raises before responding; /big
    sends two bodies over 64 KiB, which Go writes from Python's memory
    (bridge.h rule 8g), and /big-fail raises after the first."""
    path = scope["path"]
    if path == "/hello":
        await respond(send, b"hi")
    elif path.startswith("/big"):
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": BIG,
                    "more_body": True})
        if path == "/big-fail":
            raise ValueError("expected")
        await send({"type": "http.response.body", "body": BIG})
    elif path == "/upload":
        body = await read_body(receive)
        await respond(send, b"%d" % len(body))
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200})
        for i in range(4):
            await send({"type": "http.response.body", "body": b"%d," % i,
                        "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})
    else:
        raise ValueError("expected")


UPLOAD = b"u" * (150 * 1024)   # three chunks of Go's 64 KiB
EXPECTED = {"/hello": (200, b"hi"), "/upload": (200, b"%d" % len(UPLOAD)),
            "/stream": (200, b"0,1,2,3,end"), "/fail": (500, None),
            "/big": (200, BIG + BIG)}


@needs_pydebug
@pytest.mark.parametrize("path, requests", [
    ("/hello", 5_000), ("/upload", 1_000), ("/stream", 3_000),
    ("/fail", 2_000), ("/big", 1_000)])
def test_total_refcount_settles(serve_asgi, pool, caplog, path, requests):
    """Every reference an ASGI request takes is given back, on any object
    (sys.gettotalrefcount on a debug CPython: make test-pydebug): a hello
    world, an upload read in chunks, a streamed response, an app that
    raises, large bodies Go writes from where Python has them."""
    srv = serve_asgi(four_paths)
    status, body = EXPECTED[path]
    method, payload = ("POST", UPLOAD) if path == "/upload" else ("GET", None)

    def run(n):
        for _ in range(n):
            r = pool.request(method, srv.url + path, body=payload)
            assert r.status == status, (r.status, r.data[:200])
            assert body is None or r.data == body
        loop_settle()

    with caplog.at_level(logging.CRITICAL + 1, logger="gohttp"):
        run(requests // 5)
        grown = refs_per_request(run, requests)
    assert grown < REFS_PER_REQUEST, \
        f"{path}: {grown:.4f} references per request"
    assert live_calls() == 0


@pytest.mark.heavy
def test_large_bodies_are_given_back_on_every_path(serve_asgi, pool, caplog):
    """Bodies lent to Go (over 64 KiB) are released after each request,
    written or not (the app raised after the first, its response cut
    short): BIG's reference count comes back, no Python memory stays
    (tracemalloc), and RSS does not grow by a copy per request."""
    srv = serve_asgi(four_paths)
    count = (lambda: sys.getrefcount(BIG))   # the same from any frame

    def run(n):
        for i in range(n):
            if i % 4 == 3:   # aborted: read what comes, if anything
                try:
                    pool.request("GET", srv.url + "/big-fail")
                except urllib3.exceptions.HTTPError:
                    pass
                continue
            r = pool.request("GET", srv.url + "/big")
            assert (r.status, len(r.data)) == (200, 2 * len(BIG))
        loop_settle()

    with caplog.at_level(logging.CRITICAL + 1, logger="gohttp"):
        run(100)
        settle()
        before, rss_before = count(), rss_bytes()
        with traced() as growth:
            run(400)
            settle()
            deadline = time.monotonic() + TIMEOUT
            while count() > before and time.monotonic() < deadline:
                time.sleep(0.005)
    assert count() == before, f"{count() - before} references to BIG kept"
    assert growth.bytes < 64 * 1024, str(growth)
    growth_rss = rss_bytes() - rss_before
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        assert growth_rss < 32 * MiB, f"RSS grew by {growth_rss / MiB:.1f} MiB"
    assert live_calls() == 0
