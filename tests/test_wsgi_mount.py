"""Mounts: WSGI apps under prefixes, beside native routes, on one server."""

import json
import wsgiref.util

import pytest
import urllib3

import gohttp
from helpers.common import connect, read_until
from helpers.wsgi import error_text

pytest_plugins = ["helpers.wsgi_fixtures"]  # serve_app, wsgi_errors

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


def test_mount_returns_the_route_that_names_the_app(server):
    app = where_app("x")
    route = gohttp.wsgi.mount(server, "/named/", app, name="my.module:app")
    assert isinstance(route, gohttp.wsgi.WSGIApp)
    assert (route.app, route.name, route.script_name) == (
        app, "my.module:app", "/named")
    assert repr(route) == "<gohttp WSGI app my.module:app at '/named'>"
    assert where(server, "/named/x")["path_info"] == "/x"
    root = gohttp.wsgi.mount(server, "/", app)
    assert root.name == f"{__name__}:where_app.<locals>.app"
    assert repr(root) == f"<gohttp WSGI app {root.name} at '/'>"


def test_an_app_that_is_not_callable_is_refused(server):
    with pytest.raises(TypeError, match="must be callable app\\(environ"):
        server.mount_wsgi("/", "myproject.wsgi:application")


def test_the_route_is_not_called_from_python(server):
    route = gohttp.wsgi.mount(server, "/r", where_app("r"))
    with pytest.raises(TypeError, match="run by the server it is mounted"):
        route(None, None)


def test_mount_takes_no_access_log(server):
    # The access log is the server's, written by Go for every route.
    with pytest.raises(TypeError, match="access_log"):
        gohttp.wsgi.mount(server, "/", where_app("x"), access_log=True)


def route_args(**changes):
    """WSGIApp's arguments as mount() gives them, with changes."""
    from gohttp import wsgi
    args = dict(
        app=where_app("direct"), name="direct", script_name="",
        environ_base=dict, response=wsgi._Response,
        start_response=wsgi._Response.start_response,
        write=wsgi._Response.write, send=wsgi._send,
        input_type=wsgi.InputStream, empty_input=wsgi.empty_input,
        client_disconnected=wsgi.ClientDisconnected)
    args.update(changes)
    return args


@pytest.mark.parametrize("changes, message", [
    ({"app": None}, "app must be callable"),
    ({"response": "x"}, "response must be callable"),
    ({"start_response": 1}, "start_response must be callable"),
    ({"write": None}, "write must be callable"),
    ({"send": None}, "send must be callable"),
    ({"environ_base": {}}, "environ_base must be callable"),
    ({"input_type": None}, "input_type must be callable"),
    ({"client_disconnected": ValueError()}, "must be an exception class"),
    ({"name": b"x"}, "must be str"),
    ({"script_name": None}, "must be str"),
])
def test_the_route_checks_what_it_is_given(changes, message):
    with pytest.raises(TypeError, match=message):
        gohttp.wsgi.WSGIApp(**route_args(**changes))


def test_a_route_made_by_hand_serves(server):
    server.handle("/", gohttp.wsgi.WSGIApp(**route_args()))
    assert where(server, "/a")["path_info"] == "/a"


def test_an_environ_base_that_is_not_a_dict_is_a_500(server, wsgi_errors):
    server.handle("/", gohttp.wsgi.WSGIApp(
        **route_args(environ_base=lambda: [("SERVER_NAME", "x")])))
    assert urllib3.request("GET", server.url + "/").status == 500
    [record] = wsgi_errors()
    assert "environ_base() must return a dict, not list" in error_text(record)
