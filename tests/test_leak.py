"""Leaks: many requests through the whole stack leave no memory behind.

Each test warms up first (Go's heap, pymalloc's arenas, urllib3's pool
reach their working size), then measures, runs many more requests, and
checks that what it measured settled (helpers/leak.py says what each
measure sees).  On a debug build of CPython (`make test-pydebug`) the
total reference count is checked too.
"""

import gc
import os
import logging
import sys

import pytest
import urllib3

import gohttp
from gohttp import _gohttp
from helpers.common import TIMEOUT, rss_bytes, thread_count
from helpers.leak import (REFS_PER_REQUEST, needs_pydebug, refs_per_request,
                          settle, traced)

WARM_UP = 3_000
REQUESTS = 20_000
MiB = 1024 * 1024


class Client:
    """A keep-alive urllib3 PoolManager bound to one server: one
    connection, reused for every request."""

    def __init__(self, srv):
        self.url = srv.url
        self.manager = urllib3.PoolManager(
            maxsize=1, block=True, retries=False,
            timeout=urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT))

    def request(self, method, path, **kw):
        return self.manager.request(method, self.url + path, **kw)


@pytest.fixture
def pool(server):
    client = Client(server)
    yield client
    client.manager.clear()


def hello(w, req):
    """A handler that touches every part of the request and response."""
    agent = req.headers.get("User-Agent", "")
    ident = req.path_value("id")
    body = req.body
    req.headers.get_all("X-Repeat")
    (req.method, req.url, req.path, req.query, req.host, req.remote_addr,
     req.content_length)
    w.header.set("Content-Type", "text/plain; charset=utf-8")
    w.header.add("X-Id", ident)
    w.write(f"{ident}:{len(body)}:{agent}")


def hammer(pool, n, path="/hello/{i}"):
    headers = urllib3.HTTPHeaderDict({"User-Agent": "leak-test"})
    headers.add("X-Repeat", "1")
    headers.add("X-Repeat", "2")
    body = b"payload\0" * 16
    for i in range(n):
        r = pool.request("POST", path.format(i=i) + "?q=1", body=body,
                         headers=headers)
        assert r.status == 200, (i, r.status, r.data)


def counts():
    """What must come back to where it was once requests are done.  Take
    them outside assert statements: pytest's rewritten asserts keep their
    operands in temporaries, which would count too."""
    return {
        "hello": sys.getrefcount(hello),
        "Request": sys.getrefcount(gohttp.Request),
        "ResponseWriter": sys.getrefcount(gohttp.ResponseWriter),
        "Headers": sys.getrefcount(gohttp.Headers),
        "Server": sys.getrefcount(gohttp.Server),
    }


@pytest.mark.heavy
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's quarantine holds freed memory: "
                           "RSS says nothing under it")
def test_memory_settles_after_20000_requests(server, pool):
    server.handle("POST /hello/{id}", hello)
    hammer(pool, WARM_UP)
    r = pool.request("POST", "/hello/check", body=b"abc",
                     headers={"User-Agent": "ua"})
    assert r.data == b"check:3:ua"

    settle()
    refs_before = counts()
    objects_before = len(gc.get_objects())
    rss_before = rss_bytes()

    hammer(pool, REQUESTS)

    settle()
    rss_after = rss_bytes()
    objects_after = len(gc.get_objects())
    refs_after = counts()

    growth = rss_after - rss_before
    assert growth < 8 * MiB, (
        f"RSS grew by {growth / MiB:.1f} MiB over {REQUESTS} requests "
        f"({growth / REQUESTS:.0f} bytes per request)")
    assert objects_after - objects_before < 500, (
        f"{objects_after - objects_before} more objects tracked by the GC")
    assert refs_after == refs_before


def test_one_thread_state_per_go_thread_not_per_request(server, pool):
    """Handlers run on Go's threads; each gets a Python thread state once
    and keeps it, rather than making and freeing one per request."""
    server.handle("POST /hello/{id}", hello)
    hammer(pool, 200)
    made_before = _gohttp._thread_states()
    hammer(pool, 3_000)
    made = _gohttp._thread_states() - made_before
    # Only threads that did not exist yet may need one.
    assert made <= thread_count(), made
    assert made < 50, made


