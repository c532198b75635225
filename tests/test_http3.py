"""HTTP/3 over QUIC (go/http3.go), with real clients: a small Go program
built from quic-go's own client (go/h3client), and niquests (qh3) when
it installs."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import urllib3

import gohttp
from gohttp._http3 import udp_buffer_warning
from helpers.common import TIMEOUT
from helpers.net import key_pair  # noqa: F401

GO_DIR = Path(__file__).resolve().parent.parent / "go"


@pytest.fixture(scope="session")
def h3client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The path of go/h3client, built once per session (Go caches the
    build: seconds after the first)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("the Go toolchain is not on PATH: go/h3client cannot be "
                    "built")
    out = tmp_path_factory.mktemp("h3client") / "h3client"
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    for var in ("GOEXPERIMENT", "GOFLAGS", "CGO_CFLAGS", "CGO_LDFLAGS"):
        env.pop(var, None)  # a sanitizer build's: not for this client
    proc = subprocess.run([go, "build", "-o", str(out), "./h3client"],
                          cwd=GO_DIR, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def h3get(client: Path, *urls: str, method: str = "GET", data: str = "",
          headers: tuple[str, ...] = (), check: bool = True,
          each: bool = False) -> list[dict[str, Any]]:
    """One JSON result per URL, all on one QUIC connection (each: one
    connection per URL)."""
    args = [str(client), "-X", method] + (["-each"] if each else [])
    if data:
        args += ["-d", data]
    for h in headers:
        args += ["-H", h]
    proc = subprocess.run(args + list(urls), capture_output=True, text=True,
                          timeout=TIMEOUT * 2)
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    if check:
        assert proc.returncode == 0, (results, proc.stderr)
    return results


def proto(w, req):
    w.header.set("Content-Type", "text/plain")
    w.write(req.proto)


def echo(w, req):
    w.write(req.body)


# An app's own Alt-Svc, which the server leaves as it is.
OWN_ALT_SVC = 'h3=":443"; ma=60'


def own_alt_svc(w, req):
    w.header.set("Alt-Svc", OWN_ALT_SVC)


def wsgi_app(environ, start_response):
    body = environ["SERVER_PROTOCOL"].encode()
    # A hop-by-hop field HTTP/3 forbids: the server leaves it out.
    headers = [("Content-Type", "text/plain"), ("Connection", "close")]
    if environ["PATH_INFO"].endswith("own-alt-svc"):
        headers.append(("Alt-Svc", OWN_ALT_SVC))
    start_response("200 OK", headers)
    return [body]


# Over 64 KiB: lent to Go, which copies it through a buffer of its own
# over HTTP/3 (bridge.h rule 8g).
LARGE = bytes(bytearray(b"q" * (300 * 1024)))


async def asgi_app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"].endswith("/large"):
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": LARGE,
                    "more_body": True})
        await send({"type": "http.response.body", "body": LARGE})
        return
    headers = [(b"content-type", b"text/plain")]
    if scope["path"].endswith("own-alt-svc"):
        headers.append((b"alt-svc", OWN_ALT_SVC.encode()))
    await send({"type": "http.response.start", "status": 200,
                "headers": headers})
    await send({"type": "http.response.body",
                "body": scope["http_version"].encode()})


def serving_all(cert, key):
    """A started server with HTTP/3 and a native, a WSGI and an ASGI
    route.  Mounted before start: an ASGI app mounted on a started server
    is never called (see the report of branch h3)."""
    srv = gohttp.Server("127.0.0.1", 0, certfile=cert, keyfile=key,
                        http3=True, shutdown_timeout=5.0)
    srv.handle("/proto", proto)
    srv.handle("/own-alt-svc", own_alt_svc)
    srv.handle("POST /echo", echo)
    srv.mount_wsgi("/wsgi/", wsgi_app)
    srv.mount_asgi("/asgi/", asgi_app, lifespan="off")
    srv.static("/static/", Path(__file__).parent)
    return srv.start()


@pytest.fixture
def h3_server(key_pair):
    srv = serving_all(key_pair.cert, key_pair.key)
    yield srv
    srv.shutdown()


@pytest.fixture(scope="session")
def ca_and_leaf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a certificate it signed for localhost and 127.0.0.1: qh3
    (webpki) refuses a self-signed certificate that is its own CA."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command (Debian package openssl)")
    d = tmp_path_factory.mktemp("h3tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    for cmd in (
            ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=gohttp test CA"],
            ["req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr",
             "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey",
             "ca.key", "-CAcreateserial", "-out", "leaf.crt", "-days", "2",
             "-extfile", "ext.cnf"]):
        proc = subprocess.run(["openssl", *cmd], cwd=d, capture_output=True,
                              text=True, timeout=TIMEOUT)
        assert proc.returncode == 0, proc.stderr
    return {"ca": d / "ca.crt", "cert": d / "leaf.crt", "key": d / "leaf.key"}


@pytest.fixture
def niquests_server(ca_and_leaf):
    srv = serving_all(ca_and_leaf["cert"], ca_and_leaf["key"])
    yield srv
    srv.shutdown()


@pytest.fixture(scope="session")
def niquests_path() -> Path:
    """A directory holding niquests (tests/requirements-http3.txt),
    installed once into build/ and kept there; skips if pip cannot."""
    root = Path(__file__).resolve().parent.parent
    target = root / "build" / f"niquests-py{sys.version_info[0]}{sys.version_info[1]}"
    if not (target / "niquests").is_dir():
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "--target", str(target),
             "-r", str(root / "tests" / "requirements-http3.txt")],
            capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            pytest.skip("niquests (an HTTP/3 client, through qh3) did not "
                        "install here: " + proc.stderr.strip()[-300:])
    return target


def test_niquests_upgrades_by_alt_svc(niquests_server, ca_and_leaf,
                                      niquests_path):
    # As a browser does: HTTP/2 first, whose Alt-Svc sends the next
    # requests over HTTP/3.
    base = niquests_server.url
    script = Path(__file__).resolve().parent / "helpers" / "niquests_client.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(ca_and_leaf["ca"]),
         base + "/proto", base + "/proto", base + "/wsgi/", base + "/asgi/",
         "POST:" + base + "/echo"],
        env={**os.environ, "PYTHONPATH": str(niquests_path)},
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    first, *rest = [json.loads(line) for line in proc.stdout.splitlines()]
    assert first["version"] == 20 and first["body"] == "HTTP/2.0"
    assert "h3=" in first["alt_svc"]
    assert [r["version"] for r in rest] == [30, 30, 30, 30], rest
    assert [r["body"] for r in rest[:3]] == ["HTTP/3.0", "HTTP/3.0", "3"]
    assert rest[3]["body"] == "q" * 50_000


def test_three_interfaces_see_http3(h3_server, h3client):
    base = h3_server.url
    native, wsgi, asgi, static, missing = h3get(
        h3client, base + "/proto", base + "/wsgi/", base + "/asgi/",
        base + "/static/test_http3.py", base + "/nothing-here")
    for r in (native, wsgi, asgi, static):
        assert r["status"] == 200 and r["proto"] == "HTTP/3.0", r
    assert missing["status"] == 404
    for r in (native, wsgi, asgi, static, missing):
        assert "Alt-Svc" not in r["headers"], r   # nothing to advertise
    assert native["body"].startswith("HTTP/3")
    assert wsgi["body"].startswith("HTTP/3")
    assert "Connection" not in wsgi["headers"]
    assert asgi["body"] == "3"


def test_body_both_ways(h3_server, h3client):
    data = "x" * 100_000
    (r,) = h3get(h3client, h3_server.url + "/echo", method="POST", data=data)
    assert r["status"] == 200 and r["body"] == data


def test_a_large_asgi_body(h3_server, h3client):
    """A body Go writes from Python's memory arrives whole over HTTP/3,
    and is released once written."""
    count = (lambda: sys.getrefcount(LARGE))   # the same from any frame
    before = count()
    (r,) = h3get(h3client, h3_server.url + "/asgi/large")
    assert r["status"] == 200 and r["body"] == "q" * (600 * 1024)
    deadline = time.monotonic() + TIMEOUT
    while count() > before and time.monotonic() < deadline:
        time.sleep(0.005)
    assert count() == before


def test_alt_svc_on_tcp_responses(h3_server, key_pair):
    pool = urllib3.PoolManager(ca_certs=str(key_pair.cert), retries=False,
                               timeout=TIMEOUT)
    port = h3_server.address[1]
    # A Python handler, WSGI and ASGI apps that set their own headers,
    # and what Go answers alone, a static file and a 404: all advertise
    # HTTP/3, as Caddy and quic-go's http3.ListenAndServeTLS do.
    for path in ("/proto", "/wsgi/", "/asgi/", "/static/test_http3.py",
                 "/nothing-here"):
        r = pool.request("GET", h3_server.url + path)
        assert r.headers["Alt-Svc"] == f'h3=":{port}"; ma=86400', path
    assert pool.request("GET", h3_server.url + "/proto").data == b"HTTP/1.1"
    # An app's own Alt-Svc (a port mapped elsewhere, another max-age,
    # "clear") is sent as it is, also the third time, when Go reuses the
    # headers of the same response (go/headerblock.go); and a response
    # without one after those still gets the server's.
    for path in ("/own-alt-svc", "/wsgi/own-alt-svc", "/asgi/own-alt-svc"):
        for _ in range(3):
            r = pool.request("GET", h3_server.url + path)
            assert r.headers.getlist("Alt-Svc") == [OWN_ALT_SVC], path
    r = pool.request("GET", h3_server.url + "/proto")
    assert r.headers["Alt-Svc"] == f'h3=":{port}"; ma=86400'
    pool.clear()


def test_limits_apply(make_server, key_pair, h3client):
    srv = make_server(certfile=key_pair.cert, keyfile=key_pair.key,
                      http3=True, max_body_bytes=1000,
                      max_header_bytes=4096)
    srv.handle("POST /echo", echo)
    url = srv.url + "/echo"
    (small,) = h3get(h3client, url, method="POST", data="y" * 1000)
    assert small["status"] == 200
    (big,) = h3get(h3client, url, method="POST", data="y" * 1001)
    assert big["status"] == 413
    (huge,) = h3get(h3client, url, method="POST", data="z",
                    headers=("X-Big: " + "h" * 20_000,), check=False)
    assert huge["status"] != 200  # quic-go refuses the headers


def test_http3_bind_elsewhere_at_port_0(make_server, key_pair, h3client):
    # Port 0: the OS picks a UDP port, which http3_url and the Alt-Svc
    # header report, as url does for TCP.
    srv = make_server(certfile=key_pair.cert, keyfile=key_pair.key,
                      http3=True, http3_bind="127.0.0.1:0")
    srv.handle("/proto", proto)
    udp_port = int(srv.http3_url.rsplit(":", 1)[1])
    assert udp_port not in (0, srv.port)
    assert srv.http3_url == f"udp://127.0.0.1:{udp_port}"
    (r,) = h3get(h3client, f"https://127.0.0.1:{udp_port}/proto")
    assert r["status"] == 200 and r["body"].startswith("HTTP/3")
    pool = urllib3.PoolManager(ca_certs=str(key_pair.cert), retries=False,
                               timeout=TIMEOUT)
    tcp = pool.request("GET", srv.url + "/proto")
    assert tcp.headers["Alt-Svc"] == f'h3=":{udp_port}"; ma=86400'
    pool.clear()


def test_http3_bind_port_0_refused_with_workers(subprocess_env, key_pair):
    # Each worker would bind a UDP port of its own.
    from test_cli import failure
    tls = ["--certfile", str(key_pair.cert), "--keyfile", str(key_pair.key)]
    code, err = failure(subprocess_env, "wsgi_apps.hello:app", "-b",
                        "127.0.0.1:0", "--workers", "2", "--http3",
                        "--http3-bind", "127.0.0.1:0", *tls)
    assert code == 1 and "port 0 cannot be shared by worker" in err, err
    srv = gohttp.Server("127.0.0.1", 0, certfile=key_pair.cert,
                        keyfile=key_pair.key, http3=True,
                        http3_bind="127.0.0.1:0")
    with pytest.raises(ValueError, match="give a port"):
        srv.run(workers=2)


def test_http3_needs_tls():
    with pytest.raises(ValueError, match="http3 needs TLS"):
        gohttp.Server("127.0.0.1", 0, http3=True)
    with pytest.raises(ValueError, match="set http3 too"):
        gohttp.Server("127.0.0.1", 0, http3_0rtt=True)


def test_udp_port_taken(key_pair):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        srv = gohttp.Server("127.0.0.1", 0, certfile=key_pair.cert,
                            keyfile=key_pair.key, http3=True,
                            http3_bind=f"127.0.0.1:{s.getsockname()[1]}")
        with pytest.raises(OSError):
            srv.start()
        assert not srv.serving


def test_graceful_shutdown_lets_requests_finish(make_server, key_pair,
                                                h3client):
    srv = make_server(certfile=key_pair.cert, keyfile=key_pair.key,
                      http3=True)
    entered = threading.Event()

    def slow(w, req):
        entered.set()
        time.sleep(0.5)
        w.write(b"finished")

    srv.handle("/slow", slow)
    results: list[Any] = []
    client = threading.Thread(
        target=lambda: results.extend(h3get(h3client, srv.url + "/slow")))
    client.start()
    assert entered.wait(TIMEOUT)
    srv.shutdown()
    client.join(TIMEOUT)
    assert results and results[0]["body"] == "finished", results


def test_random_datagrams_do_no_harm(h3_server, serves_on):
    host, port = h3_server.address
    rnd = random.Random(22)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for size in (1, 20, 1200, 1350, 1500, 65000):
            for _ in range(20):
                s.sendto(rnd.randbytes(size), (host, port))
        # Long-header-looking and short-header-looking garbage.
        for first in (0xC0, 0xC3, 0x40, 0x00):
            s.sendto(bytes([first]) + rnd.randbytes(1300), (host, port))
    serves_on(h3_server)


def test_workers_each_serve_http3(subprocess_env, key_pair, h3client):
    # Each worker binds the UDP port with SO_REUSEPORT; the kernel hashes
    # each client address and port to one of them, so that a connection's
    # packets all reach the worker that holds it.
    from test_cli import gohttp_command, stop
    with gohttp_command(subprocess_env, "wsgi_apps.workers_app:app",
                        "-b", "127.0.0.1:0", "--workers", "2", "--http3",
                        "--certfile", str(key_pair.cert),
                        "--keyfile", str(key_pair.key)) as (proc, banner):
        _, url = banner.wait()
        port = url.rsplit(":", 1)[1]
        assert f" and HTTP/3 on udp://127.0.0.1:{port} with 2 workers" \
            in banner.lines[-1]
        results = h3get(h3client, *[url + "/"] * 24, each=True)
        assert {r["proto"] for r in results} == {"HTTP/3.0"}
        pids = {r["headers"]["X-Worker-Pid"][0] for r in results}
        assert len(pids) == 2, pids
        assert stop(proc) == 0
    # The UDP buffer check speaks once, from the supervisor, when this
    # kernel's caps are short (the same check, here).
    warnings = [line for line in banner.lines if "net.core.rmem_max" in line]
    assert len(warnings) == (1 if udp_buffer_warning() else 0), warnings


# Faults (issue 22): each makes go/h3client misbehave (h3client -fault,
# go/h3client/faults.go) and checks the server keeps serving, stops
# without waiting on the misbehaving client, and logs nothing alarming.

def fault(client: Path, name: str, url: str, n: int = 1,
          **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([str(client), "-fault", name, "-n", str(n), url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)


def assert_quiet(capfd: pytest.CaptureFixture[str],
                 caplog: pytest.LogCaptureFixture) -> None:
    """Nothing alarming logged, whatever the client did: no record at
    info level or above from the gohttp loggers, and nothing on standard
    error, where Go's log writes (no error, panic or traceback)."""
    loud = [r.getMessage() for r in caplog.records
            if r.levelno >= logging.INFO and r.name.startswith("gohttp")
            and "net.core.rmem_max" not in r.getMessage()]
    assert not loud, loud
    err = capfd.readouterr().err
    for word in ("panic", "Traceback", "ERROR", "error", "goroutine "):
        assert word not in err, err


