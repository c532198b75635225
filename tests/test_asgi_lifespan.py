"""lifespan (asgiref's lifespan.rst): startup before the first request,
shutdown after the last one, failures, apps without lifespan, state,
and a graceful shutdown that cancels what outlives it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import urllib3

import gohttp
from helpers.asgi_fixtures import asgi_errors, respond  # noqa: F401
from helpers.common import TIMEOUT, connect


class App:
    """An app with lifespan that records what happens, in order."""

    def __init__(self, startup=None, shutdown=None, raise_on=None,
                 hang=False):
        self.events: list[str] = []
        self.startup = startup or {"type": "lifespan.startup.complete"}
        self.shutdown = shutdown or {"type": "lifespan.shutdown.complete"}
        self.raise_on = raise_on
        self.hang = hang

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            assert scope["asgi"]["version"] == "3.0"
            if self.raise_on == "scope":
                raise RuntimeError("no lifespan here")
            message = await receive()
            self.events.append(message["type"])
            if self.hang:
                await asyncio.sleep(3600)
            scope["state"]["db"] = "connected"
            if self.raise_on == "startup":
                raise RuntimeError("database down")
            await send(self.startup)
            message = await receive()
            self.events.append(message["type"])
            await send(self.shutdown)
            return
        self.events.append("request")
        await respond(send, scope["state"].get("db", "-").encode())


def serve(app, shutdown_timeout=2.0, **mount):
    srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=shutdown_timeout)
    srv.mount_asgi("/", app, **mount)
    return srv


def test_startup_request_shutdown_in_order(http):
    app = App()
    srv = serve(app).start()
    assert app.events == ["lifespan.startup"]
    r = http.request("GET", srv.url + "/")
    assert r.data == b"connected"   # the state, copied into the scope
    srv.shutdown()
    assert app.events == ["lifespan.startup", "request",
                          "lifespan.shutdown"]
    srv.shutdown()   # once only
    assert app.events.count("lifespan.shutdown") == 1


def test_startup_failed_stops_the_server_with_the_message():
    app = App(startup={"type": "lifespan.startup.failed",
                       "message": "no database"})
    srv = serve(app)
    with pytest.raises(gohttp.LifespanFailure, match="no database"):
        srv.start()
    assert not srv.serving


def test_app_raising_in_startup_with_lifespan_on_fails(asgi_errors):
    srv = serve(App(raise_on="startup"), lifespan="on")
    with pytest.raises(gohttp.LifespanFailure, match="database down"):
        srv.start()


def test_app_without_lifespan_is_served_without_it(http, caplog):
    app = App(raise_on="scope")
    with caplog.at_level("INFO", logger="gohttp.error"):
        srv = serve(app).start()
    try:
        assert any("unsupported" in r.getMessage() for r in caplog.records)
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
        assert http.request("GET", srv.url + "/").data == b"-"
    finally:
        srv.shutdown()


def test_lifespan_on_refuses_an_app_without_it():
    srv = serve(App(raise_on="scope"), lifespan="on")
    with pytest.raises(gohttp.LifespanFailure, match="no lifespan here"):
        srv.start()


def test_lifespan_off_never_calls_the_app(http):
    app = App()
    srv = serve(app, lifespan="off").start()
    try:
        assert http.request("GET", srv.url + "/").data == b"-"
    finally:
        srv.shutdown()
    assert app.events == ["request"]


def test_a_hanging_startup_times_out():
    srv = serve(App(hang=True), timeout_lifespan=0.3)
    start = time.monotonic()
    with pytest.raises(gohttp.LifespanFailure, match="within 0.3s"):
        srv.start()
    assert time.monotonic() - start < TIMEOUT


def test_shutdown_waits_for_requests_then_cancels_then_lifespan(http):
    """A request in flight finishes within shutdown_timeout; one that
    outlives it is cancelled; lifespan shutdown comes after both."""
    app = App()
    order = []
    slow_started = threading.Event()

    async def asgi(scope, receive, send):
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            order.append("lifespan.shutdown")
            return
        if scope["path"] == "/quick":
            slow_started.set()
            await asyncio.sleep(0.3)
            await respond(send, b"quick")
            order.append("quick done")
            return
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            order.append("forever cancelled")
            raise

    srv = serve(asgi, shutdown_timeout=1.0).start()
    results = {}

    def get(path):
        pool = urllib3.PoolManager(retries=False, timeout=TIMEOUT)
        try:
            results[path] = pool.request("GET", srv.url + path).status
        except urllib3.exceptions.HTTPError as exc:
            results[path] = type(exc).__name__

    threads = [threading.Thread(target=get, args=(p,))
               for p in ("/quick", "/forever")]
    for t in threads:
        t.start()
    assert slow_started.wait(TIMEOUT)
    time.sleep(0.05)
    assert srv.shutdown() is False   # /forever was cut off
    for t in threads:
        t.join(TIMEOUT)
    assert results["/quick"] == 200
    assert order == ["quick done", "forever cancelled", "lifespan.shutdown"]


SERVE = """
import sys, gohttp

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            print(message["type"], flush=True)
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"up"})

