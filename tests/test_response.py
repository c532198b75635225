"""gohttp.ResponseWriter: status, headers and body, as a client sees them."""

import array
import email.utils
import hashlib
import socket
import threading
import time

import pytest
import urllib3

import gohttp
from helpers.common import TIMEOUT, connect, outcome, read_until

TEN_MB = 10 * 1024 * 1024


def test_handler_that_writes_nothing_gives_empty_200(server, fetch):
    server.handle("/", lambda w, req: None)
    r = fetch("GET", "/")
    assert (r.status, r.data) == (200, b"")
    assert r.headers["Content-Length"] == "0"


def test_date_header_is_now_unless_the_handler_sets_one(server, fetch):
    # Go makes the Date of handlers' responses once a second (go/date.go).
    @server.route("/")
    def now(w, req):
        w.write(b"x")

    @server.route("/own")
    def own(w, req):
        w.header.set("Date", "Wed, 21 Oct 2015 07:28:00 GMT")

    for _ in range(4):  # over 2 s: a Date that stopped would show
        before = time.time()
        r = fetch("GET", "/")
        after = time.time()
        sent = email.utils.parsedate_to_datetime(r.headers["Date"])
        assert r.headers["Date"].endswith(" GMT")
        assert before - 2 < sent.timestamp() <= after + 1
        time.sleep(0.75)
    r = fetch("GET", "/own")
    assert r.headers.getlist("Date") == ["Wed, 21 Oct 2015 07:28:00 GMT"]


def test_write_types_and_return_values(server, fetch, record):
    @server.route("/w")
    def w_(w, req):
        record(w.write(b"bytes,"))
        record(w.write(bytearray(b"bytearray,")))
        record(w.write(memoryview(b"__memoryview,__")[2:-2]))
        record(w.write("str \u00e9\u2603,"))  # UTF-8: 1 + 2 + 3 bytes
        record(w.write(b""))
        record(w.write(""))
        record(w.write(array.array("B", b"array")))

    r = fetch("GET", "/w")
    assert r.data == ("bytes,bytearray,memoryview,str \u00e9\u2603,array"
                      .encode("utf-8"))
    assert record.values == [6, 10, 11, 10, 0, 0, 5]


@pytest.mark.parametrize("data", [42, None, 1.5, ["list"], {"a": 1},
                                  object()])
def test_write_rejects_other_types(server, fetch, record, data):
    @server.route("/w")
    def w_(w, req):
        record(type(outcome(lambda: w.write(data))))
        w.write(b"still fine")

    r = fetch("GET", "/w")
    assert (r.status, r.data) == (200, b"still fine")
    assert record.one() is TypeError


def test_write_str_that_is_not_encodable(server, fetch, record):
    @server.route("/w")
    def w_(w, req):
        record(type(outcome(lambda: w.write("lone \udcff surrogate"))))
        w.write(b"ok")

    assert fetch("GET", "/w").data == b"ok"
    assert issubclass(record.one(), UnicodeEncodeError)


def test_many_small_writes(server, fetch):
    @server.route("/w")
    def w_(w, req):
        for i in range(2000):
            w.write(b"%d," % i)

    assert fetch("GET", "/w").data == b"".join(b"%d," % i for i in range(2000))


def test_write_header(server, fetch):
    @server.route("/created")
    def created(w, req):
        w.header.set("Location", "/things/1")
        w.write_header(201)
        w.write(b"made")

    r = fetch("GET", "/created", redirect=False)
    assert (r.status, r.data) == (201, b"made")
    assert r.headers["Location"] == "/things/1"


def test_set_status_is_an_alias(server, fetch):
    @server.route("/teapot")
    def teapot(w, req):
        w.set_status(418)
        w.write(b"short and stout")

    r = fetch("GET", "/teapot")
    assert (r.status, r.data) == (418, b"short and stout")


@pytest.mark.parametrize("code", [200, 202, 299, 400, 404, 418, 451, 500,
                                  503, 599, 999])
def test_status_only_responses(server, fetch, code):
    server.handle("/s", lambda w, req: w.write_header(code))
    r = fetch("GET", "/s", redirect=False)
    assert r.status == code
    assert r.data == b""