@pytest.fixture
def fault_server(make_server, key_pair):
    """fault_server(**options) -> a started HTTP/3 server serving GET
    /proto, shut down after the test."""
    def make(**options: Any) -> gohttp.Server:
        srv = make_server(certfile=key_pair.cert, keyfile=key_pair.key,
                          http3=True, **options)
        srv.handle("/proto", proto)
        return srv
    return make


@pytest.fixture
def serves_on(h3client, key_pair, capfd, caplog):
    """serves_on(srv), the end of each fault test: the server still
    answers over HTTP/3 and TCP, stops, and logged nothing alarming."""
    def check(srv: gohttp.Server) -> None:
        (r,) = h3get(h3client, srv.url + "/proto")
        assert r["status"] == 200 and r["body"] == "HTTP/3.0", r
        tcp = urllib3.PoolManager(ca_certs=str(key_pair.cert), retries=False,
                                  timeout=TIMEOUT)
        assert tcp.request("GET", srv.url + "/proto").data == b"HTTP/1.1"
        tcp.clear()
        srv.shutdown()
        assert_quiet(capfd, caplog)
    return check


def uploads(srv: gohttp.Server) -> tuple[threading.Semaphore, list[str]]:
    """Adds POST /upload, which reads the whole body; returns a semaphore
    released as each request enters and the list of how each read ended."""
    entered = threading.Semaphore(0)
    ended: list[str] = []

    def upload(w, req):
        entered.release()
        try:
            ended.append(f"read {len(req.body)} bytes")
        except OSError as exc:  # the client went away
            ended.append(type(exc).__name__)

    srv.handle("POST /upload", upload)
    return entered, ended


