"""Where a server listens: host and port, several bind addresses, IPv6,
Unix domain sockets, an inherited file descriptor."""

from __future__ import annotations

import errno
import os
import re
import socket

import pytest

import gohttp
from helpers.common import exchange, refuses_connections
from helpers.net import (curl, needs_curl_unix, needs_ipv6,  # noqa: F401
                         short_tmp, unix_exchange)

REQUEST = b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def who(w, req):
    w.write(f"{req.host} {req.remote_addr}")


@pytest.fixture
def started():
    """started(**options) -> a started server; shut down after the test."""
    servers = []

    def start(**options):
        srv = gohttp.Server(**options)
        servers.append(srv)
        srv.handle("/who", who)
        return srv.start()

    yield start
    for srv in servers:
        srv.shutdown(timeout=5.0)


def tcp(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def test_host_and_port_as_before(started):
    srv = started(host="127.0.0.1", port=0)
    assert srv.addresses == [f"127.0.0.1:{srv.port}"]
    assert srv.urls == [srv.url] == [f"http://127.0.0.1:{srv.port}"]
    assert exchange(srv.address, REQUEST).startswith(b"HTTP/1.1 200 ")


def test_several_bind_addresses(started):
    srv = started(bind=["127.0.0.1:0", "127.0.0.1:0"])
    one, two = srv.addresses
    assert one != two
    for address in (one, two):
        assert exchange(tcp(address), REQUEST).startswith(b"HTTP/1.1 200 ")
    assert srv.port == tcp(one)[1]
    assert srv.url == f"http://{one}"
    assert srv.address == tcp(one)


def test_bind_replaces_host_and_port(started):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    srv = started(host="127.0.0.1", port=port, bind="127.0.0.1:0")
    assert len(srv.addresses) == 1 and srv.port != port
    assert refuses_connections(("127.0.0.1", port))


@needs_ipv6
def test_ipv6(started):
    srv = started(bind=["[::1]:0", "127.0.0.1:0"])
    v6, v4 = srv.addresses
    assert v6.startswith("[::1]:")
    assert srv.url == f"http://{v6}"
    reply = exchange(tcp(v6), REQUEST)
    assert reply.endswith(b" [::1]:" + reply.rsplit(b":", 1)[1])
    assert exchange(tcp(v4), REQUEST).startswith(b"HTTP/1.1 200 ")


@needs_ipv6
def test_ipv6_host(started):
    srv = started(host="::1", port=0)
    assert srv.url == f"http://[::1]:{srv.port}"
    assert exchange(srv.address, REQUEST).startswith(b"HTTP/1.1 200 ")


def test_unix_socket(started, short_tmp):
    path = str(short_tmp / "app.sock")
    srv = started(uds=path)
    assert srv.addresses == srv.urls == [f"unix:{path}"]
    assert srv.address == path and srv.port == 0
    reply = unix_exchange(path, REQUEST)
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.endswith(b"\r\n\r\nx @")  # a Unix peer has no address
    srv.shutdown()
    assert not os.path.exists(path)  # removed when the server stops


@needs_curl_unix
def test_curl_over_a_unix_socket(started, short_tmp):
    path = str(short_tmp / "curl.sock")
    started(uds=path)
    proc = curl("--unix-socket", path, "http://localhost/who")
    assert (proc.returncode, proc.stdout) == (0, "localhost @"), proc.stderr


def test_unix_socket_and_tcp_together(started, short_tmp):
    path = str(short_tmp / "both.sock")
    srv = started(bind="127.0.0.1:0", uds=path)
    address, unix = srv.addresses
    assert unix == f"unix:{path}"
    assert exchange(tcp(address), REQUEST).startswith(b"HTTP/1.1 200 ")
    assert unix_exchange(path, REQUEST).startswith(b"HTTP/1.1 200 ")


def test_stale_unix_socket_is_replaced(started, short_tmp):
    path = str(short_tmp / "stale.sock")
    with socket.socket(socket.AF_UNIX) as gone:
        gone.bind(path)  # left behind: nothing listens on it
    srv = started(uds=path)
    assert unix_exchange(path, REQUEST).startswith(b"HTTP/1.1 200 ")
    srv.shutdown()


def test_unix_socket_in_use_is_not_taken(started, short_tmp):
    path = str(short_tmp / "busy.sock")
    started(uds=path)
    with pytest.raises(OSError, match="another server") as info:
        started(uds=path)
    assert info.value.errno == errno.EADDRINUSE


def test_other_file_at_the_socket_path_stays(short_tmp):
    path = short_tmp / "file"
    path.write_text("precious")
    srv = gohttp.Server(uds=path)
    with pytest.raises(FileExistsError, match="not a socket"):
        srv.start()
    assert path.read_text() == "precious"


def test_inherited_fd(started):
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    fd = sock.detach()  # the server owns it now, as after systemd
    srv = started(fd=fd)
    assert srv.addresses == [f"127.0.0.1:{port}"]
    assert srv.port == port and srv.url == f"http://127.0.0.1:{port}"
    assert exchange(("127.0.0.1", port), REQUEST).startswith(
        b"HTTP/1.1 200 ")
    srv.shutdown()
    assert refuses_connections(("127.0.0.1", port))


def test_inherited_unix_fd(started, short_tmp):
    path = str(short_tmp / "fd.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    sock.listen()
    srv = started(fd=sock.detach())
    assert srv.addresses == [f"unix:{path}"]
    assert unix_exchange(path, REQUEST).startswith(b"HTTP/1.1 200 ")


def test_fd_that_is_not_listening(started):
    sock = socket.socket()
    try:
        with pytest.raises(ValueError, match="not a listening"):
            started(fd=sock.fileno())
    finally:
        sock.close()


def test_fd_that_is_not_a_socket(started, tmp_path):
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError, match="not a socket"):
            started(fd=r)
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("fd, error", [(-1, ValueError), ("3", TypeError),
                                       (1.0, TypeError), (True, TypeError)])
def test_bad_fd_values(fd, error):
    with pytest.raises(error, match="fd must be a file descriptor number"):
        gohttp.Server(fd=fd)


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost:http",
                                     "127.0.0.1:99999", "unix:", "fd://x"])
