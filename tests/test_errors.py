"""What goes wrong: handlers that raise, objects used too late, bad input."""

import logging
import threading
import warnings

import pytest
import urllib3

import gohttp
from helpers.common import TIMEOUT, connect, outcome, read_to_end


def gohttp_errors(caplog):
    return [r for r in caplog.records
            if r.name == "gohttp.error" and r.levelno >= logging.ERROR]


def test_handler_exception_gives_500_without_traceback(server, fetch,
                                                       caplog):
    @server.route("/boom")
    def boom(w, req):
        w.header.set("X-Not-Sent", "1")
        raise ValueError("secret detail 7f3a")

    with caplog.at_level(logging.ERROR, logger="gohttp"):
        r = fetch("GET", "/boom")
    assert r.status == 500
    body = r.data.decode()
    assert "Traceback" not in body
    assert "secret detail" not in body
    assert "ValueError" not in body
    assert "X-Not-Sent" not in r.headers

    [rec] = gohttp_errors(caplog)
    assert rec.exc_info is not None
    assert rec.exc_info[0] is ValueError
    assert str(rec.exc_info[1]) == "secret detail 7f3a"
    assert "boom" in rec.getMessage()
    assert "/boom" in rec.getMessage()
    text = caplog.text
    assert "Traceback (most recent call last)" in text
    assert "secret detail 7f3a" in text
    assert 'raise ValueError("secret detail 7f3a")' in text


def test_server_keeps_serving_after_handler_exceptions(server, fetch,
                                                       caplog):
    server.handle("/boom", lambda w, req: 1 / 0)

    @server.route("/ok")
    def ok(w, req):
        w.write(b"ok")

    with caplog.at_level(logging.ERROR, logger="gohttp"):
        for _ in range(20):
            assert fetch("GET", "/boom").status == 500
            assert fetch("GET", "/ok").data == b"ok"
    errors = gohttp_errors(caplog)
    assert len(errors) == 20
    assert all(r.exc_info[0] is ZeroDivisionError for r in errors)


def test_exception_after_write_header_before_anything_went_out(server,
                                                               fetch):
    """A small response waits in the process until the handler returns
    (ext/response.c holds it back): nothing had gone out, so an exception
    after write_header and write still gives a clean 500, and none of the
    partial response."""
    @server.route("/half")
    def half(w, req):
        w.header.set("X-Partial", "1")
        w.write_header(200)
        w.write(b"partial")
        raise RuntimeError("after writing")

    r = fetch("GET", "/half")
    assert r.status == 500
    assert b"partial" not in r.data
    assert "X-Partial" not in r.headers


def test_exception_after_a_write_too_large_to_hold_aborts(server, fetch):
    """A write larger than what can be held back goes to Go at once: the
    response has started, so the connection is cut rather than the
    response passed off as complete."""
    @server.route("/half")
    def half(w, req):
        w.write_header(200)
        w.write(b"x" * 100_000)
        raise RuntimeError("after writing")

    with pytest.raises(urllib3.exceptions.ProtocolError):
        fetch("GET", "/half")


def test_exception_after_flush_aborts_the_connection(server, http, caplog):
    @server.route("/half")
    def half(w, req):
        w.write(b"partial body")
        w.flush()
        raise RuntimeError("too late for a 500")

    @server.route("/ok")
    def ok(w, req):
        w.write(b"ok")

    with caplog.at_level(logging.ERROR, logger="gohttp"):
        r = http.request("GET", server.url + "/half", preload_content=False)
        assert r.status == 200  # the status was out before the error
        with pytest.raises(urllib3.exceptions.ProtocolError):
            r.read()
        r.release_conn()
    [rec] = gohttp_errors(caplog)
    assert rec.exc_info[0] is RuntimeError
    assert http.request("GET", server.url + "/ok").data == b"ok"


