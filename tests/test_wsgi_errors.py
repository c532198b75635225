"""WSGI apps that fail or break the protocol: a 500 (or, once the
response has started, a closed connection) and a log line that names
the mistake.  Served without the validator, which would catch the
mistakes first."""

import pytest
import urllib3

from helpers.common import connect, read_to_end
from helpers.wsgi import error_text, hello_app

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app, wsgi_errors

TEXT = [("Content-Type", "text/plain")]


def get(server, path="/"):
    return urllib3.request("GET", server.url + path, retries=False)


def only_error(wsgi_errors):
    records = wsgi_errors()
    assert len(records) == 1, [error_text(r) for r in records]
    return error_text(records[0])


def test_exception_before_start_response_gives_500(serve_app, wsgi_errors):
    def app(environ, start_response):
        raise KeyError("secret-detail")

    server = serve_app(app, validate=False)
    r = get(server)
    assert r.status == 500
    assert b"secret-detail" not in r.data
    text = only_error(wsgi_errors)
    assert "KeyError" in text and "secret-detail" in text
    assert "WSGI app" in text  # the handler names the app


def test_exception_after_start_response_before_the_body_gives_500(
        serve_app, wsgi_errors):
    def app(environ, start_response):
        start_response("200 OK", TEXT + [("X-Not-Sent", "1")])
        raise RuntimeError("no body after all")

    server = serve_app(app, validate=False)
    r = get(server)
    assert r.status == 500
    assert "X-Not-Sent" not in r.headers
    assert "no body after all" in only_error(wsgi_errors)


