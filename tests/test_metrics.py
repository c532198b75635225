"""The metrics listener: /metrics read by prometheus_client's own text
parser, /healthz and /readyz, on a real server (docs/metrics.md)."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
import threading
import time
from typing import Any, Callable

import pytest
import urllib3
from prometheus_client.parser import text_string_to_metric_families

import gohttp
from helpers.common import TIMEOUT
from helpers.net import key_pair  # noqa: F401  (a fixture)
from test_cli import gohttp_command


def scrape(http: urllib3.PoolManager, srv: gohttp.Server
           ) -> dict[str, Any]:
    """name -> family of what srv's /metrics says, parsed."""
    r = http.request("GET", f"{srv.metrics_url}/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    return {f.name: f for f in
            text_string_to_metric_families(r.data.decode())}


def value(families: dict[str, Any], sample: str, **labels: str) -> float:
    """The value of the sample named sample whose labels include labels
    (0 if there is none)."""
    name = sample.removesuffix("_total").removesuffix("_count") \
        .removesuffix("_sum").removesuffix("_bucket")
    family = families.get(name)
    if family is None:
        return 0.0
    return sum(s.value for s in family.samples if s.name == sample
               and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture
def metered(make_server: Callable[..., gohttp.Server]) -> gohttp.Server:
    srv = make_server(metrics_bind="127.0.0.1:0")

    @srv.route("GET /hello/{name}")
    def hello(w: Any, req: Any) -> None:
        w.write(b"hello " + req.path_value("name").encode())

    @srv.route("POST /fail")
    def fail(w: Any, req: Any) -> None:
        raise RuntimeError("boom")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"x" * 1000]

    srv.mount_wsgi("/wsgi", app)
    return srv


def test_metrics_count_requests_by_route_method_and_class(
        metered: gohttp.Server, http: urllib3.PoolManager) -> None:
    for name in ("a", "b", "c"):
        assert http.request("GET", f"{metered.url}/hello/{name}").status == 200
    assert http.request("POST", f"{metered.url}/fail").status == 500
    assert http.request("GET", f"{metered.url}/wsgi/x/y").status == 201
    assert http.request("GET", f"{metered.url}/nowhere").status == 404

    m = scrape(http, metered)
    req = "gohttp_requests_total"
    # The route pattern, never the raw path: bounded cardinality.
    assert value(m, req, method="GET", code="2xx",
                 route="GET /hello/{name}") == 3
    assert value(m, req, method="POST", code="5xx", route="POST /fail") == 1
    assert value(m, req, method="GET", code="2xx", route="/wsgi/") == 1
    assert value(m, req, method="GET", code="4xx", route="none") == 1
    assert not any("/hello/a" in str(s.labels)
                   for s in m["gohttp_requests"].samples)
    # A handler that raised, counted where Go made the 500.
    assert value(m, "gohttp_handler_exceptions_total",
                 route="POST /fail") == 1
    assert value(m, "gohttp_handler_exceptions_total",
                 route="GET /hello/{name}") == 0
    # Histograms: one observation per request, the WSGI body's 1000
    # bytes in the size's sum.
    assert value(m, "gohttp_request_duration_seconds_count",
                 route="GET /hello/{name}") == 3
    assert value(m, "gohttp_response_size_bytes_sum", route="/wsgi/") == 1000
    assert m["gohttp_request_duration_seconds"].type == "histogram"
    # The scrape's connection is another listener's: one keep-alive
    # HTTP/1.1 connection to the app is open.
    assert value(m, "gohttp_connections_open", protocol="http/1.1") == 1
    assert value(m, "gohttp_connections_open", protocol="h2") == 0
    assert value(m, "gohttp_connections_accepted_total") >= 1
    assert value(m, "gohttp_received_bytes_total") > 0
    assert value(m, "gohttp_sent_bytes_total") > 1000
    assert value(m, "gohttp_requests_in_flight") == 0
    assert value(m, "gohttp_handler_queue_waiting") == 0
    assert value(m, "gohttp_tls_handshake_errors_total") == 0
    # Go's runtime and the process.
    assert value(m, "go_goroutines") > 0
    assert value(m, "process_resident_memory_bytes") > 0
    assert value(m, "process_open_fds") > 0


