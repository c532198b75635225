"""Flask, Django and Falcon apps served for real (tests/wsgi_apps/).

Each test skips when its framework is not installed
(tests/requirements.txt lists them).  The apps run inside wsgiref's
validator, with its warnings turned into errors.
"""

import hashlib
import json
import logging
import os

import pytest
import urllib3

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app, wsgi_errors

pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")


def get_json(server, path, **kw):
    r = urllib3.request(kw.pop("method", "GET"), server.url + path,
                        retries=False, **kw)
    assert r.status == 200, (r.status, r.data[:500])
    return json.loads(r.data)


# ---- Flask --------------------------------------------------------------------

@pytest.fixture
def flask_app():
    pytest.importorskip("flask")
    from wsgi_apps.flask_app import app
    return app


@pytest.mark.parametrize("prefix", ["/", "/flask"])
def test_flask_routes_and_url_building(serve_app, flask_app, prefix):
    server = serve_app(flask_app, prefix)
    root = prefix.rstrip("/")
    r = urllib3.request("GET", f"{server.url}{root}/hello/world")
    assert (r.status, r.data) == (200, b"Hello, world!")
    seen = get_json(server, f"{root}/where?a=1&a=2&b=%C3%A9")
    assert seen["script_root"] == root
    assert seen["path"] == "/where"
    assert seen["url"] == f"{server.url}{root}/where?a=1&a=2&b=\u00e9"  # an IRI
    assert seen["url_for"] == f"{root}/hello/x"
    assert seen["args"] == {"a": ["1", "2"], "b": ["\u00e9"]}


def test_flask_json_post(serve_app, flask_app):
    # Unvalidated: Werkzeug reads the JSON body with wsgi.input.read(),
    # which PEP 3333 allows and wsgiref's validator does not.
    server = serve_app(flask_app, validate=False)
    seen = get_json(server, "/json", method="POST",
                    json={"name": "gohttp", "n": [1, 2, 3]})
    assert seen["got"] == {"name": "gohttp", "n": [1, 2, 3]}
    assert seen["length"] == len(b'{"name":"gohttp","n":[1,2,3]}')


def test_flask_multipart_upload(serve_app, flask_app):
    server = serve_app(flask_app)
    data = os.urandom(3 * 1024 * 1024)
    seen = get_json(server, "/upload", method="POST", fields={
        "field": "value", "file": ("blob.bin", data,
                                   "application/octet-stream")})
    assert seen == {"name": "blob.bin", "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "field": "value"}


def test_flask_streaming(serve_app, flask_app):
    server = serve_app(flask_app)
    r = urllib3.request("GET", server.url + "/stream/1000")
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert r.data == b"".join(b"line %d\n" % i for i in range(1000))


def test_flask_redirect_404_and_cookies(serve_app, flask_app):
    server = serve_app(flask_app, "/f")
    r = urllib3.request("GET", server.url + "/f/redirect", redirect=False)
    assert r.status == 302
    assert r.headers["Location"] == "/f/hello/redirected"
    assert urllib3.request("GET", server.url + "/f/nope").status == 404
    r = urllib3.request("GET", server.url + "/f/cookies",
                        headers={"Cookie": "x=1; y=2"})
    assert json.loads(r.data) == {"x": "1", "y": "2"}
    assert [c.split(";")[0] for c in r.headers.getlist("Set-Cookie")] == [
        "first=1", "second=2"]


def test_flask_error_page(serve_app, flask_app, wsgi_errors, caplog):
    server = serve_app(flask_app)
    with caplog.at_level(logging.CRITICAL, logger="wsgi_apps.flask_app"):
        r = urllib3.request("GET", server.url + "/boom")
    assert r.status == 500  # Flask's own error page, not gohttp's
    assert b"<h1>Internal Server Error</h1>" in r.data
    assert wsgi_errors() == []  # Flask handled it


# ---- Django -------------------------------------------------------------------

@pytest.fixture
def django_app():
    pytest.importorskip("django")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE",
                          "wsgi_apps.django_site.settings")
    from wsgi_apps.django_site.wsgi import application
    return application


