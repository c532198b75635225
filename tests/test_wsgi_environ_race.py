"""The kept environ of a WSGIApp (ext/environ.c, GIL builds) while Python
code runs in the middle of its reset and its fill: the finalizers of what
the app put in its environ, and the cyclic GC that allocations start,
run there, let the GIL go (a sleep), and let other threads' requests of
the same app begin and end meanwhile.  Each request must still see its
own fields and headers and nothing of another's; run under
AddressSanitizer (make asan), a borrowed pointer kept across that Python
code would show as a use after free."""

from __future__ import annotations

import gc
import http.client
import sys
import threading
import time

import pytest

from helpers.common import TIMEOUT
from helpers.leak import REFS_PER_REQUEST, needs_pydebug, refs_per_request

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app


class Slow:
    """An object an app puts in its environ whose finalizer lets the GIL
    go and starts the cyclic GC: it runs while the environ is reset."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __del__(self) -> None:
        time.sleep(0.0002)          # another request's thread runs
        _ = [[] for _ in range(50)]  # allocations: the GC may start
        if self.tag.endswith("7"):
            gc.collect()


class Cycle:
    """Garbage the GC finds (a cycle), whose finalizer lets the GIL go:
    it runs wherever an allocation starts the GC, a fill among them."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0.0001)


def app(environ, start_response):
    n = environ["PATH_INFO"][1:]
    problems = []
    want = {"QUERY_STRING": f"n={n}", "HTTP_X_N": n, "REQUEST_METHOD": "GET"}
    for key, value in want.items():
        if environ.get(key) != value:
            problems.append(f"{key}={environ.get(key)!r}, not {value!r}")
    if ("HTTP_X_ODD" in environ) != (int(n) % 2 == 1):
        problems.append(f"HTTP_X_ODD in the environ of {n}")
    for key, value in environ.items():
        if isinstance(value, (Slow, Cycle)) or key.startswith("app."):
            problems.append(f"{key}={value!r} of another request")
    # what the reset lets go of, each with a finalizer that lets others in
    environ["app.slow"] = Slow(n)
    environ["app.str"] = f"str {n}"
    environ[f"HTTP_X_ADDED_{int(n) % 3}"] = "by the app"
    if int(n) % 4 == 0:
        environ["PATH_INFO"] = Slow(n + "7")    # a remembered key's value
    if int(n) % 5 == 0:
        environ["wsgi.errors"] = Slow(n)        # a request key's value
    if int(n) % 6 == 0:
        del environ["HTTP_X_N"]                 # a header's entry
    Cycle()
    time.sleep(0)                               # others run meanwhile
    body = ("; ".join(problems) or "ok").encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def client(port: int, first: int, count: int, out: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        for n in range(first, first + count):
            headers = {"X-N": str(n), "Accept": "*/*"}
            if n % 2:
                headers["X-Odd"] = "1"
            conn.request("GET", f"/{n}?n={n}", headers=headers)
            response = conn.getresponse()
            body = response.read().decode()
            if response.status != 200 or body != "ok":
                out.append((n, response.status, body))
    except Exception as e:   # noqa: BLE001 (told to the test below)
        out.append(e)
    finally:
        conn.close()


@pytest.fixture
def switchy():
    """Threads switch as often as CPython lets them."""
    before = sys.getswitchinterval()
    threshold = gc.get_threshold()
    sys.setswitchinterval(1e-5)
    gc.set_threshold(50, 5, 5)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
        gc.set_threshold(*threshold)


def test_requests_at_once_while_finalizers_run(serve_app, switchy):
    """Three clients at once, each request's environ holding objects whose
    finalizers sleep and collect: every request sees only its own."""
    server = serve_app(app, validate=False)
    out: list = []
    threads = [threading.Thread(target=client,
                                args=(server.port, i * 1000, 16, out))
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert out == []


def mutating_app(environ, start_response):
    """Does to its environ what the query says, so that the kept environ
    goes through every way of its reset and fill."""
    do = environ["QUERY_STRING"]
    if do == "add":
        environ["app.obj"] = [environ]         # a cycle through the environ
        environ["app.str"] = "s" * 100
    elif do == "replace":
        environ["PATH_INFO"] = object()
        environ["HTTP_ACCEPT"] = object()
        environ["wsgi.errors"] = object()
    elif do == "delete":
        del environ["wsgi.input"]
        del environ["SERVER_NAME"]
    elif do == "clear":
        environ.clear()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", "2")])
    return [b"ok"]


DOING = ["", "add", "", "replace", "", "", "delete", "clear", "", ""]


@needs_pydebug
def test_total_refcount_settles_with_kept_environs(serve_app):
    """Every reference the reset and the fill of a kept environ take is
    given back, whatever the app did to it and whichever headers come."""
    server = serve_app(mutating_app, validate=False)
    conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                      timeout=TIMEOUT)

    def run(n: int) -> None:
        for i in range(n):
            headers = {"Accept": "*/*", f"X-H{i % 3}": str(i % 5)}
            if i % 4 == 0:
                headers["Cookie"] = "a=1"
            conn.request("GET", f"/{i % 7}?{DOING[i % len(DOING)]}",
                         headers=headers)
            response = conn.getresponse()
            assert response.status == 200 and response.read() == b"ok"

    try:
        run(500)
        grown = refs_per_request(run, 3_000)
    finally:
        conn.close()
    assert grown < REFS_PER_REQUEST, f"{grown:.3f} references per request"


class Sub(dict):
    """A dict subclass an app stores in its environ, holding the environ
    itself: a cycle only the GC breaks."""


def test_after_what_the_app_did_the_next_request_is_whole(serve_app):
    """Whatever the app did to its environ (wsgi.input or wsgi.errors
    deleted, a dict subclass holding it stored in it, handed to a thread
    that changes it after the request), the next request's environ reads
    its own body and writes its own errors."""
    late, threads = threading.Event(), []

    def changer(environ):
        late.wait(TIMEOUT)
        environ["PATH_INFO"] = "changed late"
        environ.pop("wsgi.input", None)
        environ["HTTP_X_LATE"] = "1"

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        body = environ["wsgi.input"].read()
        environ["wsgi.errors"].write("")
        problems = [k for k in ("HTTP_X_LATE", "app.sub") if k in environ]
        if body != path.encode():
            problems.append(f"body {body!r}")
        if path == "/del-input":
            del environ["wsgi.input"]
        elif path == "/del-errors":
            del environ["wsgi.errors"]
        elif path == "/sub":
            environ["app.sub"] = Sub(env=environ)
        elif path == "/thread":
            t = threading.Thread(target=changer, args=(environ,))
            t.start()
            threads.append(t)
        out = ("; ".join(problems) or "ok").encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(out)))])
        return [out]

    server = serve_app(app, validate=False)
    conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                      timeout=TIMEOUT)
    paths = ["/a", "/del-input", "/b", "/del-errors", "/c", "/sub", "/d",
             "/thread", "/e", "/f"]
    try:
        for i, path in enumerate(paths * 2):
            if i == len(paths) + 2:
                late.set()   # the threads change their environs now
            conn.request("POST", path, body=path.encode())
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"ok"), path
    finally:
        conn.close()
        late.set()
        for t in threads:
            t.join(TIMEOUT)
    gc.collect()


