"""Timeouts and limits, each provoked by a raw socket that misbehaves the
way an attacker or a broken client would."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import gohttp
from helpers.common import TIMEOUT, Recorder, connect, exchange, read_to_end
from helpers.net import closed_within, read_response


def ok(w, req):
    w.write(b"ok")


def echo(w, req):
    w.write(req.body)


def echo_length(w, req):
    w.write(str(len(req.body)))


# ---- timeouts ----------------------------------------------------------------

def test_slowloris_is_cut_off_by_read_header_timeout(make_server):
    # A client that keeps sending a byte of its headers now and then never
    # finishes them; the server gives up once read_header_timeout is over.
    srv = make_server(read_header_timeout=0.5)
    srv.handle("/", ok)
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        sock.settimeout(0.1)
        closed = False
        while not closed and time.monotonic() - started < TIMEOUT:
            try:
                closed = sock.recv(4096) == b""
            except socket.timeout:
                try:
                    sock.sendall(b"X")  # one more byte of a header name
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
            except ConnectionResetError:
                closed = True
        took = time.monotonic() - started
    assert closed, "the slow client was never cut off"
    assert 0.4 < took < 5, took
    assert exchange(srv.address, b"GET / HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n").endswith(b"ok")


def test_read_timeout_cuts_off_a_body_that_never_comes(make_server):
    srv = make_server(read_timeout=0.5)
    record = Recorder()
    entered = threading.Event()

    @srv.route("POST /upload")
    def upload(w, req):
        entered.set()
        started = time.monotonic()
        try:
            req.body
        except OSError as exc:
            record((type(exc), time.monotonic() - started))
            raise

    with connect(srv.address) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 100\r\n\r\nonly this")
        assert entered.wait(TIMEOUT)
        assert closed_within(sock, TIMEOUT) is not None
    kind, took = record.one()
    assert issubclass(kind, OSError)
    assert took < 5


def test_write_timeout_frees_a_handler_whose_client_stopped_reading(
        make_server):
    srv = make_server(write_timeout=0.5)
    record = Recorder()

    @srv.route("/flood")
    def flood(w, req):
        chunk = b"x" * 65536
        started = time.monotonic()
        try:
            while time.monotonic() - started < TIMEOUT:
                w.write(chunk)
                w.flush()
        except OSError as exc:
            record((type(exc), time.monotonic() - started))

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    with sock:
        sock.connect(srv.address)
        sock.sendall(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
        # ... and read nothing: the server's writes block, then time out.
        deadline = time.monotonic() + TIMEOUT
        while not record.values and time.monotonic() < deadline:
            time.sleep(0.05)
    kind, took = record.one()
    assert issubclass(kind, BrokenPipeError)
    assert took < 5


def test_idle_timeout_closes_a_quiet_keep_alive_connection(make_server):
    srv = make_server(idle_timeout=0.5)
    srv.handle("/", ok)
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 200
        took = closed_within(sock, TIMEOUT)
    assert took is not None, "the idle connection stayed open"
    assert 0.3 < took < 5, took


def test_keep_alive_outlives_a_short_pause_below_idle_timeout(make_server):
    srv = make_server(idle_timeout=TIMEOUT)
    srv.handle("/", ok)
    with connect(srv.address) as sock:
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock)[2] == b"ok"
            time.sleep(0.3)


def test_oversized_headers_get_431_on_a_raw_socket(make_server):
    called = []
    srv = make_server(max_header_bytes=1024)
    srv.handle("/", lambda w, req: called.append(1))
    # Go allows 4096 bytes of slack over MaxHeaderBytes for the request
    # line and framing.
    reply = exchange(srv.address, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: "
                     + b"a" * 16384 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:100]
    assert called == []
    small = exchange(srv.address, b"GET / HTTP/1.1\r\nHost: x\r\nX-Small: "
                     + b"a" * 500 + b"\r\nConnection: close\r\n\r\n")
    assert small.startswith(b"HTTP/1.1 200 ")


# ---- max_body_bytes ------------------------------------------------------------

def test_content_length_over_max_body_bytes_gets_413_before_python(
        make_server):
    called = []
    srv = make_server(max_body_bytes=100)
    srv.handle("/", lambda w, req: called.append(req.body))
    reply = exchange(srv.address, b"POST / HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 101\r\n\r\n" + b"a" * 101)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:100]
    assert called == []
    # Only the announced length counts: the client did not even have to
    # send the body.
    with connect(srv.address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 1000000000\r\n\r\n")
        assert read_to_end(sock).startswith(b"HTTP/1.1 413 ")
    assert called == []


def test_body_of_exactly_max_body_bytes_is_fine(make_server):
    srv = make_server(max_body_bytes=100)
    srv.handle("/", echo_length)
    reply = exchange(srv.address, b"POST / HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 100\r\nConnection: close\r\n\r\n"
                     + b"a" * 100)
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"\r\n100")


def chunked(body: bytes, size: int = 40) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
             for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_chunked_upload_past_max_body_bytes_raises_and_gets_413(make_server):
    srv = make_server(max_body_bytes=100)
    record = Recorder()

    @srv.route("POST /upload")
    def upload(w, req):
        got = 0
        try:
            while chunk := req.read(30):
                got += len(chunk)
        except ValueError as exc:
            record((got, str(exc)))
            raise
        w.write(b"read it all")

    reply = exchange(srv.address, b"POST /upload HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n"
                     + chunked(b"a" * 1000))
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert b"Connection: close" in reply
    got, message = record.one()
    assert got <= 100
    assert "too large" in message


def test_handler_may_answer_the_too_large_body_itself(make_server):
    srv = make_server(max_body_bytes=10)

    @srv.route("POST /")
    def upload(w, req):
        try:
            req.body
        except ValueError:
            w.write_header(400)
            w.write(b"keep it under 10 bytes")

    reply = exchange(srv.address, b"POST / HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n"
                     + chunked(b"a" * 50))
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert reply.endswith(b"keep it under 10 bytes")


def test_chunked_upload_within_max_body_bytes(make_server):
    srv = make_server(max_body_bytes=100)
    srv.handle("POST /", echo)
    reply = exchange(srv.address, b"POST / HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n"
                     b"\r\n" + chunked(b"b" * 100))
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"b" * 100)


def test_no_body_limit_by_default(make_server):
    srv = make_server()
    srv.handle("POST /", echo_length)
    body = b"c" * (3 << 20)
    reply = exchange(srv.address, b"POST / HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                     % len(body) + body)
    assert reply.endswith(b"\r\n%d" % len(body))


# ---- max_connections --------------------------------------------------------------

def test_max_connections_makes_the_next_client_wait(make_server):
    srv = make_server(max_connections=1)
    srv.handle("/", ok)
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    first = connect(srv.address)
    try:
        first.sendall(request)
        assert read_response(first)[0] == 200  # keeps its connection open
        with connect(srv.address) as second:  # the kernel's backlog takes it
            second.sendall(request)
            second.settimeout(0.5)
            with pytest.raises(socket.timeout):
                second.recv(1)  # not served while the first is open
            first.close()
            second.settimeout(TIMEOUT)
            assert read_response(second)[0] == 200
    finally:
        first.close()


def test_max_connections_counts_all_listeners_together(make_server):
    srv = make_server(bind=["127.0.0.1:0", "127.0.0.1:0"], max_connections=1)
    srv.handle("/", ok)
    one, two = srv.addresses
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

    def address(a):
        host, _, port = a.rpartition(":")
        return host, int(port)

    with connect(address(one)) as first:
        first.sendall(request)
        assert read_response(first)[0] == 200
        with connect(address(two)) as second:
            second.sendall(request)
            second.settimeout(0.5)
            with pytest.raises(socket.timeout):
                second.recv(1)
            first.close()
            second.settimeout(TIMEOUT)
            assert read_response(second)[0] == 200


# ---- arguments ---------------------------------------------------------------------

@pytest.mark.parametrize("option, value, error", [
    ("max_body_bytes", 0, ValueError),
    ("max_body_bytes", -1, ValueError),
    ("max_body_bytes", "1M", TypeError),
    ("max_body_bytes", True, TypeError),
    ("max_connections", 0, ValueError),
    ("max_connections", 1.5, TypeError),
])
def test_bad_limits_are_refused_at_once(option, value, error):
    with pytest.raises(error, match=option):
        gohttp.Server("127.0.0.1", 0, **{option: value})


def test_limits_are_off_when_none(make_server, http):
    srv = make_server(max_body_bytes=None, max_connections=None)
    srv.handle("/", ok)
    assert http.request("GET", srv.url + "/").data == b"ok"


def test_http2_frames_are_at_most_16_kib_and_a_1_mib_upload_passes(
        make_server):
    """Go's HTTP/2 server keeps a dead connection's frame buffer (the
    largest frame read) for the idle timeout: gohttp accepts 16 KiB
    frames, not Go's 1 MiB, so that costs 16 KiB, not 1 MiB."""
    h2conn = pytest.importorskip("h2.connection", reason="needs h2")
    import h2.config
    import h2.events
    import h2.settings

    srv = make_server(http2_cleartext=True)
    srv.route("POST /")(echo_length)
    sock = connect(srv.address)
    conn = h2conn.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    body = b"u" * (1 << 20)
    settings, answer, ended, sent = None, bytearray(), False, 0
    while not ended:
        data = sock.recv(65536)
        assert data, "the server closed the connection"
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                settings = ev.changed_settings
                conn.send_headers(1, [(":method", "POST"), (":path", "/"),
                                      (":scheme", "http"),
                                      (":authority", "x")])
            elif isinstance(ev, h2.events.DataReceived):
                answer += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length,
                                               ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
            elif isinstance(ev, h2.events.StreamReset):
                pytest.fail(f"the stream was reset: {ev}")
        if settings is not None and sent < len(body):
            n = min(conn.local_flow_control_window(1),
                    conn.max_outbound_frame_size, len(body) - sent)
            while n > 0:
                conn.send_data(1, body[sent:sent + n],
                               end_stream=sent + n == len(body))
                sent += n
                n = min(conn.local_flow_control_window(1),
                        conn.max_outbound_frame_size, len(body) - sent)
        sock.sendall(conn.data_to_send())
    sock.close()
    size = settings[h2.settings.SettingCodes.MAX_FRAME_SIZE].new_value
    assert size == 16384
    assert bytes(answer) == str(len(body)).encode()
