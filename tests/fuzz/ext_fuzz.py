"""Coverage-guided fuzzing of the C extension from Python (atheris).

Each input is a program: a random sequence of calls, with random types
and values, on ResponseWriter, Request and Headers in a native handler,
or on start_response, write() and the response iterable in a WSGI app.
It runs in a live gohttp server on a real socket, for a request from a
real client.  Every call either works or raises a clear exception
(ALLOWED); the harness keeps a model of what the calls that worked
should send (status, headers, body) and checks the response against it.
Anything else fails: a crash (run under a sanitizer build: the Makefile's
`make fuzz-ext`), a hang, another exception, a response unlike the model.

    python tests/fuzz/ext_fuzz.py -max_total_time=60 [atheris/libFuzzer flags]

Without atheris (or with --random N), it runs the same programs from a
seeded random generator instead, N of them.
"""

from __future__ import annotations

import http.client
import logging
import os
import random
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

# FUZZ_GOHTTP: the directory holding the gohttp to fuzz (a sanitizer
# build's, say), else this checkout's.
sys.path.insert(0, os.environ.get("FUZZ_GOHTTP") or str(Path(__file__).resolve().parent.parent.parent))

try:
    import atheris
except ImportError:  # the seeded fallback below needs nothing
    atheris = None

if atheris is not None:
    with atheris.instrument_imports():
        import gohttp
else:
    import gohttp

TIMEOUT = 10.0
# The exceptions a call may raise: anything else is a bug.  (No 103 among
# CODES: http.client takes only a 100 for an interim response.)
# BufferError: a non-contiguous memoryview, refused as io.BytesIO.write refuses it.
ALLOWED = (TypeError, ValueError, OverflowError, BufferError, gohttp.Error, OSError)

# Random values of every type the API meets.
KEYS = ["X-A", "x-b", "X-Long-" + "k" * 300, "Bad Key", "X-A\r\nInjected: 1", "", "Ünicode",
        "X:colon", b"X-Bytes", 5, None]
VALUES = ["v", "", "a b  c", "x" * 5000, "v\r\nInjected: 1", "v\n", "\x00", "ü", "€", "\udcff",
          b"bytes", 7, None, ["list"]]
CODES = [200, 201, 202, 404, 418, 500, 599, 100, 99, 1000, 0, -1, 2**70, "200", None,
         200.5, True]
DATA = [b"", b"x", b"hello ", b"\x00\xff" * 10, b"y" * 70000, "text ü", "\udcff", bytearray(b"ba"),
        memoryview(b"mv"), 5, None, ["l"], memoryview(b"abcd")[::2]]
SIZES = [-1, 0, 1, 7, 1 << 20, 1 << 62, None, "3", 2.0, -(1 << 70)]


class Choices:
    """Draws choices from the fuzzer's bytes (atheris) or a seeded
    random generator."""

    def __init__(self, fdp: Any = None, rng: Optional[random.Random] = None) -> None:
        self.fdp, self.rng = fdp, rng
        self.trace = []

    def int(self, n: int) -> int:
        if self.fdp is not None:
            i = self.fdp.ConsumeIntInRange(0, n - 1)
        else:
            assert self.rng is not None
            i = self.rng.randrange(n)
        self.trace.append(i)
        return i

    def pick(self, seq: list[Any]) -> Any:
        value = seq[self.int(len(seq))]
        self.trace.append(value)
        return value

    trace: list[Any]


class Model:
    """What the calls that worked should send."""

    def __init__(self) -> None:
        self.status = 200
        self.started = False
        self.headers: dict[str, list[str]] = {}   # lower-case key -> values
        self.body = bytearray()
        # A WSGI app's status, headers and chunks are checked when the
        # response starts (gohttp/wsgi.py), as PEP 3333 allows: a bad one
        # gives a 500 (or, after the start, a response cut off), with the
        # error logged.  Set when the program made one the model does not
        # call good.
        self.lax = False

    def start(self) -> None:
        self.started = True