def poke(where) -> int:
    """Change each environ with app.mark among the objects where gives,
    as code that looks through the GC's objects may: how many."""
    found = 0
    for d in where():
        if type(d) is dict and "app.mark" in d:
            found += 1
            for key in ("HTTP_X_A", "REMOTE_PORT", "app.mark"):
                d[key] = "poked"   # the str there let go of
    return found


class Poker:
    """Pokes through gc.get_objects() when its environ lets go of it."""

    def __del__(self) -> None:
        poke(gc.get_objects)


def test_environ_kept_out_of_the_gc_reach(serve_app):
    """A kept environ cannot be found through the GC (gc.get_objects(),
    gc.get_referents() of the WSGIApp), neither while it waits for the
    next request nor while it is reset (a finalizer that looks): nothing
    can change it behind the notes ext/environ.c keeps of it, which
    borrow its keys and values."""

    def app(environ, start_response):
        problems = [k for k, v in environ.items()
                    if k == "app.mark" or v == "poked"]
        if environ.get("HTTP_X_A") != "same":
            problems.append(f"HTTP_X_A={environ.get('HTTP_X_A')!r}")
        environ["app.mark"] = "a str: kept through the reset"
        if environ["QUERY_STRING"] == "poker":
            environ["app.poker"] = Poker()
        out = ("; ".join(problems) or "ok").encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(out)))])
        return [out]

    server = serve_app(app, validate=False)
    wsgi_apps = [o for o in gc.get_objects()
                 if type(o).__name__ == "WSGIApp" and o.app is app]
    assert len(wsgi_apps) == 1
    conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                      timeout=TIMEOUT)
    try:
        for query in ["", "", "poker", "", "poker", "poker", "", ""]:
            conn.request("GET", f"/?{query}", headers={"X-A": "same"})
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"ok")
            assert poke(gc.get_objects) == 0
            assert poke(lambda: gc.get_referents(wsgi_apps[0])) == 0
    finally:
        conn.close()
