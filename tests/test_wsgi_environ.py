"""The environ a WSGI app receives: every key PEP 3333 names, and more."""

import socket
import wsgiref.util

import pytest
import urllib3

import gohttp
from helpers.common import TIMEOUT, connect, read_until
from helpers.wsgi import record_environ

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app, wsgi_errors

pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")


def send(server, request: bytes) -> tuple[bytes, tuple[str, int]]:
    """Send a raw request on a new connection; return the response head
    and the client's (host, port)."""
    with connect(server.address) as sock:
        sock.sendall(request)
        return read_until(sock, b"\r\n\r\n"), sock.getsockname()[:2]


def test_every_cgi_key(serve_app):
    seen = []
    server = serve_app(record_environ(seen))
    head, (client_host, client_port) = send(
        server,
        b"POST /a/b?x=1&y=%20z HTTP/1.1\r\n"
        b"Host: example.test:8080\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 7\r\n"
        b"X-Repeated: one\r\n"
        b"X-Repeated: two\r\n"
        b"Cookie: a=1\r\n"
        b"Cookie: b=2\r\n"
        b"Accept: */*\r\n"
        b"User-Agent: raw-socket\r\n"
        b"\r\n"
        b"a=1&b=2")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    [env] = seen
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/a/b"
    assert env["QUERY_STRING"] == "x=1&y=%20z"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == "7"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(server.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == client_host == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(client_port)
    assert env["REQUEST_URI"] == env["RAW_URI"] == "/a/b?x=1&y=%20z"
    assert env["HTTP_HOST"] == "example.test:8080"
    assert env["HTTP_X_REPEATED"] == "one,two"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_ACCEPT"] == "*/*"
    assert env["HTTP_USER_AGENT"] == "raw-socket"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert env["body"] == b"a=1&b=2"
    cgi_keys = {k for k in env if "." not in k and k != "body"}
    assert all(type(env[k]) is str for k in cgi_keys)
    assert cgi_keys == {
        "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
        "CONTENT_TYPE", "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT",
        "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "REQUEST_URI",
        "RAW_URI", "HTTP_HOST", "HTTP_X_REPEATED", "HTTP_COOKIE",
        "HTTP_ACCEPT", "HTTP_USER_AGENT"}


def test_each_request_has_its_own_fields_after_others(serve_app):
    """The environ a request gets starts from the fields of the requests
    before it: each must still come out as its own, and an environ an app
    kept must not change with the requests after."""
    kept = []   # (the environ itself, a copy made while the app ran)

    def app(environ, start_response):
        kept.append((environ, dict(environ)))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = serve_app(app)
    requests = [
        b"GET /a?x=1 HTTP/1.1\r\nHost: one.test\r\n\r\n",
        b"GET /a?x=1 HTTP/1.1\r\nHost: one.test\r\n\r\n",
        b"POST /b HTTP/1.1\r\nHost: two.test\r\nContent-Length: 0\r\n\r\n",
        b"GET /old HTTP/1.0\r\n\r\n",
        b"GET /a?x=1 HTTP/1.1\r\nHost: one.test\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: one.test\r\n\r\n",
    ]
    ports = []
    for request in requests:
        head, (_, port) = send(server, request)
        assert head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")), head
        ports.append(str(port))
    expected = [
        ("GET", "/a", "x=1", "/a?x=1", "HTTP/1.1", "one.test"),
        ("GET", "/a", "x=1", "/a?x=1", "HTTP/1.1", "one.test"),
        ("POST", "/b", "", "/b", "HTTP/1.1", "two.test"),
        ("GET", "/old", "", "/old", "HTTP/1.0", None),
        ("GET", "/a", "x=1", "/a?x=1", "HTTP/1.1", "one.test"),
        ("GET", "/", "", "/", "HTTP/1.1", "one.test"),
    ]
    assert len(kept) == len(expected)
    for (env, copy), want, port in zip(kept, expected, ports):
        assert env == copy   # unchanged by the requests after it
        method, path, query, uri, proto, host = want
        assert env["REQUEST_METHOD"] == method
        assert env["SCRIPT_NAME"] == ""
        assert env["PATH_INFO"] == path
        assert env["QUERY_STRING"] == query
        assert env["REQUEST_URI"] == env["RAW_URI"] == uri
        assert env["SERVER_PROTOCOL"] == proto
        assert env["wsgi.url_scheme"] == "http"
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert env["REMOTE_PORT"] == port
        assert env.get("HTTP_HOST") == host
        assert None not in env.values()


def test_every_wsgi_key(serve_app):
    seen = []
    # Unvalidated: the validator wraps wsgi.input and wsgi.errors.
    server = serve_app(record_environ(seen), validate=False)
    urllib3.request("GET", server.url + "/")
    [env] = seen
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert callable(env["wsgi.file_wrapper"])
    for method in ("read", "readline", "readlines", "__iter__"):
        assert callable(getattr(env["wsgi.input"], method))
    for method in ("write", "writelines", "flush"):
        assert callable(getattr(env["wsgi.errors"], method))
    wsgi_keys = {k for k in env if k.startswith("wsgi.")}
    assert wsgi_keys == {
        "wsgi.version", "wsgi.url_scheme", "wsgi.input", "wsgi.errors",
        "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
        "wsgi.input_terminated", "wsgi.file_wrapper"}


def test_a_get_without_body_has_no_content_keys(serve_app):
    seen = []
    server = serve_app(record_environ(seen))
    head, _ = send(server, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    [env] = seen
    assert "CONTENT_TYPE" not in env and "CONTENT_LENGTH" not in env
    assert env["QUERY_STRING"] == ""
    assert env["body"] == b""


def test_chunked_upload_has_no_content_length(serve_app):
    seen = []
    server = serve_app(record_environ(seen))
    head, _ = send(server,
                   b"PUT /up HTTP/1.1\r\nHost: h\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    [env] = seen
    assert "CONTENT_LENGTH" not in env
    assert "HTTP_TRANSFER_ENCODING" not in env  # Go decoded the chunks
    assert env["body"] == b"hello world"


@pytest.mark.parametrize("target, path_info", [
    (b"/a%20b", "/a b"),
    (b"/caf%C3%A9", "/caf\u00c3\u00a9"),           # UTF-8 bytes, as latin-1
    (b"/bad%FFbyte", "/bad\u00ffbyte"),            # not UTF-8: kept raw
    (b"/slash%2Fin/segment", "/slash/in/segment"),  # decoded, as CGI does
    (b"/plus+sign", "/plus+sign"),
])
def test_path_info_is_decoded_bytes_as_latin1(serve_app, target, path_info):
    seen = []
    server = serve_app(record_environ(seen))
    head, _ = send(server, b"GET " + target + b"?q=caf%C3%A9 HTTP/1.1\r\n"
                           b"Host: h\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    [env] = seen
    assert env["PATH_INFO"] == path_info
    assert env["PATH_INFO"].encode("latin-1")  # bytes-as-str
    assert env["QUERY_STRING"] == "q=caf%C3%A9"  # raw, as sent
    assert env["REQUEST_URI"] == target.decode("latin-1") + "?q=caf%C3%A9"


def test_request_header_values_are_latin1(serve_app):
    seen = []
    server = serve_app(record_environ(seen))
    send(server, b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n")
    assert seen[0]["HTTP_X_NAME"] == "caf\u00c3\u00a9"


def test_headers_with_underscores_are_dropped(serve_app):
    """X_Forwarded_For would pass for X-Forwarded-For: nginx, Apache and
    gunicorn drop such headers, and so does gohttp."""
    seen = []
    server = serve_app(record_environ(seen))
    send(server, b"GET / HTTP/1.1\r\nHost: h\r\nX-Real-Ip: 10.0.0.1\r\n"
                 b"X_Real_Ip: 6.6.6.6\r\n\r\n")
    env = seen[0]
    assert env["HTTP_X_REAL_IP"] == "10.0.0.1"
    assert not [k for k in env if "6.6.6.6" in str(env[k])]


@pytest.mark.parametrize("method", ["GET", "DELETE", "TRACE"])  # TRACE: not common
def test_methods_common_or_not(serve_app, method):
    """Common methods share one str each; any other is made as sent."""
    seen = []
    server = serve_app(record_environ(seen))
    head, _ = send(server, method.encode() + b" / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert seen[0]["REQUEST_METHOD"] == method


def test_many_headers_common_or_not(serve_app):
    """More headers than the environ has room for, in names whose keys
    are made once (Accept-Language, Sec-Fetch-Mode) and names that are
    not (X-Header-N)."""
    seen = []
    server = serve_app(record_environ(seen))
    extra = b"".join(b"X-Header-%d: value %d\r\n" % (i, i) for i in range(40))
    send(server, b"GET / HTTP/1.1\r\nHost: h\r\nAccept-Language: fr\r\n"
                 b"Sec-Fetch-Mode: navigate\r\nX-Forwarded-Proto: https\r\n"
                 + extra + b"\r\n")
    [env] = seen
    assert env["HTTP_ACCEPT_LANGUAGE"] == "fr"
    assert env["HTTP_SEC_FETCH_MODE"] == "navigate"
    assert env["HTTP_X_FORWARDED_PROTO"] == "https"
    assert env["wsgi.url_scheme"] == "http"
    for i in range(40):
        assert env[f"HTTP_X_HEADER_{i}"] == f"value {i}"


def test_the_proxy_header_is_dropped(serve_app):
    """httpoxy: as HTTP_PROXY it would pass for a proxy setting."""
    seen = []
    server = serve_app(record_environ(seen))
    send(server, b"GET / HTTP/1.1\r\nHost: h\r\nProxy: http://evil:1\r\n"
                 b"\r\n")
    assert "HTTP_PROXY" not in seen[0]


def test_http_1_0_without_host(serve_app):
    seen = []
    server = serve_app(record_environ(seen))
    head, _ = send(server, b"GET /old HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    [env] = seen
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in env
    # Without Host the URL is rebuilt from SERVER_NAME and SERVER_PORT.
    assert wsgiref.util.request_uri(env) == (
        f"http://127.0.0.1:{server.port}/old")


def test_url_rebuilt_by_wsgiref(serve_app):
    seen = []
    server = serve_app(record_environ(seen))
    urllib3.request("GET", server.url + "/p/q%20r?s=t")
    assert wsgiref.util.request_uri(seen[0]) == server.url + "/p/q%20r?s=t"
    assert wsgiref.util.application_uri(seen[0]) == server.url + "/"


def test_ipv6_remote_and_server_address():
    seen = []
    server = gohttp.Server("::1", 0)
    server.mount_wsgi("/", record_environ(seen))
    try:
        server.start()
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        with socket.create_connection(("::1", server.port),
                                      timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n")
            head = read_until(sock, b"\r\n\r\n")
            client_port = sock.getsockname()[1]
    finally:
        server.shutdown()
    assert head.startswith(b"HTTP/1.1 200")
    env = seen[0]
    assert env["REMOTE_ADDR"] == "::1"
    assert env["REMOTE_PORT"] == str(client_port)
    assert env["SERVER_NAME"] == "::1"
    assert env["HTTP_HOST"] == "[::1]"


def test_wsgi_errors_goes_to_the_gohttp_logger(serve_app, wsgi_errors):
    def app(environ, start_response):
        errors = environ["wsgi.errors"]
        errors.write("first line\nsecond ")
        errors.write("line\n")
        errors.writelines(["third", " line\n", "no newline"])
        errors.flush()
        print("printed", 42, file=errors)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = serve_app(app)
    assert urllib3.request("GET", server.url + "/").status == 200
    lines = [r.getMessage() for r in wsgi_errors()]
    name = lines[0].split(": ")[0]
    assert "app" in name  # the app's name
    assert [line.split(": ", 1)[1] for line in lines] == [
        "first line", "second line", "third line", "no newline",
        "printed 42"]


def test_wsgi_errors_keeps_no_line_back_when_the_app_fails(serve_app,
                                                           wsgi_errors):
    def app(environ, start_response):
        environ["wsgi.errors"].write("half a line")
        raise RuntimeError("failed")

    server = serve_app(app, validate=False)
    assert urllib3.request("GET", server.url + "/").status == 500
    messages = [r.getMessage() for r in wsgi_errors()]
    assert any(m.endswith(": half a line") for m in messages), messages


def test_environ_is_fresh_for_each_request(serve_app):
    seen, had_mine = [], []

    def app(environ, start_response):
        seen.append(environ)
        had_mine.append("mine" in environ)
        environ["mine"] = True
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = serve_app(app)
    http = urllib3.PoolManager()
    for _ in range(3):
        http.request("GET", server.url + "/")
    assert len({id(e) for e in seen}) == 3
    assert had_mine == [False] * 3  # no app sees what the last one set
    assert len({id(e["wsgi.errors"]) for e in seen}) == 3


def test_validator_warnings_fail_the_request(serve_app, wsgi_errors):
    """The check on the checks: a validator warning raised in the app
    becomes an error here, so the tests above would see it."""
    server = serve_app(record_environ([]))
    r = urllib3.request("PROPFIND", server.url + "/")
    assert r.status == 500
    [record] = wsgi_errors()
    assert "Unknown REQUEST_METHOD" in str(record.exc_info[1])
