"""Fixtures and helpers of the ASGI tests: a test module imports the
fixtures it uses by name (from helpers.asgi_fixtures import serve_asgi).

serve_asgi mounts the app before the server starts, so that a lifespan
runs at start() as it does in production.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable, Iterator

import pytest

import gohttp
from helpers.common import TIMEOUT


@pytest.fixture
def serve_asgi() -> Iterator[Callable[..., gohttp.Server]]:
    """serve_asgi(app, prefix="/", mount=None, **server_options) -> a
    started server with app mounted at prefix (mount: mount_asgi's
    keyword arguments; lifespan "off" unless given)."""
    servers: list[gohttp.Server] = []

    def serve(app: Any, prefix: str = "/", *,
              mount: dict[str, Any] | None = None,
              **options: Any) -> gohttp.Server:
        options.setdefault("shutdown_timeout", 5.0)
        srv = gohttp.Server("127.0.0.1", 0, **options)
        servers.append(srv)
        srv.mount_asgi(prefix, app, **{"lifespan": "off", **(mount or {})})
        return srv.start()

    yield serve
    for srv in servers:
        srv.shutdown(timeout=5.0)


@contextlib.contextmanager
def serving(app: Any, **mount: Any) -> Iterator[gohttp.Server]:
    """A started server with app at the root (mount: mount_asgi's keyword
    arguments), for a module-scoped fixture: shut down at the end."""
    srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=5)
    srv.mount_asgi("/", app, **mount)
    srv.start()
    try:
        yield srv
    finally:
        srv.shutdown()


@pytest.fixture
def client() -> Iterator[Any]:
    """A real httpx client that never waits forever (the framework
    tests')."""
    httpx = pytest.importorskip("httpx")
    with httpx.Client(timeout=TIMEOUT) as c:
        yield c


def stops_growing(count: Callable[[], int], every: float = 0.2) -> bool:
    """Whether count() stops changing (checked every `every` seconds)
    within TIMEOUT: an endless stream stopped once its client left."""
    deadline = time.monotonic() + TIMEOUT
    last = -1
    while last != count():
        if time.monotonic() > deadline:
            return False
        last = count()
        time.sleep(every)
    return True


@pytest.fixture
def asgi_errors(caplog: pytest.LogCaptureFixture
                ) -> Iterator[Callable[[], list[logging.LogRecord]]]:
    """asgi_errors() -> the ERROR records logged to "gohttp.error" so
    far."""
    with caplog.at_level(logging.DEBUG, logger="gohttp"):
        yield lambda: [r for r in caplog.records
                       if r.name == "gohttp.error"
                       and r.levelno >= logging.ERROR]


async def read_body(receive: Callable[[], Any]) -> bytes:
    """The whole request body, from http.request messages."""
    body = b""
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def respond(send: Callable[[Any], Any], body: bytes, status: int = 200,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole response in two messages."""
    await send({"type": "http.response.start", "status": status,
                "headers": headers or [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
