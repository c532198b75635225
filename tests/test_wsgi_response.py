"""What a WSGI app sends back: status, headers, the body, streaming,
write(), close(), wsgi.file_wrapper."""

import hashlib
import os
import sys
import threading

import pytest
import urllib3

from helpers.common import (TIMEOUT, connect, get_head_and_http10,
                            read_to_end, read_until)
from helpers.wsgi import Closing, TrackedFile, error_text, hello_app

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app, wsgi_errors

pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")

TEXT = [("Content-Type", "text/plain")]


def app_returning(body, status="200 OK", headers=TEXT):
    def app(environ, start_response):
        start_response(status, list(headers))
        return body
    return app


def test_hello(serve_app):
    server = serve_app(hello_app)
    r = urllib3.request("GET", server.url + "/")
    assert r.status == 200
    assert r.data == b"Hello, WSGI!"
    assert r.headers["Content-Type"] == "text/plain"


def test_a_list_body_gets_a_content_length_and_no_chunking(serve_app):
    server = serve_app(app_returning([b"one ", b"two ", b"three"]),
                       validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.data == b"one two three"
    assert r.headers["Content-Length"] == "13"
    assert "Transfer-Encoding" not in r.headers


def test_a_large_single_chunk(serve_app):
    data = os.urandom(5 * 1024 * 1024)
    server = serve_app(app_returning([data]), validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.headers["Content-Length"] == str(len(data))
    assert r.data == data


def test_an_empty_body(serve_app):
    server = serve_app(app_returning([]))
    r = urllib3.request("GET", server.url + "/")
    assert r.status == 200
    assert r.data == b""
    assert r.headers["Content-Length"] == "0"


def test_an_empty_generator(serve_app):
    server = serve_app(app_returning(iter([])))
    r = urllib3.request("GET", server.url + "/")
    assert (r.status, r.data) == (200, b"")


@pytest.mark.parametrize("status, code", [
    ("201 Created", 201), ("404 Not Found", 404), ("418 I'm a teapot", 418),
    ("503 Service Unavailable", 503), ("299 Whatever", 299),
])
def test_status(serve_app, status, code):
    server = serve_app(app_returning([b"x"], status=status))
    assert urllib3.request("GET", server.url + "/").status == code


def test_the_reason_phrase_is_gos(serve_app):
    """Go writes the standard reason phrase for a code, whatever the app
    said: HTTP/2 has none at all, and clients must not rely on it."""
    server = serve_app(app_returning([b"x"], status="404 Nope"))
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        assert read_until(sock, b"\r\n").startswith(
            b"HTTP/1.1 404 Not Found\r\n")


def test_repeated_headers_and_cookies(serve_app):
    headers = TEXT + [("Set-Cookie", "a=1; Path=/"),
                      ("Set-Cookie", "b=2; HttpOnly"), ("X-Custom", "v")]
    server = serve_app(app_returning([b"x"], headers=headers))
    r = urllib3.request("GET", server.url + "/")
    assert r.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert r.headers["X-Custom"] == "v"


@pytest.mark.parametrize("size", [3000, 5000, 40000])
def test_headers_too_large_to_hold_back(serve_app, size):
    """Headers that do not fit Go's 4 KiB reply buffer, which C packs for
    a plain response, are sent all the same."""
    headers = TEXT + [("X-Big", "b" * size), ("X-After", "after")]
    # Unvalidated: the validator's iterator would take the Python path.
    server = serve_app(app_returning([b"body"], headers=headers),
                       validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.status == 200
    assert r.headers["X-Big"] == "b" * size
    assert r.headers["X-After"] == "after"
    assert r.headers["Content-Length"] == "4"
    assert r.data == b"body"


def test_not_modified_with_a_content_length(serve_app):
    server = serve_app(app_returning(
        [], status="304 Not Modified", headers=[("Content-Length", "13"),
                                                ("ETag", '"v1"')]),
        validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.status == 304
    assert r.headers["ETag"] == '"v1"'
    assert "Content-Length" not in r.headers  # Go drops it for a 304
    assert r.data == b""


def test_header_names_are_sent_in_canonical_case(serve_app):
    server = serve_app(app_returning(
        [b"x"], headers=[("content-type", "text/plain"), ("x-lower", "1")]))
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        head = read_until(sock, b"\r\n\r\n")
    assert b"\r\nContent-Type: text/plain\r\n" in head
    assert b"\r\nX-Lower: 1\r\n" in head


def test_latin1_header_values_go_out_as_their_bytes(serve_app):
    # PEP 3333: header values are latin-1 str, one character per byte.
    utf8_as_latin1 = "caf\u00e9".encode().decode("latin-1")
    server = serve_app(app_returning(
        [b"x"], headers=TEXT + [("X-Name", utf8_as_latin1)]))
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        head = read_until(sock, b"\r\n\r\n")
    assert b"\r\nX-Name: caf\xc3\xa9\r\n" in head


def test_hop_by_hop_headers_from_the_app_are_dropped(serve_app):
    hop = [("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"),
           ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"),
           ("Proxy-Authenticate", "Basic"), ("TE", "trailers"),
           ("Trailer", "X-Sum"), ("Proxy-Connection", "keep-alive")]
    server = serve_app(app_returning([b"body"], headers=TEXT + hop),
                       validate=False)
    http = urllib3.PoolManager()
    for _ in range(2):  # the connection is kept and reused
        r = http.request("GET", server.url + "/")
        assert r.data == b"body"
        assert r.headers["Content-Length"] == "4"
        for name, _ in hop:
            assert name not in r.headers
    assert http.pools.values()  # one pool, one connection
    [pool] = list(http.pools._container.values())
    assert pool.num_connections == 1


def test_connection_close_from_the_app_closes_the_connection(serve_app):
    server = serve_app(app_returning(
        [b"bye"], headers=TEXT + [("Connection", "close")]), validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        reply = read_to_end(sock)  # returns: the server closed
    assert b"\r\nConnection: close\r\n" in reply
    assert reply.endswith(b"\r\n\r\nbye")


def test_content_length_from_the_app_is_honoured(serve_app):
    def app(environ, start_response):
        start_response("200 OK", TEXT + [("Content-Length", "10")])
        yield b"01234"
        yield b"56789"

    server = serve_app(app)
    r = urllib3.request("GET", server.url + "/")
    assert r.headers["Content-Length"] == "10"
    assert "Transfer-Encoding" not in r.headers
    assert r.data == b"0123456789"


@pytest.mark.parametrize("size", [0, 13, 2048, 2049, 4000])
def test_a_held_reply_declares_its_content_length_once(serve_app, size):
    # A held reply whose Content-Length says its whole body, up to 2 KiB,
    # leaves it to net/http to count (go/call.go, writeHeaderAs): exactly
    # one Content-Length must go out, for GET, HEAD and HTTP/1.0, and the
    # connection must stay usable.
    body = b"x" * size
    server = serve_app(app_returning(
        [body], headers=TEXT + [("Content-Length", str(size))]),
        validate=False)
    get, head, old = get_head_and_http10(server.address)
    for response in (get, head, old):
        headers = response.split(b"\r\n\r\n")[0].lower()
        assert headers.count(b"content-length:") == 1
        assert b"content-length: %d" % size in headers
        assert b"transfer-encoding" not in headers
    assert get.endswith(b"\r\n\r\n" + body)
    assert head.endswith(b"\r\n\r\n")
    assert old.endswith(b"\r\n\r\n" + body)


def test_a_body_longer_than_its_content_length_is_cut(serve_app, wsgi_errors,
                                                      caplog):
    server = serve_app(app_returning(
        [b"0123456789"], headers=TEXT + [("Content-Length", "4")]),
        validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.data == b"0123"
    assert "longer than its Content-Length 4" in caplog.text
    assert urllib3.request("GET", server.url + "/").data == b"0123"


def test_a_body_shorter_than_its_content_length_closes_the_connection(
        serve_app, caplog):
    server = serve_app(app_returning(
        [b"0123"], headers=TEXT + [("Content-Length", "10")]),
        validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        reply = read_to_end(sock)
    assert reply.endswith(b"\r\n\r\n0123")  # and then the server closed
    assert "shorter than its Content-Length 10" in caplog.text


def test_head_sends_no_body(serve_app):
    # Unvalidated: the validator would hide that the body is a list.
    server = serve_app(app_returning([b"the body"]), validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
                     b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        reply = read_to_end(sock)
    head, get = reply.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert head.endswith(b"\r\n\r\n")  # headers only
    assert b"Content-Length: 8\r\n" in head
    assert get.endswith(b"\r\n\r\nthe body")


def test_head_with_a_generator(serve_app):
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        yield b"chunk one"
        yield b"chunk two"

    server = serve_app(app)
    r = urllib3.request("HEAD", server.url + "/")
    assert r.status == 200
    assert r.data == b""


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_statuses_without_a_body_drop_what_the_app_gives(serve_app, status,
                                                         wsgi_errors):
    server = serve_app(app_returning([b"not allowed"], status=status,
                                     headers=[]))
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
                     b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        reply = read_to_end(sock)
    assert reply.count(b"HTTP/1.1 " + status[:3].encode()) == 2
    assert b"not allowed" not in reply
    assert wsgi_errors() == []


def test_a_generator_is_streamed_chunk_by_chunk(serve_app):
    """The client reads the first chunk while the generator waits for
    it: each chunk is sent before the next is asked for."""
    client_has_first = threading.Event()
    many = [os.urandom(1000) for _ in range(1000)]

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        yield b"first chunk"
        if not client_has_first.wait(TIMEOUT):
            raise RuntimeError("the client never got the first chunk")
        yield from many

    server = serve_app(app)
    r = urllib3.PoolManager().request("GET", server.url + "/",
                                      preload_content=False)
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert r.read(len(b"first chunk")) == b"first chunk"
    client_has_first.set()
    assert r.read() == b"".join(many)
    r.release_conn()


def test_a_large_generator_download(serve_app):
    chunk = os.urandom(64 * 1024)
    count = 160  # 10 MiB

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        for i in range(count):
            yield chunk

    server = serve_app(app)
    r = urllib3.request("GET", server.url + "/", preload_content=False)
    digest, size = hashlib.sha256(), 0
    for piece in r.stream(1 << 20):
        digest.update(piece)
        size += len(piece)
    assert size == count * len(chunk)
    assert digest.hexdigest() == hashlib.sha256(chunk * count).hexdigest()


def test_headers_wait_for_the_first_non_empty_chunk(serve_app, wsgi_errors):
    """PEP 3333: nothing is sent before a non-empty chunk, so an error
    after empty chunks still gives a clean 500."""
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        yield b""
        yield b""
        raise RuntimeError("failed before any body")

    server = serve_app(app)
    assert urllib3.request("GET", server.url + "/").status == 500


def test_the_write_callable(serve_app):
    def app(environ, start_response):
        write = start_response("200 OK", TEXT)
        write(b"written ")
        write(b"")
        write(b"then ")
        return [b"returned"]

    server = serve_app(app)
    assert urllib3.request("GET", server.url + "/").data == (
        b"written then returned")


def test_write_sends_before_it_returns(serve_app):
    client_has_it = threading.Event()

    def app(environ, start_response):
        write = start_response("200 OK", TEXT)
        write(b"early")
        if not client_has_it.wait(TIMEOUT):
            raise RuntimeError("write() did not reach the client")
        return [b" late"]

    server = serve_app(app)
    r = urllib3.PoolManager().request("GET", server.url + "/",
                                      preload_content=False)
    assert r.read(5) == b"early"
    client_has_it.set()
    assert r.read() == b" late"


def test_close_is_called_after_a_normal_response(serve_app):
    body = Closing([b"a", b"b"])
    server = serve_app(app_returning(body))
    assert urllib3.request("GET", server.url + "/").data == b"ab"
    assert body.closed.wait(TIMEOUT)


@pytest.mark.parametrize("fail_at", [0, 1])  # before, after the headers
def test_close_is_called_after_an_error(serve_app, wsgi_errors, fail_at):
    body = Closing([b"a", b"b"], fail_at=fail_at)
    server = serve_app(app_returning(body))
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close"
                     b"\r\n\r\n")
        reply = read_to_end(sock)
    assert reply.startswith(b"HTTP/1.1 500" if fail_at == 0
                            else b"HTTP/1.1 200")
    assert body.closed.wait(TIMEOUT)


# What Flask and Django return: an iterable of the whole body, with close()
# and a Content-Length.  C sends it as it sends a list.

def test_an_iterable_of_one_chunk_with_its_length(serve_app):
    bodies = []

    def app(environ, start_response):
        start_response("200 OK", TEXT + [("Content-Length", "5")])
        bodies.append(Closing([b"hello"]))
        return bodies[-1]

    server = serve_app(app, validate=False)
    http = urllib3.PoolManager()
    for _ in range(3):
        r = http.request("GET", server.url + "/")
        assert (r.status, r.data) == (200, b"hello")
        assert r.headers["Content-Length"] == "5"
    assert len(bodies) == 3 and all(b.closed.is_set() for b in bodies)


@pytest.mark.parametrize("chunks,length", [
    ([b"01", b"23"], 4),          # a stream of two chunks
    ([b"", b"0123"], 4),          # an empty chunk first
    ([b"0123", b""], 4),          # an empty chunk after the body
    ([b"0123"], None),            # no length: streamed, as it was
])
def test_iterables_the_adapter_streams(serve_app, chunks, length):
    headers = TEXT + ([("Content-Length", str(length))] if length else [])
    body = Closing(chunks)
    server = serve_app(app_returning(body, headers=headers), validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert (r.status, r.data) == (200, b"0123")
    assert body.closed.wait(TIMEOUT)


@pytest.mark.parametrize("body,message", [
    # It raises after the whole body: nothing was sent yet.
    (Closing([b"0123", b"more"], fail_at=1), "fails midway"),
    # Not bytes: the adapter names the mistake.
    (Closing(["text"]), "must be bytes"),  # type: ignore[list-item]
])
def test_an_iterable_that_goes_wrong_gets_a_clean_500(serve_app, wsgi_errors,
                                                      body, message):
    server = serve_app(app_returning(
        body, headers=TEXT + [("Content-Length", "4")]), validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.status == 500
    assert body.closed.wait(TIMEOUT)
    assert message in "\n".join(error_text(r) for r in wsgi_errors())
    assert urllib3.request("GET", server.url + "/").status == 500  # serving


def test_close_is_called_when_the_client_goes_away(serve_app, wsgi_errors):
    closed = threading.Event()
    yielded = []

    class Endless:
        def __iter__(self):
            while True:
                yielded.append(1)
                yield b"x" * 65536

        def close(self):
            closed.set()

    server = serve_app(app_returning(Endless()), validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        read_until(sock, b"xxxx")
    assert closed.wait(TIMEOUT), "close() was not called"
    # A client that went away is no error of the app's.
    assert wsgi_errors() == []


def test_close_errors_are_logged_and_the_response_stands(serve_app,
                                                         wsgi_errors):
    class BadClose(list):
        def close(self):
            raise OSError("cleanup failed")

    server = serve_app(app_returning(BadClose([b"complete"])),
                       validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert (r.status, r.data) == (200, b"complete")
    [record] = wsgi_errors()
    assert "close()" in record.getMessage()
    assert "cleanup failed" in error_text(record)


def test_file_wrapper_sends_a_file_with_its_length(serve_app, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 5)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    opened = []

    def app(environ, start_response):
        f = TrackedFile(path)
        opened.append(f)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f, 32768)

    server = serve_app(app, validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.data == data
    assert r.headers["Content-Length"] == str(len(data))
    assert opened[0].closed_event.wait(TIMEOUT)


def test_file_wrapper_from_the_middle_of_a_file(serve_app, tmp_path):
    path = tmp_path / "text.txt"
    path.write_bytes(b"skip this|send this")

    def app(environ, start_response):
        f = open(path, "rb")
        f.seek(10)
        start_response("200 OK", TEXT)
        return environ["wsgi.file_wrapper"](f)

    server = serve_app(app, validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert (r.data, r.headers["Content-Length"]) == (b"send this", "9")


def test_file_wrapper_of_a_file_like_object(serve_app):
    import io

    def app(environ, start_response):
        start_response("200 OK", TEXT)
        return environ["wsgi.file_wrapper"](io.BytesIO(b"in memory" * 1000),
                                            100)

    server = serve_app(app)
    assert urllib3.request("GET", server.url + "/").data == b"in memory" * 1000


def test_exc_info_before_headers_are_sent_replaces_the_response(serve_app,
                                                                wsgi_errors):
    def app(environ, start_response):
        start_response("200 OK", TEXT + [("X-Dropped", "1")])
        try:
            raise ValueError("while making the body")
        except ValueError:
            start_response("500 Internal Server Error", TEXT,
                           sys.exc_info())
        return [b"the app's own error page"]

    server = serve_app(app)
    r = urllib3.request("GET", server.url + "/")
    assert (r.status, r.data) == (500, b"the app's own error page")
    assert "X-Dropped" not in r.headers
    assert wsgi_errors() == []  # the app handled it


def test_exc_info_after_headers_are_sent_reraises(serve_app, wsgi_errors):
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        yield b"part of the body"
        try:
            raise ValueError("after the headers went out")
        except ValueError:
            start_response("500 Internal Server Error", TEXT,
                           sys.exc_info())
        yield b"never sent"

    server = serve_app(app)
    r = urllib3.request("GET", server.url + "/", preload_content=False)
    assert r.status == 200
    with pytest.raises(urllib3.exceptions.ProtocolError):
        r.read()
    [record] = wsgi_errors()
    assert record.exc_info[0] is ValueError


def test_keep_alive_across_many_wsgi_requests(serve_app):
    server = serve_app(hello_app, validate=False)
    http = urllib3.PoolManager(maxsize=1)
    for _ in range(200):
        assert http.request("GET", server.url + "/").data == b"Hello, WSGI!"


def test_concurrent_requests(serve_app):
    server = serve_app(hello_app, validate=False)
    http = urllib3.PoolManager(maxsize=20)
    failures = []

    def client():
        try:
            for _ in range(25):
                r = http.request("GET", server.url + "/")
                assert r.data == b"Hello, WSGI!"
        except Exception as exc:  # noqa: BLE001 - handed to the test
            failures.append(exc)

    threads = [threading.Thread(target=client) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert failures == []
