"""ASGI extensions (asgiref's extensions.rst and tls.rst), on a real
server with real clients: http.response.pathsend (Go sends the file)."""

from __future__ import annotations

import os
import socket

import pytest

import gohttp
from helpers.asgi_fixtures import (asgi_errors, client, respond,  # noqa: F401
                                   serve_asgi)
from helpers.common import connect, read_to_end
from helpers.net import curl, key_pair, needs_curl_http2  # noqa: F401

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