def as_bytes(data: Any) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def header_op(c: Choices, h: Any, m: Optional[Model]) -> None:
    """One call on a Headers: the response's (m is its model, while the
    response has not started) or the request's (m None: read-only)."""
    k, v = c.pick(KEYS), c.pick(VALUES)
    op = c.int(12)
    if op == 0:
        h.set(k, v)
    elif op == 1:
        h.add(k, v)
    elif op == 2:
        h[k] = v
    elif op == 3:
        h.delete(k)
    elif op == 4:
        del h[k]
    elif op == 5:
        h.get(k)
    elif op == 6:
        h.get_all(k)
    elif op == 7:
        h.multi_items(), list(h.items()), len(h), list(h)
    elif op == 8:
        k in h  # noqa: B015
    elif op == 9:
        h.copy().set("X-Copy", "c")  # a copy is its own
    elif op == 10:
        h.get(k, v)
    else:
        h[k]  # noqa: B018  (KeyError is a LookupError: allowed below)
    if m is not None and not m.started and op in (0, 1, 2, 3, 4):
        key = k.lower()
        if op in (3, 4):
            m.headers.pop(key, None)
        elif op == 1:
            m.headers.setdefault(key, []).append(v)
        else:
            m.headers[key] = [v]
        if op in (0, 1, 2) and max(v, default="\0") > "\xff":
            # Taken, and refused when the response starts (ValueError:
            # beyond Latin-1), as tests/test_response.py has it.
            m.lax = True


def native_program(c: Choices, w: Any, req: Any, m: Model) -> None:
    for _ in range(c.int(12) + 1):
        op = c.int(9)
        try:
            if op == 0:
                header_op(c, w.header, m)
            elif op == 1:
                header_op(c, req.headers, None)
            elif op in (2, 3):
                code = c.pick(CODES)
                (w.write_header if op == 2 else w.set_status)(code)
                if 200 <= code <= 999 and not m.started:
                    m.status = code
                    m.start()
            elif op == 4:
                data = c.pick(DATA)
                w.write(data)
                m.body += as_bytes(data)
                m.start()
            elif op == 5:
                w.flush()
                m.start()
            elif op == 6:
                req.read(c.pick(SIZES))
            elif op == 7:
                req.body, req.method, req.url, req.path, req.query, req.host, req.proto
                req.remote_addr, req.scheme, req.content_length
            else:
                req.path_value(c.pick(KEYS))
        except KeyError:
            pass
        except ALLOWED:
            pass


def wsgi_program(c: Choices, environ: dict[str, Any], start_response: Callable[..., Any],
                 m: Model, closed: list[int]) -> Any:
    status = c.pick(["200 OK", "404 Not Found", "201", "999 X", "200", "abc", b"200 OK", 200, None])
    headers = [(c.pick(KEYS), c.pick(VALUES)) for _ in range(c.int(3))]
    if c.int(4) == 0:
        headers = c.pick([None, "x", [("a",)], (("X-T", "v"),)])
    write = start_response(status, headers)
    good_headers = isinstance(headers, list) and all(
        isinstance(h, tuple) and len(h) == 2 and h[0] in ("X-A", "x-b")
        and h[1] in ("v", "", "a b  c", "x" * 5000) for h in headers)
    if isinstance(status, str) and re.fullmatch(r"[2-9]\d\d( .*)?", status) and good_headers:
        m.status = int(status[:3])
        for k, v in headers:
            m.headers.setdefault(k.lower(), []).append(v)
    else:
        m.lax = True
    if c.int(3) == 0:
        try:
            environ["wsgi.input"].read(c.pick(SIZES))
        except ALLOWED:
            pass
    chunks = [c.pick([d for d in DATA if isinstance(d, (bytes, bytearray, memoryview))])
              for _ in range(c.int(4))]
    if any(type(x) is not bytes for x in chunks):
        m.lax = True
    if c.int(4) == 0:
        data = chunks.pop() if chunks else b"w"
        write(data)
        m.body += bytes(data)
    m.body += b"".join(bytes(x) for x in chunks)
    kind = c.int(3)
    if kind == 0:
        return chunks

    class Body:
        def __iter__(self) -> Any:
            return iter(chunks)

        def close(self) -> None:
            closed.append(1)

    if kind == 1:
        closed.append(0)  # close() is owed
        return Body()
    return (x for x in chunks)


