"""Mounts: WSGI apps under prefixes, beside native routes, on one server."""

import json
import wsgiref.util

import pytest
import urllib3

import gohttp
from support import connect, read_until

pytest_plugins = ["wsgi_fixtures"]  # serve_app, wsgi_errors

pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")


def where_app(tag):
    """Answers its tag, SCRIPT_NAME, PATH_INFO and the URL wsgiref
    rebuilds from the environ, as JSON."""
    def app(environ, start_response):
        body = json.dumps({
            "app": tag,
            "script_name": environ["SCRIPT_NAME"],
            "path_info": environ["PATH_INFO"],
            "url": wsgiref.util.request_uri(environ),
            "app_url": wsgiref.util.application_uri(environ),
        }).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    return app


@pytest.fixture
def mounted(make_server):
    server = make_server()
    server.mount_wsgi("/", where_app("root"))
    server.mount_wsgi("/api", where_app("api"))
    server.mount_wsgi("/api/v2/", where_app("v2"))  # the slash is dropped

    @server.route("GET /health")
    def health(w, req):
        w.write(b"native")

    return server


def where(server, path):
    r = urllib3.request("GET", server.url + path, redirect=False)
    assert r.status == 200, (path, r.status, r.data)
    return json.loads(r.data)


@pytest.mark.parametrize("path, app, script_name, path_info", [
    ("/", "root", "", "/"),
    ("/page", "root", "", "/page"),
    ("/apix", "root", "", "/apix"),       # not under /api: a prefix of a name
    ("/api", "api", "/api", ""),
    ("/api/", "api", "/api", "/"),
    ("/api/users/7", "api", "/api", "/users/7"),
    ("/api/v2", "v2", "/api/v2", ""),
    ("/api/v2/items", "v2", "/api/v2", "/items"),
    ("/api/v20", "api", "/api", "/v20"),
    ("/api/caf%C3%A9", "api", "/api", "/caf\u00c3\u00a9"),
])
def test_script_name_and_path_info(mounted, path, app, script_name,
                                   path_info):
    seen = where(mounted, path)
    assert (seen["app"], seen["script_name"], seen["path_info"]) == (
        app, script_name, path_info)
    # SCRIPT_NAME + PATH_INFO is the whole path again.
    assert seen["url"] == mounted.url + path
    assert seen["app_url"] == mounted.url + (script_name or "/")


def test_native_routes_live_beside_mounts(mounted):
    assert urllib3.request("GET", mounted.url + "/health").data == b"native"
    # A method the native route does not take falls to the WSGI root.
    r = urllib3.request("POST", mounted.url + "/health")
    assert json.loads(r.data)["app"] == "root"


def test_query_strings_pass_through_mounts(mounted):
    with connect(mounted.address) as sock:
        sock.sendall(b"GET /api/q?a=1&b=%20 HTTP/1.1\r\nHost: h\r\n\r\n")
        reply = read_until(sock, b"}")
    assert b'"url": "http://h/api/q?a=1&b=%20"' in reply


def test_a_mount_without_a_root_app_leaves_404(make_server):
    server = make_server()
    server.mount_wsgi("/only", where_app("only"))
    assert urllib3.request("GET", server.url + "/other").status == 404
    assert where(server, "/only/x")["path_info"] == "/x"


def test_serve_wsgi_is_exported():
    assert gohttp.serve_wsgi is gohttp.wsgi.serve_wsgi
    assert "serve_wsgi" in gohttp.__all__


@pytest.mark.parametrize("prefix, error, message", [
    ("api", ValueError, "must start with '/'"),
    ("", ValueError, "must start with '/'"),
    (b"/api", TypeError, "must be a str"),
    ("/api/{id}", ValueError, "literal path"),
    ("/a b", ValueError, "literal path"),
    ("/a%20b", ValueError, "literal path"),
    ("/a//b", ValueError, "not a clean path"),
    ("/a/../b", ValueError, "not a clean path"),
])
def test_bad_prefixes(server, prefix, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        server.mount_wsgi(prefix, where_app("x"))


def test_mounting_twice_at_one_prefix_is_refused(server):
    server.mount_wsgi("/twice", where_app("a"))
    with pytest.raises(ValueError):
        server.mount_wsgi("/twice", where_app("b"))


def test_mount_while_serving(server):
    assert urllib3.request("GET", server.url + "/late").status == 404
    server.mount_wsgi("/late", where_app("late"))
    assert where(server, "/late")["app"] == "late"


def test_the_app_is_named_in_the_handler(make_server):
    server = make_server()
    server.mount_wsgi("/named", where_app("x"), name="my.module:app")
    from gohttp.wsgi import WSGIHandler
    handler = WSGIHandler(where_app("x"), script_name="/named",
                          name="my.module:app")
    assert repr(handler) == "<gohttp WSGI app my.module:app at '/named'>"
