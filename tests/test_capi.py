"""The C API for other extensions (gohttp.h): C handlers on a real server.

The example extension (examples/c_handler/) and a probe of the API's
edges (tests/capi_probe/) are built once per session, in a temporary
folder, with setuptools and their own setup.py, against
gohttp.get_include(), warnings as errors.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import urllib3

import gohttp
from gohttp import _gohttp
from helpers.common import (GOHTTP_PATH, TIMEOUT, connect, get, read_to_end,
                            rss_bytes)
from helpers.leak import REFS_PER_REQUEST, needs_pydebug, refs_per_request

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "c_handler": ROOT / "examples" / "c_handler",
    "capi_probe": ROOT / "tests" / "capi_probe",
}
MiB = 1024 * 1024


def build_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (GOHTTP_PATH, env.get("PYTHONPATH")) if p)
    env["CFLAGS"] = "-Werror"   # gohttp.h must compile without a warning
    env.pop("PYTHONWARNINGS", None)
    return env


@pytest.fixture(scope="session")
def c_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder where the example and the probe were built, each in a
    subfolder named after its module."""
    out = tmp_path_factory.mktemp("capi")
    for name, source in SOURCES.items():
        dest = out / name
        shutil.copytree(source, dest,
                        ignore=shutil.ignore_patterns("build", "*.so"))
        proc = subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=dest, env=build_env(), capture_output=True, text=True,
            timeout=300)
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"
    return out


def load(c_build: Path, name: str):
    path = str(c_build / name)
    if path not in sys.path:
        sys.path.insert(0, path)
    __import__(name)
    return sys.modules[name]


@pytest.fixture(scope="session")
def c_handler(c_build):
    return load(c_build, "c_handler")


@pytest.fixture(scope="session")
def probe(c_build):
    return load(c_build, "capi_probe")


def fetch(srv: gohttp.Server, method: str, path: str, **kw):
    """One request on a connection of its own, closed afterwards."""
    pool = urllib3.PoolManager(retries=False, timeout=TIMEOUT)
    try:
        return pool.request(method, srv.url + path, **kw)
    finally:
        pool.clear()


# ---- serving ----------------------------------------------------------

def test_c_route_answers_beside_a_python_route(server, c_handler):
    c_handler.hello(server, "GET /c/hello")
    c_handler.hello(server, "GET /c/custom", text="custom\n")

    @server.route("GET /py/hello")
    def hello(w, req):
        w.write("from Python")

    r = fetch(server, "GET", "/c/hello")
    assert (r.status, r.data) == (200, b"Hello, world!")
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["Content-Length"] == "13"
    assert fetch(server, "GET", "/c/custom").data == b"custom\n"
    assert fetch(server, "GET", "/py/hello").data == b"from Python"
    # Go's mux still answers for the C routes: 405 and 404.
    r = fetch(server, "POST", "/c/hello")
    assert r.status == 405 and r.headers["Allow"] == "GET, HEAD"
    assert fetch(server, "GET", "/c/nothing").status == 404
    # HEAD: the headers without the body.
    r = fetch(server, "HEAD", "/c/hello")
    assert (r.status, r.data) == (200, b"")


def test_registered_on_the_core_server_too(server, c_handler):
    c_handler.hello(server._core, "GET /core")
    assert fetch(server, "GET", "/core").data == b"Hello, world!"


def test_request_fields_and_headers(server, c_handler):
    c_handler.info(server, "/c/info/")
    r = fetch(server, "GET", "/c/info/a%20b?x=1&y=%20",
              headers={"User-Agent": "capi-test", "X-Custom": "v1"})
    assert r.status == 200
    lines = r.data.decode().splitlines()
    fields = dict(line.split(": ", 1) for line in lines)
    assert fields["method"] == "GET"
    assert fields["url"] == "/c/info/a%20b?x=1&y=%20"
    assert fields["path"] == "/c/info/a b"
    assert fields["query"] == "x=1&y=%20"
    assert fields["host"] == "%s:%d" % server.address
    assert fields["proto"] == "HTTP/1.1"
    assert fields["scheme"] == "http"
    assert fields["remote_addr"].startswith("127.0.0.1:")
    assert fields["content_length"] == "0"
    assert fields["user_agent"] == "capi-test"     # looked up in any case
    assert fields["X-Custom"] == "v1"              # every header, canonical
    assert fields["User-Agent"] == "capi-test"
    # Response headers: set, and added twice under two spellings.
    assert r.headers["X-Handler"] == "c"
    assert r.headers.getlist("X-Thread-Safe") == ["yes", "really"]