def test_connection_closed_is_no_longer_open(
        metered: gohttp.Server, http: urllib3.PoolManager) -> None:
    with urllib3.PoolManager(retries=False) as client:
        assert client.request("GET", f"{metered.url}/hello/x").status == 200
        assert value(scrape(http, metered), "gohttp_connections_open",
                     protocol="http/1.1") == 1
    # Closed by the client: Go sees it on its next read.
    for _ in range(200):
        if value(scrape(http, metered), "gohttp_connections_open",
                 protocol="http/1.1") == 0:
            break
    else:
        pytest.fail("the closed connection is still counted as open")


def test_an_open_websocket_counts_as_one(
        make_server: Callable[..., gohttp.Server],
        http: urllib3.PoolManager, tmp_path: Any) -> None:
    """Counted as a WebSocket from its handshake to its close; with the
    access log on too, whose line waits for the close."""
    from websockets.sync.client import connect

    log = tmp_path / "access.log"
    srv = make_server(metrics_bind="127.0.0.1:0", access_log=str(log))

    @srv.websocket("/ws")
    async def echo(ws: Any, req: Any) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send(message)

    def websockets_open() -> float:
        return value(scrape(http, srv), "gohttp_connections_open",
                     protocol="websocket")

    with connect(srv.url.replace("http", "ws", 1) + "/ws",
                 open_timeout=TIMEOUT) as ws:
        ws.send("hi")
        assert ws.recv(timeout=TIMEOUT) == "hi"
        assert websockets_open() == 1
        assert value(scrape(http, srv), "gohttp_connections_open",
                     protocol="http/1.1") == 0
    for _ in range(200):
        if websockets_open() == 0:
            break
        time.sleep(0.01)
    else:
        pytest.fail("the closed WebSocket is still counted as open")
    for _ in range(200):
        if '"GET /ws HTTP/1.1" 101' in log.read_text():
            break
        time.sleep(0.01)
    else:
        pytest.fail(f"no access log line for the WebSocket: {log.read_text()!r}")


def test_probes(metered: gohttp.Server, http: urllib3.PoolManager) -> None:
    r = http.request("GET", f"{metered.metrics_url}/healthz")
    assert (r.status, r.data) == (200, b"ok\n")
    r = http.request("GET", f"{metered.metrics_url}/readyz")
    assert (r.status, r.data) == (200, b"ready\n")
    # Never on the app's port.
    assert http.request("GET", f"{metered.url}/metrics").status == 404


def test_metrics_listener_closes_with_the_server(
        make_server: Callable[..., gohttp.Server],
        http: urllib3.PoolManager) -> None:
    srv = make_server(metrics_bind="127.0.0.1:0")
    url = srv.metrics_url
    srv.shutdown()
    with pytest.raises(urllib3.exceptions.NewConnectionError):
        http.request("GET", f"{url}/healthz")


def test_metrics_bind_is_checked() -> None:
    with pytest.raises(ValueError, match="metrics_bind.*fd://"):
        gohttp.Server(metrics_bind="fd://3")
    with pytest.raises(ValueError, match="bad address"):
        gohttp.Server(metrics_bind="nowhere")
    with pytest.raises(TypeError):
        gohttp.Server(metrics_bind=9100)  # type: ignore[arg-type]
    assert gohttp.Server().metrics_url is None


def test_metrics_bind_in_use_fails_the_start(
        make_server: Callable[..., gohttp.Server]) -> None:
    first = make_server(metrics_bind="127.0.0.1:0")
    taken = first.metrics_url.rsplit(":", 1)[1]  # type: ignore[union-attr]
    srv = gohttp.Server("127.0.0.1", 0, metrics_bind=f"127.0.0.1:{taken}")
    with pytest.raises(OSError):
        srv.start()
    assert not srv.serving


