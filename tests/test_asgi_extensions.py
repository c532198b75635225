"""ASGI extensions (asgiref's extensions.rst and tls.rst), on a real
server with real clients: http.response.pathsend (Go sends the file),
tls (the connection's certificates, version and suite),
http.response.early_hint (103) and http.response.trailers."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading

import pytest

import gohttp
from helpers.asgi_fixtures import (asgi_errors, client, respond,  # noqa: F401
                                   serve_asgi)
from helpers.common import connect, read_to_end, read_until
from helpers.net import curl, key_pair, needs_curl_http2  # noqa: F401
from test_tls_production import der, install, pairs, pki  # noqa: F401

MiB = 1024 * 1024


# ---- http.response.pathsend ------------------------------------------------


@pytest.fixture
def big_file(tmp_path):
    """A 3 MiB file of varied bytes: several sendfile(2) rounds."""
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(1024) * 3 * 1024)
    return path


def pathsend_app(path, headers=None, status=200):
    """An app that sends the file at path (str), with headers."""
    async def app(scope, receive, send):
        assert "http.response.pathsend" in scope["extensions"]
        await send({"type": "http.response.start", "status": status,
                    "headers": headers or [(b"content-type",
                                            b"application/octet-stream")]})
        await send({"type": "http.response.pathsend", "path": str(path)})
    return app


def test_pathsend_is_advertised(serve_asgi, http):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["extensions"])
        await respond(send, b"ok")

    srv = serve_asgi(app)
    assert http.request("GET", srv.url + "/").status == 200
    assert seen[0]["http.response.pathsend"] == {}
    assert "tls" not in seen[0]   # cleartext: the spec forbids it


def test_pathsend_sends_the_file(serve_asgi, http, big_file):
    """Go sends it and declares its length (the app gave none)."""
    srv = serve_asgi(pathsend_app(big_file))
    r = http.request("GET", srv.url + "/")
    assert r.status == 200
    assert r.headers["Content-Length"] == str(big_file.stat().st_size)
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.data == big_file.read_bytes()
    # The connection is kept alive for the next request.
    r = http.request("GET", srv.url + "/")
    assert r.data == big_file.read_bytes()


def test_pathsend_head_sends_no_body(serve_asgi, big_file):
    srv = serve_asgi(pathsend_app(big_file))
    with connect(srv.address) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = read_to_end(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == b""


def test_pathsend_a_file_longer_than_declared_is_cut(serve_asgi, http,
                                                     big_file):
    """A file that grew since the app declared its length: the response
    keeps its word."""
    srv = serve_asgi(pathsend_app(big_file, [(b"content-length", b"1000")]))
    r = http.request("GET", srv.url + "/")
    assert (r.status, r.data) == (200, big_file.read_bytes()[:1000])


@needs_curl_http2
def test_pathsend_over_tls_and_http2(serve_asgi, key_pair, big_file,
                                     tmp_path):
    srv = serve_asgi(pathsend_app(big_file), certfile=key_pair.cert,
                     keyfile=key_pair.key)
    got = tmp_path / "got.bin"
    out = curl("--http2", "--cacert", str(key_pair.cert), "-o", str(got),
               "-w", "%{http_version}", f"https://localhost:{srv.port}/")
    assert (out.returncode, out.stdout) == (0, "2"), out.stderr
    assert got.read_bytes() == big_file.read_bytes()


def test_starlette_file_response_uses_pathsend(serve_asgi, client, big_file,
                                               tmp_path, monkeypatch):
    """Starlette's FileResponse sends pathsend when it is advertised: the
    app never opens the file, whether its path is absolute or relative
    (taken from the current directory, as the app's own open() would)."""
    responses = pytest.importorskip("starlette.responses")
    if not hasattr(responses.FileResponse, "_handle_simple"):
        pytest.skip("this Starlette does not send http.response.pathsend")
    from starlette.applications import Starlette
    from starlette.routing import Route

    def never(*args, **kwargs):
        raise AssertionError("Starlette read the file itself")

    monkeypatch.setattr(responses.anyio, "open_file", never)
    monkeypatch.chdir(tmp_path)
    app = Starlette(routes=[
        Route("/abs", lambda request: responses.FileResponse(big_file)),
        Route("/rel", lambda request: responses.FileResponse(big_file.name)),
    ])
    srv = serve_asgi(app)
    want = big_file.read_bytes()
    for path in ("/abs", "/rel"):
        r = client.get(srv.url + path)
        assert (r.status_code, r.content) == (200, want), path
        assert r.headers["content-length"] == str(len(want))


def bad_pathsend_app(outcomes):
    """An app that tries the pathsend message of its query, records what
    send() raised, then answers 404 with the exception's type."""
    async def app(scope, receive, send):
        case = scope["query_string"].decode()
        start = {"type": "http.response.start", "status": 200}
        message = {"type": "http.response.pathsend", "path": case}
        try:
            if case == "nostart":
                await send(message)
            elif case == "afterbody":
                await send(start)
                await send({"type": "http.response.body", "body": b"x",
                            "more_body": True})
                await send({"type": "http.response.pathsend",
                            "path": __file__})
            elif case == "nopath":
                await send(start)
                await send({"type": "http.response.pathsend"})
            elif case == "notstr":
                await send(start)
                await send({"type": "http.response.pathsend", "path": 7})
            elif case == "nul":
                await send(start)
                await send({"type": "http.response.pathsend",
                            "path": "/tmp/a\0b"})
            elif case == "204":
                await send({**start, "status": 204})
                await send({"type": "http.response.pathsend",
                            "path": __file__})
            elif case == "twice":
                await send(start)
                await send({"type": "http.response.pathsend",
                            "path": __file__})
                await send({"type": "http.response.pathsend",
                            "path": __file__})
            else:
                await send(start)
                await send(message)
        except Exception as exc:
            outcomes[case] = exc
            try:
                await send(start)
            except gohttp.StateError:
                pass   # the start is held already, or went with a body
            try:
                await send({"type": "http.response.body",
                            "body": b"" if case == "204"
                            else type(exc).__name__.encode()})
            except gohttp.StateError:
                pass   # complete already
            return
        outcomes[case] = None
    return app


def test_pathsend_errors_are_clear(serve_asgi, http, tmp_path):
    """Each mistake raises at once in the app, with what is wrong; a file
    that cannot be sent leaves the start held, so the app can still
    answer otherwise."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    missing = tmp_path / "missing.txt"
    outcomes: dict[str, BaseException | None] = {}
    srv = serve_asgi(bad_pathsend_app(outcomes))

    def get(case):
        return http.request("GET", srv.url + "/?" + case)

    r = get(str(missing))
    assert (r.status, r.data) == (200, b"FileNotFoundError")
    assert str(missing) in str(outcomes[str(missing)])
    r = get(str(tmp_path))
    assert (r.status, r.data) == (200, b"IsADirectoryError")
    r = get(str(fifo))   # not opened for reading: no writer, no hang
    assert (r.status, r.data) == (200, b"ValueError")
    assert "not a regular file" in str(outcomes[str(fifo)])
    for case, kind, words in [
            ("nostart", gohttp.StateError, "before http.response.start"),
            ("afterbody", gohttp.StateError, "cannot follow"),
            ("nopath", ValueError, "needs a 'path'"),
            ("notstr", TypeError, "int"),
            ("nul", ValueError, "null"),
            ("204", ValueError, "allows no body"),
            ("twice", gohttp.StateError, "complete")]:
        r = get(case)
        assert r.status in (200, 204), (case, r.status)
        assert isinstance(outcomes[case], kind), (case, outcomes[case])
        assert words in str(outcomes[case]), (case, outcomes[case])


# ---- tls ---------------------------------------------------------------------

# The TLS 1.3 suites (RFC 8446) and one TLS 1.2 suite, by OpenSSL's name.
SUITES = {"TLS_AES_128_GCM_SHA256": 0x1301, "TLS_AES_256_GCM_SHA384": 0x1302,
          "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
          "ECDHE-ECDSA-AES128-GCM-SHA256": 0xC02B}


@pytest.fixture
def tls_scopes(serve_asgi):
    """tls_scopes(**server_options) -> (server, extensions): an app over
    TLS that keeps each request's scope["extensions"]."""
    def make(**options):
        seen = []

        async def app(scope, receive, send):
            seen.append(scope["extensions"])
            await respond(send, scope["http_version"].encode())

        return serve_asgi(app, **options), seen
    return make


def ask(srv, ctx, requests=1):
    """requests GETs on one TLS connection made with ctx (its cipher)."""
    with socket.create_connection(srv.address, timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            for i in range(requests):
                last = i == requests - 1
                s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n%s\r\n"
                          % (b"Connection: close\r\n" if last else b""))
                if last:
                    read_to_end(s)
                else:
                    data = b""
                    while not data.endswith(b"1.1"):
                        data += s.recv(65536)
            return s.cipher()[0]


def test_tls_without_a_client_certificate(tls_scopes, key_pair):
    srv, seen = tls_scopes(certfile=key_pair.cert, keyfile=key_pair.key)
    ctx = ssl.create_default_context(cafile=str(key_pair.cert))
    cipher = ask(srv, ctx, requests=2)
    tls = seen[0]["tls"]
    assert seen[0]["http.response.pathsend"] == {}
    assert ssl.PEM_cert_to_DER_cert(tls["server_cert"]) == der(key_pair.cert)
    assert list(tls["client_cert_chain"]) == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] == 0x0304
    assert tls["cipher_suite"] == SUITES[cipher]
    assert seen[1]["tls"] == tls   # the next request on the connection
    assert seen[1] is not seen[0] and seen[1]["tls"] is not tls


