"""A plain WSGI app, a factory, and things that are no WSGI app."""

import os


def app(environ, start_response):
    body = f"Hello from {environ['PATH_INFO']}\n".encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def create_app():
    return app


def failing_factory():
    raise RuntimeError("the factory could not configure itself")


def pid_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]


not_callable = 42


def failing_app(environ, start_response):
    raise RuntimeError("the app failed on purpose")