def test_not_ready_until_the_lifespan_startup_is_done(
        http: urllib3.PoolManager) -> None:
    go_on = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await asyncio.get_running_loop().run_in_executor(None, go_on.wait,
                                                         TIMEOUT)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    with socket.socket() as probe:  # a free port, for a known URL
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    srv = gohttp.Server("127.0.0.1", 0, metrics_bind=f"127.0.0.1:{port}")
    srv.mount_asgi("/", app, lifespan="on")
    starting = threading.Thread(target=srv.start)
    starting.start()
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(int(TIMEOUT * 100)):
            try:
                r = http.request("GET", url + "/readyz")
                break
            except urllib3.exceptions.NewConnectionError:
                time.sleep(0.01)  # start() opens it in its thread
        assert (r.status, r.data) == (503, b"starting\n")
        assert http.request("GET", url + "/healthz").status == 200
    finally:
        go_on.set()
        starting.join(TIMEOUT)
    try:
        r = http.request("GET", url + "/readyz")
        assert (r.status, r.data) == (200, b"ready\n")
    finally:
        srv.shutdown()


def test_sigterm_not_ready_then_drains_after_the_delay(
        subprocess_env: dict[str, str]) -> None:
    with gohttp_command(subprocess_env, "wsgi_apps.hello:app", "--bind",
                        "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0",
                        "--shutdown-delay", "0.5") as (proc, banner):
        _, url = banner.wait()
        metrics = banner.wait_for("metrics at ").split("metrics at ")[1] \
            .split("/metrics")[0]
        assert urllib3.request("GET", metrics + "/readyz",
                               retries=False).status == 200
        proc.send_signal(signal.SIGTERM)
        banner.wait_for("not ready; draining in 0.5s")
        r = urllib3.request("GET", metrics + "/readyz", retries=False)
        assert (r.status, r.data) == (503, b"draining\n")
        # Still served meanwhile: the load balancer may not know yet.
        assert urllib3.request("GET", url + "/", retries=False).status == 200
        assert proc.wait(TIMEOUT) == 0