def test_tls_with_a_client_certificate_over_tls_1_2(tls_scopes, key_pair,
                                                    pki):
    srv, seen = tls_scopes(certfile=key_pair.cert, keyfile=key_pair.key,
                           ssl_ca_certs=pki.ca, ssl_cert_reqs="required")
    ctx = ssl.create_default_context(cafile=str(key_pair.cert))
    ctx.load_cert_chain(str(pki.cert), str(pki.key))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    assert ask(srv, ctx) == "ECDHE-ECDSA-AES128-GCM-SHA256"
    tls = seen[0]["tls"]
    chain = [ssl.PEM_cert_to_DER_cert(c) for c in tls["client_cert_chain"]]
    assert chain == [der(pki.cert), der(pki.ca)]   # verified, to the CA
    assert tls["client_cert_name"] == "CN=alice"
    assert tls["client_cert_error"] is None
    assert (tls["tls_version"], tls["cipher_suite"]) == (0x0303, 0xC02B)


def test_tls_optional_client_certificate(tls_scopes, key_pair, pki):
    srv, seen = tls_scopes(certfile=key_pair.cert, keyfile=key_pair.key,
                           ssl_ca_certs=pki.ca, ssl_cert_reqs="optional")
    ctx = ssl.create_default_context(cafile=str(key_pair.cert))
    ask(srv, ctx)
    ctx.load_cert_chain(str(pki.cert), str(pki.key))
    ask(srv, ctx)
    assert [len(s["tls"]["client_cert_chain"]) for s in seen] == [0, 2]
    assert [s["tls"]["client_cert_name"] for s in seen] == [None, "CN=alice"]


