"""send(): responses whole and streamed, backpressure, disconnects, the
errors of apps and of their messages, a loop that blocks, many streams."""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading
import time

import pytest
import urllib3

import gohttp
from helpers.asgi_fixtures import (asgi_errors, read_body, respond,  # noqa: F401
                           serve_asgi)
from helpers.common import (TIMEOUT, connect, get_head_and_http10,
                            read_to_end, read_until)
from helpers.net import curl, needs_curl_http2

MiB = 1024 * 1024


async def wait_for(flag: threading.Event) -> None:
    """Wait, without blocking the loop, until another thread sets flag."""
    deadline = time.monotonic() + TIMEOUT
    while not flag.is_set():
        assert time.monotonic() < deadline, "the test's client never came"
        await asyncio.sleep(0.005)


def test_headers_and_status(serve_asgi, http):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"x-a", b"1"), (b"X-B", b"2"),
                                (b"x-a", b"3"), [b"set-cookie", b"c=1"]]})
        await send({"type": "http.response.body", "body": b"made"})

    srv = serve_asgi(app)
    r = http.request("GET", srv.url + "/")
    assert (r.status, r.data) == (201, b"made")
    assert r.headers.getlist("X-A") == ["1", "3"]
    assert r.headers["X-B"] == "2"
    assert r.headers["Set-Cookie"] == "c=1"
    assert r.headers["Content-Length"] == "4"
    assert "Date" in r.headers


@pytest.mark.parametrize("size", [0, 13, 2048, 2049, 4000])
@pytest.mark.parametrize("declared", [True, False])
def test_a_response_sent_whole_has_one_content_length(serve_asgi, size,
                                                      declared):
    """A last body of up to 2 KiB sent as the app ends is left to
    net/http to count (go/call.go, writeHeaderAs): exactly one
    Content-Length goes out, declared or not, for GET, HEAD and HTTP/1.0,
    and the connection stays usable."""
    body = b"x" * size
    headers = [(b"content-type", b"text/plain")]
    if declared:
        headers.append((b"content-length", str(size).encode()))

    async def app(scope, receive, send):
        await respond(send, body, headers=headers)

    srv = serve_asgi(app)
    get, head, old = get_head_and_http10(srv.address)
    for response in (get, head, old):
        head_block = response.split(b"\r\n\r\n")[0].lower()
        assert b"transfer-encoding" not in head_block
        if response is head and not declared:
            # A HEAD's body is not sent, so not known: net/http counts
            # what fits its buffer, and says nothing of the rest.
            assert head_block.count(b"content-length:") <= 1
            continue
        assert head_block.count(b"content-length:") == 1
        assert b"content-length: %d" % size in head_block
    assert get.endswith(b"\r\n\r\n" + body)
    assert head.endswith(b"\r\n\r\n")
    assert old.endswith(b"\r\n\r\n" + body)


def test_body_in_many_messages_and_memoryview(serve_asgi, http):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        for part in (b"a", bytearray(b"b"), memoryview(b"c"), b""):
            await send({"type": "http.response.body", "body": part,
                        "more_body": True})
        await send({"type": "http.response.body"})

    srv = serve_asgi(app)
    assert http.request("GET", srv.url + "/").data == b"abc"


def test_a_whole_response_reaches_the_client_while_the_app_goes_on(
        serve_asgi, http):
    """The last body of a response sent whole waits in C for the app's
    end, to go to Go with it; an app that waits for something after it
    (Starlette's background tasks) has it sent as it waits."""
    answered, ended = threading.Event(), threading.Event()

    async def app(scope, receive, send):
        await respond(send, b"early")
        await wait_for(answered)   # the client has the response already
        await asyncio.sleep(0)
        ended.set()

    srv = serve_asgi(app)
    r = http.request("GET", srv.url + "/")
    assert (r.status, r.data) == (200, b"early")
    assert r.headers["Content-Length"] == "5"
    assert not ended.is_set()
    answered.set()
    assert ended.wait(TIMEOUT)
    assert http.request("GET", srv.url + "/").data == b"early"   # still serves