def test_unfinished_streams_do_not_hold_shutdown(fault_server, h3client,
                                                 capfd, caplog):
    # Three requests whose bodies never finish, from a client that stays
    # connected: the server serves others meanwhile, and its shutdown
    # ends them at shutdown_timeout rather than waiting for their bodies.
    srv = fault_server(shutdown_timeout=0.3)
    entered, ended = uploads(srv)
    client = fault(h3client, "stall", srv.url + "/upload", 3,
                   stdin=subprocess.PIPE)
    try:
        for _ in range(3):
            assert entered.acquire(timeout=TIMEOUT)
        (r,) = h3get(h3client, srv.url + "/proto")
        assert r["body"] == "HTTP/3.0"
        stopper = threading.Thread(target=srv.shutdown)
        stopper.start()
        stopper.join(TIMEOUT)
        assert not stopper.is_alive(), "shutdown waits on unfinished streams"
        assert ended == ["OSError"] * 3, ended  # a read cut off, as HTTP/2's
    finally:
        client.kill()
        client.communicate()
    assert_quiet(capfd, caplog)


def test_client_that_vanishes(fault_server, h3client, serves_on):
    # A client gone mid-body without a CONNECTION_CLOSE (killed, or off
    # the network): QUIC's idle timeout (idle_timeout) ends its
    # connection, and the handler's read with it.
    srv = fault_server(idle_timeout=0.5)
    entered, ended = uploads(srv)
    client = fault(h3client, "stall", srv.url + "/upload",
                   stdin=subprocess.PIPE)
    assert entered.acquire(timeout=TIMEOUT)
    # Its standard input closed, it exits without closing its connection.
    client.communicate(timeout=TIMEOUT)
    assert client.returncode == 0
    deadline = time.monotonic() + TIMEOUT
    while not ended and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ended == ["OSError"]
    serves_on(srv)