def test_tls_handshake_errors_and_h2_connections(
        make_server: Callable[..., gohttp.Server], key_pair: Any,
        http: urllib3.PoolManager) -> None:
    httpx = pytest.importorskip("httpx")
    srv = make_server(certfile=key_pair.cert, keyfile=key_pair.key,
                      metrics_bind="127.0.0.1:0")

    @srv.route("GET /")
    def hello(w: Any, req: Any) -> None:
        w.write(req.proto.encode())

    # Plain HTTP to the TLS port: a failed handshake.
    with socket.create_connection(srv.address, timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(1024)
    ctx = ssl.create_default_context(cafile=str(key_pair.cert))
    with httpx.Client(http2=True, verify=ctx) as client:
        assert client.get(srv.url + "/").text == "HTTP/2.0"
        m = scrape(http, srv)
        assert value(m, "gohttp_connections_open", protocol="h2") == 1
    assert value(m, "gohttp_tls_handshake_errors_total", transport="tcp") == 1
    assert value(m, "gohttp_tls_handshake_errors_total",
                 transport="quic") == 0
    assert value(m, "gohttp_requests_total", code="2xx", route="GET /") == 1


def test_asgi_app_exceptions_are_counted(
        make_server: Callable[..., gohttp.Server],
        http: urllib3.PoolManager) -> None:
    srv = make_server(metrics_bind="127.0.0.1:0")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise ValueError("the app failed")

    srv.mount_asgi("/asgi", app, lifespan="off")
    assert http.request("GET", srv.url + "/asgi/x").status == 500
    m = scrape(http, srv)
    assert value(m, "gohttp_handler_exceptions_total", route="/asgi/") == 1
    assert value(m, "gohttp_requests_total", code="5xx", route="/asgi/") == 1


def test_requests_waiting_for_a_handler_place(
        make_server: Callable[..., gohttp.Server],
        http: urllib3.PoolManager) -> None:
    srv = make_server(metrics_bind="127.0.0.1:0", max_handlers=1)
    inside, release = threading.Event(), threading.Event()

    @srv.route("GET /hold")
    def hold(w: Any, req: Any) -> None:
        inside.set()
        release.wait(TIMEOUT)

    @srv.route("GET /quick")
    def quick(w: Any, req: Any) -> None:
        w.write(b"ok")

    holder = threading.Thread(target=http.request,
                              args=("GET", srv.url + "/hold"))
    holder.start()
    assert inside.wait(TIMEOUT)
    waiter = threading.Thread(target=http.request,
                              args=("GET", srv.url + "/quick"))
    waiter.start()
    try:
        for _ in range(int(TIMEOUT * 100)):
            m = scrape(http, srv)
            if value(m, "gohttp_handler_queue_waiting") == 1:
                break
            time.sleep(0.01)
        assert value(m, "gohttp_handler_queue_waiting") == 1
        assert value(m, "gohttp_requests_in_flight") == 2
    finally:
        release.set()
        holder.join(TIMEOUT)
        waiter.join(TIMEOUT)
    m = scrape(http, srv)
    assert value(m, "gohttp_handler_queue_waiting") == 0
    assert value(m, "gohttp_handler_queue_wait_seconds_count") == 1


# Supervisor paths in Python: the checking builds see nothing new here.
@pytest.mark.heavy
def test_workers_one_scrape_shows_every_worker(
        subprocess_env: dict[str, str]) -> None:
    with gohttp_command(subprocess_env, "wsgi_apps.workers_app:app",
                        "--workers", "2", "--bind", "127.0.0.1:0",
                        "--metrics-bind", "127.0.0.1:0") as (proc, banner):
        _, url = banner.wait()
        line = next(x for x in banner.lines if "metrics of every worker" in x)
        metrics = line.split(" at ")[1].split("/metrics")[0]
        assert urllib3.request("GET", metrics + "/readyz",
                               retries=False).status == 200
        for _ in range(20):  # a connection each: both workers get some
            assert urllib3.request("GET", url + "/", retries=False,
                                   headers={"Connection": "close"}
                                   ).status == 200
        r = urllib3.request("GET", metrics + "/metrics", retries=False)
        assert r.status == 200
        m = {f.name: f for f in
             text_string_to_metric_families(r.data.decode())}
        # Each worker's series labelled with its slot, the supervisor's
        # own (Go, process) with "supervisor"; PromQL sums.
        workers = {s.labels["worker"] for s in m["process_resident_memory_bytes"]
                   .samples}
        assert workers == {"1", "2", "supervisor"}
        assert value(m, "gohttp_requests_total", route="/") == 20
        per_worker = {s.labels["worker"] for s in m["gohttp_requests"].samples
                      if s.value > 0}
        assert per_worker <= {"1", "2"} and per_worker
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0


# Supervisor paths in Python: the checking builds see nothing new here.
@pytest.mark.heavy
def test_workers_ignore_a_metrics_bind_the_supervisor_cannot_see(
        subprocess_env: dict[str, str]) -> None:
    with gohttp_command(subprocess_env, "wsgi_apps.metrics_server:server",
                        "--workers", "2", "--bind", "127.0.0.1:0") as (
            proc, banner):
        _, url = banner.wait()
        assert urllib3.request("GET", url + "/", retries=False).status == 200
        assert "give --metrics-bind to the command" in "".join(banner.lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0


def test_h2c_connections(make_server: Callable[..., gohttp.Server],
                         http: urllib3.PoolManager) -> None:
    httpx = pytest.importorskip("httpx")
    srv = make_server(http2_cleartext=True, metrics_bind="127.0.0.1:0")

    @srv.route("GET /")
    def hello(w: Any, req: Any) -> None:
        w.write(req.proto.encode())

    with httpx.Client(http1=False, http2=True) as client:
        assert client.get(srv.url + "/").text == "HTTP/2.0"
        m = scrape(http, srv)
        assert value(m, "gohttp_connections_open", protocol="h2") == 1
        assert value(m, "gohttp_connections_open", protocol="http/1.1") == 0


def test_static_files_are_counted_by_go_alone(
        make_server: Callable[..., gohttp.Server], tmp_path: Any,
        http: urllib3.PoolManager) -> None:
    (tmp_path / "big.bin").write_bytes(b"z" * 100_000)
    srv = make_server(metrics_bind="127.0.0.1:0")
    srv.static("/static/", tmp_path)
    assert len(http.request("GET", srv.url + "/static/big.bin").data) == 100_000
    m = scrape(http, srv)
    assert value(m, "gohttp_requests_total", method="GET", code="2xx",
                 route="GET /static/") == 1
    assert value(m, "gohttp_response_size_bytes_sum",
                 route="GET /static/") == 100_000
    # Sent by sendfile, through the counting connection.
    assert value(m, "gohttp_sent_bytes_total") > 100_000
