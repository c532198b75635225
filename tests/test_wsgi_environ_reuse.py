"""The environ of a request whose app did not keep it is reset and reused
by the next request (GIL builds; ext/environ.c): whatever the app did to
it, the next request must get the dict a fresh copy would have been, key
for key, in the same order, and nothing the app put in it may outlive its
request but strs."""

from __future__ import annotations

import gc
import http.client
import io
import threading
import weakref

import pytest

from helpers.common import TIMEOUT

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app

# Values that differ between two servers or two requests by nature.
VARYING = ("SERVER_PORT", "REMOTE_PORT", "HTTP_HOST")


def normal(environ: dict) -> list[object]:
    """environ's items in order, its objects by type (wsgi.input,
    wsgi.errors), what differs by nature left out, and the request
    headers, which come in no order (Go's header map has none), sorted
    where the first of them is."""
    items: list[object] = []
    headers: list[tuple[str, object]] = []
    for key, value in environ.items():
        if key in VARYING:
            value = "..."
        elif not isinstance(value, (str, bool, tuple, type)):
            value = type(value).__name__
        if (key.startswith("HTTP_") and key != "HTTP_HOST"
                or key in ("CONTENT_TYPE", "CONTENT_LENGTH")):
            if not headers:
                items.append(headers)   # all together, in one place
            elif items[-1] is not headers:
                items.append(("a header after others", key))
            headers.append((key, value))
        else:
            items.append((key, value))
    headers.sort()
    return items


class Resource:
    """An object an app puts in its environ: it must be freed with the
    request."""


# What the app does to its environ, by the query of the request ("do=add"):
# not by a header, so that the request has the same headers as the one
# before it (a fill that kept every entry, which ext/environ.c trusts
# when it finds the environ unchanged afterwards).
def mutate(environ: dict, do: str, kept: list, refs: list) -> None:
    if do == "add":
        resource = Resource()
        refs.append(weakref.ref(resource))
        environ["app.resource"] = resource
        environ["app.str"] = "a str of the app"
        environ["HTTP_X_MADE_UP"] = "by the app"
    elif do == "del-base":
        del environ["SERVER_NAME"]
    elif do == "del-tail":
        del environ["HTTP_ACCEPT"]
    elif do == "replace":
        resource = Resource()
        refs.append(weakref.ref(resource))
        environ["wsgi.multithread"] = "no"
        environ["PATH_INFO"] = resource
        environ["HTTP_ACCEPT"] = Resource()
        environ["wsgi.input"] = io.BytesIO(b"mine")
        environ["wsgi.errors"] = io.StringIO()
    elif do == "readd":
        environ["REQUEST_METHOD"] = environ.pop("REQUEST_METHOD")
    elif do == "clear":
        environ.clear()
    elif do == "keep":
        kept.append(environ)
    elif do == "update":
        environ.update({"QUERY_STRING": "changed", "app.key": "v"})
        environ.setdefault("SERVER_PROTOCOL", "HTTP/9")
        environ.popitem()


def recording_app(seen: list, kept: list, refs: list,
                  keep_all: bool = False):
    def app(environ, start_response):
        seen.append(normal(environ))
        if keep_all:
            kept.append(environ)
        # what the requests before put in environs they let go is gone
        assert kept or all(r() is None for r in refs), \
            "an app's object outlived its request"
        query = environ.get("QUERY_STRING", "")
        mutate(environ, query[3:] if query.startswith("do=") else "", kept,
               refs)
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "2")])
        return [b"ok"]
    return app


