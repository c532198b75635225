"""wsgi.input: the request body, streamed from Go to the app."""

import hashlib
import io
import os
import threading

import pytest
import urllib3

from gohttp._wsgi_streams import InputStream
from helpers.common import TIMEOUT, connect, read_until

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app, wsgi_errors

pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")


class Body:
    """Request.read's contract over bytes: read(n) returns fewer than n
    bytes only at the end; it records the sizes asked for."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)
        self.asked: list = []

    def read(self, size=-1):
        self.asked.append(size)
        return self._file.read(size if size is not None else -1)


def stream(data: bytes, length="known") -> InputStream:
    return InputStream(Body(data).read,
                       len(data) if length == "known" else None)


@pytest.mark.parametrize("length", ["known", None])
def test_read(length):
    s = stream(b"0123456789", length)
    assert s.read(3) == b"012"
    assert s.read(0) == b""
    assert s.read(4) == b"3456"
    assert s.read(100) == b"789"
    assert s.read(1) == b""
    assert s.read() == b""


@pytest.mark.parametrize("size", [-1, None])
def test_read_all(size):
    assert stream(b"abc\ndef").read(size) == b"abc\ndef"


def test_readline():
    s = stream(b"one\ntwo\n\nlast")
    assert s.readline() == b"one\n"
    assert s.readline() == b"two\n"
    assert s.readline() == b"\n"
    assert s.readline() == b"last"
    assert s.readline() == b""


def test_readline_with_a_limit():
    s = stream(b"abcdef\ngh\n")
    assert s.readline(4) == b"abcd"
    assert s.readline(4) == b"ef\n"
    assert s.readline(0) == b""
    assert s.readline(None) == b"gh\n"
    assert s.readline(10) == b""


def test_readline_then_read_gets_the_rest_in_order():
    s = stream(b"head\n" + b"x" * 20000)
    assert s.readline() == b"head\n"
    assert s.read(5) == b"xxxxx"
    assert s.read() == b"x" * 19995


def test_a_long_line_spans_many_blocks():
    line = b"y" * 100_000 + b"\n"
    s = stream(line + b"next\n")
    assert s.readline() == line
    assert s.readline() == b"next\n"
    assert s.readline(50_000) == b""


def test_a_long_line_with_a_limit_across_blocks():
    s = stream(b"z" * 30_000 + b"\n")
    assert s.readline(20_000) == b"z" * 20_000
    assert s.readline() == b"z" * 10_000 + b"\n"


def test_readline_reads_blocks_not_the_whole_body():
    body = Body(b"short line\n" + b"q" * 10_000_000)
    s = InputStream(body.read, 10_000_011)
    assert s.readline() == b"short line\n"
    assert body.asked == [8192]


def test_readlines_and_hint():
    assert stream(b"a\nb\nc").readlines() == [b"a\n", b"b\n", b"c"]
    assert stream(b"a\nb\nc\n").readlines(3) == [b"a\n", b"b\n"]
    assert stream(b"").readlines() == []


def test_iteration():
    assert list(stream(b"1\n22\n333")) == [b"1\n", b"22\n", b"333"]


def test_unknown_length_reads_in_bounded_blocks():
    body = Body(b"chunked body")
    s = InputStream(body.read, None)
    assert s.read(1 << 30) == b"chunked body"
    assert max(body.asked) <= 1 << 20


# ---- served for real ----------------------------------------------------------

def digest_app(environ, start_response):
    """Reads the body in 64 KiB pieces; answers its size, its sha256 and
    the largest piece read."""
    stream = environ["wsgi.input"]
    digest, size, largest = hashlib.sha256(), 0, 0
    while True:
        piece = stream.read(65536)
        if not piece:
            break
        digest.update(piece)
        size += len(piece)
        largest = max(largest, len(piece))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{size} {digest.hexdigest()} {largest}".encode()]


def test_10_mb_upload(serve_app):
    server = serve_app(digest_app)
    data = os.urandom(10 * 1024 * 1024)
    r = urllib3.request("POST", server.url + "/", body=data)
    size, digest, largest = r.data.decode().split()
    assert int(size) == len(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert int(largest) == 65536


def test_10_mb_chunked_upload(serve_app):
    server = serve_app(digest_app)
    data = os.urandom(10 * 1024 * 1024)
    pieces = (data[i:i + 100_000] for i in range(0, len(data), 100_000))
    r = urllib3.PoolManager().request("POST", server.url + "/", body=pieces,
                                      chunked=True)
    size, digest, _ = r.data.decode().split()
    assert int(size) == len(data)
    assert digest == hashlib.sha256(data).hexdigest()


def test_upload_is_streamed_not_buffered(serve_app):
    """The app gets the start of the body while the client is still
    holding back the rest: nothing waits for the whole upload."""
    first_piece = threading.Event()

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        got = len(stream.read(1 << 20))
        first_piece.set()
        while True:
            piece = stream.read(1 << 20)
            if not piece:
                break
            got += len(piece)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(got).encode()]

    server = serve_app(app)
    total = 10 * (1 << 20)
    with connect(server.address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Length: %d\r\n\r\n" % total)
        sock.sendall(b"a" * (1 << 20))
        assert first_piece.wait(TIMEOUT), "the app saw nothing of the body"
        sock.sendall(b"b" * (total - (1 << 20)))
        reply = read_until(sock, str(total).encode())
    assert reply.startswith(b"HTTP/1.1 200")


def test_readline_and_iteration_over_a_real_body(serve_app):
    def app(environ, start_response):
        stream = environ["wsgi.input"]
        first = stream.readline()
        limited = stream.readline(3)
        rest = list(stream)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"|".join([first, limited] + rest)]

    server = serve_app(app)
    r = urllib3.request("POST", server.url + "/",
                        body=b"first\nsecond\nthird\nlast")
    assert r.data == b"first\n|sec|ond\n|third\n|last"


def test_readlines_over_a_real_body(serve_app):
    def app(environ, start_response):
        lines = environ["wsgi.input"].readlines()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(lines)).encode()]

    server = serve_app(app)
    body = b"".join(b"line %d\n" % i for i in range(10_000))
    assert urllib3.request("POST", server.url + "/", body=body).data == (
        b"10000")


def test_an_app_that_ignores_the_body(serve_app):
    """The app answers without reading the upload; the connection stays
    usable for the next request."""
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ignored"]

    server = serve_app(app)
    http = urllib3.PoolManager()
    for _ in range(3):
        r = http.request("POST", server.url + "/", body=b"x" * 100_000)
        assert r.data == b"ignored"


def test_a_truncated_upload_raises_in_the_app(serve_app, wsgi_errors):
    seen = []
    done = threading.Event()

    def app(environ, start_response):
        try:
            environ["wsgi.input"].read(1000)
        except OSError as exc:
            seen.append(exc)
        finally:
            done.set()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    server = serve_app(app, validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000"
                     b"\r\n\r\nonly this")
    assert done.wait(TIMEOUT)
    assert isinstance(seen[0], ConnectionResetError)