def test_bad_bind_address_is_refused_at_once(address):
    message = f"bind: bad address '{re.escape(address)}': want HOST:PORT"
    with pytest.raises(ValueError, match=message):
        gohttp.Server(bind=["127.0.0.1:0", address])


def test_an_address_that_cannot_be_bound_binds_nothing(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    srv = gohttp.Server(bind=[f"127.0.0.1:{port}",
                              f"unix:{tmp_path}/no/such/dir/s.sock"])
    with pytest.raises(OSError):
        srv.start()
    assert not srv.serving
    assert refuses_connections(("127.0.0.1", port))  # the good one closed too


def test_bind_of_wrong_type():
    with pytest.raises(TypeError):
        gohttp.Server(bind=[8000])


def test_address_in_use(started):
    first = started(host="127.0.0.1", port=0)
    srv = gohttp.Server(bind=[first.addresses[0]])
    with pytest.raises(OSError, match="address already in use"):
        srv.start()


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"),
                    reason="the system has no SO_REUSEPORT")
def test_reuse_port_shares_an_address(started):
    first = started(host="127.0.0.1", port=0, reuse_port=True)
    second = started(host="127.0.0.1", port=first.port, reuse_port=True)
    assert second.addresses == first.addresses
    # Both accept: the kernel spreads connections among them.  Once the
    # first stops, the second takes every connection.
    first.shutdown()
    for _ in range(5):
        assert exchange(second.address, REQUEST).startswith(b"HTTP/1.1 200 ")
    # A server without it cannot join them.
    with pytest.raises(OSError, match="address already in use"):
        gohttp.Server(host="127.0.0.1", port=second.port).start()


def test_addresses_before_start():
    srv = gohttp.Server(bind=["127.0.0.1:0"], uds="/tmp/never.sock")
    assert srv.addresses == []
    assert srv.urls == ["http://127.0.0.1:0", "unix:/tmp/never.sock"]


def test_configure_keeps_what_it_is_not_given(tmp_path):
    # run() and the gohttp command configure the server this way.
    srv = gohttp.Server("127.0.0.1", 0)
    srv._configure(uds=str(tmp_path / "s"))
    assert srv.urls == [f"unix:{tmp_path / 's'}"]
    srv._configure(uds=None)
    assert srv.urls == ["http://127.0.0.1:0"]


# ---- the address forms, and adopting inherited listeners --------------------