@pytest.mark.parametrize("prefix", ["/", "/dj"])
def test_django_routes_and_reverse(serve_app, django_app, prefix):
    server = serve_app(django_app, prefix)
    root = prefix.rstrip("/")
    r = urllib3.request("GET", f"{server.url}{root}/hello/world/")
    assert (r.status, r.data) == (200, b"Hello, world!")
    assert r.headers["Content-Length"] == "13"
    seen = get_json(server, f"{root}/where/?a=1&a=2&b=%C3%A9")
    assert seen["script_name"] == root
    assert seen["path"] == f"{root}/where/"
    assert seen["path_info"] == "/where/"
    assert seen["reverse"] == f"{root}/hello/x/"
    assert seen["absolute"] == f"{server.url}{root}/where/?a=1&a=2&b=%C3%A9"
    assert seen["get"] == {"a": ["1", "2"], "b": ["\u00e9"]}
    assert seen["remote_addr"] == "127.0.0.1"


def test_django_append_slash_redirect(serve_app, django_app):
    server = serve_app(django_app, "/dj")
    r = urllib3.request("GET", server.url + "/dj/where", redirect=False)
    assert r.status == 301
    assert r.headers["Location"] == "/dj/where/"


def test_django_post_body(serve_app, django_app):
    server = serve_app(django_app)
    data = os.urandom(2 * 1024 * 1024)
    seen = get_json(server, "/echo/", method="POST", body=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert seen == {"method": "POST", "length": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "content_type": "application/octet-stream"}


def test_django_multipart_upload(serve_app, django_app):
    """A 5 MiB file: Django streams it to a temporary file through
    wsgi.input, in pieces."""
    server = serve_app(django_app)
    data = os.urandom(5 * 1024 * 1024)
    seen = get_json(server, "/upload/", method="POST", fields={
        "field": "value", "file": ("big.bin", data,
                                   "application/octet-stream")})
    assert seen == {"name": "big.bin", "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "field": "value"}


def test_django_streaming_response(serve_app, django_app):
    server = serve_app(django_app)
    r = urllib3.request("GET", server.url + "/stream/500/")
    assert r.status == 200
    assert r.data == b"".join(b"line %d\n" % i for i in range(500))


def test_django_file_response_uses_file_wrapper(serve_app, django_app,
                                                tmp_path):
    data = os.urandom(1024 * 1024 + 3)
    path = tmp_path / "report.bin"
    path.write_bytes(data)
    # Unvalidated, so that Django's FileWrapper reaches gohttp as such.
    server = serve_app(django_app, validate=False)
    r = urllib3.request("GET", server.url + "/download/",
                        fields={"path": str(path)})
    assert r.status == 200
    assert r.data == data
    assert r.headers["Content-Length"] == str(len(data))
    assert 'filename="report.bin"' in r.headers["Content-Disposition"]


def test_django_404_and_bad_host(serve_app, django_app, caplog):
    server = serve_app(django_app)
    with caplog.at_level(logging.CRITICAL, logger="django"):
        assert urllib3.request("GET", server.url + "/nope/").status == 404
        r = urllib3.request("GET", server.url + "/where/",
                            headers={"Host": "evil.example"})
    assert r.status == 400  # DisallowedHost: HTTP_HOST reached Django


# ---- Falcon -------------------------------------------------------------------

@pytest.fixture
def falcon_app():
    pytest.importorskip("falcon")
    from wsgi_apps.falcon_app import app
    return app


@pytest.mark.parametrize("prefix", ["/", "/falcon"])
def test_falcon_routes(serve_app, falcon_app, prefix):
    server = serve_app(falcon_app, prefix)
    root = prefix.rstrip("/")
    seen = get_json(server, f"{root}/hello/world?x=1")
    assert seen == {"hello": "world", "path": "/hello/world",
                    "root_path": root,
                    "uri": f"{server.url}{root}/hello/world?x=1",
                    "params": {"x": "1"}, "remote_addr": "127.0.0.1"}


def test_falcon_echo_body(serve_app, falcon_app):
    server = serve_app(falcon_app)
    data = os.urandom(1024 * 1024)
    r = urllib3.request("POST", server.url + "/echo", body=data,
                        headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200
    assert r.data == data


def test_falcon_streaming_and_errors(serve_app, falcon_app):
    server = serve_app(falcon_app)
    r = urllib3.request("GET", server.url + "/lines/300")
    assert r.data == b"".join(b"line %d\n" % i for i in range(300))
    r = urllib3.request("GET", server.url + "/missing")
    assert r.status == 404
    assert json.loads(r.data)["title"] == "nothing here"
    assert urllib3.request("DELETE", server.url + "/echo").status == 405