def test_more_streams_than_allowed(fault_server, h3client, serves_on):
    # A connection may have 100 requests in flight (h3MaxStreams, as
    # HTTP/2's limit): quic-go's client cannot open the 101st stream
    # until one ends, so 250 requests at once wait their turn.
    srv = fault_server()
    proc = subprocess.run([str(h3client), "-fault", "streams", "-n", "250",
                           srv.url + "/proto"], capture_output=True,
                          text=True, timeout=TIMEOUT * 2)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["opened"] == 100, r
    assert "too many open streams" in r["limit_error"], r
    assert r["statuses"] == {"200": 250}, r
    serves_on(srv)


def test_oversized_headers(fault_server, h3client, serves_on):
    # Beyond max_header_bytes quic-go answers 431, as net/http does over
    # HTTP/1.1 and HTTP/2, and the connection serves on.
    srv = fault_server(max_header_bytes=4096)
    results = h3get(h3client, srv.url + "/proto", srv.url + "/proto",
                    srv.url + "/proto", headers=("X-Big: " + "h" * 20_000,),
                    check=False)
    assert [r["status"] for r in results] == [431, 431, 431], results
    serves_on(srv)


def test_connection_migration(fault_server, h3client, serves_on):
    # The client moves its connection to a new UDP port mid-connection
    # (quic-go's Conn.AddPath, then Probe and Switch): the server
    # validates the new path and answers there, on the same connection.
    srv = fault_server()

    def addr(w, req):
        w.write(req.remote_addr)

    srv.handle("/addr", addr)
    proc = subprocess.run([str(h3client), "-fault", "migrate",
                           srv.url + "/addr"], capture_output=True,
                          text=True, timeout=TIMEOUT * 2)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    old, new = r["ports"]
    assert old != new
    assert r["bodies"][0] == f"127.0.0.1:{old}", r
    assert r["bodies"][1].startswith("127.0.0.1:"), r
    serves_on(srv)


