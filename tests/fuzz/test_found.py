"""Regression tests for what the fuzzers found (tests/fuzz/, and the Go
targets in go/*_fuzz_test.go): each once as a plain test, against a real
server on a real socket."""

from __future__ import annotations

import pytest

# A chunked body whose second chunk size is not hex, with a whole request
# where the rest of the body should be: found by diff.py (bad-chunk-size).
SMUGGLED = (b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\nzz\r\n"
            b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")


def _reads_then_writes(w, req):
    try:
        req.body
    except OSError:
        pass
    w.write(b"read")


def _streams(w, req):
    """Reads before it writes, so the response is full duplex, and the
    break comes after the response started."""
    try:
        while chunk := req.read(1):
            w.write(chunk)
            w.flush()
    except OSError:
        w.write(b"broken")


def _reads_only(w, req):
    try:
        req.body
    except OSError:
        pass


@pytest.mark.parametrize("handler", [_reads_then_writes, _streams, _reads_only])
def test_no_request_is_read_from_a_broken_body(server, raw, record, handler):
    """After a body whose framing broke, the connection serves nothing
    more: the bytes after the break are not a request (net/http's own
    rule, which a full-duplex response used to skip)."""
    server.handle("POST /up", handler)

    @server.route("GET /smuggled")
    def smuggled(w, req):
        record("smuggled")
        w.write(b"smuggled")

    answer = raw(SMUGGLED)
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert b"smuggled" not in answer
    assert record.values == []



def test_a_body_read_after_the_response_started_leaves_it_whole(server, fetch):
    """net/http throws the body away when a response starts before any
    read; a read after that fails, and the response must still end
    cleanly: found by ext_fuzz.py (write_header, flush, then req.body),
    in the first version of the fix above, which cut it off."""
    @server.route("POST /late")
    def late(w, req):
        w.write_header(418)
        w.flush()
        try:
            req.body
        except OSError:
            pass
        w.write(b"whole")

    r = fetch("POST", "/late", body=b"request body")
    assert (r.status, r.data) == (418, b"whole")


def test_start_response_refuses_a_none_status_at_once(server, fetch, record):
    """start_response(None, ...) was taken as no call at all: write()
    then said it came before start_response(), and a returned body that
    the app "returned without calling start_response()".  Found by
    ext_fuzz.py; now a TypeError where the mistake is."""
    def app(environ, start_response):
        try:
            start_response(None, [])
        except TypeError as e:
            record(str(e))
        start_response("200 OK", [])
        return [b"fine"]

    server.mount_wsgi("/app", app)
    r = fetch("GET", "/app/")
    assert (r.status, r.data) == (200, b"fine")
    assert "must be a str such as '200 OK', not NoneType" in record.one()


def test_a_body_left_unread_keeps_the_connection(server, raw, capfd):
    """A handler that reads part of the body, then answers: net/http read
    the rest after the handler returned and, the response being full
    duplex, panicked reading the next request ("invalid concurrent
    Body.Read call", logged) and dropped the connection, so a pipelined
    request got no answer.  Found by ext_fuzz.py."""
    @server.route("PUT /part")
    def part(w, req):
        req.read(1)
        w.write(b"part")

    @server.route("GET /next")
    def nxt(w, req):
        w.write(b"next")

    answer = raw(b"PUT /part HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\nrequest body"
                 b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 2, answer
    assert answer.endswith(b"next")
    assert "panic" not in capfd.readouterr().err
