"""Free-threaded CPython (3.13t): the GIL stays off, handlers run in parallel.

The module-level tests skip on a build with the GIL; `make
test-freethreaded` runs the suite on one (built by `make freethreaded`),
and CI this file and a few others (`make test-freethreaded-ci`).
The tests of concurrent use of one request or response run everywhere:
with the GIL, every wait in Go releases it, so threads interleave there
too.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import sysconfig
import threading
import time
from typing import Callable, Iterator

import pytest
import urllib3

import gohttp
from helpers.common import TIMEOUT, connect, read_to_end

FREE_THREADED = sysconfig.get_config_var("Py_GIL_DISABLED") == 1
free_threaded_only = pytest.mark.skipif(
    not FREE_THREADED,
    reason="not a free-threaded CPython: make test-freethreaded runs this")

# The parallel server: a CPU-bound handler, the port and GIL state on
# stdout, serving until stdin closes.
SPIN_SERVER = """\
import sys
import gohttp

srv = gohttp.Server("127.0.0.1", 0)

@srv.route("GET /spin/{n}")
def spin(w, req):
    total = 0
    for i in range(int(req.path_value("n"))):
        total += i * i
    w.write(str(total % 7))

srv.start()
print(srv.port, sys._is_gil_enabled(), flush=True)
sys.stdin.read()
srv.shutdown()
"""

SPINS = 300_000            # ~20-40 ms of pure Python per request
REQUESTS_PER_CLIENT = 8
CLIENTS = 2
WANTED_SPEEDUP = 1.6
QUIET_ROUNDS = 3           # rounds the machine was quiet, at least
BUDGET = 60.0              # seconds to find them in
QUIET = 0.3                # cores other processes may use in a quiet burst


def gil_off_after(code: str, env: dict[str, str]) -> str:
    """Run code in a child of this interpreter, then print whether the GIL
    is on; return what it printed."""
    proc = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c",
         code + "\nimport sys; print(sys._is_gil_enabled())"],
        env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@free_threaded_only
def test_the_gil_stays_off_after_import(subprocess_env: dict[str, str]) -> None:
    # Without PYTHON_GIL, importing a module that does not declare
    # Py_MOD_GIL_NOT_USED turns the GIL on (with a RuntimeWarning).
    env = {k: v for k, v in subprocess_env.items() if k != "PYTHON_GIL"}
    code = ("import gohttp\n"
            "srv = gohttp.Server('127.0.0.1', 0)\n"
            "srv.route('GET /')(lambda w, req: w.write('ok'))\n"
            "srv.start(); srv.shutdown()")
    assert gil_off_after(code, env) == "False"


@free_threaded_only
def test_the_gil_stays_off_serving_asgi(subprocess_env: dict[str, str]) -> None:
    """ASGI too: importing gohttp.asgi, running its loop (asyncio's
    _asyncio, gohttp's ASGI types) and serving leave the GIL off."""
    env = {k: v for k, v in subprocess_env.items() if k != "PYTHON_GIL"}
    code = ("import gohttp, gohttp.asgi, urllib.request\n"
            "async def app(scope, receive, send):\n"
            "    body = b''\n"
            "    while True:\n"
            "        m = await receive(); body += m.get('body', b'')\n"
            "        if not m.get('more_body'): break\n"
            "    await send({'type': 'http.response.start', 'status': 200})\n"
            "    await send({'type': 'http.response.body', 'body': body})\n"
            "srv = gohttp.Server('127.0.0.1', 0)\n"
            "srv.mount_asgi('/', app, lifespan='off')\n"
            "srv.start()\n"
            "for i in range(20):\n"
            "    with urllib.request.urlopen(srv.url + '/', data=b'%d' % i,\n"
            "                                timeout=30) as r:\n"
            "        assert r.read() == b'%d' % i\n"
            "srv.shutdown()")
    assert gil_off_after(code, env) == "False"


class SpinServer:
    """SPIN_SERVER in a child of this interpreter, with PYTHON_GIL=gil
    ("1": the GIL on; None: the default, off)."""

    def __init__(self, env: dict[str, str], gil: str | None) -> None:
        env = {k: v for k, v in env.items() if k != "PYTHON_GIL"}
        if gil is not None:
            env["PYTHON_GIL"] = gil
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SPIN_SERVER], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert len(line) == 2, f"the server did not start: {line}"
        self.port = int(line[0])
        self.gil_enabled = line[1] == "True"

    def burst(self) -> tuple[float, float]:
        """Seconds for CLIENTS clients, each on its own connection, to
        make REQUESTS_PER_CLIENT requests one after another; and how many
        cores other processes used meanwhile."""
        pools = [urllib3.HTTPConnectionPool(
                     "127.0.0.1", self.port, maxsize=1, retries=False,
                     timeout=urllib3.Timeout(connect=TIMEOUT, read=60))
                 for _ in range(CLIENTS)]
        for pool in pools:   # connect outside the timed part
            assert pool.request("GET", "/spin/1").status == 200
        errors: list[BaseException] = []

        def client(pool: urllib3.HTTPConnectionPool) -> None:
            try:
                for _ in range(REQUESTS_PER_CLIENT):
                    r = pool.request("GET", f"/spin/{SPINS}")
                    assert r.status == 200, r.status
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(p,)) for p in pools]
        others = OtherLoad(self.proc.pid)
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        load = others.cores()
        for pool in pools:
            pool.close()
        assert not errors, errors
        return elapsed, load

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class OtherLoad:
    """How many cores processes other than this one and server used from
    now until cores() (Linux; elsewhere 0): the machine may be shared,
    and a burst that another job slowed down says nothing."""

    def __init__(self, server: int) -> None:
        self.pids = [os.getpid(), server]
        self.start = time.perf_counter(), self._others()

    @staticmethod
    def _ticks(path: str, fields: slice) -> int:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            return 0
        if path.endswith("/stat") and "(" in text:   # a process: skip comm
            text = text[text.rindex(")") + 2:]
        return sum(int(x) for x in text.split()[fields])

    def _others(self) -> int:
        busy = self._ticks("/proc/stat", slice(1, 4))   # cpu user nice system
        ours = sum(self._ticks(f"/proc/{pid}/stat", slice(11, 13))
                   for pid in self.pids)                # utime stime
        return busy - ours

    def cores(self) -> float:
        t0, others0 = self.start
        hz = os.sysconf("SC_CLK_TCK")
        elapsed = time.perf_counter() - t0
        return max(0.0, (self._others() - others0) / hz / elapsed)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # macOS
        return os.cpu_count() or 1