def test_exception_after_flush_over_a_raw_socket(server):
    @server.route("/half")
    def half(w, req):
        w.write(b"partial")
        w.flush()
        raise RuntimeError("too late")

    with connect(server.address) as sock:
        sock.sendall(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = read_to_end(sock)  # the server closes: the reply ends
    assert reply.startswith(b"HTTP/1.1 200 OK")
    assert b"partial" in reply
    assert not reply.endswith(b"0\r\n\r\n")  # no final chunk: incomplete


@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt,
                                      GeneratorExit])
def test_base_exceptions_in_handlers_give_500_too(server, fetch, caplog,
                                                  exc_type):
    @server.route("/base")
    def base(w, req):
        raise exc_type()

    with caplog.at_level(logging.ERROR, logger="gohttp"):
        assert fetch("GET", "/base").status == 500
    [rec] = gohttp_errors(caplog)
    assert rec.exc_info[0] is exc_type
    assert server.serving


def test_exception_with_a_broken_str_is_still_handled(server, fetch, caplog):
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("cannot print me")

    @server.route("/odd")
    def odd(w, req):
        raise Unprintable()

    server.handle("/ok", lambda w, req: None)
    with caplog.at_level(logging.ERROR, logger="gohttp"):
        assert fetch("GET", "/odd").status == 500
    assert fetch("GET", "/ok").status == 200


def test_handler_with_wrong_signature_gives_500(server, fetch, caplog):
    server.handle("/nargs", lambda w: None)
    with caplog.at_level(logging.ERROR, logger="gohttp"):
        assert fetch("GET", "/nargs").status == 500
    [rec] = gohttp_errors(caplog)
    assert rec.exc_info[0] is TypeError


def test_response_writer_after_return_raises(server, fetch):
    kept = []

    @server.route("/keep")
    def keep(w, req):
        kept.append(w)
        w.write(b"kept")

    assert fetch("GET", "/keep").data == b"kept"
    [w] = kept
    for use in (lambda: w.write(b"late"), lambda: w.write(""),
                lambda: w.write_header(200), lambda: w.set_status(500),
                lambda: w.flush(), lambda: w.header):
        with pytest.raises(gohttp.RequestFinishedError, match="finished"):
            use()
    assert repr(w) == "<gohttp.ResponseWriter (finished)>"


def test_response_writer_after_return_without_any_use(server, fetch):
    kept = []
    server.handle("/keep", lambda w, req: kept.append(w))
    fetch("GET", "/keep")
    with pytest.raises(gohttp.RequestFinishedError):
        kept[0].write(b"x")
    with pytest.raises(gohttp.RequestFinishedError):
        kept[0].header