def test_redirect_status_with_location(server, fetch):
    @server.route("/old")
    def old(w, req):
        w.header.set("Location", "/new")
        w.write_header(302)

    r = fetch("GET", "/old", redirect=False)
    assert r.status == 302
    assert r.headers["Location"] == "/new"


@pytest.mark.parametrize("code", [0, 99, 1000, -1, 2**31, 2**70])
def test_write_header_out_of_range_raises_value_error(server, fetch, record,
                                                      code):
    @server.route("/s")
    def s(w, req):
        record(type(outcome(lambda: w.write_header(code))))
        record(type(outcome(lambda: w.set_status(code))))
        w.write(b"then fine")

    r = fetch("GET", "/s")
    assert (r.status, r.data) == (200, b"then fine")
    assert record.values == [ValueError, ValueError]


@pytest.mark.parametrize("code", ["200", 200.0, None])
def test_write_header_needs_an_int(server, fetch, record, code):
    @server.route("/s")
    def s(w, req):
        record(type(outcome(lambda: w.write_header(code))))

    fetch("GET", "/s")
    assert record.one() is TypeError


def test_write_header_after_the_response_started(server, fetch, record):
    @server.route("/twice")
    def twice(w, req):
        w.write_header(202)
        record(type(outcome(lambda: w.write_header(500))))
        record(type(outcome(lambda: w.set_status(404))))

    @server.route("/late")
    def late(w, req):
        w.write(b"body first")
        record(type(outcome(lambda: w.write_header(500))))

    @server.route("/flushed")
    def flushed(w, req):
        w.flush()
        record(type(outcome(lambda: w.write_header(500))))

    assert fetch("GET", "/twice").status == 202
    r = fetch("GET", "/late")
    assert (r.status, r.data) == (200, b"body first")
    assert fetch("GET", "/flushed").status == 200
    assert record.values == [gohttp.StateError] * 4


