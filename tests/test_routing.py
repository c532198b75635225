"""Routes: Go 1.22 ServeMux patterns, path values, 404 and 405."""

import pytest
import urllib3

import gohttp
from helpers.common import TIMEOUT


def text(body):
    """A handler that writes body."""
    def handler(w, req):
        w.write(body)
    return handler


def echo_path(w, req):
    w.write(req.path)


def echo_value(*names):
    """A handler that writes the path values of names, '|'-separated."""
    def handler(w, req):
        w.write("|".join(req.path_value(n) for n in names))
    return handler


def test_path_value(server, fetch):
    server.handle("GET /items/{id}", echo_value("id"))
    r = fetch("GET", "/items/42")
    assert (r.status, r.data) == (200, b"42")


def test_several_path_values(server, fetch):
    server.handle("GET /users/{user}/posts/{post}", echo_value("user", "post"))
    assert fetch("GET", "/users/ann/posts/7").data == b"ann|7"


def test_unknown_path_value_is_empty_like_go(server, fetch, record):
    @server.route("GET /items/{id}")
    def item(w, req):
        record((req.path_value("nope"), req.path_value(""),
                req.path_value("ID")))
    assert fetch("GET", "/items/1").status == 200
    assert record.one() == ("", "", "")


def test_path_value_needs_a_str(server, fetch):
    @server.route("GET /items/{id}")
    def item(w, req):
        try:
            req.path_value(b"id")
        except TypeError:
            w.write(b"TypeError")
    assert fetch("GET", "/items/1").data == b"TypeError"


def test_unicode_path_value_is_percent_decoded_utf8(server, fetch, record):
    @server.route("GET /greet/{name}")
    def greet(w, req):
        record((req.path_value("name"), req.path, req.url))
        w.write(req.path_value("name"))
    r = fetch("GET", "/greet/%C3%A9t%C3%A9%20%E2%98%83")
    assert r.data.decode("utf-8") == "\u00e9t\u00e9 \u2603"
    assert record.one() == ("\u00e9t\u00e9 \u2603",
                            "/greet/\u00e9t\u00e9 \u2603",
                            "/greet/%C3%A9t%C3%A9%20%E2%98%83")


def test_unicode_literal_in_pattern(server, fetch):
    server.handle("GET /caf\u00e9/{x}", echo_value("x"))
    r = fetch("GET", "/caf%C3%A9/cr%C3%A8me")
    assert (r.status, r.data.decode()) == (200, "cr\u00e8me")


def test_escaped_slash_stays_in_one_segment(server, fetch):
    server.handle("GET /files/{name}", echo_value("name"))
    r = fetch("GET", "/files/a%2Fb")
    assert (r.status, r.data) == (200, b"a/b")


def test_invalid_utf8_in_path_is_kept_with_surrogateescape(server, fetch,
                                                           record):
    @server.route("GET /raw/{x}")
    def raw_value(w, req):
        record((req.path_value("x"), req.path))
    assert fetch("GET", "/raw/%FFok").status == 200
    value, path = record.one()
    assert value == "\udcffok"
    assert value.encode("utf-8", "surrogateescape") == b"\xffok"
    assert path == "/raw/\udcffok"


def test_rest_wildcard(server, fetch):
    server.handle("GET /static/{path...}", echo_value("path"))
    r = fetch("GET", "/static/css/site/main.css")
    assert r.data == b"css/site/main.css"
    assert fetch("GET", "/static/").data == b""


def test_catch_all_pattern(server, fetch):
    server.handle("/{path...}", echo_value("path"))
    assert fetch("GET", "/").data == b""
    assert fetch("GET", "/any/thing").data == b"any/thing"
    assert fetch("DELETE", "/x").data == b"x"


def test_404(server, fetch):
    server.handle("GET /here", echo_value())
    r = fetch("GET", "/not-here")
    assert r.status == 404
    assert r.data == b"404 page not found\n"


def test_404_with_no_routes_at_all(server, fetch):
    assert fetch("GET", "/").status == 404


def test_405_with_allow(server, fetch):
    server.handle("GET /thing", echo_value())
    server.handle("PUT /thing", echo_value())
    r = fetch("POST", "/thing")
    assert r.status == 405
    allowed = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allowed == {"GET", "HEAD", "PUT"}
    assert fetch("PUT", "/thing").status == 200
    assert fetch("DELETE", "/thing").status == 405


def test_method_patterns_dispatch_by_method(server, fetch):
    server.handle("GET /r", text(b"get"))
    server.handle("POST /r", text(b"post"))
    assert fetch("GET", "/r").data == b"get"
    assert fetch("POST", "/r").data == b"post"
    r = fetch("HEAD", "/r")  # GET patterns match HEAD too
    assert (r.status, r.data) == (200, b"")


def test_subtree_pattern(server, fetch):
    server.handle("/static/", echo_path)
    assert fetch("GET", "/static/").data == b"/static/"
    assert fetch("GET", "/static/a/b.txt").data == b"/static/a/b.txt"
    r = fetch("GET", "/static", redirect=False)  # Go redirects to the subtree
    assert r.status in (301, 307, 308)
    assert r.headers["Location"] == "/static/"