ACCEPT = {"Accept": "*/*"}
EXTRA = {"Accept": "*/*", "X-Extra": "1"}
REQUESTS = [
    # (method, target, headers)
    ("GET", "/", ACCEPT),
    ("GET", "/", ACCEPT),
    ("GET", "/?do=add", ACCEPT),
    ("GET", "/", ACCEPT),
    ("GET", "/a?x=1", EXTRA),
    ("GET", "/a?do=del-tail", EXTRA),
    ("GET", "/a?x=1", EXTRA),
    ("POST", "/b?do=replace", {"Accept": "text/html"}),
    ("GET", "/", {"X-Extra": "2", "Accept": "*/*"}),
    ("GET", "/?do=readd", ACCEPT),
    ("GET", "/?do=del-base", ACCEPT),
    ("GET", "/c", {"Accept": "*/*", "Cookie": "a=1"}),
    ("GET", "/c?do=update", {"Accept": "*/*", "Cookie": "a=1"}),
    ("GET", "/c?do=clear", ACCEPT),
    ("GET", "/c?do=keep", ACCEPT),
    ("GET", "/d", {"Accept": "*/*", "User-Agent": "ua", "X-Other": "z"}),
    ("GET", "/d?do=replace", {"Accept": "*/*", "User-Agent": "ua",
                              "X-Other": "z"}),
    ("GET", "/d", ACCEPT),
    ("GET", "/d", {}),
    ("GET", "/d?do=add", {}),
    ("GET", "/d", {}),
]


def run(server, requests) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                      timeout=TIMEOUT)
    try:
        for method, path, headers in requests:
            body = b"xyz" if method == "POST" else None
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == b"ok"
    finally:
        conn.close()


def test_reused_environ_is_a_fresh_copy(serve_app):
    """Each request's environ as the app gets it, on a server where every
    environ is kept by its app (so each is a fresh copy) and on one where
    the apps let theirs go (so each is reused): the same, in the same
    order, whatever the app before did to its own."""
    fresh_seen, reused_seen, kept, refs = [], [], [], []
    always_kept: list = []

    run(serve_app(recording_app(fresh_seen, always_kept, [], keep_all=True),
                  validate=False), REQUESTS)
    run(serve_app(recording_app(reused_seen, kept, refs), validate=False),
        REQUESTS)
    assert len(fresh_seen) == len(reused_seen) == len(REQUESTS)
    for i, (fresh, reused) in enumerate(zip(fresh_seen, reused_seen)):
        assert reused == fresh, f"request {i}: {REQUESTS[i]}"
    assert len(refs) == 4
    assert all(r() is None for r in refs)


def test_kept_environ_is_left_alone(serve_app):
    """An environ the app kept is not reused: it keeps what its request
    had while the requests after get their own."""
    kept, ids = [], []

    def app(environ, start_response):
        ids.append(id(environ))
        if environ["PATH_INFO"] == "/keep":
            kept.append((environ, dict(environ)))
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "2")])
        return [b"ok"]

    server = serve_app(app)
    run_paths = ["/keep", "/other", "/keep", "/x", "/y"]
    run(server, [("GET", p, {"Accept": "*/*"}) for p in run_paths])
    assert len(kept) == 2
    for environ, copy in kept:
        assert environ == copy
        assert environ["PATH_INFO"] == "/keep"
    assert ids[1] != ids[0] and ids[3] != ids[2]


def test_environ_of_a_thread_the_app_started(serve_app):
    """An app that hands its environ to a thread of its own: the thread
    reads it after the request, while other requests run."""
    go, done, results = threading.Event(), [], []

    def reader(environ, path):
        go.wait(TIMEOUT)
        results.append((environ["PATH_INFO"], path,
                        environ.get("HTTP_X_N")))
        done.append(True)

    threads = []

    def app(environ, start_response):
        if environ["PATH_INFO"].startswith("/thread"):
            t = threading.Thread(target=reader,
                                 args=(environ, environ["PATH_INFO"]))
            t.start()
            threads.append(t)
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "2")])
        return [b"ok"]

    server = serve_app(app)
    run(server, [("GET", "/thread1", {"X-N": "1"}), ("GET", "/x", {}),
                 ("GET", "/thread2", {"X-N": "2"}), ("GET", "/y", {"A": "b"}),
                 ("GET", "/z", {})])
    go.set()
    for t in threads:
        t.join(TIMEOUT)
    assert sorted(results) == [("/thread1", "/thread1", "1"),
                               ("/thread2", "/thread2", "2")]