@needs_curl_http2
def test_tls_over_http2_with_curl(tls_scopes, key_pair, pki):
    srv, seen = tls_scopes(certfile=key_pair.cert, keyfile=key_pair.key,
                           ssl_ca_certs=pki.ca, ssl_cert_reqs="required")
    out = curl("--http2", "--cacert", str(key_pair.cert), "--cert",
               str(pki.cert), "--key", str(pki.key),
               f"https://localhost:{srv.port}/")
    assert (out.returncode, out.stdout) == (0, "2"), out.stderr
    tls = seen[0]["tls"]
    assert tls["client_cert_name"] == "CN=alice"
    assert ssl.PEM_cert_to_DER_cert(tls["server_cert"]) == der(key_pair.cert)


def test_tls_server_cert_is_the_one_the_connection_got(tls_scopes, pairs):
    """After a reload, a connection made before it still reports the
    certificate its handshake served; a new one the new certificate."""
    a, b, cert, key = pairs
    srv, seen = tls_scopes(certfile=cert, keyfile=key)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(srv.address, timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert s.recv(65536).endswith(b"1.1")
            install(b, cert, key)
            srv.reload_tls()
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n"
                      b"Connection: close\r\n\r\n")
            read_to_end(s)
    ask(srv, ctx)
    served = [ssl.PEM_cert_to_DER_cert(s["tls"]["server_cert"])
              for s in seen]
    assert served == [der(a.cert), der(a.cert), der(b.cert)]