def test_path_values(server, c_handler):
    c_handler.greet(server, "GET /c/greet/{name}")
    assert fetch(server, "GET", "/c/greet/bob").data == b"Hello, bob!\n"
    r = fetch(server, "GET", "/c/greet/caf%C3%A9")
    assert r.data.decode() == "Hello, café!\n"


@pytest.mark.parametrize("size", [0, 13, 64 * 1024, 1024 * 1024 + 3])
def test_body_echo(server, c_handler, size):
    c_handler.echo(server, "POST /c/echo")
    body = os.urandom(size)
    r = fetch(server, "POST", "/c/echo", body=body,
              headers={"Content-Type": "application/x-test"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/x-test"
    assert r.data == body


def test_chunked_upload(server, c_handler, probe):
    c_handler.echo(server, "POST /c/echo")
    probe.route(server, "POST /c/count", "count_body")
    chunks = [b"a" * 1000, b"b" * 5, b"c" * 70000]
    r = fetch(server, "POST", "/c/echo", body=iter(chunks), chunked=True)
    assert (r.status, r.data) == (200, b"".join(chunks))
    # Read 7 bytes at a time: every byte, then 0 at the end.
    r = fetch(server, "POST", "/c/count", body=iter(chunks), chunked=True)
    assert r.data == b"71005 0"


def test_body_over_the_limit(make_server, c_handler):
    srv = make_server(max_body_bytes=100)
    c_handler.echo(srv, "POST /c/echo")
    # A declared length over the limit: Go answers 413, no handler runs.
    r = fetch(srv, "POST", "/c/echo", body=b"x" * 1000)
    assert r.status == 413
    # A chunked one: read() fails at the limit, and says why.
    r = fetch(srv, "POST", "/c/echo", body=iter([b"x" * 1000]), chunked=True)
    assert r.status == 400
    assert b"request body too large: the limit is 100 bytes" in r.data


def test_abort_after_the_body_limit_is_a_413(make_server, probe):
    srv = make_server(max_body_bytes=100)
    probe.route(srv, "POST /read", "read_or_abort")
    r = fetch(srv, "POST", "/read", body=iter([b"x" * 1000]), chunked=True)
    assert r.status == 413
    r = fetch(srv, "POST", "/read", body=b"x" * 50)
    assert (r.status, r.data) == (200, b"")


def test_nothing_written_is_an_empty_200(server, probe):
    probe.route(server, "GET /empty", "empty")
    r = fetch(server, "GET", "/empty")
    assert (r.status, r.data) == (200, b"")
    assert r.headers["Content-Length"] == "0"


def test_status_and_headers_without_a_body(server, probe):
    probe.route(server, "GET /status", "status_only")
    r = fetch(server, "GET", "/status")
    assert (r.status, r.data) == (404, b"")
    assert r.headers["X-Status-Only"] == "1"


def test_abort_before_the_response_is_a_500(server, probe):
    probe.route(server, "GET /abort", "abort_early")
    r = fetch(server, "GET", "/abort")
    assert r.status == 500
    assert "X-Never-Sent" not in r.headers
    assert "X-Bug" not in r.headers
    assert r.headers["Connection"] == "close"
    assert fetch(server, "GET", "/abort").status == 500   # still serving


def test_abort_after_the_response_started_closes_the_connection(server,
                                                                probe):
    probe.route(server, "GET /abort-late", "abort_late")
    with pytest.raises(urllib3.exceptions.HTTPError):
        fetch(server, "GET", "/abort-late")
    probe.route(server, "GET /empty", "empty")
    assert fetch(server, "GET", "/empty").status == 200


def test_streaming_with_flush_is_chunked(server, probe):
    probe.route(server, "GET /stream", "stream")
    r = fetch(server, "GET", "/stream")
    assert r.data == b"one,two"
    assert r.headers["Transfer-Encoding"] == "chunked"


def test_header_and_status_mistakes_are_refused(server, probe):
    probe.route(server, "GET /misuse", "misuse")
    r = fetch(server, "GET", "/misuse")
    assert r.status == 201
    results = {}
    for line in r.data.decode().splitlines():
        label, rest = line.split("=", 1)
        results[label] = rest
    assert results["bad_name"].startswith("-1 invalid header name")
    assert results["empty_name"].startswith("-1 a header name must be")
    assert results["crlf_value"].startswith("-1 invalid header value")
    assert results["null_value"].startswith("-1 set_header(): value is NULL")
    assert results["code_42"].startswith("-1 invalid status code")
    assert results["code_1000"].startswith("-1 invalid status code")
    assert results["header_at_out_of_range"].startswith("-1")
    for ok in ("set", "add", "set_c", "del_c", "del_absent", "replace",
               "missing_header_is_null", "missing_path_value_is_empty",
               "write_header"):
        assert results[ok] == "0 ", (ok, results[ok])
    assert results["write_header_again"].startswith(
        "-1 the response has already started")
    assert results["set_late"].startswith("-1 the response has already")
    assert r.headers.getlist("X-B") == ["1", "2"]
    assert "X-C" not in r.headers
    assert r.headers["X-E"] == "new"
    assert "X-Late" not in r.headers
    assert "Injected" not in r.headers


def test_headers_larger_than_the_reply_buffer(server, probe):
    probe.route(server, "GET /big", "big_headers")
    r = fetch(server, "GET", "/big")
    assert r.data == b"big"
    assert all(r.headers[f"X-Big-{i}"] == "v" * 150 for i in range(60))


def test_many_small_writes(server, probe):
    """The first writes stay in C, the rest go to Go: no byte lost or
    reordered where one becomes the other."""
    probe.route(server, "GET /pieces", "pieces")
    r = fetch(server, "GET", "/pieces")
    assert r.data == b"".join(b"%09d," % i for i in range(2000))


def test_write_then_read_then_write(server, probe):
    probe.route(server, "POST /wtr", "write_then_read")
    r = fetch(server, "POST", "/wtr", body=b"the body")
    assert r.status == 200
    # Go's HTTP/1 server drops the unread body once the response starts,
    # as it does for a Go handler; what is written is not lost.
    assert r.data.startswith(b"before:")


def test_declared_content_length(server, probe):
    probe.route(server, "GET /declared", "declared_length")
    r = fetch(server, "GET", "/declared")
    assert (r.data, r.headers["Content-Length"]) == (b"12345", "5")
    assert "Transfer-Encoding" not in r.headers


def test_write_to_a_client_that_left_fails_cleanly(server, probe):
    probe.route(server, "GET /gone", "gone")
    with connect(server.address) as sock:
        sock.sendall(b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 OK")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        b"\x01\x00\x00\x00\x00\x00\x00\x00")   # reset
    deadline = time.monotonic() + TIMEOUT
    while probe.last_error() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.last_error() == ("the client has gone away: the "
                                  "connection is closed")
    probe.route(server, "GET /empty", "empty")
    assert fetch(server, "GET", "/empty").status == 200


# ---- one writer: C and Python answer alike ----------------------------

def python_script(record):
    """A Python handler that runs the steps of capi_probe's "script"
    handler, as it does, and records what each did."""
    def handler(w, req):
        out, writes = [], 0
        for step in req.query.split("&"):
            op, _, arg = step.partition("=")
            n = int(arg or 0)
            try:
                if op == "cl":
                    w.header.set("Content-Length", str(n))
                    rc = 0
                elif op == "status":
                    w.write_header(n)
                    rc = 0
                elif op == "write":
                    rc = w.write(bytes([ord("a") + writes % 26]) * n)
                    writes += 1
                else:
                    w.flush()
                    rc = 0
            except (ValueError, OSError, gohttp.Error) as exc:
                out.append(f"error {exc}\n")
            else:
                out.append(f"ok {rc}\n")
        record("".join(out))
    return handler


def raw_answer(srv: gohttp.Server, method: str, target: str) -> bytes:
    """The bytes of the answer to one request, without its Date header
    (the one thing that may differ from one answer to the next)."""
    with connect(srv.address) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: x\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = read_to_end(sock)
    return b"".join(line for line in data.splitlines(keepends=True)
                    if not line.startswith(b"Date: "))


@pytest.mark.parametrize("method, steps", [
    # a body for a status that allows none: Go refuses the write
    ("GET", "status=204&write=4"),
    ("GET", "status=304&write=4"),
    ("GET", "status=204"),
    ("GET", "status=404"),
    # an informational status goes out at once; the final one follows
    ("GET", "status=103&write=5"),
    # 101 starts the response (no body, and nothing after it)
    ("GET", "status=101&write=1"),
    # a large write after a held small one, and past the reply buffer
    ("GET", "write=10&write=100000"),
    ("GET", "write=10&write=3000&write=10"),
    ("GET", "write=4000&write=200"),
    # Content-Length: held when the body fits it, else Go judges
    ("GET", "cl=5&write=5"),
    ("GET", "cl=5&write=3&write=3"),
    ("GET", "cl=3&write=5"),
    ("GET", "cl=5&write=2&flush&write=3"),
    ("GET", "write=5&flush&write=5"),
    ("HEAD", "write=13"),
    ("HEAD", "cl=13&write=13"),
    ("HEAD", "status=204&write=1"),
])
def test_c_and_python_handlers_answer_alike(server, probe, record, method,
                                            steps):
    probe.route(server, "/c", "script")
    server.handle("/py", python_script(record))

    runs, _ = probe.script_result()
    c_answer = raw_answer(server, method, "/c?" + steps)
    deadline = time.monotonic() + TIMEOUT
    while probe.script_result()[0] == runs and time.monotonic() < deadline:
        time.sleep(0.01)
    c_steps = probe.script_result()[1]
    py_answer = raw_answer(server, method, "/py?" + steps)

    assert c_answer == py_answer
    assert c_steps == record.one()
    if "status=204&write" in steps or "status=304&write" in steps:
        assert "error http: request method or response status code does " \
            "not allow body" in c_steps


def test_c_handler_past_its_content_length_fails(server, probe):
    """A C handler's Content-Length is held with its small response now:
    a body longer than it is still refused, by the writer or by Go."""
    probe.route(server, "/c", "script")
    runs, _ = probe.script_result()
    answer = raw_answer(server, "GET", "/c?cl=5&write=3&write=3")
    deadline = time.monotonic() + TIMEOUT
    while probe.script_result()[0] == runs and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = probe.script_result()[1].splitlines()
    assert lines[:2] == ["ok 0", "ok 3"]
    assert lines[2].startswith("error http: wrote more than the declared "
                               "Content-Length")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 5\r\n" in answer
    assert answer.endswith(b"\r\n\r\naaa")   # and then the connection closed


# ---- registering: wrong use -------------------------------------------

def test_not_a_server_is_a_type_error(c_handler):
    with pytest.raises(TypeError, match="registered on a gohttp.Server, "
                                        "not object"):
        c_handler.hello(object(), "GET /")
    with pytest.raises(TypeError, match="not NoneType"):
        c_handler.hello(None, "GET /")


def test_null_pattern_or_handler_is_a_type_error(server, probe):
    with pytest.raises(TypeError, match="must not be NULL"):
        probe.handle_raw(server, None, True)
    with pytest.raises(TypeError, match="must not be NULL"):
        probe.handle_raw(server, "GET /x", False)


def test_bad_or_conflicting_pattern_is_a_value_error(server, c_handler):
    live = c_handler.live_contexts()
    with pytest.raises(ValueError, match="bad wildcard|unclosed|invalid"):
        c_handler.hello(server, "GET /{")
    c_handler.hello(server, "GET /taken")
    with pytest.raises(ValueError, match="conflicts"):
        c_handler.hello(server, "GET /taken")
    # A failed handle() kept nothing: the example freed its ctx itself.
    assert c_handler.live_contexts() == live + 1


def test_closed_server_is_a_runtime_error(c_handler):
    srv = gohttp.Server("127.0.0.1", 0).start()
    srv.shutdown()
    live = c_handler.live_contexts()
    with pytest.raises(RuntimeError, match="shut down"):
        c_handler.hello(srv, "GET /late")
    assert c_handler.live_contexts() == live


def test_ctx_is_released_when_the_server_is_freed(c_handler):
    live = c_handler.live_contexts()
    srv = gohttp.Server("127.0.0.1", 0)
    for i in range(3):
        c_handler.hello(srv, f"GET /h{i}")
    srv.start()
    assert get(srv.url + "/h2").data == b"Hello, world!"
    assert c_handler.live_contexts() == live + 3
    srv.shutdown()
    del srv
    gc.collect()
    assert c_handler.live_contexts() == live


# ---- the ABI check on import ------------------------------------------

FAKE_TABLE = """
import ctypes, sys
import gohttp._gohttp as core

class Head(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("size", ctypes.c_uint32)]

NAME = b"gohttp._gohttp._C_API"
new = ctypes.pythonapi.PyCapsule_New
new.restype = ctypes.py_object
new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
head = Head({version}, {size})
{setup}
sys.path.insert(0, {path!r})
try:
    import c_handler
except ImportError as exc:
    print("ImportError:", exc)
else:
    print("imported")
"""


@pytest.mark.parametrize("version, size, setup, expected", [
    (999, 4096, "core._C_API = new(ctypes.addressof(head), NAME, None)",
     "ImportError: gohttp's C API is version 999, but this extension was "
     "built against version 1: rebuild it"),
    (1, 8, "core._C_API = new(ctypes.addressof(head), NAME, None)",
     "ImportError: gohttp's C API table has 8 bytes, but this extension was "
     "built against a newer gohttp.h"),
    (1, 8, "core._C_API = new(ctypes.addressof(head), b'other.name', None)",
     "ImportError: gohttp's C API (gohttp._gohttp._C_API) is missing"),
    (1, 8, "del core._C_API",
     "ImportError: gohttp's C API (gohttp._gohttp._C_API) is missing"),
    (1, 8, "core._C_API = 'not a capsule'",
     "ImportError: gohttp's C API (gohttp._gohttp._C_API) is missing"),
    (1, 8, "", "imported"),
])
def test_import_checks_the_abi(c_build, version, size, setup, expected):
    code = FAKE_TABLE.format(version=version, size=size, setup=setup,
                             path=str(c_build / "c_handler"))
    proc = subprocess.run([sys.executable, "-c", code], env=build_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(expected), proc.stdout


def test_the_capsule_and_the_header():
    assert type(_gohttp._C_API).__name__ == "PyCapsule"
    assert "gohttp._gohttp._C_API" in repr(_gohttp._C_API)
    header = Path(gohttp.get_include()) / "gohttp.h"
    assert header.is_file()
    assert "#define GOHTTP_CAPI_VERSION 1" in header.read_text()
    # The public header stands alone: nothing of the internal bridge.h.
    assert "bridge.h" not in header.read_text().replace(
        "bridge.h's", "")


# ---- no GIL -----------------------------------------------------------

CLIENT = """
import sys, threading, urllib3
url, stop = sys.argv[1], threading.Event()
errors, done = [], [0]
lock = threading.Lock()

def loop():
    pool = urllib3.PoolManager(retries=False, timeout=20)
    while not stop.is_set():
        try:
            r = pool.request("GET", url)
            ok = r.status == 200 and r.data == b"Hello, world!"
        except Exception as exc:
            ok = False
            errors.append(repr(exc))
        with lock:
            done[0] += 1
            if not ok and len(errors) < 5:
                errors.append("bad answer")

threads = [threading.Thread(target=loop) for _ in range(16)]
for t in threads:
    t.start()
print("started", flush=True)
sys.stdin.read()          # until the test closes our stdin
stop.set()
for t in threads:
    t.join()
print(done[0], len(errors), errors[:5], flush=True)
"""


def test_c_handlers_answer_while_a_python_handler_holds_the_gil(
        server, c_handler):
    """A Python handler spins without ever releasing the GIL (the switch
    interval is raised so that no other thread could take it from it)
    until C handlers have answered 200 requests from another process, in
    parallel.  If they needed the GIL, none would answer until the spin
    timed out."""
    c_handler.hello(server, "GET /c/hello")
    target, patience = 200, 10.0

    @server.route("GET /py/hold")
    def hold(w, req):
        start = c_handler.served()
        deadline = time.monotonic() + patience
        while c_handler.served() - start < target \
                and time.monotonic() < deadline:
            pass
        w.write(str(c_handler.served() - start))

    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, server.url + "/c/hello"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    interval = sys.getswitchinterval()
    try:
        assert client.stdout.readline() == "started\n"
        sys.setswitchinterval(60.0)
        began = time.monotonic()
        r = get(server.url + "/py/hold")
        held = time.monotonic() - began
    finally:
        sys.setswitchinterval(interval)
        out, _ = client.communicate(timeout=60)
    assert r.status == 200
    assert int(r.data) >= target, (r.data, held)
    assert held < patience
    done, errors, first = out.split(" ", 2)
    assert errors == "0", first
    assert int(done) >= target


def test_c_handlers_run_in_parallel(server, c_handler):
    c_handler.hello(server, "GET /c/hello")
    results = []

    def client():
        pool = urllib3.PoolManager(retries=False, timeout=TIMEOUT)
        for _ in range(50):
            r = pool.request("GET", server.url + "/c/hello")
            results.append(r.data)
        pool.clear()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"Hello, world!"] * 400


# ---- memory -----------------------------------------------------------

def serve_c_routes(server, c_handler, probe):
    """The C routes the memory tests load, and a keep-alive pool to them;
    the returned hammer(n) sends n rounds of three requests."""
    c_handler.info(server, "/c/info/")
    c_handler.echo(server, "POST /c/echo")
    probe.route(server, "GET /big", "big_headers")
    pool = urllib3.PoolManager(maxsize=1, block=True, retries=False,
                               timeout=TIMEOUT)

    def hammer(n):
        for i in range(n):
            assert pool.request("GET", f"{server.url}/c/info/{i}?q=1",
                                headers={"X-Repeat": "1"}).status == 200
            assert pool.request("POST", server.url + "/c/echo",
                                body=b"payload" * 20).status == 200
            assert pool.request("GET", server.url + "/big").status == 200

    return hammer


@pytest.mark.heavy
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's quarantine holds freed "
                           "memory: RSS says nothing under it")
def test_memory_settles_after_many_c_requests(server, c_handler, probe):
    hammer = serve_c_routes(server, c_handler, probe)
    hammer(1_000)
    gc.collect()
    before = rss_bytes()
    hammer(5_000)
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 8 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"


@needs_pydebug
def test_total_refcount_settles_for_c_handlers(server, c_handler, probe):
    """A C handler's request takes no Python reference it keeps (the
    server, the route's context, the types)."""
    hammer = serve_c_routes(server, c_handler, probe)
    hammer(300)
    grown = refs_per_request(lambda n: hammer(n // 3), 6_000)
    assert grown < REFS_PER_REQUEST, f"{grown:.3f} references per request"


def test_the_example_app_serves(c_build):
    """examples/c_handler/app.py as shipped, on another port."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(c_build / 'c_handler')!r})
        import app
        app.srv._configure(port=0)
        app.srv.start()
        print(app.srv.url, flush=True)
        sys.stdin.read()
        app.srv.shutdown()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], env=build_env(),
                            cwd=c_build / "c_handler", stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert get(url + "/c/hello").data == b"Hello from C!\n"
        assert get(url + "/c/greet/ann").data == b"Hello, ann!\n"
        assert get(url + "/py/hello").data == b"Hello from Python!\n"
        assert get(url + "/stats").data == b"C handlers answered 2 requests\n"
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == 0
