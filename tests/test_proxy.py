"""forwarded_allow_ips: req.remote_addr is the client a trusted proxy
names in X-Forwarded-For, and only then."""

from __future__ import annotations

import json

import pytest

import gohttp
from helpers.net import short_tmp, unix_exchange  # noqa: F401


def peer(w, req):
    w.write(req.remote_addr)


def remote_addr(http, srv, forwarded_for=None):
    headers = {} if forwarded_for is None else {
        "X-Forwarded-For": forwarded_for}
    return http.request("GET", srv.url + "/", headers=headers).data.decode()


@pytest.mark.parametrize("trusted, forwarded_for, want", [
    (None, "203.0.113.7", "127.0.0.1:"),            # off by default
    ("10.0.0.0/8", "203.0.113.7", "127.0.0.1:"),    # the peer is not trusted
    ("127.0.0.1", "203.0.113.7", "203.0.113.7:0"),
    (["127.0.0.1", "::1"], "203.0.113.7", "203.0.113.7:0"),
    ("*", "203.0.113.7", "203.0.113.7:0"),
    ("127.0.0.0/8", "2001:db8::1", "[2001:db8::1]:0"),
    # Read from the right: a client may send its own X-Forwarded-For,
    # which the proxy appends to.
    ("127.0.0.1", "6.6.6.6, 203.0.113.7", "203.0.113.7:0"),
    ("127.0.0.1, 10.0.0.0/8", "6.6.6.6, 203.0.113.7, 10.0.0.2",
     "203.0.113.7:0"),
    ("127.0.0.1", "not-an-ip", "127.0.0.1:"),
    ("127.0.0.1", None, "127.0.0.1:"),
])
def test_remote_addr(make_server, http, trusted, forwarded_for, want):
    srv = make_server(forwarded_allow_ips=trusted)
    srv.handle("/", peer)
    got = remote_addr(http, srv, forwarded_for)
    if want.endswith(":0"):
        assert got == want
    else:
        assert got.startswith(want) and got != want + "0"


def test_unix_socket_peers_with_the_unix_literal(short_tmp):
    path = str(short_tmp / "proxy.sock")
    request = (b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9"
               b"\r\nConnection: close\r\n\r\n")
    for trusted, want in [("127.0.0.1", b"@"), ("unix", b"203.0.113.9:0")]:
        srv = gohttp.Server(uds=path, forwarded_allow_ips=trusted)
        srv.handle("/", peer)
        with srv:
            assert unix_exchange(path, request).endswith(b"\r\n\r\n" + want)


def test_access_log_shows_the_forwarded_client(make_server, http, tmp_path):
    log = tmp_path / "access.log"
    srv = make_server(forwarded_allow_ips="127.0.0.1", access_log=log,
                      access_log_format="json")
    srv.handle("/", peer)
    remote_addr(http, srv, "203.0.113.7")
    srv.shutdown()
    assert json.loads(log.read_text())["remote_addr"] == "203.0.113.7"


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.0/99", "1.2.3"])
def test_bad_entries_raise_before_listening(bad):
    srv = gohttp.Server("127.0.0.1", 0, forwarded_allow_ips=f"127.0.0.1,{bad}")
    with pytest.raises(ValueError, match="forwarded_allow_ips"):
        srv.start()
    assert not srv.serving


@pytest.mark.parametrize("trusted, proto, want", [
    (None, "https", "http"),          # off by default
    ("10.0.0.0/8", "https", "http"),  # the peer is not trusted
    ("127.0.0.1", "https", "https"),
    ("127.0.0.1", "http, https", "https"),  # the nearest proxy's word
    ("127.0.0.1", None, "http"),
])
def test_scheme_from_a_trusted_proxy(make_server, http, trusted, proto, want):
    srv = make_server(forwarded_allow_ips=trusted)

    @srv.route("/")
    def scheme(w, req):
        w.write(req.scheme)

    headers = {} if proto is None else {"X-Forwarded-Proto": proto}
    assert http.request("GET", srv.url + "/", headers=headers).data == \
        want.encode()