def test_failed_handshakes_are_counted(fault_server, h3client, serves_on,
                                       key_pair):
    """A QUIC handshake that fails counts in
    gohttp_tls_handshake_errors_total{transport="quic"}, as a TCP one does
    under transport="tcp": one the server refuses (no ALPN in common) and
    one the client refuses (an untrusted certificate)."""
    from test_metrics import scrape, value
    srv = fault_server(metrics_bind="127.0.0.1:0")
    proc = subprocess.run([str(h3client), "-fault", "handshakes",
                           srv.url + "/proto"], capture_output=True,
                          text=True, timeout=TIMEOUT * 2)
    assert proc.returncode == 0, proc.stderr
    errors = json.loads(proc.stdout)
    assert "no application protocol" in errors["alpn"], errors
    assert "certificate" in errors["untrusted"], errors
    http = urllib3.PoolManager(ca_certs=str(key_pair.cert), retries=False,
                               timeout=TIMEOUT)
    # The client's refusal reaches the server in a packet after the
    # client has its error: wait for the server to read it.
    deadline = time.monotonic() + TIMEOUT
    while True:
        m = scrape(http, srv)
        quic = value(m, "gohttp_tls_handshake_errors_total", transport="quic")
        if quic >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert quic == 2
    assert value(m, "gohttp_tls_handshake_errors_total", transport="tcp") == 0
    http.clear()
    serves_on(srv)


