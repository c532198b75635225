"""Fixtures of the WSGI tests, a pytest plugin: a test module takes them
with ``pytest_plugins = ["helpers.wsgi_fixtures"]``.

Apps served with ``validate=True`` (the default) run inside
``wsgiref.validate.validator``; the modules that use it turn its warnings
into errors, so a warning fails the request (the app raises) and the
test.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator
from wsgiref.validate import validator

import pytest

import gohttp

App = Callable[..., Any]


@pytest.fixture
def serve_app(make_server: Callable[..., gohttp.Server]
              ) -> Callable[..., gohttp.Server]:
    """serve_app(app, prefix="/", validate=True, **server_options) -> a
    started server with app mounted at prefix."""

    def serve(app: App, prefix: str = "/", *, validate: bool = True,
              **options: Any) -> gohttp.Server:
        srv = make_server(**options)
        srv.mount_wsgi(prefix, validator(app) if validate else app)
        return srv

    return serve


@pytest.fixture
def wsgi_errors(caplog: pytest.LogCaptureFixture
                ) -> Iterator[Callable[[], list[logging.LogRecord]]]:
    """wsgi_errors() -> the ERROR records logged to "gohttp.error" so far."""
    with caplog.at_level(logging.DEBUG, logger="gohttp"):
        yield lambda: [r for r in caplog.records
                       if r.name == "gohttp.error"
                       and r.levelno >= logging.ERROR]