def test_a_whole_response_then_an_exception_or_a_cancel_stands(
        serve_asgi, http, asgi_errors):
    """An app that raises right after its whole response, or after it
    waited once: the response stands, as it did when it went at once."""
    async def app(scope, receive, send):
        await respond(send, b"kept")
        if scope["path"] == "/later":
            await asyncio.sleep(0)
        raise RuntimeError("after the response")

    srv = serve_asgi(app)
    for path in ("/now", "/later"):
        r = http.request("GET", srv.url + path)
        assert (r.status, r.data) == (200, b"kept")


def test_head_has_no_body(serve_asgi, http):
    async def app(scope, receive, send):
        await respond(send, b"" if scope["method"] == "HEAD" else b"body")

    srv = serve_asgi(app)
    assert http.request("HEAD", srv.url + "/").status == 200


def test_sse_reaches_the_client_event_by_event(serve_asgi):
    """Each event reaches the client before the app sends the next."""
    read = [threading.Event() for _ in range(3)]

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for i in range(3):
            await send({"type": "http.response.body",
                        "body": b"data: %d\n\n" % i, "more_body": True})
            await wait_for(read[i])
        await send({"type": "http.response.body", "body": b""})

    srv = serve_asgi(app)
    with connect(srv.address) as sock:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        for i in range(3):
            assert b"data: %d\n\n" % i in read_until(sock, b"data: %d" % i)
            read[i].set()
        assert read_until(sock, b"0\r\n\r\n").endswith(b"0\r\n\r\n")


def test_backpressure_with_a_client_that_does_not_read(serve_asgi,
                                                       asgi_errors, http):
    """send() waits while Go cannot write: the app sends no further than
    the socket buffers and the high-water mark, the loop serves others
    meanwhile, and the client's going ends the app with an OSError that
    is not logged as an error."""
    sent = {"bytes": 0}
    ended = []
    chunk = b"z" * 65536

    async def app(scope, receive, send):
        if scope["path"] == "/other":
            await respond(send, b"other")
            return
        await send({"type": "http.response.start", "status": 200})
        try:
            while True:
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": True})
                sent["bytes"] += len(chunk)
        except OSError as exc:
            ended.append(exc)
            raise

    srv = serve_asgi(app)
    sock = connect(srv.address)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    first = sent["bytes"]
    time.sleep(0.5)
    assert sent["bytes"] == first, "send() did not wait for the client"
    assert first < 32 * MiB
    assert http.request("GET", srv.url + "/other").data == b"other"
    sock.close()
    deadline = time.monotonic() + TIMEOUT
    while not ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ended and isinstance(ended[0], gohttp.ClientDisconnected)
    assert isinstance(ended[0], BrokenPipeError)
    assert asgi_errors() == []


def test_disconnect_stops_a_streaming_loop(serve_asgi, asgi_errors):
    """An SSE app watches receive() for http.disconnect while it streams."""
    stopped = threading.Event()

    async def app(scope, receive, send):
        gone = asyncio.Event()

        async def watch():
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        await send({"type": "http.response.start", "status": 200})
        while not gone.is_set():
            await send({"type": "http.response.body", "body": b"tick\n",
                        "more_body": True})
            await asyncio.sleep(0.01)
        await watcher
        stopped.set()

    srv = serve_asgi(app)
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        read_until(sock, b"tick\n")
    assert stopped.wait(TIMEOUT)
    assert asgi_errors() == []


def test_send_after_disconnect_raises_an_oserror(serve_asgi, asgi_errors):
    raised = []

    async def app(scope, receive, send):
        await read_body(receive)
        assert (await receive())["type"] == "http.disconnect"
        await send({"type": "http.response.start", "status": 200})
        try:
            for _ in range(200):   # the first writes may still succeed
                await send({"type": "http.response.body", "body": b"x" * 4096,
                            "more_body": True})
                await asyncio.sleep(0.005)
        except OSError as exc:
            raised.append(exc)
            raise

    srv = serve_asgi(app)
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.05)
    deadline = time.monotonic() + TIMEOUT
    while not raised and time.monotonic() < deadline:
        time.sleep(0.01)
    assert raised and isinstance(raised[0], gohttp.ClientDisconnected)
    assert asgi_errors() == []


def request_then_leave(srv):
    """Send a request, then close the connection without reading."""
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.05)