# Heavy: a timing, of up to BUDGET seconds; `make test-freethreaded` runs
# it, CI's `make test-freethreaded-ci` does not (no timed tests in CI).
@free_threaded_only
@pytest.mark.heavy
@pytest.mark.skipif(usable_cpus() < 2,
                    reason="parallel handlers need 2 CPUs or more")
def test_cpu_bound_handlers_run_in_parallel(
        subprocess_env: dict[str, str]) -> None:
    # The same interpreter and handler, with the GIL off (the default) and
    # forced on, in rounds that alternate between the two.  The machine
    # may be shared: only bursts during which other processes used less
    # than QUIET of a core count, the best of each side is compared, and
    # rounds go on (within BUDGET) until QUIET_ROUNDS of each, or the
    # speedup, are there.
    parallel = SpinServer(subprocess_env, gil=None)
    serial = SpinServer(subprocess_env, gil="1")
    quiet: dict[str, list[float]] = {"gil off": [], "gil on": []}
    seen: list[str] = []
    speedup = 0.0
    try:
        assert not parallel.gil_enabled, "importing gohttp turned the GIL on"
        assert serial.gil_enabled
        deadline = time.monotonic() + BUDGET
        while time.monotonic() < deadline:
            for side, srv in (("gil off", parallel), ("gil on", serial)):
                elapsed, others = srv.burst()
                seen.append(f"{side} {elapsed:.3f}s (others {others:.2f})")
                if others < QUIET:
                    quiet[side].append(elapsed)
            if all(quiet.values()):
                speedup = min(quiet["gil on"]) / min(quiet["gil off"])
                if (speedup >= WANTED_SPEEDUP
                        and min(map(len, quiet.values())) >= QUIET_ROUNDS):
                    break
    finally:
        parallel.close()
        serial.close()
    if min(map(len, quiet.values())) < QUIET_ROUNDS:
        pytest.skip(f"the machine was too busy to measure: other processes "
                    f"used {QUIET} cores or more in most bursts: {seen[-6:]}")
    print(f"speedup {speedup:.2f}x, best quiet bursts: gil off "
          f"{min(quiet['gil off']):.3f}s, gil on {min(quiet['gil on']):.3f}s")
    assert speedup >= WANTED_SPEEDUP, (
        f"{CLIENTS} clients of a CPU-bound handler: {speedup:.2f}x faster "
        f"with the GIL off, want {WANTED_SPEEDUP}x; bursts: {seen}")


