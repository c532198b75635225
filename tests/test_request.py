"""gohttp.Request: what a handler learns of its request, and the body."""

import hashlib
import os
import socket
import threading

import pytest
import urllib3

import gohttp
from helpers.common import TIMEOUT, connect, outcome, read_to_end, read_until

TEN_MB = 10 * 1024 * 1024


def snapshot(req):
    """Every simple attribute of req, copied while the handler runs."""
    return {
        "method": req.method,
        "url": req.url,
        "path": req.path,
        "query": req.query,
        "host": req.host,
        "proto": req.proto,
        "remote_addr": req.remote_addr,
        "content_length": req.content_length,
        "headers": req.headers.multi_items(),
        "body": req.body,
    }


@pytest.fixture
def seen(server, record):
    """Route /{path...} to a handler that records snapshot(req)."""
    @server.route("/{path...}")
    def handler(w, req):
        record(snapshot(req))
        w.write(b"ok")
    return record


def test_every_attribute(server, seen):
    with connect(server.address) as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(b"PUT /a%20b/c?x=1&y=%20 HTTP/1.1\r\n"
                     b"Host: example.test:8080\r\n"
                     b"X-Custom: value\r\n"
                     b"Content-Length: 5\r\n"
                     b"Connection: close\r\n\r\n"
                     b"hello")
        assert read_to_end(sock).startswith(b"HTTP/1.1 200 OK\r\n")
    got = seen.one()
    assert got["method"] == "PUT"
    assert got["url"] == "/a%20b/c?x=1&y=%20"
    assert got["path"] == "/a b/c"
    assert got["query"] == "x=1&y=%20"
    assert got["host"] == "example.test:8080"
    assert got["proto"] == "HTTP/1.1"
    assert got["remote_addr"] == f"127.0.0.1:{client_port}"
    assert got["content_length"] == 5
    assert got["body"] == b"hello"
    headers = dict(got["headers"])
    assert headers["X-Custom"] == "value"
    assert headers["Content-Length"] == "5"


def test_attribute_types_with_urllib3(server, seen, fetch):
    assert fetch("GET", "/p?q=1").status == 200
    got = seen.one()
    assert got["method"] == "GET"
    assert got["host"] == f"127.0.0.1:{server.port}"
    assert got["url"] == "/p?q=1"
    assert got["query"] == "q=1"
    assert got["proto"] == "HTTP/1.1"
    assert got["remote_addr"].startswith("127.0.0.1:")
    assert got["content_length"] == 0
    assert got["body"] == b""


def test_no_query_is_empty_string(seen, fetch):
    fetch("GET", "/plain")
    got = seen.one()
    assert (got["url"], got["path"], got["query"]) == ("/plain", "/plain", "")


def test_http_1_0(server, seen):
    reply = read_to_end_after(server, b"GET /old HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.0 200 OK")
    got = seen.one()
    assert got["proto"] == "HTTP/1.0"
    assert got["host"] == ""


def test_absolute_form_request_target(server, seen):
    reply = read_to_end_after(
        server, b"GET http://example.test/abs?z=9 HTTP/1.1\r\n"
                b"Host: example.test\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK")
    got = seen.one()
    assert got["url"] == "http://example.test/abs?z=9"
    assert got["path"] == "/abs"
    assert got["query"] == "z=9"


def read_to_end_after(server, data):
    with connect(server.address) as sock:
        sock.sendall(data)
        return read_to_end(sock)


def test_repeated_headers_give_several_values(server, fetch, record):
    @server.route("/h")
    def handler(w, req):
        h = req.headers
        record((h.get_all("x-multi"), h.get("X-MULTI"), dict(h)["X-Multi"],
                "x-multi" in h, "X-Absent" in h, h.get("X-Absent")))

    headers = urllib3.HTTPHeaderDict()
    headers.add("X-Multi", "one")
    headers.add("x-multi", "two")
    headers.add("X-Multi", "three")
    assert fetch("GET", "/h", headers=headers).status == 200
    assert record.one() == (["one", "two", "three"], "one", "one", True,
                            False, None)


