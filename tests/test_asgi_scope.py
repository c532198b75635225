"""The http scope an ASGI app gets: every field of asgiref's www.rst,
over HTTP/1.0, 1.1, h2c and TLS, TCP and Unix sockets, mounted and not."""

from __future__ import annotations

import json
import os
import socket

import pytest

import gohttp
from helpers.asgi_fixtures import respond, serve_asgi  # noqa: F401 (a fixture)
from helpers.common import TIMEOUT, connect, read_to_end
from helpers.net import (curl, key_pair, needs_curl_http2,  # noqa: F401
                         short_tmp, unix_exchange)


def jsonable(value):
    if isinstance(value, bytes):
        return {"bytes": value.decode("latin-1")}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


async def show_scope(scope, receive, send):
    """Answers with its scope as JSON, bytes as {"bytes": latin-1}."""
    body = dict(scope)
    body["types"] = {k: type(v).__name__ for k, v in scope.items()}
    await respond(send, json.dumps(jsonable(body)).encode())


def scope_of(raw: bytes) -> dict:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def unbytes(value):
    return value["bytes"].encode("latin-1")


def test_every_field_of_a_simple_get(serve_asgi, http):
    srv = serve_asgi(show_scope)
    r = http.request("GET", srv.url + "/caf%C3%A9/a%2Fb?x=1&y=%20",
                     headers={"X-Two": "a", "User-Agent": "t"})
    assert r.status == 200
    scope = json.loads(r.data)
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/café/a/b"
    assert unbytes(scope["raw_path"]) == b"/caf%C3%A9/a%2Fb"
    assert unbytes(scope["query_string"]) == b"x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["client"][0] == "127.0.0.1"
    assert isinstance(scope["client"][1], int) and scope["client"][1] > 0
    assert scope["server"] == ["127.0.0.1", srv.port]
    assert scope["state"] == {}
    assert scope["extensions"] == {"http.response.pathsend": {},
                                   "http.response.early_hint": {},
                                   "http.response.trailers": {}}
    assert scope["types"] == {
        "type": "str", "asgi": "dict", "http_version": "str",
        "method": "str", "scheme": "str", "path": "str", "raw_path": "bytes",
        "query_string": "bytes", "root_path": "str", "headers": "list",
        "client": "tuple", "server": "tuple", "state": "dict",
        "extensions": "dict"}
    headers = [(unbytes(k), unbytes(v)) for k, v in scope["headers"]]
    assert headers[0] == (b"host", f"127.0.0.1:{srv.port}".encode())
    assert (b"x-two", b"a") in headers
    assert (b"user-agent", b"t") in headers
    assert all(k == k.lower() for k, _ in headers)


def test_repeated_headers_are_kept_in_order(serve_asgi):
    srv = serve_asgi(show_scope)
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nX-Rep: 1\r\n"
                     b"Cookie: a=1\r\nX-Rep: 2\r\nX-Rep: 3\r\n"
                     b"Connection: close\r\n\r\n")
        scope = scope_of(read_to_end(sock))
    headers = [(unbytes(k), unbytes(v)) for k, v in scope["headers"]]
    assert [v for k, v in headers if k == b"x-rep"] == [b"1", b"2", b"3"]
    assert headers[0] == (b"host", b"h")


def test_http_1_0_and_no_host(serve_asgi):
    srv = serve_asgi(show_scope)
    with connect(srv.address) as sock:
        sock.sendall(b"GET /ten HTTP/1.0\r\n\r\n")
        scope = scope_of(read_to_end(sock))
    assert scope["http_version"] == "1.0"
    assert scope["headers"] == []


def test_mount_prefix_is_the_root_path(serve_asgi, http):
    srv = serve_asgi(show_scope, "/api")
    scope = json.loads(http.request("GET", srv.url + "/api/users").data)
    assert (scope["root_path"], scope["path"]) == ("/api", "/api/users")
    scope = json.loads(http.request("GET", srv.url + "/api").data)
    assert (scope["root_path"], scope["path"]) == ("/api", "/api")
    assert http.request("GET", srv.url + "/other").status == 404


def test_root_path_of_a_proxy_goes_before_path(serve_asgi, http):
    srv = serve_asgi(show_scope, "/api", mount={"root_path": "/app"})
    scope = json.loads(http.request("GET", srv.url + "/api/x").data)
    assert (scope["root_path"], scope["path"]) == ("/app/api", "/app/api/x")
    assert unbytes(scope["raw_path"]) == b"/api/x"


def test_asgi_beside_native_routes(serve_asgi, http):
    srv = serve_asgi(show_scope, "/asgi")
    srv.handle("/native", lambda w, req: w.write(b"native") and None)
    assert http.request("GET", srv.url + "/native").data == b"native"
    assert json.loads(http.request("GET", srv.url + "/asgi/")
                      .data)["path"] == "/asgi/"