@pytest.mark.parametrize("text, kind, where", [
    ("127.0.0.1:8000", "tcp", ("127.0.0.1", 8000)),
    (":8000", "tcp", ("", 8000)),
    ("[::1]:0", "tcp", ("::1", 0)),
    ("localhost:65535", "tcp", ("localhost", 65535)),
    ("unix:/run/app.sock", "unix", "/run/app.sock"),
    ("fd://3", "fd", 3),
])
def test_address_forms_parse_and_format_back(text, kind, where):
    from gohttp import _address
    address = _address.parse(text)
    assert address.kind == kind
    assert {"tcp": (address.host, address.port), "unix": address.path,
            "fd": address.fd}[kind] == where
    assert str(address) == text
    assert _address.parse(str(address)) == address


@pytest.mark.parametrize("text, url", [
    ("127.0.0.1:8000", "https://127.0.0.1:8000"),
    (":8000", "https://0.0.0.0:8000"),
    ("[::]:8000", "https://0.0.0.0:8000"),
    ("[::1]:8000", "https://[::1]:8000"),
    ("unix:/run/a.sock", "unix:/run/a.sock"),
])
def test_address_urls(text, url):
    from gohttp import _address
    assert _address.parse(text).url("https") == url


@pytest.mark.parametrize("text", ["::1:8000", "[127.0.0.1]:80", "host:",
                                  "fd://-1", "fd://", "127.0.0.1:0\0"])
def test_address_forms_refused(text):
    from gohttp import _address
    with pytest.raises(ValueError, match="want HOST:PORT"):
        _address.parse(text)


def test_adopted_listeners_replace_the_configured_addresses(short_tmp):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    srv = gohttp.Server(bind=f"unix:{short_tmp / 'unused.sock'}")
    srv.handle("/who", who)
    srv._adopt_listeners([sock.detach()])
    with srv:
        assert srv.addresses == [f"127.0.0.1:{port}"]
        assert srv.url == f"http://127.0.0.1:{port}"
        assert exchange(("127.0.0.1", port), REQUEST).startswith(
            b"HTTP/1.1 200 ")
        with pytest.raises(gohttp.ServerStateError, match="has started"):
            srv._adopt_listeners([0])
    assert not (short_tmp / "unused.sock").exists()
    assert refuses_connections(("127.0.0.1", port))  # the server closed it


# TCP keep-alive of accepted connections (tcp_keepalive): the server's end
# of a connection runs the kernel's keep-alive timer, as /proc/net/tcp
# shows it (Linux).
needs_proc_net_tcp = pytest.mark.skipif(
    not os.path.exists("/proc/net/tcp"), reason="reads /proc/net/tcp")


def server_timer(server_port: int, client: socket.socket
                 ) -> tuple[int, float]:
    """(timer, seconds until it fires) of the server's end of client's
    connection: timer 2 is keep-alive, 0 none."""
    client_port = client.getsockname()[1]
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (int(local.split(":")[1], 16) == server_port
                    and int(remote.split(":")[1], 16) == client_port):
                timer, when = fields[5].split(":")
                return int(timer, 16), int(when, 16) / os.sysconf(
                    "SC_CLK_TCK")
    raise AssertionError(f"no server end for port {client_port}")


def idle_connection(port: int) -> socket.socket:
    """A keep-alive connection that has had its response: the server
    holds it open, waiting for the next request."""
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.recv(4096).startswith(b"HTTP/1.1 200 ")
    return client


@needs_proc_net_tcp
@pytest.mark.parametrize("options, timer, low, high", [
    ({}, 2, 7.0, 15.0),                      # Go's default, 15 s
    ({"tcp_keepalive": 3}, 2, 0.0, 3.0),
    ({"tcp_keepalive": 0}, 0, 0.0, 0.0),
])
def test_tcp_keepalive(started, options, timer, low, high):
    srv = started(host="127.0.0.1", port=0, **options)
    with idle_connection(srv.port) as client:
        got, left = server_timer(srv.port, client)
        assert got == timer
        assert low < left <= high or timer == 0


@needs_proc_net_tcp
def test_tcp_keepalive_of_an_inherited_socket(started):
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    started(fd=sock.detach(), tcp_keepalive=3)
    with idle_connection(port) as client:
        got, left = server_timer(port, client)
        assert got == 2 and 0.0 < left <= 3.0


@pytest.mark.parametrize("value, error", [
    (-1, ValueError), (32768, ValueError), (1.5, TypeError),
    (True, TypeError)])
def test_tcp_keepalive_checked(value, error):
    with pytest.raises(error, match="tcp_keepalive must be a whole number "
                                    "of seconds from 0"):
        gohttp.Server(tcp_keepalive=value)