def test_root_subtree_matches_everything(server, fetch):
    server.handle("/", text(b"root"))
    assert fetch("GET", "/anything/at/all").data == b"root"


def test_exact_root_with_end_marker(server, fetch):
    server.handle("/{$}", text(b"home"))
    assert fetch("GET", "/").data == b"home"
    assert fetch("GET", "/other").status == 404


def test_end_marker_after_slash(server, fetch):
    server.handle("GET /dir/{$}", text(b"dir"))
    assert fetch("GET", "/dir/").data == b"dir"
    assert fetch("GET", "/dir/x").status == 404


def test_most_specific_pattern_wins(server, fetch):
    server.handle("/", text(b"root"))
    server.handle("/items/", text(b"items"))
    server.handle("GET /items/{id}", text(b"item"))
    server.handle("GET /items/special", text(b"special"))
    assert fetch("GET", "/x").data == b"root"
    assert fetch("GET", "/items/").data == b"items"
    assert fetch("GET", "/items/3").data == b"item"
    assert fetch("GET", "/items/special").data == b"special"
    assert fetch("GET", "/items/3/more").data == b"items"


def test_host_patterns(server, fetch):
    server.handle("example.com/", text(b"example"))
    server.handle("/", text(b"default"))
    r = fetch("GET", "/", headers={"Host": "example.com"})
    assert r.data == b"example"
    assert fetch("GET", "/", headers={"Host": "other.org"}).data == b"default"
    assert fetch("GET", "/").data == b"default"


def test_route_decorator_returns_the_function(server, fetch):
    def handler(w, req):
        w.write(b"decorated")
    assert server.route("GET /d")(handler) is handler
    assert fetch("GET", "/d").data == b"decorated"


def test_callable_objects_are_handlers(server, fetch):
    class Handler:
        def __call__(self, w, req):
            w.write(b"object")

    class Resource:
        def get(self, w, req):
            w.write(b"method")

    server.handle("/obj", Handler())
    server.handle("/meth", Resource().get)
    assert fetch("GET", "/obj").data == b"object"
    assert fetch("GET", "/meth").data == b"method"


def test_routes_added_while_serving_take_effect(server, fetch):
    assert server.serving
    assert fetch("GET", "/late").status == 404
    server.handle("GET /late", text(b"late"))
    assert fetch("GET", "/late").data == b"late"
    server.handle("POST /late", text(b"late post"))
    assert fetch("POST", "/late").data == b"late post"


def test_routes_added_before_start():
    srv = gohttp.Server("127.0.0.1", 0)
    srv.handle("GET /early", text(b"early"))
    with srv:
        r = urllib3.request("GET", srv.url + "/early", retries=False,
                            timeout=TIMEOUT)
        assert r.data == b"early"


@pytest.mark.parametrize("pattern, message", [
    ("/a/{", "bad wildcard segment"),
    ("/{a}/{a}", "duplicate wildcard name"),
    ("GET /x/{rest...}/y", "not at end"),
    ("nopath", "missing /"),
    ("", "invalid pattern"),
    ("/{bad-name}", "bad wildcard name"),
    ("/x/{$}/y", "{$} not at end"),
])
def test_bad_pattern_raises_value_error_with_gos_message(server, pattern,
                                                         message):
    with pytest.raises(ValueError, match=message.replace("$", r"\$")):
        server.handle(pattern, lambda w, req: None)
    with pytest.raises(ValueError):
        server.route(pattern)(lambda w, req: None)


def test_duplicate_pattern_raises_value_error(server, fetch):
    server.handle("GET /dup", text(b"first"))
    with pytest.raises(ValueError, match="conflicts with pattern"):
        server.handle("GET /dup", text(b"second"))
    server.handle("GET /{x}", text(b"x"))
    with pytest.raises(ValueError, match="conflicts"):
        server.handle("GET /{y}", text(b"y"))  # the same requests as /{x}
    # The first registration still serves.
    assert fetch("GET", "/dup").data == b"first"


def test_bad_pattern_leaves_the_server_working(server, fetch):
    with pytest.raises(ValueError):
        server.handle("/{", lambda w, req: None)
    server.handle("/ok", text(b"ok"))
    assert fetch("GET", "/ok").data == b"ok"


@pytest.mark.parametrize("handler", [None, 42, "handler", b"x", object()])
def test_non_callable_handler_raises_type_error(server, handler):
    with pytest.raises(TypeError, match="callable"):
        server.handle("/x", handler)
    with pytest.raises(TypeError, match="callable"):
        server.route("/y")(handler)
    # Nothing was registered: the patterns are still free.
    server.handle("/x", lambda w, req: None)
    server.handle("/y", lambda w, req: None)


@pytest.mark.parametrize("pattern", [None, 5, b"/x"])
def test_non_str_pattern_raises_type_error(server, pattern):
    with pytest.raises(TypeError):
        server.route(pattern)
    with pytest.raises(TypeError):
        server.handle(pattern, lambda w, req: None)


def test_route_used_without_parentheses_explains(server):
    with pytest.raises(TypeError, match="route"):
        @server.route
        def oops(w, req):
            pass