def test_response_writers_kept_past_a_burst_raise(make_server):
    """More requests at once than a server keeps calls for (64): the
    calls let go after the burst name no request any more, so writers and
    requests kept past their handlers raise RequestFinishedError whichever
    call they had, and the server goes on serving."""
    n = 80
    server = make_server(max_handlers=n)
    together = threading.Barrier(n, timeout=TIMEOUT)
    kept = []

    @server.route("/keep")
    def keep(w, req):
        kept.append((w, req))
        together.wait()   # all n calls in use at once
        w.write(b"kept")

    socks = [connect(server.address) for _ in range(n)]
    try:
        for sock in socks:
            sock.sendall(b"GET /keep HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
        for sock in socks:
            assert read_to_end(sock).endswith(b"\r\n\r\nkept")
    finally:
        for sock in socks:
            sock.close()
    assert len(kept) == n
    for w, req in kept:
        with pytest.raises(gohttp.RequestFinishedError):
            w.write(b"late")
        with pytest.raises(gohttp.RequestFinishedError):
            req.read()

    @server.route("/after")
    def after(w, req):
        w.write(b"after")

    pool = urllib3.PoolManager(retries=False, timeout=TIMEOUT)
    assert pool.request("GET", server.url + "/after").data == b"after"
    pool.clear()


def test_request_after_return_raises(server, fetch):
    kept = []

    @server.route("POST /keep/{id}")
    def keep(w, req):
        kept.append(req)

    fetch("POST", "/keep/1?q=2", body=b"body")
    [req] = kept
    for name in ("method", "url", "path", "query", "host", "proto",
                 "remote_addr", "headers", "content_length", "body"):
        with pytest.raises(gohttp.RequestFinishedError, match="finished"):
            getattr(req, name)
    with pytest.raises(gohttp.RequestFinishedError):
        req.read()
    with pytest.raises(gohttp.RequestFinishedError):
        req.read(10)
    with pytest.raises(gohttp.RequestFinishedError):
        req.path_value("id")
    assert repr(req) == "<gohttp.Request (finished)>"


def test_request_after_return_raises_even_for_what_was_read(server, fetch):
    """Request is documented as valid only until its handler returns, with
    every attribute raising afterwards; that holds for the attributes the
    handler already read too."""
    kept = []

    @server.route("POST /keep")
    def keep(w, req):
        req.headers
        req.body
        req.method
        kept.append(req)

    fetch("POST", "/keep", body=b"body")
    [req] = kept
    for name in ("method", "headers", "body"):
        with pytest.raises(gohttp.RequestFinishedError):
            getattr(req, name)


def test_objects_kept_from_many_requests_all_refuse(server, fetch):
    kept = []
    server.handle("/k", lambda w, req: kept.append((w, req)))
    for _ in range(50):
        fetch("GET", "/k")
    # A call slot is reused by later requests: old objects must not reach
    # the newer requests that use it.
    for w, req in kept:
        with pytest.raises(gohttp.RequestFinishedError):
            w.write(b"stale")
        with pytest.raises(gohttp.RequestFinishedError):
            req.method


def test_stale_writer_cannot_write_into_a_later_response(server, http,
                                                         record):
    kept = []
    second_running = threading.Event()
    go_on = threading.Event()

    @server.route("/first")
    def first(w, req):
        kept.append(w)

    @server.route("/second")
    def second(w, req):
        second_running.set()
        record(go_on.wait(TIMEOUT))
        w.write(b"second's own body")

    http.request("GET", server.url + "/first")
    result = []
    t = threading.Thread(target=lambda: result.append(
        http.request("GET", server.url + "/second").data))
    t.start()
    assert second_running.wait(TIMEOUT)
    stale = outcome(lambda: kept[0].write(b"INJECTED"))
    go_on.set()
    t.join(TIMEOUT)
    assert isinstance(stale, gohttp.RequestFinishedError)
    assert result == [b"second's own body"]


def test_handler_threads_using_w_after_return(server, fetch, record):
    """A thread the handler started that outlives it gets
    RequestFinishedError."""
    started = threading.Event()
    returned = threading.Event()
    done = threading.Event()

    @server.route("/bg")
    def bg(w, req):
        def later():
            started.set()
            returned.wait(TIMEOUT)
            record(outcome(lambda: w.write(b"late")))
            record(outcome(lambda: req.path))
            done.set()
        threading.Thread(target=later).start()
        started.wait(TIMEOUT)
        w.write(b"on time")

    assert fetch("GET", "/bg").data == b"on time"
    returned.set()
    assert done.wait(TIMEOUT)
    assert [type(v) for v in record.values] == [
        gohttp.RequestFinishedError, gohttp.RequestFinishedError]


def test_request_and_response_writer_cannot_be_made(server):
    with pytest.raises(TypeError):
        gohttp.Request()
    with pytest.raises(TypeError):
        gohttp.ResponseWriter()
    with pytest.raises(TypeError):
        gohttp.Request.__new__(gohttp.Request)
    with pytest.raises(TypeError):
        gohttp.ResponseWriter.__new__(gohttp.ResponseWriter)


def test_types_cannot_be_subclassed_or_patched():
    with pytest.raises(TypeError):
        type("MyRequest", (gohttp.Request,), {})
    with pytest.raises(TypeError):
        gohttp.Request.method = None
    with pytest.raises(TypeError):
        gohttp.ResponseWriter.write = None


def test_handlers_get_the_documented_types(server, fetch, record):
    server.handle("/t", lambda w, req: record((type(w), type(req))))
    fetch("GET", "/t")
    assert record.one() == (gohttp.ResponseWriter, gohttp.Request)


def test_malformed_request_gets_400_and_server_keeps_serving(server, raw,
                                                              fetch):
    server.handle("/ok", lambda w, req: None)
    reply = raw(b"GARBAGE\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 Bad Request")
    assert fetch("GET", "/ok").status == 200


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET / HTTP/1.1\r\n\r\n", b"400"),                       # no Host
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", b"505"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", b"400"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", b"400"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
     b"Content-Length: 2\r\n\r\nab", b"400"),
    (b"\x00\x01\x02\xff\r\n\r\n", b"400"),
])
def test_bad_requests_are_refused_by_go(server, raw, fetch, request_bytes,
                                        status):
    called = []
    server.handle("/", lambda w, req: called.append(1))
    reply = raw(request_bytes)
    assert reply.split(b" ", 2)[1] == status, reply
    assert called == []
    assert fetch("GET", "/").status == 200