def test_concurrent_requests_each_get_their_own(serve_app):
    """Requests of several clients at once, the app letting the GIL go
    midway: each environ holds its own request's fields and headers."""
    errors = []

    def app(environ, start_response):
        n = environ["PATH_INFO"][1:]
        want = {"QUERY_STRING": f"n={n}", "HTTP_X_N": n}
        for _ in range(3):
            for key, value in want.items():
                if environ.get(key) != value:
                    errors.append((key, environ.get(key), value))
            if ("HTTP_X_ODD" in environ) != bool(int(n) % 2):
                errors.append(("HTTP_X_ODD", n))
            threading.Event().wait(0.001)   # lets the others in
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "2")])
        return [b"ok"]

    server = serve_app(app)

    def client(first):
        reqs = []
        for n in range(first, first + 12):
            headers = {"X-N": str(n)}
            if n % 2:
                headers["X-Odd"] = "1"
            reqs.append(("GET", f"/{n}?n={n}", headers))
        try:
            run(server, reqs)
        except Exception as e:   # noqa: BLE001 (told to the test below)
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i * 100,))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert errors == []


def test_write_callable_of_a_kept_start_response(serve_app):
    """start_response's write() callable is kept with the start_response
    for the next request when no one holds it: each request's write()
    still writes its own response, and one the app kept is never handed
    to another request."""
    kept_writes, writes = [], []

    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        writes.append(id(write))
        n = environ["QUERY_STRING"]
        if n == "keep":
            kept_writes.append(write)
        else:
            assert all(write is not k for k in kept_writes)
        write(f"write {n};".encode())
        return [b"end"]

    server = serve_app(app)
    conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                      timeout=TIMEOUT)
    try:
        for n in ["1", "2", "keep", "3", "4", "keep", "5"]:
            conn.request("GET", f"/?{n}")
            response = conn.getresponse()
            assert response.status == 200
            assert response.read() == f"write {n};end".encode()
    finally:
        conn.close()
    assert len(kept_writes) == 2


def test_wsgi_errors_kept_by_the_app(serve_app):
    """A kept environ may keep its wsgi.errors for the next request too;
    one the app kept is never handed to another request."""
    kept, bad = [], []

    def app(environ, start_response):
        errors = environ["wsgi.errors"]
        if any(errors is k for k in kept):
            bad.append(environ["QUERY_STRING"])
        if environ["QUERY_STRING"] == "keep":
            kept.append(errors)
        errors.write(f"request {environ['QUERY_STRING']}\n")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    run(serve_app(app), [("GET", f"/?{q}", {})
                         for q in ["1", "2", "keep", "3", "4", "keep", "5"]])
    assert bad == []
    assert len(kept) == 2 and kept[0] is not kept[1]


def test_fields_that_differ_by_one_byte(serve_app):
    """A kept environ's fields are compared with the request's, a word at
    a time: paths and header values of every length up to 20 that differ
    from the one before in their first, middle or last byte."""
    seen = []

    def app(environ, start_response):
        seen.append((environ["PATH_INFO"], environ["HTTP_X_V"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    requests, want = [], []
    for n in range(1, 21):
        base = "".join(chr(ord("a") + i % 26) for i in range(n))
        for at in sorted({0, n // 2, n - 1}):
            changed = base[:at] + "Z" + base[at + 1:]
            for text in (base, changed):
                requests.append(("GET", "/" + text, {"X-V": text}))
                want.append(("/" + text, text))
    run(serve_app(app), requests)
    assert seen == want


def test_status_of_each_response(serve_app):
    """The last status line's code is remembered by its str: each response
    still gets its own, whether the app passes the same str or another."""
    statuses = ["200 OK", "404 Not Found", "404 Not Found", "200 OK",
                "201 Created", "200 " + "OK", "500 Oops"]

    def app(environ, start_response):
        start_response(statuses[int(environ["QUERY_STRING"])],
                       [("Content-Type", "text/plain")])
        return [b"ok"]

    server = serve_app(app)
    conn = http.client.HTTPConnection("127.0.0.1", server.port,
                                      timeout=TIMEOUT)
    try:
        for i, status in enumerate(statuses):
            conn.request("GET", f"/?{i}")
            response = conn.getresponse()
            assert response.read() == b"ok"
            assert response.status == int(status[:3])   # (Go's reasons)
    finally:
        conn.close()