gohttp.serve_asgi(app, port=0)
import threading
loops = [t for t in threading.enumerate() if t.name == "gohttp-asgi"]
print("returned", len(loops), flush=True)
"""


def test_serve_asgi_until_sigterm(tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.path.dirname(
        os.path.dirname(gohttp.__file__))}
    proc = subprocess.Popen([sys.executable, "-c", SERVE], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline() == "lifespan.startup\n"
        line = ""
        while "serving" not in line:
            line = proc.stderr.readline()
            assert line, "the server never said where it serves"
        url = re.search(r"http://[\d.:]+", line).group(0)
        assert urllib3.request("GET", url, retries=False,
                               timeout=TIMEOUT).data == b"up"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert out == "lifespan.shutdown\nreturned 0\n"   # the loop stopped too
    assert proc.returncode == 0


RUN_AND_STOP = """
import asyncio, threading, gohttp

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            print(message["type"], flush=True)
            if message["type"] == "lifespan.shutdown":
                await asyncio.sleep(0.3)   # it needs the loop meanwhile
                print("shutdown complete", flush=True)
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    print("main thread", threading.current_thread() is
          threading.main_thread(), flush=True)
    srv.shutdown()
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"bye"})

srv = gohttp.Server("127.0.0.1", 0)
srv.mount_asgi("/", app)
srv.run()
print("returned", flush=True)
"""


def test_an_app_stops_run_and_its_lifespan_shutdown_completes():
    """Under run() the loop is the main thread's: an app's shutdown()
    ends run() only after the lifespan shutdown, which the loop runs."""
    import os
    import re
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.path.dirname(
        os.path.dirname(gohttp.__file__))}
    proc = subprocess.Popen([sys.executable, "-c", RUN_AND_STOP], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = ""
        while "serving" not in line:
            line = proc.stderr.readline()
            assert line, "the server never said where it serves"
        url = re.search(r"http://[\d.:]+", line).group(0)
        assert urllib3.request("GET", url, retries=False,
                               timeout=TIMEOUT).data == b"bye"
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert out == ("lifespan.startup\nmain thread True\n"
                   "lifespan.shutdown\nshutdown complete\nreturned\n"), err
    assert proc.returncode == 0, err


def test_an_app_shuts_its_own_server_down(http):
    """shutdown() from the ASGI loop's thread starts the shutdown and
    returns False at once: waiting there would wait for itself."""
    said = []
    holder = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")
        said.append(holder["srv"].shutdown())
        await respond(send, b"bye")

    srv = serve(app)
    holder["srv"] = srv
    srv.start()
    assert http.request("GET", srv.url + "/").data == b"bye"
    assert said == [False]
    deadline = time.monotonic() + TIMEOUT
    while srv.serving and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not srv.serving
