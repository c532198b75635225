"""Fixtures: real gohttp servers on 127.0.0.1 port 0, real clients.

Every server a test starts is shut down when the test ends.  No fixture
waits for a server by sleeping: Server.start() returns once listening.
Plain helpers live in the helpers package (helpers/__init__.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest
import urllib3

# GOHTTP_TEST_LOOP=asyncio: the ASGI apps run on asyncio's loop although
# uvloop is installed (Makefile: some checking builds do), so that CI runs
# both of the loops that --loop auto can pick.
TEST_LOOP = os.environ.get("GOHTTP_TEST_LOOP", "auto")
if TEST_LOOP == "asyncio":
    _WITHOUT_UVLOOP = str(Path(__file__).resolve().parent / "without_uvloop")
    sys.path.insert(0, _WITHOUT_UVLOOP)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_WITHOUT_UVLOOP, os.environ.get("PYTHONPATH")) if p)
elif TEST_LOOP != "auto":
    raise pytest.UsageError(
        f"GOHTTP_TEST_LOOP must be auto or asyncio, not {TEST_LOOP!r}")

try:
    import gohttp
except ImportError:  # pytest run from elsewhere than the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import gohttp

from helpers.common import GOHTTP_PATH, TIMEOUT, Recorder, exchange


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "heavy: slow by nature (thousands of connections, memory over many "
        "requests, long streams); runs in the plain suite only, not again "
        "under the checking builds (Makefile CHECK_PYTEST_ARGS)")


@pytest.fixture
def make_server() -> Iterator[Callable[..., gohttp.Server]]:
    """make_server(**options) -> a started gohttp.Server on 127.0.0.1,
    port chosen by the OS.  Each is shut down after the test, whatever
    state it was left in."""
    servers: list[gohttp.Server] = []

    def make(**options: object) -> gohttp.Server:
        options.setdefault("shutdown_timeout", 5.0)
        srv = gohttp.Server("127.0.0.1", 0, **options)
        servers.append(srv)
        return srv.start()

    yield make
    for srv in servers:
        srv.shutdown(timeout=5.0)


@pytest.fixture
def server(make_server: Callable[..., gohttp.Server]) -> gohttp.Server:
    """A started gohttp.Server on 127.0.0.1, port chosen by the OS."""
    return make_server()


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    """A keep-alive urllib3 client that never retries and never waits
    forever."""
    pool = urllib3.PoolManager(
        retries=False, timeout=urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT))
    yield pool
    pool.clear()


@pytest.fixture
def fetch(server: gohttp.Server, http: urllib3.PoolManager
          ) -> Callable[..., urllib3.BaseHTTPResponse]:
    """fetch(method, path, **kw): http.request to the server fixture."""

    def fetch(method: str, path: str,
              **kw: object) -> urllib3.BaseHTTPResponse:
        return http.request(method, server.url + path, **kw)

    return fetch


@pytest.fixture
def raw(server: gohttp.Server) -> Callable[[bytes], bytes]:
    """raw(data): send bytes to the server fixture on a new connection and
    return all it answered until it closed the connection."""
    return lambda data: exchange(server.address, data)


@pytest.fixture
def record() -> Recorder:
    """Collects what handlers saw, for the test to assert on."""
    return Recorder()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """The environment of a subprocess that imports the gohttp under
    test."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (GOHTTP_PATH, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONWARNINGS", None)
    return env