# ---- http.response.early_hint -----------------------------------------------

PRELOAD = b"</style.css>; rel=preload; as=style"


def test_early_hint_goes_out_before_the_app_answers(serve_asgi):
    """The 103 reaches the client at once, while the app still works;
    the final response does not repeat its Link headers."""
    go_on = threading.Event()

    async def app(scope, receive, send):
        assert "http.response.early_hint" in scope["extensions"]
        await send({"type": "http.response.early_hint",
                    "links": [PRELOAD, b"</app.js>; rel=preload; as=script"]})
        while not go_on.is_set():
            await asyncio.sleep(0.005)
        await respond(send, b"page")

    srv = serve_asgi(app)
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        hint = read_until(sock, b"\r\n\r\n")
        go_on.set()
        rest = read_to_end(sock)
    assert hint.startswith(b"HTTP/1.1 103 Early Hints\r\n"), hint
    assert hint.count(b"\r\nLink: ") == 2 and PRELOAD in hint
    final = (hint + rest)[hint.index(b"\r\n\r\n") + 4:]
    assert final.startswith(b"HTTP/1.1 200 OK\r\n"), final
    assert b"Link:" not in final and final.endswith(b"\r\n\r\npage")


@needs_curl_http2
def test_early_hint_over_http2(serve_asgi, key_pair):
    async def app(scope, receive, send):
        await send({"type": "http.response.early_hint", "links": [PRELOAD]})
        await respond(send, b"page")

    srv = serve_asgi(app, certfile=key_pair.cert, keyfile=key_pair.key)
    out = curl("--http2", "--cacert", str(key_pair.cert), "-i",
               f"https://localhost:{srv.port}/")
    assert out.returncode == 0, out.stderr
    hint, final = out.stdout.split("\n\n", 1)
    assert hint.startswith("HTTP/2 103") and PRELOAD.decode() in hint, hint
    assert final.startswith("HTTP/2 200") and "link:" not in final, final
    assert final.endswith("page")


def test_early_hint_when_too_late_or_wrong(serve_asgi, http):
    """Once the final headers went, a hint is dropped (asgiref lets a
    server ignore it); HTTP/1.0 clients get none; mistakes raise."""
    outcomes = {}

    async def app(scope, receive, send):
        hint = {"type": "http.response.early_hint", "links": [PRELOAD]}
        await send({"type": "http.response.start", "status": 200})
        await send(hint)   # the start is held: still in time
        await send({"type": "http.response.body", "body": b"a",
                    "more_body": True})
        await send(hint)   # too late: dropped
        for case, message in [("nolinks", {"type": hint["type"]}),
                              ("str", {**hint, "links": ["</a>"]}),
                              ("crlf", {**hint, "links": [b"</a>\r\nX: 1"]})]:
            try:
                await send(message)
            except Exception as exc:
                outcomes[case] = exc
        await send({"type": "http.response.body", "body": b"b"})
        try:
            await send(hint)
        except Exception as exc:
            outcomes["complete"] = exc

    srv = serve_asgi(app)
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = read_to_end(sock)
    assert raw.count(b"103 Early Hints") == 1
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        raw = read_to_end(sock)
    assert raw.startswith(b"HTTP/1.0 200 OK"), raw
    assert isinstance(outcomes["nolinks"], ValueError)
    assert isinstance(outcomes["str"], TypeError)
    assert isinstance(outcomes["crlf"], ValueError)
    assert isinstance(outcomes["complete"], gohttp.StateError)


# ---- http.response.trailers -------------------------------------------------


def trailers_app(outcomes=None, send_trailers=True):
    async def app(scope, receive, send):
        assert "http.response.trailers" in scope["extensions"]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"trailer", b"x-checksum, x-count")],
                    "trailers": True})
        await send({"type": "http.response.body", "body": b"hello ",
                    "more_body": True})
        await send({"type": "http.response.body", "body": b"world"})
        if outcomes is not None:
            try:
                await send({"type": "http.response.body", "body": b"!"})
            except gohttp.StateError as exc:
                outcomes["body"] = exc
        if send_trailers:
            await send({"type": "http.response.trailers",
                        "headers": [(b"x-checksum", b"abc")],
                        "more_trailers": True})
            await send({"type": "http.response.trailers",
                        "headers": [(b"x-count", b"2")]})
    return app