class FrameworkDisconnect(Exception):
    """What a framework raises for the client's going: Starlette's
    ClientDisconnect, raised while handling send()'s OSError."""


@pytest.mark.parametrize("wrap", [False, True])
def test_an_error_raised_for_the_disconnect_is_not_a_server_error(
        serve_asgi, asgi_errors, wrap):
    """Starlette (ASGI spec 2.4) turns send()'s OSError into its own
    ClientDisconnect, which is no OSError: the client went away, so it
    is no error of the app's.  An exception with no OSError behind it
    still is, even after a disconnect."""
    ended = threading.Event()

    async def app(scope, receive, send):
        await read_body(receive)
        assert (await receive())["type"] == "http.disconnect"
        await send({"type": "http.response.start", "status": 200})
        try:
            try:
                for _ in range(200):
                    await send({"type": "http.response.body",
                                "body": b"x" * 4096, "more_body": True})
                    await asyncio.sleep(0.005)
            except OSError:
                if wrap:
                    raise FrameworkDisconnect()
                raise
        finally:
            ended.set()
        raise RuntimeError("never reached")

    request_then_leave(serve_asgi(app))
    assert ended.wait(TIMEOUT)
    time.sleep(0.1)   # the task ends after its finally
    assert asgi_errors() == []


def test_an_app_error_after_a_disconnect_is_still_logged(serve_asgi,
                                                         asgi_errors):
    ended = threading.Event()

    async def app(scope, receive, send):
        await read_body(receive)
        assert (await receive())["type"] == "http.disconnect"
        ended.set()
        raise KeyError("the app's own bug")

    request_then_leave(serve_asgi(app))
    assert ended.wait(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while not asgi_errors() and time.monotonic() < deadline:
        time.sleep(0.01)
    [error] = asgi_errors()
    assert isinstance(error.exc_info[1], KeyError)


def test_exception_before_start_is_500_and_logged(serve_asgi, asgi_errors,
                                                  http):
    async def app(scope, receive, send):
        raise ValueError("boom before start")

    srv = serve_asgi(app)
    r = http.request("GET", srv.url + "/x")
    assert r.status == 500
    errors = asgi_errors()
    assert len(errors) == 1
    assert "GET /x" in errors[0].getMessage()
    assert errors[0].exc_info[1].args == ("boom before start",)


def half_then(end):
    """An app that sends the start and part of a body, waits until the
    client has read it, then ends with end() (which may raise)."""
    client_read = threading.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"partial",
                    "more_body": True})
        await wait_for(client_read)
        end()

    def fetch(srv):
        with connect(srv.address) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            raw = read_until(sock, b"partial")
            client_read.set()
            return raw + read_to_end(sock)

    return app, fetch


def test_exception_after_start_aborts_the_response(serve_asgi, asgi_errors):
    def boom():
        raise ValueError("boom after start")

    app, fetch = half_then(boom)
    raw = fetch(serve_asgi(app))
    assert raw.startswith(b"HTTP/1.1 200")
    assert b"partial" in raw
    assert not raw.endswith(b"0\r\n\r\n"), "a truncated body looked whole"
    assert len(asgi_errors()) == 1


def test_raise_before_go_wrote_anything_is_500(serve_asgi, asgi_errors,
                                              http):
    """Bytes Go has not written yet are dropped for a clean 500."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"partial",
                    "more_body": True})
        raise ValueError("boom")

    srv = serve_asgi(app)
    try:
        r = http.request("GET", srv.url + "/")
    except urllib3.exceptions.ProtocolError:
        return   # Go had written the start: aborted, as it must be
    assert r.status == 500 or r.data != b"partial"


def test_raise_after_the_response_is_complete_keeps_it(serve_asgi,
                                                       asgi_errors, http):
    """Starlette's ServerErrorMiddleware sends its whole 500, then
    re-raises: the response is complete, so the client gets it, whether
    or not Go had written it when the app raised; the error is logged."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 503})
        await send({"type": "http.response.body", "body": b"whole"})
        raise ValueError("after the response")

    srv = serve_asgi(app)
    for _ in range(50):   # Go writes before or after the raise: both
        r = http.request("GET", srv.url + "/")
        assert (r.status, r.data) == (503, b"whole")
    deadline = time.monotonic() + TIMEOUT
    while len(asgi_errors()) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(asgi_errors()) == 50