def fails(w, req):
    req.body
    w.header.set("X-Doomed", "1")
    raise ValueError("expected " + req.path_value("id"))


def hammer_errors(pool, n):
    for i in range(n):
        r = pool.request("POST", f"/fail/{i}", body=b"x")
        assert r.status == 500


@pytest.mark.heavy
def test_errors_do_not_leak(server, pool, caplog):
    server.handle("POST /fail/{id}", fails)
    logger = logging.getLogger("gohttp")
    # Formatting tracebacks is not what is measured: drop the records.
    with caplog.at_level(logging.CRITICAL + 1, logger="gohttp"):
        assert logger.getEffectiveLevel() > logging.ERROR
        hammer_errors(pool, 500)
        settle()
        refs_before = sys.getrefcount(fails)
        types_before = sys.getrefcount(gohttp.Request)
        objects_before = len(gc.get_objects())
        with traced() as grown:
            hammer_errors(pool, 3_000)
        # Counted outside the asserts: pytest's rewritten asserts hold
        # their operands in temporaries, which would count too.
        refs_after = sys.getrefcount(fails)
        types_after = sys.getrefcount(gohttp.Request)
        objects_after = len(gc.get_objects())
        assert refs_after == refs_before
        assert types_after == types_before
        assert objects_after - objects_before < 500
        assert grown.bytes < 64 * 1024, grown


@pytest.mark.heavy
def test_python_allocations_settle(server, pool):
    """What Python allocates for a request (str, bytes, the request's
    objects) is freed with it: gc.get_objects() does not see str or bytes,
    RSS is too coarse."""
    server.handle("POST /hello/{id}", hello)
    hammer(pool, WARM_UP)
    with traced() as grown:
        hammer(pool, 3_000)
    assert grown.bytes < 64 * 1024, grown


def test_kept_objects_are_freed_when_dropped(server, pool):
    kept = []

    def keep(w, req):
        kept.append((w, req, req.headers))
        w.write(b"kept")

    server.handle("POST /hello/{id}", keep)
    hammer(pool, 200)
    settle()
    before = counts()
    kept_before = len(kept)
    hammer(pool, 1_000)
    assert len(kept) == kept_before + 1_000
    # Each kept Request and ResponseWriter holds its type.
    holding = counts()
    assert holding["Request"] >= before["Request"] + 1_000
    kept.clear()
    settle()
    after = counts()
    assert after["Request"] == before["Request"] - kept_before
    assert after["ResponseWriter"] == before["ResponseWriter"] - kept_before


def test_servers_come_and_go_without_leaking():
    def one_server():
        with gohttp.Server("127.0.0.1", 0) as srv:
            srv.handle("/", hello_plain)
            r = urllib3.request("GET", srv.url + "/", retries=False,
                                timeout=TIMEOUT)
            assert r.data == b"plain"

    for _ in range(10):
        one_server()
    settle()
    handler_refs = sys.getrefcount(hello_plain)
    server_refs = sys.getrefcount(gohttp.Server)
    rss_before = rss_bytes()
    for _ in range(100):
        one_server()
    settle()
    handler_refs_after = sys.getrefcount(hello_plain)
    server_refs_after = sys.getrefcount(gohttp.Server)
    growth = rss_bytes() - rss_before
    assert handler_refs_after == handler_refs
    assert server_refs_after == server_refs
    assert growth < 8 * MiB


def hello_plain(w, req):
    w.write(b"plain")


@needs_pydebug
def test_total_refcount_settles(server, pool, caplog):
    """Every reference a request takes, on any object, is given back: on
    the success path and when the handler raises."""
    server.handle("POST /hello/{id}", hello)
    server.handle("POST /fail/{id}", fails)
    hammer(pool, 1_000)
    grown = refs_per_request(lambda n: hammer(pool, n), 5_000)
    assert grown < REFS_PER_REQUEST, f"{grown:.3f} references per request"
    with caplog.at_level(logging.CRITICAL + 1, logger="gohttp"):
        hammer_errors(pool, 500)
        failed = refs_per_request(lambda n: hammer_errors(pool, n), 2_000)
    assert failed < REFS_PER_REQUEST, f"{failed:.3f} references per failed request"
