"""Leaks through the WSGI adapter: many requests leave nothing behind.

Like test_leak.py: warm up, measure, run many more requests, check that
what was measured settled (helpers/leak.py says what each measure
sees); on a debug build of CPython (`make test-pydebug`), the total
reference count too.
"""

import gc
import logging
import os
import sys
import weakref

import pytest
import urllib3

from helpers.common import TIMEOUT, rss_bytes
from helpers.leak import (REFS_PER_REQUEST, needs_pydebug, refs_per_request,
                          settle, traced)

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app

# AddressSanitizer, preloaded by `make asan`, keeps freed memory aside.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")

WARM_UP = 1_000
REQUESTS = 5_000
MiB = 1024 * 1024


class Body:
    """A response iterable with close(), tracked by a weak reference."""
    alive = weakref.WeakSet()

    def __init__(self, chunks):
        self.chunks = chunks
        Body.alive.add(self)

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        pass


def app(environ, start_response):
    """Touches the whole environ, reads the body by lines, streams back."""
    stream = environ["wsgi.input"]
    first = stream.readline()
    rest = stream.read(int(environ.get("CONTENT_LENGTH") or 0))
    if environ["PATH_INFO"] == "/fail":
        raise ValueError("expected")
    write = start_response("200 OK", [("Content-Type", "text/plain"),
                                      ("X-Agent",
                                       environ.get("HTTP_USER_AGENT", ""))])
    write(first)
    return Body([rest, environ["QUERY_STRING"].encode()])


def hammer(pool, url, n, path="/echo"):
    for i in range(n):
        r = pool.request("POST", f"{url}{path}?i={i}",
                         body=b"line one\nline two\n" * 4,
                         headers={"User-Agent": "leak"})
        assert r.status == (500 if path == "/fail" else 200), r.status


def keep_alive_pool():
    return urllib3.PoolManager(maxsize=1, block=True, retries=False,
                               timeout=urllib3.Timeout(connect=TIMEOUT,
                                                       read=TIMEOUT))


@pytest.mark.heavy
def test_wsgi_requests_leave_nothing_behind(serve_app):
    server = serve_app(app, validate=False)
    pool = keep_alive_pool()
    hammer(pool, server.url, WARM_UP)
    settle()
    app_refs = sys.getrefcount(app)
    objects_before = len(gc.get_objects())
    rss_before = rss_bytes()

    hammer(pool, server.url, REQUESTS)

    settle()
    growth = rss_bytes() - rss_before
    objects = len(gc.get_objects()) - objects_before
    refs = sys.getrefcount(app) - app_refs
    alive = len(Body.alive)
    if not UNDER_ASAN:  # its quarantine holds freed memory: RSS grows
        assert growth < 8 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"
    assert objects < 500, f"{objects} more objects tracked by the GC"
    assert refs == 0
    assert alive == 0, f"{alive} response iterables are still alive"
    with traced() as grown:
        hammer(pool, server.url, 1_000)
    assert grown.bytes < 64 * 1024, grown


@pytest.mark.heavy
def test_failing_wsgi_requests_leave_nothing_behind(serve_app, caplog):
    server = serve_app(app, validate=False)
    pool = urllib3.PoolManager(maxsize=1, block=True, retries=False)
    with caplog.at_level(logging.CRITICAL + 1, logger="gohttp"):
        hammer(pool, server.url, 300, "/fail")
        settle()
        objects_before = len(gc.get_objects())
        with traced() as grown:
            hammer(pool, server.url, 2_000, "/fail")
        objects = len(gc.get_objects()) - objects_before
    assert objects < 500, f"{objects} more objects tracked by the GC"
    assert grown.bytes < 64 * 1024, grown


