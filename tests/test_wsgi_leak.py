"""Leaks through the WSGI adapter: many requests leave nothing behind.

Like test_leak.py: warm up, measure, run many more requests, check that
what was measured settled.
"""

import gc
import logging
import sys
import weakref

import urllib3

from support import TIMEOUT, rss_bytes

pytest_plugins = ["wsgi_fixtures"]  # serve_app

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


def settle():
    for _ in range(3):
        gc.collect()


def test_wsgi_requests_leave_nothing_behind(serve_app):
    server = serve_app(app, validate=False)
    pool = urllib3.PoolManager(maxsize=1, block=True, retries=False,
                               timeout=urllib3.Timeout(connect=TIMEOUT,
                                                       read=TIMEOUT))
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
    assert growth < 8 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"
    assert objects < 500, f"{objects} more objects tracked by the GC"
    assert refs == 0
    assert alive == 0, f"{alive} response iterables are still alive"


def test_failing_wsgi_requests_leave_nothing_behind(serve_app, caplog):
    server = serve_app(app, validate=False)
    pool = urllib3.PoolManager(maxsize=1, block=True, retries=False)
    with caplog.at_level(logging.CRITICAL + 1, logger="gohttp"):
        hammer(pool, server.url, 300, "/fail")
        settle()
        objects_before = len(gc.get_objects())
        hammer(pool, server.url, 2_000, "/fail")
        settle()
        objects = len(gc.get_objects()) - objects_before
    assert objects < 500, f"{objects} more objects tracked by the GC"