def test_header_api_on_the_response(server, fetch, record):
    @server.route("/h")
    def h(w, req):
        hd = w.header
        record(isinstance(hd, gohttp.Headers))
        record(w.header is hd)
        hd.set("content-type", "application/json")
        hd.add("Set-Cookie", "a=1")
        hd.add("set-cookie", "b=2")
        hd.set("X-Gone", "1")
        hd.set("X-Also-Gone", "1")
        hd["x-item"] = "item"
        hd.delete("x-gone")
        del hd["X-ALSO-GONE"]
        record(("CONTENT-TYPE" in hd, "X-Gone" in hd, sorted(hd),
                hd.get_all("SET-COOKIE"), hd.multi_items()[1:3],
                hd.get("x-item")))
        w.write(b"{}")

    r = fetch("GET", "/h")
    assert r.data == b"{}"
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert r.headers["X-Item"] == "item"
    assert "X-Gone" not in r.headers
    assert "X-Also-Gone" not in r.headers
    assert record.values == [
        True, True,
        (True, False, ["Content-Type", "Set-Cookie", "X-Item"],
         ["a=1", "b=2"], [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
         "item"),
    ]


def test_header_values_are_checked(server, fetch, record):
    @server.route("/h")
    def h(w, req):
        hd = w.header
        record(type(outcome(lambda: hd.set("X-A", 5))))
        record(type(outcome(lambda: hd.add("X-A", b"bytes"))))
        record(type(outcome(lambda: hd.set("X-A", "a\r\nX-Injected: 1"))))
        record(type(outcome(lambda: hd.add("X-A", "a\nb"))))
        record(type(outcome(lambda: hd.set("Bad Name", "v"))))
        record(type(outcome(lambda: hd.set("", "v"))))
        record(type(outcome(lambda: hd.set(5, "v"))))
        w.write(b"ok")

    r = fetch("GET", "/h")
    assert r.status == 200
    assert "X-Injected" not in r.headers
    assert "X-A" not in r.headers
    assert record.values == [TypeError, TypeError, ValueError, ValueError,
                             ValueError, ValueError, TypeError]


def test_header_values_are_latin1_like_request_headers(server, fetch, record):
    """Header values go out as latin-1, the way request header values are
    decoded: one character per byte, and so symmetric."""
    @server.route("/h")
    def h(w, req):
        w.header.set("X-Text", "caf\u00e9")
        w.write(b"ok")

    r = fetch("GET", "/h")
    assert r.headers["X-Text"] == "caf\u00e9"   # urllib3 decodes latin-1

    @server.route("/euro")
    def euro(w, req):
        w.header.set("X-Price", "5 \u20ac")
        record(outcome(lambda: w.write(b"x")))

    r = fetch("GET", "/euro")
    err = record.one()
    assert isinstance(err, ValueError) and "latin-1" in str(err), err
    assert r.status == 500


def test_headers_set_but_nothing_written_are_still_sent(server, fetch):
    @server.route("/only-headers")
    def only_headers(w, req):
        w.header.set("X-Only", "yes")
        w.header.add("X-Multi", "1")
        w.header.add("X-Multi", "2")

    r = fetch("GET", "/only-headers")
    assert (r.status, r.data) == (200, b"")
    assert r.headers["X-Only"] == "yes"
    assert r.headers.getlist("X-Multi") == ["1", "2"]


def test_each_response_has_its_own_headers_on_one_connection(server, http):
    # Go reuses the strings of a call's last header block when the next
    # response's block is the same (go/headerblock.go): alike, different
    # and no headers must each arrive as the handler set them.
    @server.route("/h")
    def h(w, req):
        kind = req.query
        if kind in ("a", "cookies"):
            w.header.set("Content-Type", "text/plain")
        if kind == "cookies":
            for value in ("a=1", "b=2", "c=3"):
                w.header.add("Set-Cookie", value)
        if kind == "length":
            w.header.set("Content-Length", "2")
        w.write(b"ok")

    expect = {
        "a": {"Content-Type": ["text/plain"], "Set-Cookie": []},
        "cookies": {"Content-Type": ["text/plain"],
                    "Set-Cookie": ["a=1", "b=2", "c=3"]},
        "none": {"Content-Type": ["text/plain; charset=utf-8"],
                 "Set-Cookie": []},
        "length": {"Content-Type": ["text/plain; charset=utf-8"],
                   "Set-Cookie": []},
    }
    for kind in ["a", "a", "cookies", "cookies", "none", "a", "length",
                 "length", "none", "cookies", "a"]:
        r = http.request("GET", f"{server.url}/h?{kind}")
        assert (r.status, r.data) == (200, b"ok")
        got = {k: r.headers.getlist(k) for k in expect[kind]}
        assert got == expect[kind], kind
        assert r.headers.getlist("Content-Length") == ["2"]
        assert len(r.headers.getlist("Date")) == 1


def test_w_header_starts_empty_and_a_kept_one_stays_the_handlers(
        server, http):
    # A response's Headers that no one kept is emptied and handed to the
    # next request, and so are its one-value lists (ext/headers.c,
    # gohttp_headers_done): each request must still see an empty w.header,
    # and one a handler kept, or whose _map or a list of it kept, must
    # keep its values.
    kept = []

    @server.route("/h")
    def h(w, req):
        assert len(w.header) == 0 and list(w.header) == []
        w.header.set("X-Query", req.query)
        w.header.add("X-Multi", "1")
        if req.query == "keep":
            kept.append(w.header)
        elif req.query == "map":
            kept.append(w.header._map)
        elif req.query == "list":
            kept.append(w.header._map["X-Query"])
        w.write(b"ok")

    for query in ["a", "b", "keep", "c", "map", "d", "list", "e", "f"]:
        r = http.request("GET", f"{server.url}/h?{query}")
        assert (r.status, r.data) == (200, b"ok")
        assert r.headers["X-Query"] == query
        assert r.headers.getlist("X-Multi") == ["1"]
    assert dict(kept[0].multi_items()) == {"X-Query": "keep", "X-Multi": "1"}
    assert kept[1] == {"X-Query": ["map"], "X-Multi": ["1"]}
    assert kept[2] == ["list"]


def test_header_changes_after_the_response_started_have_no_effect(
        server, fetch):
    @server.route("/h")
    def h(w, req):
        w.header.set("X-Before", "1")
        w.write(b"body")
        w.header.set("X-After", "1")
        w.header.delete("X-Before")

    r = fetch("GET", "/h")
    assert r.data == b"body"
    assert r.headers["X-Before"] == "1"
    assert "X-After" not in r.headers


def test_header_access_without_change_is_harmless(server, fetch):
    @server.route("/h")
    def h(w, req):
        w.header.get("X-Nothing")

    r = fetch("GET", "/h")
    assert (r.status, r.data) == (200, b"")


def test_content_length_set_by_the_handler(server, fetch):
    @server.route("/cl")
    def cl(w, req):
        w.header.set("Content-Length", "10")
        w.write(b"0123456789")

    r = fetch("GET", "/cl")
    assert r.headers["Content-Length"] == "10"
    assert r.data == b"0123456789"


def test_writing_past_content_length_is_the_handlers_error(server, fetch,
                                                           record):
    """The client is still there: the error is not 'client gone'."""
    done = threading.Event()

    @server.route("/cl")
    def cl(w, req):
        w.header.set("Content-Length", "3")
        record(outcome(lambda: w.write(b"too long")))
        done.set()

    with pytest.raises(urllib3.exceptions.HTTPError):
        fetch("GET", "/cl").data
    assert done.wait(TIMEOUT)
    exc = record.one()
    assert isinstance(exc, ValueError), repr(exc)
    assert "Content-Length" in str(exc)


@pytest.mark.parametrize("content_length", ["5", "+5", "05"])
def test_writing_past_content_length_in_a_later_write(server, fetch, record,
                                                      content_length):
    """The first write is held back in C; the second one would pass the
    Content-Length, so it goes to Go, which refuses it.  The Go side is
    the judge of values C does not read as one plain number."""
    done = threading.Event()

    @server.route("/cl")
    def cl(w, req):
        w.header.set("Content-Length", content_length)
        record(w.write(b"abc"))
        record(outcome(lambda: w.write(b"defg")))
        done.set()

    try:
        fetch("GET", "/cl").data
    except urllib3.exceptions.HTTPError:
        pass  # the body is short of its Content-Length: the client sees it
    assert done.wait(TIMEOUT)
    first, exc = record.values
    assert first == 3
    assert isinstance(exc, ValueError), repr(exc)
    assert "Content-Length" in str(exc)


def test_small_writes_past_what_is_held_back_arrive_whole(server, fetch):
    """A response starts held back in C (bridge.h, gohttp_reply); once it
    outgrows that, what was held goes out first, then the rest."""
    parts = [bytes([65 + i % 26]) * (i + 1) for i in range(200)]

    @server.route("/parts")
    def many(w, req):
        w.header.set("Content-Type", "application/octet-stream")
        for part in parts:
            assert w.write(part) == len(part)

    r = fetch("GET", "/parts")
    assert r.status == 200
    assert r.data == b"".join(parts)


def test_headers_too_large_to_hold_back(server, fetch):
    big = "v" * 20_000

    @server.route("/big")
    def big_headers(w, req):
        w.header.set("X-Big", big)
        w.write(b"ok")

    r = fetch("GET", "/big")
    assert r.headers["X-Big"] == big
    assert r.data == b"ok"


def test_small_response_gets_a_content_length(server, fetch):
    @server.route("/small")
    def small(w, req):
        w.write(b"x" * 100)

    r = fetch("GET", "/small")
    assert r.headers["Content-Length"] == "100"
    assert r.data == b"x" * 100


def test_large_unflushed_response_is_chunked(server, fetch):
    body = b"y" * 100_000

    @server.route("/big")
    def big(w, req):
        w.write(body)

    r = fetch("GET", "/big")
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert r.data == body


def ten_mb():
    block = hashlib.sha256(b"response").digest() * 2048  # 64 KiB
    return b"".join(bytes([i % 256]) + block[1:] for i in range(160))


def test_10mb_response_in_one_write(server, fetch, record):
    body = ten_mb()

    @server.route("/big")
    def big(w, req):
        record(w.write(body))

    r = fetch("GET", "/big")
    assert len(r.data) == len(body) == TEN_MB
    assert hashlib.sha256(r.data).digest() == hashlib.sha256(body).digest()
    assert record.one() == TEN_MB


def test_10mb_response_in_many_writes(server, fetch, record):
    body = ten_mb()

    @server.route("/big")
    def big(w, req):
        view = memoryview(body)
        w.header.set("Content-Length", str(len(body)))
        record(sum(w.write(view[i:i + 65536])
                   for i in range(0, len(body), 65536)))

    r = fetch("GET", "/big")
    assert r.headers["Content-Length"] == str(TEN_MB)
    assert hashlib.sha256(r.data).digest() == hashlib.sha256(body).digest()
    assert record.one() == TEN_MB


def test_10mb_response_read_slowly_by_the_client(server, http):
    """A client slower than the handler: writes block without the GIL
    and everything arrives."""
    body = ten_mb()

    @server.route("/big")
    def big(w, req):
        w.write(body)

    r = http.request("GET", server.url + "/big", preload_content=False)
    got = bytearray()
    for chunk in r.stream(256 * 1024):
        got += chunk
    r.release_conn()
    assert bytes(got) == body


def test_flush_streams_before_the_handler_returns(server, http, record):
    go_on = threading.Event()

    @server.route("/stream")
    def stream(w, req):
        w.header.set("Content-Type", "text/event-stream")
        w.write(b"first")
        w.flush()
        record(go_on.wait(TIMEOUT))  # the client must see "first" first
        w.write(b"second")

    r = http.request("GET", server.url + "/stream", preload_content=False)
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/event-stream"
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert r.read(5) == b"first"
    assert record.values == []  # the handler is still waiting
    go_on.set()
    assert r.read() == b"second"
    r.release_conn()
    assert record.one() is True


def test_flush_with_nothing_written_sends_headers(server, http, record):
    go_on = threading.Event()

    @server.route("/flush")
    def flush(w, req):
        w.header.set("X-Early", "yes")
        w.write_header(202)
        w.flush()
        record(go_on.wait(TIMEOUT))
        w.write(b"late body")

    r = http.request("GET", server.url + "/flush", preload_content=False)
    # The status line and headers arrived while the handler waits.
    assert (r.status, r.headers["X-Early"]) == (202, "yes")
    go_on.set()
    assert r.read() == b"late body"
    assert record.one() is True


def test_flush_then_more_flushes(server, fetch):
    @server.route("/f")
    def f(w, req):
        for i in range(5):
            w.write(b"part%d;" % i)
            w.flush()
        w.flush()

    assert fetch("GET", "/f").data == b"part0;part1;part2;part3;part4;"


def test_write_after_the_client_left_raises_broken_pipe(server, record):
    entered = threading.Event()
    done = threading.Event()

    @server.route("/forever")
    def forever(w, req):
        w.write(b"start")
        w.flush()
        entered.set()
        chunk = b"z" * 65536
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                w.write(chunk)
            record("the writes never failed")
        except BaseException as exc:  # noqa: BLE001
            record(exc)
        finally:
            done.set()

    sock = connect(server.address)
    sock.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
    read_until(sock, b"start")
    assert entered.wait(TIMEOUT)
    # Reset rather than close politely, so the server's next write fails.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    assert done.wait(TIMEOUT + 5)
    exc = record.one()
    assert isinstance(exc, BrokenPipeError), repr(exc)
    assert isinstance(exc, OSError)


def test_write_after_a_polite_close_raises_os_error(server, record):
    entered = threading.Event()
    done = threading.Event()

    @server.route("/forever")
    def forever(w, req):
        entered.set()
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                w.write(b"z" * 65536)
            record("the writes never failed")
        except BaseException as exc:  # noqa: BLE001
            record(exc)
        finally:
            done.set()

    with connect(server.address) as sock:
        sock.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(TIMEOUT)
    assert done.wait(TIMEOUT + 5)
    assert isinstance(record.one(), OSError), repr(record.one())


def test_head_gets_headers_and_no_body(server, fetch, record):
    @server.route("GET /doc")
    def doc(w, req):
        record(req.method)
        w.header.set("X-Doc", "1")
        record(w.write(b"the body is not sent for HEAD"))

    r = fetch("HEAD", "/doc")
    assert r.status == 200
    assert r.data == b""
    assert r.headers["X-Doc"] == "1"
    assert record.values == ["HEAD", 29]
    # The connection is still in sync for the next request.
    assert fetch("GET", "/doc").data == b"the body is not sent for HEAD"


def test_head_over_a_raw_socket_has_no_body_bytes(server, raw):
    @server.route("/doc")
    def doc(w, req):
        w.write(b"hidden")

    reply = raw(b"HEAD /doc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert rest == b""


@pytest.mark.parametrize("code", [204, 304])
def test_write_with_a_bodiless_status_raises_value_error(server, fetch,
                                                         record, code):
    @server.route("/nobody")
    def nobody(w, req):
        w.write_header(code)
        record(outcome(lambda: w.write(b"not allowed")))
        record(w.write(b""))  # nothing to send is fine

    r = fetch("GET", "/nobody")
    assert r.status == code
    assert r.data == b""
    exc, empty = record.values
    assert isinstance(exc, ValueError), repr(exc)
    assert empty == 0


def test_204_with_write_that_escapes_the_handler(server, fetch, caplog):
    """The handler lets the ValueError escape after its 204 went out: the
    error is logged and the server keeps serving."""
    @server.route("/nobody")
    def nobody(w, req):
        w.write_header(204)
        w.write(b"not allowed")

    server.handle("/next", lambda w, req: None)
    with caplog.at_level("ERROR", logger="gohttp"):
        try:
            r = fetch("GET", "/nobody")
            assert r.status == 204 and r.data == b""
        except urllib3.exceptions.HTTPError:
            pass  # or the connection was aborted: both are fine
    assert any(rec.exc_info and rec.exc_info[0] is ValueError
               for rec in caplog.records), caplog.records
    assert fetch("GET", "/next").status == 200


def test_informational_status_then_final(server, raw):
    """A 1xx (103 Early Hints) goes out on its own and the final status
    follows, with each header once."""
    @server.route("/early")
    def early(w, req):
        w.header.set("Link", "</style.css>; rel=preload")
        w.write_header(103)
        w.write_header(200)
        w.write(b"done")

    reply = raw(b"GET /early HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    early_part, _, final = reply.partition(b"\r\n\r\n")
    assert early_part.startswith(b"HTTP/1.1 103 Early Hints")
    assert b"Link: </style.css>; rel=preload" in early_part
    assert final.startswith(b"HTTP/1.1 200 OK")
    final_head = final.partition(b"\r\n\r\n")[0]
    assert final_head.count(b"Link:") == 1, final_head
    assert final.endswith(b"done")


def test_writing_from_another_thread_while_the_handler_waits(server, fetch):
    @server.route("/helper")
    def helper(w, req):
        def work():
            w.header.set("X-From", "helper thread")
            w.write(b"written by a helper thread")
            w.flush()
        t = threading.Thread(target=work)
        t.start()
        t.join(TIMEOUT)

    r = fetch("GET", "/helper")
    assert r.data == b"written by a helper thread"
    assert r.headers["X-From"] == "helper thread"


def test_response_writer_repr(server, fetch, record):
    @server.route("/r")
    def r(w, req):
        record(repr(w))
        w.write(b"x")
        record(repr(w))

    fetch("GET", "/r")
    assert record.values == ["<gohttp.ResponseWriter (new)>",
                             "<gohttp.ResponseWriter (started)>"]


def test_keep_alive_connection_is_reused(server, http, record):
    @server.route("/who")
    def who(w, req):
        w.write(req.remote_addr)

    addrs = {http.request("GET", server.url + "/who").data for _ in range(20)}
    assert len(addrs) == 1


# The same str objects each time, as a handler's literals are: the writer
# copies the bytes it packed for them last time (response.c, packed_again).
CT, PLAIN, HTML, XA, ONE, TWO = ("Content-Type", "text/plain", "text/html",
                                 "X-A", "1", "2")


def test_headers_packed_again_only_when_they_are_the_same(server, fetch):
    @server.route("/h")
    def h(w, req):
        case = req.query.removeprefix("c=")
        if case in ("plain", "xa1", "xa2", "both", "reordered"):
            if case == "reordered":
                w.header.set(XA, ONE)
            w.header.set(CT, PLAIN)
            if case in ("xa1", "both"):
                w.header.set(XA, ONE)
            elif case == "xa2":
                w.header.set(XA, TWO)
            if case == "both":
                w.header.add(XA, TWO)
        elif case == "html":
            w.header.set(CT, HTML)
        elif case == "length":
            w.header.set("Content-Length", "3")
        elif case == "map":   # a value _map holds that is not a list
            w.header._map[CT] = PLAIN
        w.write(b"abc")

    want = {"plain": {CT: [PLAIN], XA: []},
            "xa1": {CT: [PLAIN], XA: [ONE]},
            "xa2": {CT: [PLAIN], XA: [TWO]},
            "both": {CT: [PLAIN], XA: [ONE, TWO]},
            "reordered": {CT: [PLAIN], XA: [ONE]},
            "html": {CT: [HTML], XA: []},
            "length": {"Content-Length": ["3"], XA: []},
            "none": {XA: []}}
    for case in ["plain", "plain", "plain", "xa1", "xa1", "plain", "xa2",
                 "xa1", "both", "both", "xa1", "reordered", "xa1", "html",
                 "plain", "length", "length", "none", "plain"]:
        r = fetch("GET", f"/h?c={case}")
        assert (r.status, r.data) == (200, b"abc"), case
        for key, values in want[case].items():
            assert r.headers.getlist(key) == values, (case, key)
        if case == "none":
            assert r.headers.get(CT, "").startswith("text/plain"), case
    r = fetch("GET", "/h?c=map")
    assert r.status == 500
    r = fetch("GET", "/h?c=plain")
    assert r.headers.getlist(CT) == [PLAIN]


TEN, BODY = "10", b"0123456789"


def test_headers_packed_again_keep_their_content_length(server, fetch,
                                                         record):
    # A Content-Length of the same str object as last time is copied with
    # the bytes packed then (packed_again): a body longer than it is the
    # handler's error then too, as with a str packed for the first time.
    @server.route("/h")
    def h(w, req):
        w.header.set(CT, PLAIN)
        w.header.set("Content-Length", TEN if "lit" in req.query
                     else str(len(BODY)))   # a new str each time
        record(outcome(lambda: w.write(BODY + b"x" if "long" in req.query
                                       else BODY)))

    cases = ["new-long", "lit", "lit-long", "lit-long", "lit", "new-long"]
    for case in cases:
        try:
            r = fetch("GET", "/h?" + case)
            assert "long" not in case
            assert (r.status, r.data) == (200, BODY)
            assert r.headers.getlist("Content-Length") == [TEN]
        except urllib3.exceptions.HTTPError:
            assert "long" in case
    for case, seen in zip(cases, record.values):
        if "long" in case:
            assert isinstance(seen, ValueError), (case, seen)
            assert "Content-Length" in str(seen)
        else:
            assert seen == len(BODY), (case, seen)


class _OddStr(str):
    """A str subclass whose str() and encode() say something else: the
    bytes sent are its own characters, however it was packed."""

    def __str__(self) -> str:
        return "odd"

    def encode(self, *args: object, **kwargs: object) -> bytes:
        return b"odd"


def test_headers_of_str_subclasses_are_never_packed_again(server, fetch):
    @server.route("/h")
    def h(w, req):
        if req.query == "sub":
            w.header.set(_OddStr(CT), _OddStr(HTML))
        else:
            w.header.set(CT, PLAIN)
        w.write(b"abc")

    for case in ["lit", "lit", "sub", "lit", "sub", "sub", "lit"]:
        r = fetch("GET", "/h?" + case)
        assert r.headers.getlist(CT) == [HTML if case == "sub" else PLAIN]