def test_each_request_on_a_connection_has_its_own_headers(server, fetch,
                                                         record):
    # Go copies a request's headers from the last request its call packed
    # when they are the same (go/call.go, headerMemo): only then.
    @server.route("/h")
    def handler(w, req):
        record(sorted(req.headers.multi_items(), key=lambda p: p[0]))

    sent = [{"X-A": "1"}, {"X-A": "1"}, {"X-A": "2"}, {"X-A": "2", "X-B": ""},
            {"X-B": "", "X-A": "2"}, {"X-B": "2"}, {}, {},
            [("X-A", "1"), ("X-A", "2")], [("X-A", "2"), ("X-A", "1")],
            {"X-A": "1"}]
    for headers in sent:
        pairs = urllib3.HTTPHeaderDict()
        for key, value in (headers.items() if isinstance(headers, dict)
                           else headers):
            pairs.add(key, value)
        assert fetch("GET", "/h", headers=pairs).status == 200
    for seen, headers in zip(record.values, sent):
        pairs = headers.items() if isinstance(headers, dict) else headers
        assert [p for p in seen if p[0].startswith("X-")] == sorted(
            pairs, key=lambda p: p[0]), headers


def test_repeated_headers_over_a_raw_socket(server, raw, record):
    @server.route("/h")
    def handler(w, req):
        record((req.headers.get_all("Cookie"),
                req.headers.get_all("X-Empty"),
                req.headers.get("x-latin")))

    raw(b"GET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"cookie: a=1\r\nCOOKIE: b=2\r\nX-Empty:\r\n"
        b"X-Latin: caf\xe9\r\n\r\n")
    assert record.one() == (["a=1", "b=2"], [""], "caf\u00e9")


def test_request_headers_are_read_only(server, fetch, record):
    @server.route("/h")
    def handler(w, req):
        h = req.headers
        record(isinstance(h, gohttp.Headers))
        for change in (lambda: h.set("X-A", "1"), lambda: h.add("X-A", "1"),
                       lambda: h.delete("User-Agent"),
                       lambda: h.__setitem__("X-A", "1"),
                       lambda: h.__delitem__("User-Agent")):
            record(type(outcome(change)))
        record(h.get("User-Agent"))
        record(req.headers is h)  # the same object on every access

    fetch("GET", "/h", headers={"User-Agent": "probe/1"})
    assert record.values == [True] + [TypeError] * 5 + ["probe/1", True]


def test_headers_copy_is_mutable(server, fetch, record):
    @server.route("/h")
    def handler(w, req):
        c = req.headers.copy()
        c.set("X-New", "1")
        record((c.get("X-New"), req.headers.get("X-New")))

    fetch("GET", "/h")
    assert record.one() == ("1", None)


def test_binary_body_with_nul_bytes(server, fetch, record):
    @server.route("POST /echo")
    def echo(w, req):
        record(req.content_length)
        w.write(req.body)

    body = bytes(range(256)) * 4 + b"\0\0\0end\0"
    r = fetch("POST", "/echo", body=body)
    assert r.data == body
    assert record.one() == len(body)


def test_empty_body(server, fetch, record):
    @server.route("POST /empty")
    def empty(w, req):
        record((req.content_length, req.body, req.read(), req.read(10)))

    fetch("POST", "/empty", body=b"")
    assert record.one() == (0, b"", b"", b"")


def test_get_without_body(server, fetch, record):
    @server.route("GET /nobody")
    def nobody(w, req):
        record((req.content_length, req.body, req.read(100)))

    fetch("GET", "/nobody")
    assert record.one() == (0, b"", b"")


