"""TLS, HTTP/2 by ALPN, and cleartext HTTP/2 with prior knowledge (h2c),
with real clients: urllib3, curl, h2load."""

from __future__ import annotations

import socket
import ssl

import pytest
import urllib3

import gohttp
from helpers.common import TIMEOUT, refuses_connections
from helpers.net import (curl, h2load, key_pair, make_key_pair,  # noqa: F401
                         needs_curl_http2, needs_h2load, needs_openssl)


def proto(w, req):
    w.header.set("Content-Type", "text/plain")
    w.write(req.proto)


def echo(w, req):
    w.write(req.body)


@pytest.fixture
def tls_server(make_server, key_pair):
    srv = make_server(certfile=key_pair.cert, keyfile=key_pair.key)
    srv.handle("/proto", proto)
    srv.handle("POST /echo", echo)
    return srv


@pytest.fixture
def https(key_pair):
    pool = urllib3.PoolManager(ca_certs=str(key_pair.cert), retries=False,
                               timeout=urllib3.Timeout(connect=TIMEOUT,
                                                       read=TIMEOUT))
    yield pool
    pool.clear()


def test_urllib3_over_tls(tls_server, https):
    assert tls_server.url.startswith("https://127.0.0.1:")
    r = https.request("GET", tls_server.url + "/proto")
    assert (r.status, r.data) == (200, b"HTTP/1.1")
    body = b"x" * 100_000
    assert https.request("POST", tls_server.url + "/echo",
                         body=body).data == body


def test_certificate_is_checked_by_the_client(tls_server):
    # The client does not trust this self-signed certificate: the
    # handshake fails on its side, the server keeps serving.
    with pytest.raises(urllib3.exceptions.SSLError):
        urllib3.request("GET", tls_server.url + "/proto", retries=False,
                        timeout=TIMEOUT)


def test_plain_http_to_a_tls_port_gets_400(tls_server):
    with socket.create_connection(tls_server.address, timeout=TIMEOUT) as s:
        s.sendall(b"GET /proto HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.0 400 ")


def test_alpn_offers_h2_then_http_1_1(tls_server, key_pair):
    ctx = ssl.create_default_context(cafile=str(key_pair.cert))
    for offered, chosen in [(["h2", "http/1.1"], "h2"),
                            (["http/1.1"], "http/1.1")]:
        ctx.set_alpn_protocols(offered)
        with socket.create_connection(tls_server.address,
                                      timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.selected_alpn_protocol() == chosen


@needs_curl_http2
def test_curl_gets_http2_over_tls(tls_server, key_pair):
    proc = curl("--http2", "--cacert", str(key_pair.cert),
                "--write-out", " %{http_version}", tls_server.url + "/proto")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "HTTP/2.0 2"


@needs_curl_http2
def test_curl_http2_by_name(tls_server, key_pair):
    # The certificate names localhost too.
    url = f"https://localhost:{tls_server.port}/proto"
    proc = curl("--http2", "--cacert", str(key_pair.cert), url)
    assert (proc.returncode, proc.stdout) == (0, "HTTP/2.0"), proc.stderr


@needs_h2load
def test_h2load_over_tls(tls_server):
    result = h2load(tls_server.url + "/proto", "-n", "400", "-c", "4",
                    "-m", "10")
    assert result.protocol == "h2", result.output
    assert (result.succeeded, result.failed) == (400, 0), result.output


# ---- cleartext HTTP/2 --------------------------------------------------------

@pytest.fixture
def h2c_server(make_server):
    srv = make_server(http2_cleartext=True)
    srv.handle("/proto", proto)
    return srv


@needs_curl_http2
def test_curl_http2_prior_knowledge(h2c_server):
    proc = curl("--http2-prior-knowledge", h2c_server.url + "/proto")
    assert (proc.returncode, proc.stdout) == (0, "HTTP/2.0"), proc.stderr


def test_http1_still_served_with_h2c_on(h2c_server, http):
    assert http.request("GET", h2c_server.url + "/proto").data == b"HTTP/1.1"


@needs_curl_http2
def test_no_cleartext_http2_unless_asked(make_server):
    srv = make_server()
    srv.handle("/proto", proto)
    proc = curl("--http2-prior-knowledge", srv.url + "/proto")
    assert proc.stdout != "HTTP/2.0"
    assert proc.returncode != 0


@needs_h2load
def test_h2load_h2c(h2c_server):
    result = h2load(h2c_server.url + "/proto", "-n", "400", "-c", "4",
                    "-m", "10")
    assert result.protocol == "h2c", result.output
    assert (result.succeeded, result.failed) == (400, 0), result.output


# ---- configuration errors, all raised before anything is bound --------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused_before_listening(error, match, **options):
    port = free_port()
    srv = gohttp.Server("127.0.0.1", port, **options)
    with pytest.raises(error, match=match):
        srv.start()
    assert not srv.serving
    assert refuses_connections(("127.0.0.1", port))


def test_missing_certfile(tmp_path, key_pair):
    refused_before_listening(FileNotFoundError, "missing.crt",
                             certfile=tmp_path / "missing.crt",
                             keyfile=key_pair.key)


def test_missing_keyfile(tmp_path, key_pair):
    refused_before_listening(FileNotFoundError, "missing.key",
                             certfile=key_pair.cert,
                             keyfile=tmp_path / "missing.key")


@needs_openssl
def test_mismatched_pair(tmp_path, key_pair):
    other = make_key_pair(tmp_path, "other")
    refused_before_listening(ValueError, "does not match",
                             certfile=key_pair.cert, keyfile=other.key)


@needs_openssl
def test_password_protected_key(tmp_path):
    locked = make_key_pair(tmp_path, "locked", passphrase="hunter2")
    refused_before_listening(ValueError, "password",
                             certfile=locked.cert, keyfile=locked.key)


def test_not_pem(tmp_path, key_pair):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    refused_before_listening(ValueError, "certfile",
                             certfile=junk, keyfile=key_pair.key)


def test_one_file_with_both(make_server, https, key_pair):
    srv = make_server(certfile=str(key_pair.combined))
    srv.handle("/proto", proto)
    assert https.request("GET", srv.url + "/proto").status == 200


def test_keyfile_needs_certfile(key_pair):
    with pytest.raises(ValueError, match="keyfile needs certfile"):
        gohttp.Server("127.0.0.1", 0, keyfile=key_pair.key)


def test_h2c_with_tls_is_refused(key_pair):
    with pytest.raises(ValueError, match="http2_cleartext"):
        gohttp.Server("127.0.0.1", 0, certfile=key_pair.combined,
                      http2_cleartext=True)



def test_scheme_is_https_under_tls_for_native_and_wsgi(tls_server, https,
                                                       make_server, http):
    def scheme(w, req):
        w.write(req.scheme)

    tls_server.handle("/scheme", scheme)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["wsgi.url_scheme"].encode()]

    tls_server.mount_wsgi("/wsgi", app)
    assert https.request("GET", tls_server.url + "/scheme").data == b"https"
    assert https.request("GET", tls_server.url + "/wsgi/").data == b"https"

    plain = make_server()
    plain.handle("/scheme", scheme)
    assert http.request("GET", plain.url + "/scheme").data == b"http"