class Harness:
    def __init__(self) -> None:
        logging.getLogger("gohttp").setLevel(logging.CRITICAL + 1)
        self.program: Callable[..., Any] = lambda *a: None
        self.failure: Optional[BaseException] = None
        self.model = Model()
        self.closed: list[int] = []
        # What Go logs goes to fd 2: a panic net/http recovered (it
        # logs "http: panic serving") fails the program that caused it.
        out = os.environ.get("FUZZ_DIR") or str(Path(__file__).resolve().parents[2] / "build" / "fuzz")
        os.makedirs(out, exist_ok=True)
        self.log = open(os.path.join(out, "ext_fuzz.stderr"), "w+b")
        self.stderr = os.dup(2)
        os.dup2(self.log.fileno(), 2)
        srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=2.0)
        srv.handle("/native", self.native)
        srv.mount_wsgi("/wsgi", self.wsgi)
        self.srv = srv.start()

    def native(self, w: Any, req: Any) -> None:
        try:
            self.program(w, req, self.model)
        except ALLOWED:  # a clear error let through: a 500 or a cut-off
            self.model.lax = True
            raise
        except BaseException as e:  # noqa: BLE001  (reported to the fuzzer's thread)
            self.failure = e
            raise

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            return self.program(environ, start_response, self.model, self.closed)
        except ALLOWED:  # a clear error let through: a 500 or a cut-off
            self.model.lax = True
            raise
        except BaseException as e:  # noqa: BLE001
            self.failure = e
            raise

    def srv_sync(self) -> None:
        """Wait until the server has handled one more request: every
        connection before it has been read to its end."""
        conn = http.client.HTTPConnection(*self.srv.address, timeout=TIMEOUT)
        conn.request("GET", "/sync")
        conn.getresponse().read()
        conn.close()

    def run(self, c: Choices) -> None:
        self.model, self.failure, self.closed = Model(), None, []
        self.log.seek(0)
        self.log.truncate()
        path = c.pick(["/native", "/wsgi/app"])
        self.program = (lambda *a: native_program(c, *a)) if path == "/native" else \
            (lambda *a: wsgi_program(c, *a))
        method = c.pick(["GET", "POST", "PUT"])
        body = c.pick([None, b"", b"request body", b"z" * 100_000])
        conn = http.client.HTTPConnection(*self.srv.address, timeout=TIMEOUT)
        try:
            conn.request(method, path, body=body, headers={"X-In": "1"})
            resp = conn.getresponse()
            got = resp.read()
        except (http.client.IncompleteRead, ConnectionError, http.client.RemoteDisconnected):
            got, resp = None, None  # a response aborted part way: see below
        finally:
            conn.close()
        # The connection's goroutine may log a moment after the response.
        self.srv_sync()
        self.log.seek(0)
        logged = self.log.read()
        if b"panic" in logged or b"fatal" in logged:
            raise AssertionError("Go logged, for this program or the one before:"
                                 f" {logged.decode(errors='replace')[:2000]}")
        if self.failure is not None:
            raise AssertionError("the handler raised outside ALLOWED") from self.failure
        if path == "/wsgi/app" and self.closed.count(1) != (1 if 0 in self.closed else 0):
            raise AssertionError(f"the iterable's close() was called {self.closed.count(1)} times")
        m = self.model
        if m.lax and (resp is None or resp.status == 500 or got == bytes(m.body)):
            return  # a status or headers the model cannot judge
        if resp is None:
            raise AssertionError(f"the response was cut off; the handler did {vars(m)}")
        if resp.status != m.status or got != bytes(m.body):
            raise AssertionError(f"got {resp.status} {got[:80]!r}… ({len(got)} bytes), "
                                 f"model {m.status} {bytes(m.body)[:80]!r}… ({len(m.body)} bytes)")
        for key, values in m.headers.items():
            # str values go as Latin-1, as http.client reads them
            sent = resp.msg.get_all(key) or []
            if sent != values:
                raise AssertionError(f"header {key[:40]!r}: sent {[v[:40] for v in sent]!r},"
                                     f" set {[v[:40] for v in values]!r}")


def main() -> None:
    harness = Harness()
    if "--random" in sys.argv or atheris is None:
        # N programs, or as many as -max_total_time=SECONDS allows.
        n = int(sys.argv[sys.argv.index("--random") + 1]) if "--random" in sys.argv else 1 << 62
        limit = [float(a.split("=", 1)[1]) for a in sys.argv if a.startswith("-max_total_time=")]
        deadline = time.monotonic() + (limit[0] if limit else 1e9)
        seed = int(os.environ.get("FUZZ_SEED", "0")) or random.randrange(1 << 30)
        print(f"ext_fuzz.py: random programs from FUZZ_SEED={seed}")
        for i in range(n):
            if time.monotonic() > deadline:
                break
            rng = random.Random(seed + i)
            c = Choices(rng=rng)
            try:
                harness.run(c)
            except BaseException:
                os.dup2(harness.stderr, 2)
                print(f"ext_fuzz.py: program FUZZ_SEED={seed + i} failed; its choices:"
                      f" {[str(x)[:40] for x in c.trace]}", file=sys.stderr)
                raise
        harness.srv.shutdown()
        return

    def one_input(data: bytes) -> None:
        c = Choices(fdp=atheris.FuzzedDataProvider(data))
        try:
            harness.run(c)
        except BaseException:
            os.dup2(harness.stderr, 2)
            print(f"ext_fuzz.py: its choices: {[str(x)[:40] for x in c.trace]}", file=sys.stderr)
            raise

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        traceback.print_exc()
        os._exit(1)