def ten_mb_body():
    # Varied bytes, so that lost or reordered chunks show.
    block = hashlib.sha256(b"gohttp").digest() * 2048  # 64 KiB
    return bytes(b ^ (i % 251) for i, b in enumerate(block[:4096])) \
        + block * (TEN_MB // len(block)) + os.urandom(1000)


def test_10mb_body(server, fetch, record):
    @server.route("POST /big")
    def big(w, req):
        body = req.body
        record((req.content_length, len(body)))
        w.write(hashlib.sha256(body).hexdigest())

    body = ten_mb_body()
    r = fetch("POST", "/big", body=body)
    assert r.status == 200
    assert r.data.decode() == hashlib.sha256(body).hexdigest()
    assert record.one() == (len(body), len(body))


def test_10mb_body_streamed_with_read(server, fetch, record):
    @server.route("POST /big")
    def big(w, req):
        digest, sizes = hashlib.sha256(), []
        while chunk := req.read(65536):
            digest.update(chunk)
            sizes.append(len(chunk))
        record((sizes, req.read(65536), req.read()))
        w.write(digest.hexdigest())

    body = ten_mb_body()
    r = fetch("POST", "/big", body=body)
    assert r.data.decode() == hashlib.sha256(body).hexdigest()
    sizes, after, rest = record.one()
    assert sum(sizes) == len(body)
    # Full chunks until the last: fewer than asked only at the end.
    assert all(n == 65536 for n in sizes[:-1])
    assert 0 < sizes[-1] <= 65536
    assert (after, rest) == (b"", b"")


def test_chunked_upload(server, fetch, record):
    @server.route("POST /chunked")
    def chunked(w, req):
        record((req.content_length, req.headers.get("Transfer-Encoding"),
                req.body))

    parts = [b"first,", b"\0second,", b"x" * 100_000, b"last"]
    r = fetch("POST", "/chunked", body=iter(parts), chunked=True)
    assert r.status == 200
    length, te, body = record.one()
    assert length is None
    assert body == b"".join(parts)


def test_chunked_upload_read_in_pieces(server, fetch, record):
    @server.route("POST /chunked")
    def chunked(w, req):
        pieces = []
        while piece := req.read(1000):
            pieces.append(piece)
        record((req.content_length, pieces, req.read(), req.body))

    parts = [os.urandom(777) for _ in range(20)]
    fetch("POST", "/chunked", body=iter(parts), chunked=True)
    length, pieces, after, body = record.one()
    assert length is None
    assert b"".join(pieces) == b"".join(parts)
    assert all(len(p) == 1000 for p in pieces[:-1])
    assert (after, body) == (b"", b"")


def test_large_chunked_upload(server, fetch, record):
    @server.route("POST /chunked")
    def chunked(w, req):
        w.write(hashlib.sha256(req.body).hexdigest())

    parts = [os.urandom(65536) for _ in range(48)]  # 3 MiB
    r = fetch("POST", "/chunked", body=iter(parts), chunked=True)
    assert r.data.decode() == hashlib.sha256(b"".join(parts)).hexdigest()


def test_read_sizes(server, fetch, record):
    @server.route("POST /r")
    def r(w, req):
        record([req.read(0), req.read(1), req.read(3), req.read(None),
                req.read(5), req.read(-1), req.read()])

    fetch("POST", "/r", body=b"abcdefghij")
    assert record.one() == [b"", b"a", b"bcd", b"efghij", b"", b"", b""]


def test_read_more_than_left(server, fetch, record):
    @server.route("POST /r")
    def r(w, req):
        record([req.read(4), req.read(1 << 20), req.read(1 << 20)])

    fetch("POST", "/r", body=b"abcdefghij")
    assert record.one() == [b"abcd", b"efghij", b""]


def test_read_bad_arguments(server, fetch, record):
    @server.route("POST /r")
    def r(w, req):
        record(type(outcome(lambda: req.read("5"))))
        record(type(outcome(lambda: req.read(1, 2))))
        record(type(outcome(lambda: req.read(1.5))))
        record(req.read())  # nothing was consumed by the bad calls

    fetch("POST", "/r", body=b"body")
    assert record.values == [TypeError, TypeError, TypeError, b"body"]


def test_read_after_body(server, fetch, record):
    @server.route("POST /r")
    def r(w, req):
        record((req.body, req.read(), req.read(3), req.body))

    fetch("POST", "/r", body=b"payload")
    assert record.one() == (b"payload", b"", b"", b"payload")


def test_body_after_partial_read_is_the_rest(server, fetch, record):
    @server.route("POST /r")
    def r(w, req):
        record((req.read(3), req.body, req.read(), req.body))

    fetch("POST", "/r", body=b"payload")
    assert record.one() == (b"pay", b"load", b"", b"load")


def test_body_is_read_once_and_cached(server, fetch, record):
    @server.route("POST /r")
    def r(w, req):
        first = req.body
        record((first, req.body is first))

    fetch("POST", "/r", body=b"x" * 1000)
    assert record.one() == (b"x" * 1000, True)


def test_unread_body_does_not_break_keep_alive(server, fetch, record):
    @server.route("POST /ignore")
    def ignore(w, req):
        w.write(b"ignored")

    @server.route("GET /next")
    def next_(w, req):
        w.write(b"next")

    for _ in range(3):
        assert fetch("POST", "/ignore", body=b"z" * 100_000).data == b"ignored"
        assert fetch("GET", "/next").data == b"next"


def test_blocked_body_read_does_not_block_other_requests(server, http,
                                                         record):
    """A handler waiting for a slow client's body waits without the GIL:
    other requests are served meanwhile."""
    reading = threading.Event()

    @server.route("POST /slow")
    def slow(w, req):
        first = req.read(5)
        reading.set()
        record(first + req.read(5))  # blocks until the client sends more
        w.write(b"slow done")

    @server.route("GET /fast")
    def fast(w, req):
        w.write(b"fast")

    with connect(server.address) as sock:
        sock.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Length: 10\r\n\r\nhello")
        assert reading.wait(TIMEOUT)
        r = http.request("GET", server.url + "/fast")
        assert r.data == b"fast"
        assert record.values == []  # still blocked
        sock.sendall(b"world")
        reply = read_until(sock, b"slow done")
    assert reply.endswith(b"slow done")
    assert record.one() == b"helloworld"


def test_truncated_body_is_an_error_not_a_short_body(server, record):
    """A client that declares 100 bytes and hangs up after 10 sent a
    broken request: the handler must not get 10 bytes as if they were the
    whole body."""
    done = threading.Event()

    @server.route("POST /up")
    def up(w, req):
        record(outcome(lambda: req.body))
        done.set()

    with connect(server.address) as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 100\r\n\r\n0123456789")
        sock.shutdown(socket.SHUT_WR)
        read_to_end(sock)
    assert done.wait(TIMEOUT)
    got = record.one()
    assert isinstance(got, ConnectionResetError), f"req.body gave {got!r}"


def test_truncated_chunked_body_is_an_error(server, record):
    done = threading.Event()

    @server.route("POST /up")
    def up(w, req):
        record(outcome(lambda: req.body))
        done.set()

    with connect(server.address) as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        sock.shutdown(socket.SHUT_WR)  # no terminating 0-size chunk
        read_to_end(sock)
    assert done.wait(TIMEOUT)
    got = record.one()
    assert isinstance(got, ConnectionResetError), f"req.body gave {got!r}"


def test_expect_100_continue(server, record):
    """Go answers 100 Continue when the handler first reads the body."""
    @server.route("POST /up")
    def up(w, req):
        record(req.headers.get("Expect"))
        w.write(req.body)

    with connect(server.address) as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        interim = read_until(sock, b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(b"hello")
        reply = read_to_end(sock)
    assert reply.startswith(b"HTTP/1.1 200 OK")
    assert reply.endswith(b"hello")
    assert record.one() == "100-continue"


def test_pipelined_requests_are_answered_in_order(server, raw):
    @server.route("POST /echo/{n}")
    def echo(w, req):
        w.write(req.path_value("n").encode() + b"=" + req.body)

    requests = b"".join(
        b"POST /echo/%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (i, len(b"body%d" % i), b"body%d" % i) for i in range(5))
    reply = raw(requests + b"GET /end HTTP/1.1\r\nHost: x\r\n"
                b"Connection: close\r\n\r\n")
    bodies = [part.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1")[0]
              for part in reply.split(b"HTTP/1.1 200 OK")[1:]]
    assert bodies == [b"%d=body%d" % (i, i) for i in range(5)]
    assert reply.count(b"HTTP/1.1 404") == 1  # GET /end: no such route


def test_request_repr(server, fetch, record):
    @server.route("/r")
    def r(w, req):
        record(repr(req))

    fetch("GET", "/r?x=1")
    assert record.one() == "<gohttp.Request GET '/r?x=1'>"


def test_request_has_no_setters(server, fetch, record):
    @server.route("/r")
    def r(w, req):
        record(type(outcome(lambda: setattr(req, "method", "POST"))))
        record(type(outcome(lambda: setattr(req, "anything", 1))))
        record(req.method)

    fetch("GET", "/r")
    assert record.values == [AttributeError, AttributeError, "GET"]


@pytest.mark.parametrize("size", [3_000, 100_000, 300_000, 4_000_000])
def test_echo_while_reading_keeps_the_whole_body(server, fetch, size):
    """A handler may write before it has read the whole body.  By default
    net/http's HTTP/1 server throws away the unread rest of a body of up
    to 256 KiB once the response starts; gohttp asks it not to."""
    @server.route("POST /echo")
    def echo(w, req):
        while chunk := req.read(65536):
            w.write(chunk)

    body = os.urandom(size)
    r = fetch("POST", "/echo", body=body)
    assert r.status == 200
    assert r.data == body