def plain_app(environ, start_response):
    """The C adapter's own path (ext/wsgi.c): one start_response, a list
    of bytes.  Touches the environ, reads the body, sends headers that C
    drops, keeps or counts."""
    body = environ["wsgi.input"].read()
    path = environ["PATH_INFO"]
    status = "204 No Content" if path == "/none" else "200 OK"
    headers = [
        ("Content-Type", "text/plain"),
        ("X-Agent", environ.get("HTTP_USER_AGENT", "")),
        ("X-Many", environ.get("HTTP_X_MANY", "")),
        ("Keep-Alive", "timeout=5"),   # hop-by-hop: dropped
    ]
    chunks = [environ["QUERY_STRING"].encode(), b"|", body]
    if path.startswith("/iter"):
        # An iterable with its length: of one chunk, C sends it; of two,
        # C hands the chunks it took to the adapter.
        whole = b"".join(chunks)
        headers.append(("Content-Length", str(len(whole))))
        start_response(status, headers)
        return Body([whole] if path == "/iter" else [whole, b""])
    start_response(status, headers)
    return chunks


def run_plain(pool, url, n):
    """n rounds of every kind of request plain_app answers: five requests
    a round."""
    for i in range(n):
        r = pool.request("GET", f"{url}/get?i={i}",
                         headers={"User-Agent": "leak", "X-Many": "a"})
        assert r.data == f"i={i}|".encode(), r.data
        r = pool.request("POST", f"{url}/post?i={i}", body=b"x" * 100)
        assert r.data == f"i={i}|".encode() + b"x" * 100
        assert pool.request("GET", f"{url}/none").status == 204
        for path in ("/iter", "/iter2"):
            r = pool.request("GET", f"{url}{path}?i={i}")
            assert r.data == f"i={i}|".encode(), r.data


@pytest.mark.heavy
def test_plain_wsgi_requests_leave_nothing_behind(serve_app):
    server = serve_app(plain_app, validate=False)
    pool = keep_alive_pool()
    run_plain(pool, server.url, WARM_UP // 2)
    settle()
    app_refs = sys.getrefcount(plain_app)
    objects_before = len(gc.get_objects())
    with traced() as grown:
        run_plain(pool, server.url, REQUESTS // 3)
    objects = len(gc.get_objects()) - objects_before
    assert sys.getrefcount(plain_app) == app_refs
    assert grown.bytes < 256 * 1024, grown
    assert objects < 500, f"{objects} more objects tracked by the GC"
    assert not Body.alive, f"{len(Body.alive)} response iterables are alive"


@needs_pydebug
def test_total_refcount_settles(serve_app, caplog):
    """Every reference a WSGI request takes is given back: through the C
    adapter (plain_app), the Python one (app), and when the app raises."""
    plain = serve_app(plain_app, validate=False)
    python = serve_app(app, validate=False)
    pool = keep_alive_pool()
    run_plain(pool, plain.url, 200)
    grown = refs_per_request(lambda n: run_plain(pool, plain.url, n // 5), 5_000)
    assert grown < REFS_PER_REQUEST, f"C adapter: {grown:.3f} references per request"
    hammer(pool, python.url, 500)
    grown = refs_per_request(lambda n: hammer(pool, python.url, n), 3_000)
    assert grown < REFS_PER_REQUEST, f"Python adapter: {grown:.3f} references per request"
    with caplog.at_level(logging.CRITICAL + 1, logger="gohttp"):
        hammer(pool, python.url, 300, "/fail")
        grown = refs_per_request(lambda n: hammer(pool, python.url, n, "/fail"), 2_000)
    assert grown < REFS_PER_REQUEST, f"failing app: {grown:.3f} references per request"


def test_plain_apps_run_in_c_and_others_in_python(serve_app):
    """What the C adapter takes (ext/wsgi.c): start_response is C's own
    unless the server logs accesses in Python."""
    seen = []

    def app(environ, start_response):
        seen.append(type(start_response).__name__)
        start_response("200 OK", [])
        return [b"ok"]

    server = serve_app(app, validate=False)
    assert urllib3.request("GET", server.url + "/").data == b"ok"
    assert seen == ["start_response"]