# ---- one request or response used from several threads -------------------

def test_a_second_thread_reading_the_same_body_is_refused(
        server: gohttp.Server) -> None:
    # Both threads wait in Go for a body the client holds back until one
    # of them has been refused: without the guard both would read at once.
    refused = threading.Event()
    outcomes: list[object] = []

    @server.route("POST /two-readers")
    def two_readers(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
        def read() -> None:
            try:
                outcomes.append(req.read(5))
            except RuntimeError as exc:
                outcomes.append(str(exc))
                refused.set()

        threads = [threading.Thread(target=read) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        w.write(repr(sorted(outcomes, key=str)))

    sock = connect(server.address)
    try:
        sock.sendall(b"POST /two-readers HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 5\r\nConnection: close\r\n\r\n")
        assert refused.wait(TIMEOUT), f"no read was refused: {outcomes}"
        sock.sendall(b"hello")
        answer = read_to_end(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b"b'hello'" in answer
    assert b"another thread is reading this request's body" in answer


class Hammer:
    """One thread that calls fn(target, 0), fn(target, 1)... while a
    `with hammer.on(target):` block runs, block after block.

    It starts once: a thread started per block costs a Thread.start()
    each, ~0.1 s on 3.13t on a busy machine.  And the block's thread
    waits for it by polling with time.sleep(0), not on an Event: a thread
    asleep in a lock while another spins waits for the kernel to give it
    a core again, milliseconds each time when the cores are busy, where
    a thread that yields stays runnable.  (A thread per request and
    Events took 9-12 s on 3.13t in CI, 0.75 s with the GIL.)  What time
    is left on a busy machine is the race itself: the handler's adds
    wait for the critical section the other thread keeps taking."""

    def __init__(self, fn: Callable[[object, int], None]) -> None:
        self._fn = fn
        self._target: object = None
        self._go = threading.Event()    # a block began (or close)
        self._stop = threading.Event()  # the block is ending
        self._idle = threading.Event()  # fn runs no more on target
        self._closed = False
        self.calls = 0                  # of fn, in all
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._go.wait()
            self._go.clear()
            if self._closed:
                return
            try:
                i = 0
                while True:
                    self._fn(self._target, i)
                    self.calls += 1
                    i += 1
                    if self._stop.is_set():
                        break
            except BaseException as exc:
                self.errors.append(exc)
            finally:
                self._idle.set()

    @staticmethod
    def _poll(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not done():
            assert time.monotonic() < deadline, "the hammer thread hangs"
            time.sleep(0)

    @contextlib.contextmanager
    def on(self, target: object) -> Iterator[None]:
        """Changes target from the other thread from before the block
        starts until it ends."""
        self._target = target
        self._stop.clear()
        self._idle.clear()
        before = self.calls
        self._go.set()
        self._poll(lambda: self.calls != before or self._idle.is_set())
        try:
            yield
        finally:
            self._stop.set()
            self._poll(self._idle.is_set)
            self._target = None

    def close(self) -> None:
        self._closed = True
        self._go.set()
        self._thread.join(TIMEOUT)


def test_headers_changed_by_another_thread_while_sent(
        server: gohttp.Server, http: urllib3.PoolManager) -> None:
    # Another thread adds, replaces and deletes w.header entries while the
    # handler sends them: every response is well-formed, and the server
    # lives on.  (Free-threaded, this races for real.)
    def change(w: gohttp.ResponseWriter, i: int) -> None:
        if i % 3 == 0:
            w.header.add("X-Many", str(i))
        elif i % 3 == 1:
            w.header.set("X-Many", "reset")
        else:
            w.header.delete("X-Other")
            w.header.add("X-Other", "o" * (i % 50))

    other = Hammer(change)   # one thread for every request
    overlapped = 0           # requests sent while the other changed w

    @server.route("GET /racy-headers")
    def racy(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
        nonlocal overlapped
        with other.on(w):
            before = other.calls
            try:
                for _ in range(20):
                    w.header.add("X-Mine", "m")
                w.write("ok")   # sends the headers as they are now
            except RuntimeError as exc:   # w.header changed while sent
                assert "changed while it was being sent" in str(exc)
                raise
            finally:
                overlapped += other.calls != before

    try:
        for _ in range(100):
            r = http.request("GET", server.url + "/racy-headers")
            assert r.status in (200, 500)
            if r.status == 200:
                assert r.data == b"ok"
                assert r.headers["X-Mine"].count("m") == 20
        assert http.request("GET", server.url + "/racy-headers").status \
            in (200, 500)
    finally:
        other.close()
    assert not other.errors, other.errors
    if FREE_THREADED and not sys._is_gil_enabled():
        # With the GIL the handler holds it from its first add to the end
        # of the write (a small reply is held, not sent, until it returns):
        # only free-threaded do the two run at once.
        assert overlapped > 0, \
            "the other thread never changed w.header meanwhile"


def test_many_clients_at_once_each_get_their_own_answer(
        server: gohttp.Server) -> None:
    # Native and WSGI handlers, bodies and headers, from 8 clients at
    # once: free-threaded, as many handlers run at the same moment as
    # there are CPUs, so a request must never see another's state.
    @server.route("POST /native/{id}")
    def native(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
        ident = req.path_value("id")
        assert req.headers.get("X-Id") == ident
        body = req.body
        w.header.set("X-Id", ident)
        w.header.add("X-Len", str(len(body)))
        w.write(body[::-1])

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("X-Id", environ["HTTP_X_ID"]),
                                  ("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode(), b"?",
                environ["QUERY_STRING"].encode(), b" ",
                environ["RAW_URI"].encode(), b":", body]

    server.mount_wsgi("/wsgi", app)
    failures: list[str] = []

    def client(n: int) -> None:
        pool = urllib3.HTTPConnectionPool(
            "127.0.0.1", server.port, maxsize=1, retries=False,
            timeout=urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT))
        try:
            for i in range(40):
                ident = f"{n}-{i}"
                body = ident.encode() * (1 + i * 37)
                if i % 2:
                    r = pool.request("POST", f"/native/{ident}", body=body,
                                     headers={"X-Id": ident})
                    want = body[::-1]
                else:
                    r = pool.request("POST", f"/wsgi/{ident}?q={ident}",
                                     body=body, headers={"X-Id": ident})
                    want = (f"/{ident}?q={ident} /wsgi/{ident}?q={ident}:"
                            .encode() + body)
                if (r.status, r.headers.get("X-Id"), r.data) != (200, ident, want):
                    failures.append(f"{ident}: {r.status} {r.headers} {r.data[:60]!r}")
        except Exception as exc:
            failures.append(f"client {n}: {exc!r}")
        finally:
            pool.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