def test_banner_names_http3(subprocess_env, key_pair):
    from test_cli import gohttp_command, stop
    with gohttp_command(subprocess_env, "wsgi_apps.hello:app",
                        "-b", "127.0.0.1:0", "--http3",
                        "--certfile", str(key_pair.cert),
                        "--keyfile", str(key_pair.key)) as (proc, banner):
        _, url = banner.wait()
        port = url.rsplit(":", 1)[1]
        assert f"on {url} and HTTP/3 on udp://127.0.0.1:{port} (Go " \
            in banner.lines[-1], banner.lines
        assert stop(proc) == 0


def test_metrics_and_access_log_say_h3(make_server, key_pair, h3client,
                                       tmp_path):
    from test_metrics import scrape, value
    log = tmp_path / "access.log"
    srv = make_server(certfile=key_pair.cert, keyfile=key_pair.key,
                      http3=True, metrics_bind="127.0.0.1:0",
                      access_log=str(log), shutdown_timeout=0.2)
    srv.handle("/proto", proto)
    srv.handle("POST /echo", echo)
    entered, _ = uploads(srv)
    http = urllib3.PoolManager(ca_certs=str(key_pair.cert), retries=False,
                               timeout=TIMEOUT)
    m0 = scrape(http, srv)
    h3get(h3client, *[srv.url + "/proto"] * 3)
    (r,) = h3get(h3client, srv.url + "/echo", method="POST",
                 data="b" * 50_000)
    assert r["status"] == 200
    assert http.request("GET", srv.url + "/proto").status == 200
    m1 = scrape(http, srv)
    # The bytes of QUIC packets, quic-go's count: 50 kB each way here.
    for name in ("gohttp_received_bytes_total", "gohttp_sent_bytes_total"):
        assert value(m1, name) - value(m0, name) > 50_000, name
    client = fault(h3client, "stall", srv.url + "/upload",
                   stdin=subprocess.PIPE)
    try:
        assert entered.acquire(timeout=TIMEOUT)
        m = scrape(http, srv)
        # A connection still open counts too: at least its first packet,
        # which QUIC pads to 1200 bytes.
        assert value(m, "gohttp_received_bytes_total") \
            - value(m1, "gohttp_received_bytes_total") >= 1200
        assert value(m, "gohttp_connections_open", protocol="h3") == 1
        assert value(m, "gohttp_requests_by_protocol_total",
                     protocol="h3") == 4
        assert value(m, "gohttp_requests_by_protocol_total",
                     protocol="http/1.1") == 1
        assert value(m, "gohttp_connections_accepted_total") >= 3
        # Connections that completed their handshake and closed are no
        # failed handshakes.
        assert value(m, "gohttp_tls_handshake_errors_total") == 0
    finally:
        client.kill()
        client.communicate()
        http.clear()
        srv.shutdown()
    lines = log.read_text().splitlines()
    assert sum('"GET /proto HTTP/3.0" 200' in line for line in lines) == 3
    assert sum('"GET /proto HTTP/1.1" 200' in line for line in lines) == 1


def test_udp_buffer_warning(monkeypatch):
    # What the kernel grants, faked: Linux's default caps (208 KiB,
    # reported doubled), which the forcing options cannot pass.
    granted = {socket.SO_RCVBUF: 425984, socket.SO_SNDBUF: 425984}

    class FakeSocket:
        def __init__(self, *args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def setsockopt(self, level, opt, value):
            if opt not in granted:
                raise PermissionError(1, "Operation not permitted")

        def getsockopt(self, level, opt):
            return granted[opt]

    monkeypatch.setattr(socket, "socket", FakeSocket)
    warning = udp_buffer_warning()
    assert warning == (
        "HTTP/3: the kernel grants UDP sockets 416 KiB of buffer, below the "
        "7168 KiB QUIC wants for fast transfers; raise the cap: sysctl -w "
        "net.core.rmem_max=7340032 net.core.wmem_max=7340032 (docs: "
        "HTTP/3, UDP buffer sizes)")
    granted[socket.SO_SNDBUF] = 16 << 20
    assert "sysctl -w net.core.rmem_max=7340032 (docs" in udp_buffer_warning()
    granted[socket.SO_RCVBUF] = 16 << 20
    assert udp_buffer_warning() is None