def test_exception_after_the_headers_were_sent_closes_the_connection(
        serve_app, wsgi_errors):
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        yield b"the start of a body"
        raise RuntimeError("midway")

    server = serve_app(app, validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        reply = read_to_end(sock)
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"the start of a body" in reply
    assert not reply.endswith(b"0\r\n\r\n")  # no last chunk: cut off
    assert "midway" in only_error(wsgi_errors)


def test_urllib3_sees_a_cut_off_response(serve_app, wsgi_errors):
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        yield b"x" * 10000
        raise RuntimeError("midway")

    server = serve_app(app, validate=False)
    r = urllib3.request("GET", server.url + "/", preload_content=False)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        r.read()


@pytest.mark.parametrize("status, mistake", [
    (b"200 OK", "must be a str such as '200 OK', not bytes"),
    (200, "must be a str such as '200 OK', not int"),
    ("OK", "not 'OK'"),
    ("2000 OK", "not '2000 OK'"),
    ("99 Low", "not '99 Low'"),
    ("100 Continue", "from 200 to 999"),
    ("200 OK\r\nX-Injected: 1", "final status line"),
])
def test_a_bad_status_gives_500(serve_app, wsgi_errors, status, mistake):
    server = serve_app(lambda env, sr: (sr(status, TEXT), [b"x"])[1],
                       validate=False)
    r = get(server)
    assert r.status == 500
    assert "X-Injected" not in r.headers
    assert mistake in only_error(wsgi_errors)


@pytest.mark.parametrize("headers, mistake", [
    ({"Content-Type": "text/plain"}, "must be a list of (name, value) "
                                     "tuples, not dict"),
    ("Content-Type: text/plain", "not str"),
    ([("Content-Type",)], "must be a (name, value) tuple"),
    (["Content-Type: text/plain"], "must be a (name, value) tuple"),
    ([(b"Content-Type", "text/plain")], "names must be str, not bytes"),
    ([("X-Count", 3)], "values must be str, not int"),
    ([("X-Bytes", b"v")], "values must be str, not bytes"),
    ([("Bad Name", "v")], "invalid response header name 'Bad Name'"),
    ([("X-Split", "a\r\nX-Injected: 1")], "CR, LF or NUL"),
    ([("Content-Length", "ten")], "Content-Length must be one"),
    ([("Content-Length", "1"), ("Content-Length", "1")],
     "Content-Length must be one"),
    ([("X-Euro", "\u20ac")], "beyond latin-1"),
])
def test_bad_headers_give_500(serve_app, wsgi_errors, headers, mistake):
    server = serve_app(lambda env, sr: (sr("200 OK", headers), [b"x"])[1],
                       validate=False)
    r = get(server)
    assert r.status == 500
    assert "X-Injected" not in r.headers
    assert mistake in only_error(wsgi_errors)


@pytest.mark.parametrize("body, mistake", [
    (["text"], "gave a str (encode it"),
    ([b"ok", "text"], "gave a str"),
    ([bytearray(b"x")], "gave a bytearray"),
    ([None], "gave a NoneType"),
    ("a str", "returned a str, but a WSGI response is an iterable of bytes"),
    (b"bytes", "returned a bytes, but a WSGI response is an iterable"),
    (None, "returned a NoneType"),
    (iter([1, 2]), "gave a int"),
])
def test_non_bytes_bodies_give_500(serve_app, wsgi_errors, body, mistake):
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        return body

    server = serve_app(app, validate=False)
    r = get(server)
    assert r.status == 500
    assert b"ok" not in r.data
    assert mistake in only_error(wsgi_errors)


def test_a_non_bytes_chunk_after_the_first_closes_the_connection(
        serve_app, wsgi_errors):
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        yield b"fine"
        yield "not fine"

    server = serve_app(app, validate=False)
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        reply = read_to_end(sock)
    assert b"fine" in reply and not reply.endswith(b"0\r\n\r\n")
    assert "gave a str" in only_error(wsgi_errors)


def test_a_missing_start_response_gives_500(serve_app, wsgi_errors):
    server = serve_app(lambda environ, start_response: [b"no status"],
                       validate=False)
    r = get(server)
    assert r.status == 500
    assert b"no status" not in r.data
    assert "without calling start_response()" in only_error(wsgi_errors)


def test_a_missing_start_response_with_an_empty_body(serve_app, wsgi_errors):
    server = serve_app(lambda environ, start_response: [], validate=False)
    assert get(server).status == 500
    assert "without calling start_response()" in only_error(wsgi_errors)


def test_start_response_twice_without_exc_info_gives_500(serve_app,
                                                         wsgi_errors):
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        start_response("404 Not Found", TEXT)
        return [b"x"]

    server = serve_app(app, validate=False)
    assert get(server).status == 500
    assert "a second time without exc_info" in only_error(wsgi_errors)


def test_write_kept_from_an_earlier_request_raises(serve_app,
                                                   wsgi_errors):
    captured = []

    def first(environ, start_response):
        captured.append(start_response("200 OK", TEXT))
        return [b"ok"]

    def second(environ, start_response):
        captured[0](b"x")  # the first request's write(): it is over
        return []

    server = serve_app(first, validate=False)
    server.mount_wsgi("/second", second)
    assert get(server).data == b"ok"
    assert get(server, "/second").status == 500
    assert "the request is finished" in only_error(wsgi_errors)


def test_write_with_a_str_gives_500(serve_app, wsgi_errors):
    def app(environ, start_response):
        start_response("200 OK", TEXT)("text")
        return []

    server = serve_app(app, validate=False)
    assert get(server).status == 500
    assert "gave a str" in only_error(wsgi_errors)


def test_an_app_that_is_not_callable_is_refused_at_mount(server):
    with pytest.raises(TypeError, match="must be callable"):
        server.mount_wsgi("/", "not an app")


def test_the_server_keeps_serving_after_errors(serve_app, wsgi_errors):
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("boom")
        return hello_app(environ, start_response)

    server = serve_app(app, validate=False)
    http = urllib3.PoolManager()
    for _ in range(20):
        assert http.request("GET", server.url + "/boom").status == 500
        assert http.request("GET", server.url + "/").data == b"Hello, WSGI!"
    assert len(wsgi_errors()) == 20
