"""The gohttp command: serve an app's routes on Go's net/http.

    gohttp myapp                      # routes registered with @gohttp.route
    gohttp myapp:server --bind 0.0.0.0:8000
    python -m gohttp --help
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Optional, Sequence

from . import __version__
from .server import Server, _default_server


def _parse_bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(
            f"--bind wants HOST:PORT, such as 127.0.0.1:8000, not {value!r}")
    return host.strip("[]"), int(port)


def _load(app: str) -> Server:
    """Import APP ("module" or "module:attribute") and return the server
    to run: the attribute if it is a gohttp.Server, else the default
    server that the module's @gohttp.route decorators filled."""
    module_name, _, attribute = app.partition(":")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name == module_name:
            raise SystemExit(f"gohttp: cannot import {module_name!r}: no such "
                             f"module on the path (from {os.getcwd()})")
        raise
    if not attribute:
        return _default_server()
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise SystemExit(f"gohttp: module {module_name!r} has no attribute "
                         f"{attribute!r}") from None
    if not isinstance(target, Server):
        raise SystemExit(f"gohttp: {app} is a {type(target).__name__}, not a "
                         "gohttp.Server (WSGI apps come in a later release)")
    return target


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="gohttp",
        description="Serve a Python app on Go's net/http.",
        epilog="APP is MODULE (its @gohttp.route handlers) or "
               "MODULE:SERVER (a gohttp.Server it made).",
    )
    parser.add_argument("app", metavar="APP", help="what to serve")
    parser.add_argument("--bind", "-b", type=_parse_bind,
                        default=("127.0.0.1", 5000), metavar="HOST:PORT",
                        help="the address to listen on (default: "
                             "127.0.0.1:5000)")
    parser.add_argument("--shutdown-timeout", type=float, default=10.0,
                        metavar="SECONDS",
                        help="how long Ctrl-C or SIGTERM waits for requests "
                             "in flight (default: 10)")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"],
                        help="the gohttp logger's level (default: info)")
    parser.add_argument("--version", action="version",
                        version=f"gohttp {__version__}")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = _load(args.app)
    host, port = args.bind
    server._configure(host, port, shutdown_timeout=args.shutdown_timeout)
    server.run()


if __name__ == "__main__":
    main()