def test_oversized_headers_get_431(make_server, http):
    srv = make_server(max_header_bytes=4096)
    srv.handle("/", lambda w, req: None)
    r = http.request("GET", srv.url + "/", headers={"X-Big": "x" * 20_000})
    assert r.status == 431
    assert http.request("GET", srv.url + "/").status == 200


def test_non_none_return_warns_and_response_is_fine(server, fetch):
    @server.route("/ret")
    def ret(w, req):
        w.write(b"body")
        return {"oops": "a dict"}

    with pytest.warns(RuntimeWarning, match="returned dict"):
        r = fetch("GET", "/ret")
    assert (r.status, r.data) == (200, b"body")


def test_returned_value_warning_names_the_handler(server, fetch):
    def my_named_handler(w, req):
        return 42

    server.handle("/ret", my_named_handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = fetch("GET", "/ret")
    assert r.status == 200
    [warning] = [c for c in caught if c.category is RuntimeWarning]
    assert "my_named_handler" in str(warning.message)
    assert "int" in str(warning.message)


def test_none_return_does_not_warn(server, fetch):
    server.handle("/none", lambda w, req: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fetch("GET", "/none").status == 200
    assert [c for c in caught if c.category is RuntimeWarning] == []


def test_warning_turned_into_error_gives_500(server, fetch, caplog):
    server.handle("/ret", lambda w, req: "a string")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with caplog.at_level(logging.ERROR, logger="gohttp"):
            r = fetch("GET", "/ret")
    assert r.status == 500
    [rec] = gohttp_errors(caplog)
    assert rec.exc_info[0] is RuntimeWarning


def test_error_classes_form_one_hierarchy():
    """gohttp.Error catches every error gohttp raises itself; the state
    errors stay RuntimeErrors, as they were before they had names."""
    for cls in (gohttp.RequestFinishedError, gohttp.ServerStateError,
                gohttp.ForkedProcessError):
        assert issubclass(cls, gohttp.StateError)
        assert issubclass(cls, gohttp.Error)
        assert issubclass(cls, RuntimeError)
        assert cls.__module__ == "gohttp"
        assert cls.__doc__
    assert not issubclass(gohttp.Error, RuntimeError)


def test_response_started_is_a_state_error(server, fetch):
    seen = []

    @server.route("/twice")
    def twice(w, req):
        w.write_header(200)
        try:
            w.write_header(201)
        except gohttp.StateError as exc:
            seen.append(exc)
        w.write(b"ok")

    assert fetch("GET", "/twice").data == b"ok"
    [exc] = seen
    assert not isinstance(exc, gohttp.RequestFinishedError)
    assert "already started" in str(exc)


def test_route_after_shutdown_is_a_server_state_error(server):
    assert server.shutdown() is True
    with pytest.raises(gohttp.ServerStateError, match="shut down"):
        server.handle("/late", lambda w, req: None)


def _raising_apps(srv, interface):
    """Mount on srv, for interface, /boom that raises before responding
    and /ok that answers "ok"."""
    if interface == "native":
        @srv.route("/boom")
        def boom(w, req):
            raise ValueError("boom")

        @srv.route("/ok")
        def ok(w, req):
            w.write(b"ok")
    elif interface == "wsgi":
        def wsgi_app(environ, start_response):
            if environ["PATH_INFO"] == "/boom":
                raise ValueError("boom")
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

        srv.mount_wsgi("/", wsgi_app)
    else:
        async def asgi_app(scope, receive, send):
            if scope["path"] == "/boom":
                raise ValueError("boom")
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"ok"})

        srv.mount_asgi("/", asgi_app, lifespan="off")


