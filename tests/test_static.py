"""Static files served by Go alone: srv.static(prefix, directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import gohttp
from helpers.common import TIMEOUT, Recorder, exchange
from helpers.net import curl, needs_curl

SECRET = b"TOP-SECRET-CONTENT"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """tmp_path/public (to serve) beside tmp_path/secret.txt (not)."""
    public = tmp_path / "public"
    (public / "css").mkdir(parents=True)
    (public / "docs").mkdir()
    (public / "bare").mkdir()
    (public / "css" / "app.css").write_text("body { color: red }\n")
    (public / "app.js").write_text("console.log(1)\n")
    (public / "data.json").write_text('{"a": 1}\n')
    (public / "hello.txt").write_bytes(b"0123456789abcdef")
    (public / "docs" / "index.html").write_text("<h1>docs</h1>\n")
    (public / "bare" / "note.txt").write_text("note\n")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (public / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (public / "up").symlink_to(tmp_path)
    return public


@pytest.fixture
def static_server(make_server, site):
    """A server with site served under /static/ and a Python catch-all
    that records every request that reaches Python."""
    srv = make_server()
    reached = Recorder()

    @srv.route("/")
    def catch_all(w, req):
        reached(req.path)
        w.write_header(418)

    srv.static("/static/", site)
    srv.reached = reached
    return srv


def get(http, srv, path, **kw):
    return http.request("GET", srv.url + path, redirect=False, **kw)


def test_files_are_served_with_their_content_type(static_server, http):
    for path, body, ctype in [
        ("/static/css/app.css", b"body { color: red }\n", "text/css"),
        ("/static/app.js", b"console.log(1)\n", "text/javascript"),
        ("/static/data.json", b'{"a": 1}\n', "application/json"),
        ("/static/hello.txt", b"0123456789abcdef", "text/plain"),
        ("/static/docs/", b"<h1>docs</h1>\n", "text/html"),
    ]:
        r = get(http, static_server, path)
        assert (r.status, r.data) == (200, body), path
        assert r.headers["Content-Type"].startswith(ctype), path
        assert r.headers["Content-Length"] == str(len(body))
    assert static_server.reached.values == []  # no Python for any of them


def test_head_has_the_headers_and_no_body(static_server, http):
    r = http.request("HEAD", static_server.url + "/static/hello.txt")
    assert r.status == 200 and r.data == b""
    assert r.headers["Content-Length"] == "16"


def test_other_methods_get_405(make_server, http, site):
    srv = make_server()
    srv.static("/static/", site)
    r = http.request("POST", srv.url + "/static/hello.txt")
    assert r.status == 405
    assert "GET" in r.headers["Allow"]


def test_range_requests(static_server, http):
    r = get(http, static_server, "/static/hello.txt",
            headers={"Range": "bytes=2-5"})
    assert (r.status, r.data) == (206, b"2345")
    assert r.headers["Content-Range"] == "bytes 2-5/16"
    r = get(http, static_server, "/static/hello.txt",
            headers={"Range": "bytes=-3"})
    assert (r.status, r.data) == (206, b"def")
    r = get(http, static_server, "/static/hello.txt",
            headers={"Range": "bytes=100-"})
    assert r.status == 416


def test_conditional_requests_get_304(static_server, http, site):
    r = get(http, static_server, "/static/hello.txt")
    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    assert etag.startswith('"') and modified
    assert get(http, static_server, "/static/hello.txt",
               headers={"If-None-Match": etag}).status == 304
    assert get(http, static_server, "/static/hello.txt",
               headers={"If-Modified-Since": modified}).status == 304
    assert get(http, static_server, "/static/hello.txt",
               headers={"If-None-Match": '"other"'}).status == 200
    # A changed file has another ETag.
    (site / "hello.txt").write_bytes(b"changed, and longer")
    r = get(http, static_server, "/static/hello.txt",
            headers={"If-None-Match": etag})
    assert (r.status, r.data) == (200, b"changed, and longer")
    assert r.headers["ETag"] != etag


TRAVERSALS = [
    b"/static/../secret.txt",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E/secret.txt",
    b"/static/%2e%2e%2fsecret.txt",
    b"/static/..%2fsecret.txt",
    b"/static/..%2Fsecret.txt",
    b"/static/.%2e/secret.txt",
    b"/static/css/../../secret.txt",
    b"/static/css/%2e%2e/%2e%2e/secret.txt",
    b"/static/..%5csecret.txt",
    b"/static/..\\secret.txt",
    b"/static//../secret.txt",
    b"/static/%252e%252e/secret.txt",
    b"/static/escape.txt",        # a symbolic link pointing out
    b"/static/up/secret.txt",     # through a linked directory
    b"/static/up/",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t.decode())
def test_no_path_leads_outside_the_directory(static_server, target):
    # A raw socket, since clients clean ".." out of URLs themselves.
    reply = exchange(static_server.address, b"GET " + target
                     + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert SECRET not in reply
    status = int(reply.split(b" ", 2)[1])
    # 404 or 400 from Go; a redirect where the ServeMux cleans the path,
    # which then leads to the Python catch-all (418) outside /static/.
    assert status in (301, 307, 308, 400, 404, 418), reply[:200]


def test_no_directory_listing_unless_asked(make_server, http, site):
    srv = make_server()
    srv.static("/quiet/", site)
    srv.static("/loud/", site, listing=True)
    assert get(http, srv, "/quiet/").status == 404
    assert get(http, srv, "/quiet/bare/").status == 404
    assert get(http, srv, "/quiet/bare/note.txt").status == 200
    r = get(http, srv, "/loud/bare/")
    assert r.status == 200 and b"note.txt" in r.data
    # A directory with an index.html is served by it either way.
    assert get(http, srv, "/quiet/docs/").data == b"<h1>docs</h1>\n"
    # A directory without its slash is redirected to it.
    r = get(http, srv, "/quiet/docs")
    assert r.status == 301 and r.headers["Location"] == "docs/"


def test_missing_directory_raises_at_registration(make_server, tmp_path):
    srv = make_server()
    with pytest.raises(FileNotFoundError, match="missing"):
        srv.static("/s/", tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        srv.static("/s/", tmp_path / "file")
    # before start too
    with pytest.raises(FileNotFoundError):
        gohttp.Server("127.0.0.1", 0).static("/s/", str(tmp_path / "nope"))


@pytest.mark.parametrize("prefix", ["static/", "/{x}/", "GET /s/", "/a//b/",
                                    "/a/../b/"])
def test_bad_prefixes(make_server, site, prefix):
    with pytest.raises(ValueError, match="prefix"):
        make_server().static(prefix, site)


def test_prefix_without_slash_means_the_subtree(make_server, http, site):
    srv = make_server()
    srv.static("/assets", site)
    assert get(http, srv, "/assets/hello.txt").data == b"0123456789abcdef"


def test_prefix_conflicting_with_a_route(make_server, site):
    srv = make_server()
    srv.handle("GET /static/", lambda w, req: None)
    with pytest.raises(ValueError, match="conflicts"):
        srv.static("/static/", site)


def test_more_specific_python_route_wins(static_server, http):
    @static_server.route("GET /static/dynamic")
    def dynamic(w, req):
        w.write(b"from python")

    assert get(http, static_server, "/static/dynamic").data == b"from python"
    assert get(http, static_server, "/static/hello.txt").status == 200


def test_static_at_the_root(make_server, http, site):
    srv = make_server()
    srv.static("/", site)
    assert get(http, srv, "/hello.txt").data == b"0123456789abcdef"
    assert get(http, srv, "/docs/").data == b"<h1>docs</h1>\n"


def test_directory_is_fixed_at_registration(make_server, http, site,
                                            monkeypatch):
    srv = make_server()
    monkeypatch.chdir(site.parent)
    srv.static("/rel/", "public")
    monkeypatch.chdir(site / "css")
    assert get(http, srv, "/rel/hello.txt").status == 200


@needs_curl
def test_curl_resumes_a_download(static_server, tmp_path):
    out = tmp_path / "hello.txt"
    out.write_bytes(b"0123")  # a partial earlier download
    proc = curl("--continue-at", "-", "--output", str(out),
                static_server.url + "/static/hello.txt")
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == b"0123456789abcdef"


def test_large_file(make_server, http, tmp_path):
    big = os.urandom(5 << 20)
    (tmp_path / "big.bin").write_bytes(big)
    srv = make_server()
    srv.static("/files/", tmp_path)
    r = http.request("GET", srv.url + "/files/big.bin",
                     timeout=TIMEOUT)
    assert r.status == 200 and r.data == big
    assert r.headers["Content-Type"] == "application/octet-stream"
