"""Server lifecycle: start, stop, several servers, load and concurrency."""

import errno
import os
import re
import socket
import threading
import time

import pytest
import urllib3

import gohttp
from gohttp import _gohttp
from helpers import common
from helpers.net import needs_ipv6
from helpers.common import (TIMEOUT, connect, get_at_once, read_to_end,
                            read_until, refuses_connections, thread_count)


def text(body):
    def handler(w, req):
        w.write(body)
    return handler


def get(srv, path="/"):
    return common.get(srv.url + path)


def wait_until(predicate, timeout=TIMEOUT):
    """Poll predicate until it holds; False if it never did in time.  For
    state another thread changes, never for a server to become ready."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def in_thread(fn, *args):
    """Run fn(*args) in a thread; returns (thread, results) where results
    gets fn's return value or the exception it raised."""
    results = []

    def run():
        try:
            results.append(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            results.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, results


# ---- start ------------------------------------------------------------------

def test_start_returns_the_server_once_listening():
    srv = gohttp.Server("127.0.0.1", 0)
    try:
        assert srv.start() is srv
        # No wait of any kind: it accepts connections right away.
        with socket.create_connection(srv.address, timeout=TIMEOUT):
            pass
        srv.handle("/", text(b"up"))
        assert get(srv).data == b"up"
    finally:
        srv.shutdown()


def test_port_address_url_serving_and_repr():
    srv = gohttp.Server("127.0.0.1", 0)
    assert (srv.port, srv.address, srv.url) == (0, ("127.0.0.1", 0),
                                                "http://127.0.0.1:0")
    assert srv.serving is False
    assert repr(srv) == "<gohttp.Server http://127.0.0.1:0 not started>"
    srv.start()
    try:
        port = srv.port
        assert isinstance(port, int) and 0 < port < 65536
        assert srv.address == ("127.0.0.1", port)
        assert srv.url == f"http://127.0.0.1:{port}"
        assert srv.serving is True
        assert repr(srv) == f"<gohttp.Server http://127.0.0.1:{port} serving>"
    finally:
        assert srv.shutdown() is True
    assert srv.serving is False
    assert srv.port == port
    assert repr(srv) == f"<gohttp.Server http://127.0.0.1:{port} stopped>"


def test_explicit_port():
    with socket.socket() as probe:  # find a port that is free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    srv = gohttp.Server("127.0.0.1", port)
    assert srv.port == port
    try:
        srv.start()
        assert srv.port == port
        srv.handle("/", text(b"fixed"))
        assert get(srv).data == b"fixed"
    finally:
        srv.shutdown()


def test_all_interfaces_host():
    srv = gohttp.Server("", 0).start()
    try:
        assert srv.url == f"http://0.0.0.0:{srv.port}"
        srv.handle("/", text(b"any"))
        assert common.get(f"http://127.0.0.1:{srv.port}/").data == b"any"
    finally:
        srv.shutdown()


@needs_ipv6
def test_ipv6_loopback():
    srv = gohttp.Server("::1", 0).start()
    try:
        assert srv.url == f"http://[::1]:{srv.port}"
        @srv.route("/")
        def peer(w, req):
            w.write(req.remote_addr)

        assert get(srv).data.startswith(b"[::1]:")
    finally:
        srv.shutdown()


def test_start_twice_raises_server_state_error(server):
    with pytest.raises(gohttp.ServerStateError, match="already"):
        server.start()
    assert server.serving


def test_start_after_shutdown_raises_server_state_error(server):
    assert server.shutdown() is True
    with pytest.raises(gohttp.ServerStateError, match="was shut down"):
        server.start()
    assert not server.serving


def test_configuring_a_started_server_raises_server_state_error(server):
    with pytest.raises(gohttp.ServerStateError, match="has started"):
        server._configure(port=8000)
    with pytest.raises(gohttp.ServerStateError, match="has started"):
        server._adopt_listeners([3])
    with pytest.raises(gohttp.ServerStateError, match="not yet started"):
        server.run(workers=2)
    with pytest.raises(RuntimeError):  # what it derives from, as before
        server.start()
    assert server.serving


def test_start_after_shutdown_of_a_never_started_server():
    srv = gohttp.Server("127.0.0.1", 0)
    assert srv.shutdown() is True
    with pytest.raises(RuntimeError, match="shut down"):
        srv.start()
    assert not srv.serving


def test_adding_a_route_after_shutdown_raises_runtime_error(server):
    """As the C API's handle() does: a route added to a server that can
    never serve again is a mistake, not a no-op."""
    assert server.shutdown() is True
    with pytest.raises(RuntimeError, match="shut down"):
        server.handle("/late", lambda w, req: None)
    with pytest.raises(RuntimeError, match="shut down"):
        server.route("GET /later")(lambda w, req: None)


def test_port_in_use_by_another_server_raises_os_error(server):
    other = gohttp.Server("127.0.0.1", server.port)
    with pytest.raises(OSError) as info:
        other.start()
    assert info.value.errno == errno.EADDRINUSE
    assert not other.serving
    assert other.shutdown() is True
    # The first server is unharmed.
    server.handle("/", text(b"first"))
    assert get(server).data == b"first"


def test_port_in_use_by_a_plain_socket_raises_os_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        srv = gohttp.Server("127.0.0.1", taken.getsockname()[1])
        with pytest.raises(OSError) as info:
            srv.start()
        assert info.value.errno == errno.EADDRINUSE
        assert "address already in use" in str(info.value)


def test_bad_host_raises_os_error():
    srv = gohttp.Server("203.0.113.77", 0)  # TEST-NET-3: not ours
    with pytest.raises(OSError):
        srv.start()


@pytest.mark.parametrize("kwargs, error", [
    ({"port": -1}, ValueError),
    ({"port": 65536}, ValueError),
    ({"port": "80"}, TypeError),
    ({"port": 80.0}, TypeError),
    ({"port": True}, TypeError),
    ({"host": 127001}, TypeError),
    ({"host": None}, TypeError),
    ({"max_handlers": 0}, ValueError),
    ({"max_handlers": -3}, ValueError),
])
def test_bad_arguments_to_server(kwargs, error):
    kwargs = {"host": "127.0.0.1", "port": 0, **kwargs}
    with pytest.raises(error):
        gohttp.Server(**kwargs)


@pytest.mark.parametrize("option, value, error, message", [
    ("read_header_timeout", -1.0, ValueError,
     "read_header_timeout must be a number of seconds (0 or more), or None "
     "for no limit, not -1.0"),
    ("read_timeout", "soon", TypeError, "read_timeout must be"),
    ("idle_timeout", float("nan"), ValueError, "idle_timeout must be"),
    ("write_timeout", -0.5, ValueError, "write_timeout must be"),
    ("write_timeout", 1e10, ValueError, "write_timeout must be"),
    ("max_header_bytes", -1, ValueError,
     "max_header_bytes must be a whole number of at least 1, not -1"),
    ("shutdown_timeout", None, TypeError, "shutdown_timeout must be"),
    ("access_log_format", 3, TypeError, "access_log_format must be one of"),
    ("reuse_port", "yes", TypeError, "reuse_port must be True or False"),
    ("certfile", 3, TypeError, "certfile must be a file path"),
    ("forwarded_allow_ips", [1], TypeError, "forwarded_allow_ips must be"),
])
def test_bad_options_raise_at_once(option, value, error, message):
    with pytest.raises(error, match=re.escape(message)):
        gohttp.Server("127.0.0.1", 0, **{option: value})


def test_an_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'size'"):
        gohttp.Server(size=3)


def test_a_bad_option_leaves_a_server_as_it_was():
    srv = gohttp.Server("127.0.0.1", 0, idle_timeout=5)
    with pytest.raises(ValueError, match="port must be"):
        srv._configure("127.0.0.2", 70000, idle_timeout=6)
    assert (srv.host, srv.port) == ("127.0.0.1", 0)
    assert srv._options["idle_timeout"] == 5.0


def test_serve_forever_returns_after_shutdown_from_another_thread(server):
    server.handle("/", text(b"forever"))
    t, results = in_thread(server.serve_forever)
    assert get(server).data == b"forever"
    assert t.is_alive()
    assert server.shutdown() is True
    t.join(TIMEOUT)
    assert not t.is_alive()
    assert results == [None]
    assert not server.serving


def test_serve_forever_starts_a_server_that_was_not_started():
    srv = gohttp.Server("127.0.0.1", 0)
    srv.handle("/", text(b"started by serve_forever"))
    t, results = in_thread(srv.serve_forever)
    try:
        assert wait_until(lambda: srv.serving)
        assert get(srv).data == b"started by serve_forever"
    finally:
        srv.shutdown()
    t.join(TIMEOUT)
    assert results == [None]


# ---- shutdown ---------------------------------------------------------------

def test_shutdown_twice_is_harmless(server):
    server.handle("/", text(b"x"))
    assert get(server).status == 200
    assert server.shutdown() is True
    assert server.shutdown() is True
    assert server.shutdown(timeout=0) is True
    assert not server.serving
    assert refuses_connections(server.address)


def test_shutdown_of_a_never_started_server():
    srv = gohttp.Server("127.0.0.1", 0)
    assert srv.shutdown() is True
    assert srv.shutdown(timeout=0) is True
    assert not srv.serving


def test_shutdown_refuses_new_connections(server):
    address = server.address
    server.shutdown()
    assert refuses_connections(address)


def test_shutdown_closes_idle_keep_alive_connections(server):
    server.handle("/", text(b"x"))
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_until(sock, b"\r\n\r\nx").startswith(b"HTTP/1.1 200")
        assert server.shutdown() is True  # does not wait for the idle one
        assert read_to_end(sock) == b""  # the server closed it


@pytest.mark.parametrize("options", [
    {},  # a wrapped connection: it keeps its own mark
    {"max_connections": 10},  # wrapped twice
    {"read_header_timeout": 0, "idle_timeout": 0},  # bare: the map
], ids=["swept", "limited", "bare"])
def test_shutdown_answers_a_connection_accepted_before_it(make_server,
                                                          options):
    server = make_server(**options)
    server.handle("/", text(b"x"))
    with connect(server.address) as early, connect(server.address) as probe:
        # Accepted in order: once the second is answered, the first, which
        # has sent nothing yet, was accepted too.
        probe.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_to_end(probe).startswith(b"HTTP/1.1 200")
        stopper, stopped = in_thread(server.shutdown, TIMEOUT)
        assert wait_until(lambda: refuses_connections(server.address))
        early.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_until(early, b"\r\n\r\nx").startswith(b"HTTP/1.1 200")
        stopper.join(TIMEOUT)
        assert stopped == [True]


def test_graceful_shutdown_with_a_request_in_flight(server, http):
    entered, go_on = threading.Event(), threading.Event()

    @server.route("/slow")
    def slow(w, req):
        entered.set()
        go_on.wait(TIMEOUT)
        w.write(b"finished in time")

    client, responses = in_thread(http.request, "GET", server.url + "/slow")
    assert entered.wait(TIMEOUT)

    stopper, stopped = in_thread(server.shutdown, TIMEOUT)
    # The listener closes at once, while the request is still running.
    assert wait_until(lambda: refuses_connections(server.address))
    assert stopper.is_alive() and client.is_alive()
    assert server.serving  # still draining

    go_on.set()
    client.join(TIMEOUT)
    stopper.join(TIMEOUT)
    [r] = responses
    assert (r.status, r.data) == (200, b"finished in time")
    assert stopped == [True]
    assert not server.serving
    assert refuses_connections(server.address)


def test_shutdown_that_times_out_returns_false(server, http):
    entered, go_on = threading.Event(), threading.Event()

    @server.route("/stuck")
    def stuck(w, req):
        entered.set()
        go_on.wait(TIMEOUT)

    client, responses = in_thread(http.request, "GET", server.url + "/stuck")
    assert entered.wait(TIMEOUT)
    started = time.monotonic()
    assert server.shutdown(timeout=0.3) is False
    assert time.monotonic() - started < TIMEOUT / 2
    assert not server.serving
    go_on.set()  # the handler finishes after the fact
    client.join(TIMEOUT)
    [outcome] = responses
    assert isinstance(outcome, Exception)  # its connection was cut


def test_shutdown_from_inside_a_handler(make_server, http, record):
    srv = make_server()

    @srv.route("/stop")
    def stop(w, req):
        record(srv.shutdown())
        w.write(b"stopping")

    forever, results = in_thread(srv.serve_forever)
    r = http.request("GET", srv.url + "/stop")
    assert (r.status, r.data) == (200, b"stopping")
    forever.join(TIMEOUT)
    assert not forever.is_alive()
    assert results == [None]
    assert record.one() is False  # started, not waited for
    assert not srv.serving
    assert refuses_connections(srv.address)


def test_serving_turns_false_after_shutdown_from_a_handler(make_server,
                                                           http, record):
    """Nobody waits in serve_forever here: `serving` must still tell the
    truth once the server has stopped."""
    srv = make_server()

    @srv.route("/stop")
    def stop(w, req):
        record(srv.shutdown())

    assert http.request("GET", srv.url + "/stop").status == 200
    assert record.one() is False
    assert wait_until(lambda: refuses_connections(srv.address))
    assert wait_until(lambda: not srv.serving, timeout=10), \
        "srv.serving is still True although the server has stopped"


def test_shutdown_of_another_server_from_a_handler_waits(make_server, http,
                                                         record):
    a, b = make_server(), make_server()
    b.handle("/", text(b"b"))

    @a.route("/stop-b")
    def stop_b(w, req):
        record(b.shutdown())
        record(b.serving)

    assert http.request("GET", a.url + "/stop-b").status == 200
    assert record.values == [True, False]
    assert refuses_connections(b.address)
    assert a.serving


def test_context_manager():
    srv = gohttp.Server("127.0.0.1", 0)
    with srv as entered:
        assert entered is srv
        assert srv.serving
        srv.handle("/", text(b"inside"))
        assert get(srv).data == b"inside"
        address = srv.address
    assert not srv.serving
    assert refuses_connections(address)


def test_context_manager_on_a_started_server(server):
    with server as same:
        assert same is server
    assert not server.serving


def test_context_manager_shuts_down_on_exception():
    with pytest.raises(ZeroDivisionError):
        with gohttp.Server("127.0.0.1", 0) as srv:
            1 / 0
    assert not srv.serving


def test_read_header_timeout_drops_slow_clients(make_server):
    srv = make_server(read_header_timeout=0.5)
    srv.handle("/", text(b"x"))
    with connect(srv.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never end
        started = time.monotonic()
        read_to_end(sock)  # the server gives up and closes
        assert time.monotonic() - started < TIMEOUT - 5
    assert get(srv).data == b"x"


def test_shutdown_uses_the_servers_shutdown_timeout(make_server, http):
    srv = make_server(shutdown_timeout=0.3)
    entered, go_on = threading.Event(), threading.Event()

    @srv.route("/stuck")
    def stuck(w, req):
        entered.set()
        go_on.wait(TIMEOUT)

    client, _ = in_thread(http.request, "GET", srv.url + "/stuck")
    assert entered.wait(TIMEOUT)
    try:
        assert srv.shutdown() is False  # 0.3 s, not the 10 s default
    finally:
        go_on.set()
        client.join(TIMEOUT)


# ---- several servers --------------------------------------------------------

def test_two_servers_at_once_independently(make_server):
    one, two = make_server(), make_server()
    assert one.port != two.port
    one.handle("/", text(b"one"))
    two.handle("/", text(b"two"))
    two.handle("/only-two", text(b"only two"))
    assert get(one).data == b"one"
    assert get(two).data == b"two"
    assert get(one, "/only-two").data == b"one"  # one's "/" subtree
    assert get(two, "/only-two").data == b"only two"

    assert one.shutdown() is True
    assert refuses_connections(one.address)
    assert two.serving
    assert get(two).data == b"two"


def test_many_servers_in_turn():
    for i in range(20):
        with gohttp.Server("127.0.0.1", 0) as srv:
            srv.handle("/", text(b"%d" % i))
            assert get(srv).data == b"%d" % i


def test_servers_that_are_dropped_without_shutdown_are_harmless():
    import gc
    for _ in range(5):
        srv = gohttp.Server("127.0.0.1", 0)
        srv.handle("/", text(b"x"))
        del srv
    gc.collect()
    with gohttp.Server("127.0.0.1", 0) as srv:
        srv.handle("/", text(b"still fine"))
        assert get(srv).data == b"still fine"


# ---- concurrency and load ---------------------------------------------------

def test_200_concurrent_clients(server):
    clients, rounds = 200, 5

    @server.route("POST /echo/{client}")
    def echo(w, req):
        w.header.set("X-Client", req.path_value("client"))
        w.write(req.body)

    barrier = threading.Barrier(clients, timeout=TIMEOUT)
    failures, successes = [], []

    def client(i):
        pool = urllib3.HTTPConnectionPool(
            "127.0.0.1", server.port, maxsize=1, retries=False,
            timeout=urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT))
        try:
            barrier.wait()
            for j in range(rounds):
                body = f"client {i} round {j}".encode()
                r = pool.request("POST", f"/echo/{i}", body=body)
                if (r.status, r.data, r.headers["X-Client"]) == (200, body,
                                                                  str(i)):
                    successes.append((i, j))
                else:
                    failures.append((i, j, r.status, r.data))
        except BaseException as exc:  # noqa: BLE001
            failures.append((i, repr(exc)))
        finally:
            pool.close()

    threads = [threading.Thread(target=client, args=(i,))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert len(successes) == clients * rounds


class Concurrency:
    """Counts the handlers running at once, and the most seen."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.peak = self.total = 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def test_max_handlers_1_serves_slow_handlers_one_at_a_time(make_server):
    srv = make_server(max_handlers=1)
    running = Concurrency()

    @srv.route("/slow/{i}")
    def slow(w, req):
        with running:
            time.sleep(0.05)  # work that releases the GIL
        w.write(req.path_value("i"))

    threads = [in_thread(lambda i: get(srv, f"/slow/{i}").data, i)
               for i in range(10)]
    for t, _ in threads:
        t.join(TIMEOUT + 5)
    assert [results for _, results in threads] == [[b"%d" % i]
                                                   for i in range(10)]
    assert running.peak == 1
    assert running.total == 10


def test_max_handlers_1_queues_behind_a_blocked_handler(make_server):
    srv = make_server(max_handlers=1)
    entered, go_on = threading.Event(), threading.Event()

    @srv.route("/block")
    def block(w, req):
        entered.set()
        go_on.wait(TIMEOUT)
        w.write(b"unblocked")

    srv.handle("/quick", text(b"quick"))
    blocked, first = in_thread(lambda: get(srv, "/block").data)
    assert entered.wait(TIMEOUT)
    queued = [in_thread(lambda: get(srv, "/quick").data) for _ in range(5)]
    go_on.set()
    blocked.join(TIMEOUT)
    for t, _ in queued:
        t.join(TIMEOUT)
    assert first == [b"unblocked"]
    assert [r for _, r in queued] == [[b"quick"]] * 5


def test_a_blocked_handler_does_not_stall_the_others(server):
    """With the default max_handlers, a handler waiting (without the GIL)
    for something only another request provides must not deadlock."""
    released = threading.Event()

    @server.route("/wait")
    def wait(w, req):
        w.write(b"released" if released.wait(TIMEOUT) else b"timed out")

    @server.route("/release")
    def release(w, req):
        released.set()
        w.write(b"ok")

    waiter, result = in_thread(lambda: get(server, "/wait").data)
    assert get(server, "/release").data == b"ok"
    waiter.join(TIMEOUT + 5)
    assert result == [b"released"]


@pytest.mark.parametrize("spin, requests", [(0.001, 60), (0.03, 16)],
                         ids=["1ms", "30ms"])
def test_handlers_that_hold_the_gil_do_not_widen_the_lane(make_server, spin,
                                                          requests):
    """Requests queued behind handlers that keep the GIL wait in Go: a
    wider lane would only have them wait for the GIL in C, holding an OS
    thread (and a thread state) each."""
    srv = make_server()

    @srv.route("/spin")
    def spinner(w, req):
        end = time.perf_counter() + spin
        while time.perf_counter() < end:
            pass
        w.write(b"spun")

    assert get(srv, "/spin").data == b"spun"
    before = _gohttp._thread_states()
    replies = get_at_once(srv.address, "/spin", requests)
    assert all(r.endswith(b"spun") for r in replies)
    # A few threads Go had not used yet may enter C; a lane that widened
    # behind these handlers took about one thread per queued request.
    made = _gohttp._thread_states() - before
    assert made < min(15, requests * 3 // 4), made


def test_a_handler_may_call_its_own_server(server):
    server.handle("/inner", text(b"inner"))

    @server.route("/outer")
    def outer(w, req):
        w.write(b"outer+" + get(server, "/inner").data)

    assert get(server, "/outer").data == b"outer+inner"


def test_many_slow_requests_queue_without_a_thread_each(make_server):
    """Requests beyond max_handlers wait in Go: the process does not grow
    an OS thread per waiting request."""
    max_handlers, n = 4, 200
    srv = make_server(max_handlers=max_handlers)
    running = Concurrency()

    @srv.route("/slow")
    def slow(w, req):
        with running:
            time.sleep(0.02)
        w.write(b"done")

    assert get(srv, "/slow").data == b"done"  # warm: runner threads exist
    before = thread_count()
    replies = get_at_once(srv.address, "/slow", n)
    assert all(r.startswith(b"HTTP/1.1 200 OK") and r.endswith(b"done")
               for r in replies)
    assert running.peak <= max_handlers
    assert running.total == n + 1
    # Go keeps the OS threads it made, so the peak shows afterwards: a
    # few runners and Go's own threads, not one per waiting request.
    grown = thread_count() - before
    assert grown < max_handlers + (os.cpu_count() or 1) + 30, grown
