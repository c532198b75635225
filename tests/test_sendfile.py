"""Files sent by Go from their descriptor: w.send_file() and the WSGI
adapter's wsgi.file_wrapper."""

import errno
import hashlib
import io
import os
import socket
import threading

import pytest
import urllib3

import gohttp.wsgi
from helpers.common import TIMEOUT, connect, outcome, read_to_end, read_until
from helpers.wsgi import TrackedFile, error_text

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app, wsgi_errors

TEN_MB = 10 * 1024 * 1024
HUGE = 1 << 30  # sparse: no client reads it all before it goes away


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """(path, data): a 10 MB file of random bytes."""
    data = os.urandom(TEN_MB)
    path = tmp_path_factory.mktemp("sendfile") / "big.bin"
    path.write_bytes(data)
    return path, data


@pytest.fixture
def huge_file(tmp_path):
    path = tmp_path / "huge.bin"
    with open(path, "wb") as f:
        f.truncate(HUGE)
    return path


def same(got, want):
    return (len(got) == len(want)
            and hashlib.sha256(got).digest() == hashlib.sha256(want).digest())


def reset(sock):
    """Close sock with a reset, not politely, so the server's next write
    fails at once."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


# ---- w.send_file -------------------------------------------------------------

@pytest.mark.parametrize("declared", [True, False])  # sendfile(2), chunked
def test_send_file_10mb(server, fetch, record, big_file, declared):
    path, data = big_file

    @server.route("/big")
    def big(w, req):
        with open(path, "rb") as f:
            if declared:
                w.header.set("Content-Length", str(len(data)))
            record(w.send_file(f))

    r = fetch("GET", "/big")
    assert r.status == 200
    assert same(r.data, data)
    assert record.one() == TEN_MB
    if declared:
        assert r.headers["Content-Length"] == str(TEN_MB)
    else:
        assert r.headers["Transfer-Encoding"] == "chunked"


@pytest.mark.parametrize("offset, count, start, length", [
    (0, 100, 0, 100),
    (1000, None, 1000, TEN_MB - 1000),
    (5_000_000, 3_000_000, 5_000_000, 3_000_000),
    (TEN_MB - 10, 1000, TEN_MB - 10, 10),   # count past the end: the rest
    (TEN_MB + 10, None, 0, 0),              # offset past the end: nothing
    (7, 0, 0, 0),
])
def test_send_file_offset_and_count(server, fetch, record, big_file, offset,
                                    count, start, length):
    path, data = big_file

    @server.route("/part")
    def part(w, req):
        with open(path, "rb") as f:
            record(w.send_file(f.fileno(), offset, count))

    r = fetch("GET", "/part")
    assert same(r.data, data[start:start + length])
    assert record.one() == length


def test_send_file_keywords_and_a_write_around_it(server, fetch, record,
                                                  big_file):
    path, data = big_file

    @server.route("/mixed")
    def mixed(w, req):
        w.header.set("Content-Length", str(5 + 1000 + 5))
        w.write(b"head:")
        with open(path, "rb") as f:
            record(w.send_file(file=f, count=1000, offset=20))
        w.write(b":tail")

    r = fetch("GET", "/mixed")
    assert r.data == b"head:" + data[20:1020] + b":tail"
    assert record.one() == 1000


def test_send_file_head_sends_headers_only(server, http, record, big_file):
    path, data = big_file

    @server.route("/doc")
    def doc(w, req):
        with open(path, "rb") as f:
            w.header.set("Content-Length", "100")
            record(w.send_file(f, 10, 100))
            record(f.tell())

    r = http.request("HEAD", server.url + "/doc")
    assert (r.status, r.headers["Content-Length"], r.data) == (200, "100", b"")
    assert record.values == [100, 0]  # the file was not even read
    # The connection is still in sync for the next request.
    assert http.request("GET", server.url + "/doc").data == data[10:110]


def test_send_file_leaves_the_file_open_and_usable(server, fetch, record,
                                                   big_file):
    path, data = big_file

    @server.route("/f")
    def f(w, req):
        with open(path, "rb") as f:
            fd = f.fileno()
            record(w.send_file(fd, 100, 1000))
            record(os.lseek(fd, 0, os.SEEK_CUR))  # after the last byte sent
            record(os.pread(fd, 10, 0))
            f.seek(0)
            record(f.read(10))
            record(w.send_file(f, 0, 10))  # and again

    r = fetch("GET", "/f")
    assert r.data == data[100:1100] + data[:10]
    assert record.values == [1000, 1100, data[:10], data[:10], 10]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"),
                    reason="counts descriptors in /proc/self/fd")
def test_send_file_leaks_no_descriptors(server, http, big_file):
    path, data = big_file
    f = open(path, "rb")

    @server.route("/f")
    def handler(w, req):
        w.header.set("Content-Length", "100")
        w.send_file(f, 0, 100)

    def fds():
        return len(os.listdir("/proc/self/fd"))

    try:
        for _ in range(5):  # the connection and Go's poller are made
            http.request("GET", server.url + "/f")
        before = fds()
        for _ in range(500):
            assert http.request("GET", server.url + "/f").data == data[:100]
        after = fds()
    finally:
        f.close()
    # A leak would be 500 descriptors; allow a reconnection or two.
    assert after - before <= 4, (before, after)


def test_bad_arguments_raise_before_the_response_starts(server, fetch,
                                                        record, big_file,
                                                        tmp_path):
    path, _ = big_file
    readable = open(path, "rb")
    closed = open(path, "rb")
    closed.close()
    write_only = open(tmp_path / "out.bin", "wb")
    directory = os.open(tmp_path, os.O_RDONLY)
    pipe_r, pipe_w = os.pipe()

    class NoFileno:
        def read(self, n=-1):
            return b""

    bad = [
        lambda w: w.send_file(io.BytesIO(b"in memory")),
        lambda w: w.send_file(NoFileno()),
        lambda w: w.send_file(b"path"),
        lambda w: w.send_file(readable, -1),
        lambda w: w.send_file(readable, 0, -1),
        lambda w: w.send_file(readable, 1.5),
        lambda w: w.send_file(readable, 0, "10"),
        lambda w: w.send_file(-3),
        lambda w: w.send_file(closed),
        lambda w: w.send_file(directory),
        lambda w: w.send_file(write_only),
        lambda w: w.send_file(pipe_r),
    ]

    @server.route("/bad")
    def handler(w, req):
        for call in bad:
            record(outcome(lambda: call(w)))
        w.write(b"not started yet")

    try:
        r = fetch("GET", "/bad")
    finally:
        readable.close()
        write_only.close()
        os.close(directory)
        os.close(pipe_r)
        os.close(pipe_w)
    assert (r.status, r.data) == (200, b"not started yet")
    kinds = [type(exc) for exc in record.values]
    assert kinds == [TypeError, TypeError, TypeError, ValueError, ValueError,
                     TypeError, TypeError, ValueError, ValueError,
                     IsADirectoryError, OSError, OSError], record.values
    assert "write()" in str(record.values[0])  # says what to do instead
    assert "reading" in str(record.values[-2])
    assert record.values[-1].errno == errno.ESPIPE


@pytest.mark.parametrize("status, length", [(304, None), (200, "99")])
def test_a_body_the_response_cannot_have_is_a_value_error(
        server, fetch, record, big_file, status, length):
    path, _ = big_file

    @server.route("/f")
    def handler(w, req):
        if length:
            w.header.set("Content-Length", length)
        w.write_header(status)
        with open(path, "rb") as f:
            record(outcome(lambda: w.send_file(f)))
        if length:
            w.write(b"x" * int(length))

    r = fetch("GET", "/f")
    assert r.status == status
    assert r.data == (b"x" * int(length) if length else b"")  # nothing sent
    exc = record.one()
    assert isinstance(exc, ValueError), repr(exc)


def test_send_file_after_the_handler_returned(server, fetch, big_file):
    kept = []

    @server.route("/f")
    def handler(w, req):
        kept.append(w)

    fetch("GET", "/f")
    with open(big_file[0], "rb") as f, pytest.raises(RuntimeError):
        kept[0].send_file(f)


def test_client_gone_mid_file_raises_broken_pipe(server, record, huge_file):
    done = threading.Event()

    @server.route("/huge")
    def huge(w, req):
        try:
            with open(huge_file, "rb") as f:
                w.header.set("Content-Length", str(HUGE))
                record(w.send_file(f))
        except BaseException as exc:  # noqa: BLE001
            record(exc)
        finally:
            done.set()

    sock = connect(server.address)
    sock.sendall(b"GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"\r\n\r\n" in read_until(sock, b"\r\n\r\n")
    reset(sock)
    assert done.wait(TIMEOUT + 5)
    exc = record.one()
    assert isinstance(exc, BrokenPipeError), repr(exc)


def test_send_file_lets_other_handlers_run(make_server, http, huge_file):
    """A send_file blocked on a client that does not read holds no GIL.
    (If it held it, the write timeout would end the wait, and the test
    would fail rather than hang.)"""
    server = make_server(write_timeout=TIMEOUT)
    done = threading.Event()

    @server.route("/huge")
    def huge(w, req):
        try:
            with open(huge_file, "rb") as f:
                w.header.set("Content-Length", str(HUGE))
                w.send_file(f)
        except OSError:
            pass
        finally:
            done.set()

    @server.route("/ping")
    def ping(w, req):
        w.write(b"pong")

    sock = connect(server.address)
    try:
        sock.sendall(b"GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
        read_until(sock, b"\r\n\r\n")  # the handler is in send_file
        assert http.request("GET", server.url + "/ping").data == b"pong"
        assert not done.is_set()
    finally:
        reset(sock)
    assert done.wait(TIMEOUT + 5)


# ---- wsgi.file_wrapper ---------------------------------------------------------

def wrapper_app(open_file, headers=(), opened=None):
    def app(environ, start_response):
        f = open_file()
        if opened is not None:
            opened.append(f)
        start_response("200 OK", [("Content-Type",
                                   "application/octet-stream"), *headers])
        return environ["wsgi.file_wrapper"](f)
    return app


@pytest.fixture
def no_python_reads(monkeypatch):
    """Fail if the adapter reads the file in Python."""
    def next_block(self):
        raise AssertionError("the file was read in Python")
    monkeypatch.setattr(gohttp.wsgi.FileWrapper, "__next__", next_block)


def test_file_wrapper_10mb_is_sent_by_go(serve_app, big_file,
                                         no_python_reads):
    path, data = big_file
    opened = []
    server = serve_app(wrapper_app(lambda: TrackedFile(path), opened=opened),
                       validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.status == 200
    assert r.headers["Content-Length"] == str(TEN_MB)
    assert same(r.data, data)
    assert opened[0].closed_event.wait(TIMEOUT)  # close() was called


def test_file_wrapper_from_the_current_position(serve_app, big_file,
                                                no_python_reads):
    path, data = big_file

    def open_file():
        f = open(path, "rb")
        f.read(5)  # Python's buffer holds more: tell() knows
        f.seek(1000, os.SEEK_CUR)
        return f

    server = serve_app(wrapper_app(open_file), validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.headers["Content-Length"] == str(TEN_MB - 1005)
    assert same(r.data, data[1005:])


def test_file_wrapper_longer_than_its_content_length_is_cut(
        serve_app, big_file, caplog):
    path, data = big_file
    server = serve_app(wrapper_app(lambda: open(path, "rb"),
                                   [("Content-Length", "1000")]),
                       validate=False)
    with urllib3.PoolManager() as http:
        for _ in range(2):  # the connection stays in sync
            r = http.request("GET", server.url + "/")
            assert r.data == data[:1000]
    assert "longer than its Content-Length 1000" in caplog.text


def test_file_wrapper_shorter_than_its_content_length_closes(
        serve_app, tmp_path, caplog):
    path = tmp_path / "small.bin"
    path.write_bytes(b"0123")
    server = serve_app(wrapper_app(lambda: open(path, "rb"),
                                   [("Content-Length", "10")]),
                       validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        reply = read_to_end(sock)
    assert reply.endswith(b"\r\n\r\n0123")  # and then the server closed
    assert "shorter than its Content-Length 10" in caplog.text


def test_file_wrapper_head(serve_app, big_file, no_python_reads):
    path, data = big_file
    opened = []
    server = serve_app(wrapper_app(lambda: TrackedFile(path), opened=opened),
                       validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
                     b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        reply = read_to_end(sock)
    assert reply.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert reply.endswith(b"\r\n\r\n")  # headers only
    assert b"Content-Length: %d\r\n" % TEN_MB in reply
    assert all(f.closed_event.wait(TIMEOUT) for f in opened)


@pytest.mark.parametrize("kind", ["BytesIO", "no fileno", "pipe"])
def test_file_wrapper_of_other_files_is_read_in_python(serve_app, kind):
    body = b"not a regular file " * 10_000
    closed = threading.Event()

    class NoFileno:
        def __init__(self):
            self.data = io.BytesIO(body)

        def read(self, n):
            return self.data.read(n)

        def close(self):
            closed.set()

    def open_file():
        if kind == "BytesIO":
            closed.set()  # nothing to track
            return io.BytesIO(body)
        if kind == "no fileno":
            return NoFileno()
        r, w = os.pipe()
        threading.Thread(target=lambda: (os.write(w, body), os.close(w)),
                         daemon=True).start()
        f = TrackedFile(r)
        threading.Thread(target=lambda: (f.closed_event.wait(TIMEOUT),
                                         closed.set()), daemon=True).start()
        return f

    server = serve_app(wrapper_app(open_file), validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert r.data == body
    assert closed.wait(TIMEOUT)


def test_file_wrapper_of_a_text_file_still_fails(serve_app, tmp_path,
                                                 wsgi_errors):
    path = tmp_path / "text.txt"
    path.write_text("text, not bytes")
    server = serve_app(wrapper_app(lambda: open(path)), validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        reply = read_to_end(sock)
    assert b"text, not bytes" not in reply
    assert any("must be bytes" in error_text(r) for r in wsgi_errors())


def test_file_wrapper_client_gone_mid_file(serve_app, huge_file,
                                           wsgi_errors):
    opened = []
    server = serve_app(wrapper_app(lambda: TrackedFile(huge_file),
                                   opened=opened), validate=False)
    sock = connect(server.address)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert b"\r\n\r\n" in read_until(sock, b"\r\n\r\n")
    reset(sock)
    assert opened[0].closed_event.wait(TIMEOUT + 5)  # close() was called
    assert wsgi_errors() == []  # a client that left is no error of the app's


def test_file_wrapper_after_the_write_callable(serve_app, big_file):
    path, data = big_file

    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"written first;")
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    server = serve_app(app, validate=False)
    r = urllib3.request("GET", server.url + "/")
    assert same(r.data, b"written first;" + data)