def test_start_then_raise_before_any_body_is_500(serve_asgi, asgi_errors,
                                                 http):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        raise ValueError("boom")

    srv = serve_asgi(app)
    assert http.request("GET", srv.url + "/").status == 500


def test_return_without_response_is_500(serve_asgi, asgi_errors, http):
    async def app(scope, receive, send):
        return None

    srv = serve_asgi(app)
    assert http.request("GET", srv.url + "/").status == 500
    assert "without sending a response" in asgi_errors()[0].getMessage()


def test_return_before_completing_aborts(serve_asgi, asgi_errors):
    app, fetch = half_then(lambda: None)
    raw = fetch(serve_asgi(app))
    assert b"partial" in raw and not raw.endswith(b"0\r\n\r\n")
    assert "completing its response" in asgi_errors()[0].getMessage()


BAD_MESSAGES = [
    ("not a dict", TypeError, "takes an ASGI message, a dict"),
    ({}, ValueError, "needs a 'type'"),
    ({"type": "bogus"}, ValueError, "unexpected ASGI message type 'bogus'"),
    ({"type": "http.response.body", "body": b"x"}, gohttp.StateError,
     "before http.response.start"),
    ({"type": "http.response.start"}, ValueError, "needs a 'status'"),
    ({"type": "http.response.start", "status": "200"}, TypeError,
     "status must be an int"),
    ({"type": "http.response.start", "status": 99}, ValueError,
     "invalid status 99"),
    ({"type": "http.response.start", "status": 200, "headers": 5},
     TypeError, "iterable of \\[name, value\\] pairs"),
    ({"type": "http.response.start", "status": 200,
      "headers": [("x-a", "1")]}, TypeError, "must be bytes, not str"),
    ({"type": "http.response.start", "status": 200,
      "headers": [(b"x a", b"1")]}, ValueError, "invalid header name"),
    ({"type": "http.response.start", "status": 200,
      "headers": [(b"x-a", b"1\r\nx-b: 2")]}, ValueError, "CR, LF or NUL"),
    ({"type": "http.response.start", "status": 200,
      "headers": [(b"x-a",)]}, TypeError, "pair"),
]


def test_invalid_messages_raise_clear_errors(serve_asgi, http):
    results = []

    async def app(scope, receive, send):
        for message, exc_type, match in BAD_MESSAGES:
            with pytest.raises(exc_type, match=match):
                await send(message)
            results.append(match)
        await send({"type": "http.response.start", "status": 200})
        with pytest.raises(gohttp.StateError, match="sent already"):
            await send({"type": "http.response.start", "status": 200})
        with pytest.raises(TypeError, match="not str: encode it"):
            await send({"type": "http.response.body", "body": "text"})
        await send({"type": "http.response.body", "body": b"fine"})
        with pytest.raises(gohttp.StateError, match="complete"):
            await send({"type": "http.response.body", "body": b"more"})
        results.append("end")

    srv = serve_asgi(app)
    r = http.request("GET", srv.url + "/")
    assert (r.status, r.data) == (200, b"fine")
    assert len(results) == len(BAD_MESSAGES) + 1


def test_receive_and_send_after_the_app_returned(serve_asgi, http):
    kept = []

    async def app(scope, receive, send):
        kept.append(send)
        await respond(send, b"ok")

    srv = serve_asgi(app)
    assert http.request("GET", srv.url + "/").status == 200
    with pytest.raises(gohttp.RequestFinishedError):
        kept[0]({"type": "http.response.body", "body": b"late"})