def test_trusted_proxy_sets_scheme_and_client(serve_asgi, http):
    srv = serve_asgi(show_scope, forwarded_allow_ips="127.0.0.1")
    scope = json.loads(http.request(
        "GET", srv.url + "/", headers={"X-Forwarded-Proto": "https",
                                       "X-Forwarded-For": "203.0.113.9"}
    ).data)
    assert scope["scheme"] == "https"
    assert scope["client"][0] == "203.0.113.9"


def test_unix_socket_server_and_client(serve_asgi, short_tmp):
    path = str(short_tmp / "a.sock")
    serve_asgi(show_scope, uds=path)
    scope = scope_of(unix_exchange(
        path, b"GET /u HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert scope["server"] == [path, None]
    assert scope["client"] is None


@needs_curl_http2
def test_h2c_http_version(serve_asgi):
    srv = serve_asgi(show_scope, http2_cleartext=True)
    out = curl("--http2-prior-knowledge", srv.url + "/h2")
    assert out.returncode == 0, out.stderr
    scope = json.loads(out.stdout)
    assert (scope["http_version"], scope["scheme"]) == ("2", "http")


@needs_curl_http2
def test_tls_http2_scheme_and_version(serve_asgi, key_pair):
    srv = serve_asgi(show_scope, certfile=key_pair.cert,
                     keyfile=key_pair.key)
    out = curl("--http2", "--cacert", str(key_pair.cert), srv.url + "/tls")
    assert out.returncode == 0, out.stderr
    scope = json.loads(out.stdout)
    assert (scope["http_version"], scope["scheme"]) == ("2", "https")
    assert scope["server"] == ["127.0.0.1", srv.port]


def test_each_request_gets_its_own_scope(serve_asgi, http):
    scopes = []

    async def keep(scope, receive, send):
        scopes.append((dict(scope["asgi"]), dict(scope["extensions"])))
        scope["asgi"]["version"] = "changed"
        scope["extensions"]["x"] = 1
        await respond(send, b"ok")

    srv = serve_asgi(keep)
    for _ in range(2):
        assert http.request("GET", srv.url + "/").status == 200
    assert scopes[1] == ({"version": "3.0", "spec_version": "2.4"},
                         {"http.response.pathsend": {},
                          "http.response.early_hint": {},
                          "http.response.trailers": {}})


def test_mount_arguments_are_checked():
    srv = gohttp.Server("127.0.0.1", 0)
    with pytest.raises(TypeError, match="callable"):
        srv.mount_asgi("/", "not an app")
    with pytest.raises(ValueError, match="start with '/'"):
        srv.mount_asgi("api", show_scope)
    with pytest.raises(ValueError, match="lifespan"):
        srv.mount_asgi("/", show_scope, lifespan="sometimes")
    with pytest.raises(TypeError, match="ASGIApp"):
        srv._core.handle_asgi("/", show_scope)


def test_loop_choice_is_checked():
    from gohttp import asgi

    srv = gohttp.Server("127.0.0.1", 0)
    with pytest.raises(ValueError, match="loop must be one of auto, "
                                         "asyncio, uvloop, not 'trio'"):
        asgi.mount(srv, "/", show_scope, loop="trio")
    kind = asgi.event_loop().kind
    assert kind in ("asyncio", "uvloop")
    other = "uvloop" if kind == "asyncio" else "asyncio"
    with pytest.raises(ValueError, match="one loop serves every ASGI app"):
        asgi.mount(srv, "/", show_scope, loop=other)
    asgi.mount(srv, "/", show_scope, loop=kind)   # the same: fine


def test_the_loop_is_the_one_this_run_asked_for():
    # auto takes uvloop where it is installed (tests/requirements.txt);
    # GOHTTP_TEST_LOOP=asyncio hides it (conftest.py).
    from gohttp import asgi

    try:
        import uvloop  # type: ignore[import-not-found]  # noqa: F401
        expected = "uvloop"
    except ImportError:
        expected = "asyncio"
    if os.environ.get("GOHTTP_TEST_LOOP") == "asyncio":
        assert expected == "asyncio"
    assert asgi.event_loop().kind == expected


def test_a_request_larger_than_the_loops_buffer(serve_asgi, http):
    """The loop's event buffer grows for a request block that does not
    fit (here 600 KiB of headers), and the requests after still work."""
    srv = serve_asgi(show_scope, max_header_bytes=1 << 20)
    big = {f"X-Big-{i}": "v" * 20_000 for i in range(30)}
    scope = json.loads(http.request("GET", srv.url + "/big",
                                    headers=big).data)
    headers = dict((unbytes(k), unbytes(v)) for k, v in scope["headers"])
    assert headers[b"x-big-29"] == b"v" * 20_000
    assert json.loads(http.request("GET", srv.url + "/small")
                      .data)["path"] == "/small"