def test_trailers_over_chunked_http11(serve_asgi):
    outcomes = {}
    srv = serve_asgi(trailers_app(outcomes))
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n"
                     b"Connection: close\r\n\r\n")
        raw = read_to_end(sock)
    assert b"Transfer-Encoding: chunked" in raw
    assert raw.endswith(b"\r\n0\r\nX-Checksum: abc\r\nX-Count: 2\r\n\r\n"), raw
    assert isinstance(outcomes["body"], gohttp.StateError)


def test_trailers_only_for_clients_that_take_them(serve_asgi, http):
    srv = serve_asgi(trailers_app())
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = read_to_end(sock)
    assert raw.endswith(b"hello world") and b"abc" not in raw, raw
    r = http.request("GET", srv.url + "/")   # urllib3: no TE
    assert (r.status, r.data) == (200, b"hello world")


def h2_get(srv, ca, headers=()):
    """GET / over HTTP/2 (TLS, ALPN h2) with the h2 library: (status,
    body, trailers), as it received them."""
    h2conn = pytest.importorskip("h2.connection")
    h2events = pytest.importorskip("h2.events")
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.set_alpn_protocols(["h2"])
    status, body, trailers = None, b"", {}
    with socket.create_connection(srv.address, timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            conn = h2conn.H2Connection()
            conn.initiate_connection()
            conn.send_headers(1, [(":method", "GET"), (":path", "/"),
                                  (":scheme", "https"),
                                  (":authority", "localhost"), *headers],
                              end_stream=True)
            s.sendall(conn.data_to_send())
            while True:
                data = s.recv(65536)
                assert data, "the server closed the connection"
                for event in conn.receive_data(data):
                    if isinstance(event, h2events.ResponseReceived):
                        status = dict(event.headers)[b":status"]
                    elif isinstance(event, h2events.DataReceived):
                        body += event.data
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, 1)
                    elif isinstance(event, h2events.TrailersReceived):
                        trailers = dict(event.headers)
                    elif isinstance(event, h2events.StreamEnded):
                        return status, body, trailers
                s.sendall(conn.data_to_send())


def test_trailers_over_http2(serve_asgi, key_pair):
    srv = serve_asgi(trailers_app(), certfile=key_pair.cert,
                     keyfile=key_pair.key)
    status, body, trailers = h2_get(srv, key_pair.cert, [("te", "trailers")])
    assert (status, body) == (b"200", b"hello world")
    assert trailers == {b"x-checksum": b"abc", b"x-count": b"2"}
    assert h2_get(srv, key_pair.cert)[2] == {}   # no TE: trailers


def test_trailers_mistakes(serve_asgi, asgi_errors):
    """Trailers nobody announced, or before the last body, raise; an app
    that announced them and returns without them has not completed its
    response: aborted, as any incomplete one."""
    outcomes = {}

    async def unannounced(scope, receive, send):
        trailers = {"type": "http.response.trailers", "headers": []}
        try:
            await send(trailers)
        except gohttp.StateError as exc:
            outcomes["nostart"] = exc
        await send({"type": "http.response.start", "status": 200,
                    "trailers": scope["path"] == "/early"})
        try:
            await send(trailers)
        except gohttp.StateError as exc:
            outcomes[scope["path"]] = exc
        await send({"type": "http.response.body", "body": b"ok"})
        if scope["path"] == "/early":
            await send(trailers)

    srv = serve_asgi(unannounced)
    for path in ("/plain", "/early"):
        with connect(srv.address) as sock:
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n" % path.encode())
            assert read_to_end(sock).endswith(b"\r\n\r\nok")
    assert "announced" in str(outcomes["/plain"])
    assert "before the last" in str(outcomes["/early"])
    assert isinstance(outcomes["nostart"], gohttp.StateError)

    srv = serve_asgi(trailers_app(send_trailers=False))
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
        raw = read_to_end(sock)
    # Never a complete response: a 500 if Go had not written the start
    # yet when the app returned (the body may wait in the goroutine's
    # buffer), else the body closed without the last chunk.
    assert not raw.endswith(b"0\r\n\r\n"), raw
    assert (raw.startswith(b"HTTP/1.1 500 ")
            or b"hello world" in raw), raw