def test_a_blocked_loop_delays_asgi_but_not_the_server(serve_asgi, http):
    """An app that blocks the loop for a second: the server keeps
    accepting and serving native routes; ASGI requests wait, then get
    their answer."""
    async def app(scope, receive, send):
        if scope["path"] == "/block":
            time.sleep(1.0)
        await respond(send, scope["path"].encode())

    srv = serve_asgi(app)
    srv.handle("/native", lambda w, req: w.write(b"native") and None)
    results = {}

    def get(path):
        pool = urllib3.PoolManager(retries=False, timeout=TIMEOUT)
        start = time.monotonic()
        r = pool.request("GET", srv.url + path)
        results[path] = (r.status, r.data, time.monotonic() - start)

    blocker = threading.Thread(target=get, args=("/block",))
    blocker.start()
    time.sleep(0.2)
    waiter = threading.Thread(target=get, args=("/fast",))
    waiter.start()
    get("/native")
    assert results["/native"][:2] == (200, b"native")
    assert results["/native"][2] < 0.5
    blocker.join(TIMEOUT)
    waiter.join(TIMEOUT)
    assert results["/block"][:2] == (200, b"/block")
    assert results["/fast"][:2] == (200, b"/fast")


@pytest.mark.heavy
def test_a_thousand_concurrent_streams(serve_asgi):
    n = 1000

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"%d," % i,
                        "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b"end"})

    srv = serve_asgi(app)
    sel = selectors.DefaultSelector()
    socks = []
    try:
        for _ in range(n):
            sock = socket.create_connection(srv.address, timeout=TIMEOUT)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
            sock.setblocking(False)
            socks.append(sock)
            sel.register(sock, selectors.EVENT_READ, [])
        open_ = n
        deadline = time.monotonic() + 30
        while open_ and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                data = key.fileobj.recv(65536)
                if data:
                    key.data.append(data)
                else:
                    sel.unregister(key.fileobj)
                    open_ -= 1
                    raw = b"".join(key.data)
                    assert raw.startswith(b"HTTP/1.1 200")
                    assert b"0,\r\n" in raw and raw.endswith(b"0\r\n\r\n")
        assert open_ == 0
    finally:
        for sock in socks:
            sock.close()
        sel.close()


