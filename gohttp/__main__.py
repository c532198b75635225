"""The gohttp command: serve a WSGI app or gohttp routes on Go's net/http.

    gohttp myproject.wsgi:application --bind 127.0.0.1:8000
    gohttp myapp:create_app()           # a factory that returns the app
    gohttp myapp                        # routes registered with @gohttp.route
    gohttp myapp:server                 # a gohttp.Server made by myapp
    python -m gohttp --help
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import sys
import traceback
from typing import Any, Optional, Sequence

from . import __version__
from .server import Server, _default_server
from .wsgi import access_logger, mount

# The defaults of the options below are Server's.
_DEFAULTS = {name: p.default
             for name, p in inspect.signature(Server).parameters.items()}

# --timeout-NAME: the Server argument it sets.
_TIMEOUTS = {
    "read-header": ("read_header_timeout",
                    "how long a client may take to send a request's headers"),
    "read": ("read_timeout",
             "how long a client may take to send a whole request, body "
             "included"),
    "write": ("write_timeout",
              "how long writing a response may take, from the end of the "
              "request's headers"),
    "idle": ("idle_timeout",
             "how long a keep-alive connection may wait for its next "
             "request"),
}


# The default of options whose None means "no limit": not given.
_NOT_GIVEN: Any = object()


def _seconds(value: Optional[float]) -> str:
    return "none" if value is None else f"{value:g}"


def _parse_bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"--bind wants HOST:PORT, such as 127.0.0.1:8000, [::1]:8000 or "
            f":8000 (all interfaces), not {value!r}")
    return host.strip("[]"), int(port)


def _parse_timeout(value: str) -> Optional[float]:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(
            f"a timeout is a number of seconds, 0 for none, not {value!r}")
    return seconds or None


def _parse_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(
            f"want a number of seconds, not {value!r}")
    return seconds


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(
            f"want a whole number of at least 1, not {value!r}")
    return int(value)


class _BindOnce(argparse.Action):
    """--bind may be given once: a server listens on one address."""

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        if getattr(namespace, self.dest) is not None:
            parser.error("--bind may be given only once: gohttp listens on "
                         "one address for now")
        setattr(namespace, self.dest, values)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gohttp",
        description="Serve a Python web app on Go's net/http.",
        epilog="APP is MODULE:CALLABLE, a WSGI application such as "
               "myproject.wsgi:application (a dotted path after the colon "
               "is followed: pkg.app:obj.wsgi_app); MODULE:FACTORY(), a "
               "function called with no arguments that returns the "
               "application; MODULE:SERVER, a gohttp.Server the module "
               "made; or MODULE alone, for the handlers it registered with "
               "@gohttp.route.  The current directory is searched first.")
    parser.add_argument("app", metavar="APP", help="what to serve (below)")
    parser.add_argument(
        "--bind", "-b", type=_parse_bind, action=_BindOnce, default=None,
        metavar="HOST:PORT",
        help="the address to listen on; port 0 lets the OS pick, and the "
             "banner tells which.  One address for now (default: "
             "127.0.0.1:5000, or the address a gohttp.Server APP was given)")
    parser.add_argument(
        "--log-level", default="info",
        choices=["debug", "info", "warning", "error", "critical"],
        help="the level of messages logged to stderr (default: info)")
    parser.add_argument(
        "--access-log", action="store_true",
        help="print one Common Log Format line per request to stdout; WSGI "
             "apps only for now (default: off)")
    parser.add_argument(
        "--shutdown-timeout", type=_parse_seconds, default=None,
        metavar="SECONDS",
        help="how long Ctrl-C or SIGTERM waits for requests in flight "
             f"(default: {_seconds(_DEFAULTS['shutdown_timeout'])})")
    parser.add_argument(
        "--max-handlers", type=_positive_int, default=None, metavar="N",
        help="how many requests may run Python at once; more wait in Go "
             "at no thread's cost.  WSGI apps only: a gohttp.Server sets "
             f"its own (default: {_DEFAULTS['max_handlers']})")
    for name, (option, what) in _TIMEOUTS.items():
        zero = ("0 for the read timeout's limit, as in Go" if name == "idle"
                else "0 for no limit")
        parser.add_argument(
            f"--timeout-{name}", type=_parse_timeout, default=_NOT_GIVEN,
            dest=option, metavar="SECONDS",
            help=f"{what}; {zero} "
                 f"(default: {_seconds(_DEFAULTS[option])})")
    parser.add_argument("--version", action="version",
                        version=f"gohttp {__version__}",
                        help="print gohttp's version and exit")
    return parser


def _fail(message: str) -> SystemExit:
    return SystemExit(f"gohttp: {message}")


def _import(module_name: str) -> Any:
    """Import module_name from the current directory or the path; exit
    saying what could not be imported and why."""
    if not module_name:
        raise _fail("APP names no module: write MODULE:CALLABLE, such as "
                    "myproject.wsgi:application")
    sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing
                        or module_name.startswith(missing + ".")):
            raise _fail(f"cannot import {module_name!r}: there is no module "
                        f"named {missing!r} (searched {os.getcwd()} and "
                        f"sys.path)") from None
        traceback.print_exc()
        raise _fail(f"cannot import {module_name!r}: importing it raised "
                    f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:
        traceback.print_exc()
        raise _fail(f"cannot import {module_name!r}: importing it raised "
                    f"{type(exc).__name__}: {exc}") from None


def _load(app: str) -> tuple[Any, str]:
    """What APP names: a gohttp.Server or a WSGI callable, and a name for
    it in the banner."""
    module_name, colon, path = app.partition(":")
    module = _import(module_name)
    if not colon:
        return _default_server(), module_name
    call = path.endswith("()")
    if call:
        path = path[:-2]
    elif path.endswith(")"):
        raise _fail(f"{app}: a factory is called with no arguments: write "
                    f"{module_name}:{path.partition('(')[0]}()")
    if not path:
        raise _fail(f"{app}: nothing after the colon: write "
                    f"{module_name}:CALLABLE")
    target: Any = module
    found: list[str] = []
    for name in path.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            owner = (f"module {module_name!r}" if not found
                     else f"{module_name}:{'.'.join(found)}")
            raise _fail(f"{owner} has no attribute {name!r} (APP {app})"
                        ) from None
        found.append(name)
    if call:
        if not callable(target):
            raise _fail(f"{app}: {module_name}:{path} is a "
                        f"{type(target).__name__}, which cannot be called")
        try:
            target = target()
        except Exception as exc:
            traceback.print_exc()
            raise _fail(f"{app}: the factory raised {type(exc).__name__}: "
                        f"{exc}") from None
    if isinstance(target, Server):
        return target, app
    if not callable(target):
        raise _fail(f"{app} is a {type(target).__name__}: want a WSGI "
                    f"application app(environ, start_response) or a "
                    f"gohttp.Server")
    if not call and not _takes_two_arguments(target):
        raise _fail(f"{app} cannot be called as a WSGI application "
                    f"app(environ, start_response); if it is a factory "
                    f"that makes one, write {app}()")
    return target, app


def _takes_two_arguments(fn: Any) -> bool:
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature to read (some builtins): trust it
        return True
    return True


def _configure_logging(level: str, access_log: bool) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if access_log:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_logger.addHandler(handler)
        access_logger.setLevel(logging.INFO)
        access_logger.propagate = False


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level, args.access_log)

    target, name = _load(args.app)
    limits = {option: getattr(args, option)
              for option, _ in _TIMEOUTS.values()
              if getattr(args, option) is not _NOT_GIVEN}
    if args.shutdown_timeout is not None:
        limits["shutdown_timeout"] = args.shutdown_timeout
    if isinstance(target, Server):
        if args.max_handlers is not None:
            parser.error("--max-handlers applies to WSGI apps: give "
                         "gohttp.Server(max_handlers=...) in your code")
        if args.access_log:
            parser.error("--access-log applies to WSGI apps only for now")
        host, port = args.bind or (target.host, target.port)
        target._configure(host, port, **limits)
        target.run(app_name=name)
        return

    host, port = args.bind or ("127.0.0.1", 5000)
    if args.max_handlers is not None:
        limits["max_handlers"] = args.max_handlers
    server = Server(host, port, **limits)
    mount(server, "/", target, name=name, access_log=args.access_log)
    server.run(app_name=name)


if __name__ == "__main__":
    main()