def _h2_exchange(address, requests):
    """Send requests ((method, path, body, end_stream, *headers), ...) one
    after another as streams 1, 3, 5... of one h2c connection (prior
    knowledge), each once the one before has ended; fail if the server
    sends a GOAWAY.
    Returns {stream id: (status, body)}."""
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    status, body, ended = {}, {}, set()
    with connect(address) as sock:
        for n, (method, path, data, end_stream, *more) in enumerate(requests):
            stream_id = 2 * n + 1
            conn.send_headers(stream_id, [
                (":method", method), (":path", path), (":scheme", "http"),
                (":authority", "x"), *more],
                end_stream=end_stream and not data)
            if data:
                conn.send_data(stream_id, data, end_stream=end_stream)
            sock.sendall(conn.data_to_send())
            while stream_id not in ended:
                got = sock.recv(65536)
                assert got, "the server closed the connection"
                try:
                    events = conn.receive_data(got)
                except h2.exceptions.ProtocolError as exc:
                    # A frame after a GOAWAY, in the same read
                    pytest.fail(f"the connection was closed: {exc}")
                for ev in events:
                    assert not isinstance(
                        ev, h2.events.ConnectionTerminated), ev
                    if isinstance(ev, h2.events.ResponseReceived):
                        status[ev.stream_id] = dict(ev.headers)[b":status"]
                    elif isinstance(ev, h2.events.DataReceived):
                        body[ev.stream_id] = (
                            body.get(ev.stream_id, b"") + ev.data)
                        conn.acknowledge_received_data(
                            ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, (h2.events.StreamEnded,
                                         h2.events.StreamReset)):
                        ended.add(ev.stream_id)
                sock.sendall(conn.data_to_send())
    return {i: (status.get(i), body.get(i, b"")) for i in ended}


@pytest.mark.parametrize("interface", ["native", "wsgi", "asgi"])
def test_a_raise_over_http2_ends_its_stream_not_the_connection(
        make_server, caplog, interface):
    """Over HTTP/1.x the 500 of a handler that raised says Connection:
    close, as its body may be left half read.  Over HTTP/2 the unread body
    is the stream's own (Go resets or drains it): Connection: close there
    made Go send a GOAWAY and close the connection to every stream on it
    (found by the soak, tests/soak/).  The 500 ends its stream, and the
    connection goes on serving, with no GOAWAY."""
    pytest.importorskip("h2.connection", reason="needs h2")
    srv = make_server(http2_cleartext=True)
    _raising_apps(srv, interface)
    with caplog.at_level(logging.CRITICAL, logger="gohttp"):
        # A GET that raises; then a POST that raises with its body half
        # sent (the client never ends the stream); then a GET that works.
        got = _h2_exchange(srv.address, [
            ("GET", "/boom", b"", True),
            ("POST", "/boom", b"x" * 1000, False),
            ("GET", "/ok", b"", True)])
    assert {i: s for i, (s, _) in got.items()} == {
        1: b"500", 3: b"500", 5: b"200"}
    assert b"500 internal server error" in got[1][1]
    assert got[5][1] == b"ok"


def test_a_413_over_http2_ends_its_stream_not_the_connection(make_server):
    """The 413 of a Content-Length over max_body_bytes, too, closes an
    HTTP/1.x connection only."""
    pytest.importorskip("h2.connection", reason="needs h2")
    srv = make_server(http2_cleartext=True, max_body_bytes=100)
    _raising_apps(srv, "native")
    got = _h2_exchange(srv.address, [
        ("POST", "/ok", b"", False, ("content-length", "1000")),
        ("GET", "/ok", b"", True)])
    assert got[1][0] == b"413" and got[3] == (b"200", b"ok")