class ASGI2App:
    """An ASGI 2 app: a class made with the scope, then awaited."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        await respond(send, b"asgi2 " + self.scope["path"].encode())


class ASGI3Object:
    async def __call__(self, scope, receive, send):
        await respond(send, b"asgi3 object")


def test_asgi2_apps_are_wrapped_asgi3_objects_are_not(serve_asgi, http):
    srv = serve_asgi(ASGI2App)
    assert http.request("GET", srv.url + "/x").data == b"asgi2 /x"
    srv = serve_asgi(ASGI3Object())
    assert http.request("GET", srv.url + "/").data == b"asgi3 object"


@needs_curl_http2
def test_h2c_streams_and_resets_a_failed_stream(serve_asgi):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"%d;" % i,
                        "more_body": True})
            await asyncio.sleep(0.01)
        if scope["path"] == "/fail":
            raise ValueError("boom mid-stream")
        await send({"type": "http.response.body", "body": b"end"})

    srv = serve_asgi(app, http2_cleartext=True)
    out = curl("--http2-prior-knowledge", srv.url + "/ok")
    assert (out.returncode, out.stdout) == (0, "0;1;2;end"), out.stderr
    out = curl("--http2-prior-knowledge", srv.url + "/fail")
    assert out.returncode != 0   # the stream was reset, not ended
    assert "end" not in out.stdout


def test_access_log_and_handled_count(serve_asgi, http, tmp_path):
    """Go logs ASGI requests as any other, and counts them as handled
    (what --max-requests reads)."""
    import json

    log = tmp_path / "access.jsonl"

    async def app(scope, receive, send):
        await respond(send, b"created", status=201)

    srv = serve_asgi(app, access_log=log, access_log_format="json")
    before = srv._core.handled
    for _ in range(3):
        assert http.request("POST", srv.url + "/x", body=b"abc").status == 201
    assert srv._core.handled - before == 3
    srv.shutdown()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["status"], e["bytes"], e["method"]) for e in entries] == [
        (201, 7, "POST")] * 3


def test_a_task_the_app_leaks_cannot_send_later(serve_asgi, http):
    """A task the app started and left running meets a finished request:
    its send() raises RequestFinishedError, and the server goes on."""
    results = []

    async def app(scope, receive, send):
        async def late():
            await asyncio.sleep(0.05)
            try:
                await send({"type": "http.response.body", "body": b"late"})
            except gohttp.RequestFinishedError as exc:
                results.append(exc)

        asyncio.ensure_future(late())
        await respond(send, b"on time")

    srv = serve_asgi(app)
    assert http.request("GET", srv.url + "/").data == b"on time"
    deadline = time.monotonic() + TIMEOUT
    while not results and time.monotonic() < deadline:
        time.sleep(0.01)
    assert results and "valid only until the ASGI app returns" in str(
        results[0])
    assert http.request("GET", srv.url + "/").data == b"on time"



def test_an_empty_response_does_not_alias_the_next_ones_buffers(
        serve_asgi, http):
    """Found by the soak (tests/soak/): a response whose body was empty
    left the buffer the loop fills and the one the goroutine writes as
    one array, for the next response on that call (sequential requests
    reuse it).  Over HTTP/2, Go writes a body as the client's window
    allows, from that array: the app's next send() wrote over bytes not
    yet sent, and the client got a whole response with wrong bytes."""
    h2conn = pytest.importorskip("h2.connection", reason="needs h2")
    import h2.config
    import h2.events
    import h2.settings

    taken = threading.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        if scope["path"] == "/empty":
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] == "/small":
            await respond_parts(send, [b"s" * 100000, b"t" * 1000])
            return
        # The goroutine takes the first part and writes it as the
        # client's window (1 KiB) allows; the second comes meanwhile,
        # both under the high-water mark, so neither send() waits.
        await send({"type": "http.response.body", "body": b"a" * 40000,
                    "more_body": True})
        await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"b" * 20000})
        taken.set()

    async def respond_parts(send, parts):
        for part in parts[:-1]:
            await send({"type": "http.response.body", "body": part,
                        "more_body": True})
        await send({"type": "http.response.body", "body": parts[-1]})

    srv = serve_asgi(app, http2_cleartext=True)
    assert http.request("GET", srv.url + "/small").data == (
        b"s" * 100000 + b"t" * 1000)  # the call's buffers grow
    assert http.request("GET", srv.url + "/empty").data == b""

    sock = connect(srv.address)
    conn = h2conn.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
    conn.send_headers(1, [(":method", "GET"), (":path", "/big"),
                          (":scheme", "http"), (":authority", "x")],
                      end_stream=True)
    sock.sendall(conn.data_to_send())
    body, ended = bytearray(), False
    while not ended:
        data = sock.recv(65536)
        assert data, "the server closed the connection"
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                body += ev.data
                if taken.wait(TIMEOUT):  # the window opens once both came
                    conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
            elif isinstance(ev, h2.events.StreamReset):
                pytest.fail(f"the stream was reset: {ev}")
        sock.sendall(conn.data_to_send())
    sock.close()
    assert bytes(body) == b"a" * 40000 + b"b" * 20000


def test_a_send_waiting_to_drain_ends_when_the_client_resets(serve_asgi):
    """Found by the soak (tests/soak/): a send() that began to wait for
    its bytes to drain after Go had seen the request's context end (an
    HTTP/2 RST_STREAM, a connection reset) was never woken when the write
    then failed: the app, its task and the request's goroutine waited for
    ever, and the stream's unread window starved the connection."""
    pytest.importorskip("h2.connection", reason="needs h2")
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events

    ended = []
    chunk = b"x" * 16384

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        try:
            for _ in range(64):
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": True})
            await send({"type": "http.response.body"})
        finally:
            ended.append(scope["path"])

    srv = serve_asgi(app, http2_cleartext=True)
    rounds = 20
    for n in range(rounds):
        sock = connect(srv.address)
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "GET"), (":path", f"/{n}"),
                              (":scheme", "http"), (":authority", "x")],
                          end_stream=True)
        sock.sendall(conn.data_to_send())
        got = 0
        while got < 20000:  # some of the body, read as it comes
            data = sock.recv(65536)
            assert data
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    got += len(ev.data)
                    conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
            sock.sendall(conn.data_to_send())
        conn.reset_stream(1, h2.errors.ErrorCodes.CANCEL)
        sock.sendall(conn.data_to_send())
        time.sleep(0.01 * (n % 3))  # vary which side sees it first
        sock.close()
    deadline = time.monotonic() + TIMEOUT
    while len(ended) < rounds and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(ended) == rounds, f"{rounds - len(ended)} apps never ended"
