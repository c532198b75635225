"""The gohttp command: serve a WSGI app or gohttp routes on Go's net/http.

    gohttp myproject.wsgi:application --bind 127.0.0.1:8000
    gohttp myapp:create_app()           # a factory that returns the app
    gohttp myapp                        # routes registered with @gohttp.route
    gohttp myapp:server                 # a gohttp.Server made by myapp
    gohttp myapp:app --workers 4        # four worker processes, one port
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
from . import _workers
from .server import Server, _default_server
from .wsgi import mount

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


def _parse_bind(value: str) -> str:
    """Check one --bind address: HOST:PORT, [IPv6]:PORT, unix:PATH or
    fd://N, as Server(bind=...) takes them."""
    if value.startswith("unix:") and len(value) > 5:
        return value
    if value.startswith("fd://") and value[5:].isdigit():
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"--bind wants HOST:PORT (127.0.0.1:8000, [::1]:8000, :8000 for "
            f"all interfaces), unix:PATH or fd://N, not {value!r}")
    return value


def _host_port(value: str) -> Optional[tuple[str, int]]:
    """(host, port) of a HOST:PORT --bind, None for other forms."""
    if value.startswith(("unix:", "fd://")):
        return None
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def _parse_static(value: str) -> tuple[str, str]:
    prefix, sep, directory = value.partition("=")
    if not sep or not prefix.startswith("/") or not directory:
        raise argparse.ArgumentTypeError(
            f"--static wants PREFIX=DIR, such as /static/=./public, not "
            f"{value!r}")
    return prefix, directory


def _parse_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(
            f"want a number of seconds, not {value!r}")
    return seconds


def _parse_timeout(value: str) -> Optional[float]:
    """Seconds, where 0 means no limit (None)."""
    try:
        return _parse_seconds(value) or None
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"a timeout is a number of seconds, 0 for none, not {value!r}"
        ) from None


def _parse_workers(value: str) -> int:
    if value == "auto" or (value.isdigit() and int(value) >= 0):
        return 0 if value == "auto" else int(value)
    raise argparse.ArgumentTypeError(
        f"want a number of worker processes, or 0 or auto for one per CPU, "
        f"not {value!r}")


def _whole_number(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(
            f"want a whole number of at least 0, not {value!r}")
    return int(value)


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(
            f"want a whole number of at least 1, not {value!r}")
    return int(value)


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
        "--bind", "-b", type=_parse_bind, action="append", default=None,
        metavar="ADDRESS",
        help="where to listen: HOST:PORT ([::1]:8000 for IPv6, port 0 lets "
             "the OS pick: the banner tells which), unix:PATH or fd://N; "
             "repeat it to listen on several (default: 127.0.0.1:5000, or "
             "the address a gohttp.Server APP was given)")
    parser.add_argument(
        "--uds", metavar="PATH",
        help="listen on this Unix domain socket, like --bind unix:PATH "
             "(default: none)")
    parser.add_argument(
        "--fd", type=int, metavar="N",
        help="listen on this inherited socket, as systemd socket activation "
             "passes it, like --bind fd://N (default: none)")
    parser.add_argument(
        "--certfile", metavar="PEM",
        help="serve HTTPS with this certificate (its chain may follow it); "
             "HTTP/2 is then offered by ALPN (default: plain HTTP)")
    parser.add_argument(
        "--keyfile", metavar="PEM",
        help="the certificate's private key, without a password "
             "(default: the key inside --certfile)")
    parser.add_argument(
        "--http2-cleartext", action="store_true",
        help="also serve HTTP/2 without TLS to clients that know it in "
             "advance, h2c (default: off)")
    parser.add_argument(
        "--static", type=_parse_static, action="append", default=[],
        metavar="PREFIX=DIR",
        help="serve the files under DIR at URL PREFIX, by Go alone (no "
             "Python per request); repeatable: --static /static/=./public "
             "(default: none)")
    parser.add_argument(
        "--static-listing", action="store_true",
        help="list the files of --static directories without an "
             "index.html (default: 404)")
    parser.add_argument(
        "--workers", "-w", type=_parse_workers, default=1, metavar="N",
        help="serve from N worker processes, all on the same sockets, run "
             "by a supervisor that restarts those that die and replaces "
             "them one by one on SIGHUP; 0 or auto for one per CPU "
             f"(this machine: {_workers.cpu_count()}) (default: 1, no "
             "supervisor)")
    parser.add_argument(
        "--reuse-port", action="store_true",
        help="set SO_REUSEPORT on TCP listeners, so that other processes "
             "may listen on the same address, such as a new gohttp started "
             "before the old one stops; --workers needs no such option "
             "(default: off)")
    parser.add_argument(
        "--max-requests", type=_positive_int, default=None, metavar="N",
        help="replace a worker once it has handled about N requests that "
             "ran Python, to contain leaks in the app; starts a supervisor "
             "even with one worker (default: never)")
    parser.add_argument(
        "--max-requests-jitter", type=_whole_number, default=0, metavar="N",
        help="add a random 0 to N to each worker's --max-requests, so that "
             "workers do not all restart at once (default: 0)")
    parser.add_argument(
        "--max-rss", type=_positive_int, default=None, metavar="MIB",
        help="replace a worker whose resident memory exceeds MIB mebibytes; "
             "starts a supervisor even with one worker (default: no limit)")
    parser.add_argument(
        "--log-level", default="info",
        choices=["debug", "info", "warning", "error", "critical"],
        help="the level of messages logged to stderr (default: info)")
    parser.add_argument(
        "--access-log", nargs="?", const=True, default=None, metavar="PATH",
        help="log one line per request, written by Go off the GIL, to "
             "stderr or to PATH (default: off)")
    parser.add_argument(
        "--access-log-format", choices=["combined", "common", "json"],
        default=None,
        help="the access log's format (default: "
             f"{_DEFAULTS['access_log_format']})")
    parser.add_argument(
        "--forwarded-allow-ips", metavar="LIST",
        default=os.environ.get("FORWARDED_ALLOW_IPS"),
        help="comma-separated IPs and networks of proxies trusted to set "
             "X-Forwarded-For and X-Forwarded-Proto, '*' for all "
             "(default: $FORWARDED_ALLOW_IPS, else none)")
    parser.add_argument(
        "--max-header-bytes", type=_positive_int, default=None, metavar="N",
        help="the most request header bytes; beyond, 431 (default: "
             f"{_DEFAULTS['max_header_bytes']})")
    parser.add_argument(
        "--max-body-size", "--max-body-bytes", dest="max_body_bytes",
        type=_positive_int, default=None, metavar="N",
        help="the largest request body in bytes; beyond, Go answers 413 "
             "before Python sees the request (default: no limit)")
    parser.add_argument(
        "--max-connections", type=_positive_int, default=None, metavar="N",
        help="the most open client connections; more wait to be accepted "
             "(default: no limit)")
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


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The Server keyword arguments the command line sets; options not
    given keep the Server's (or the APP server's) own values."""
    options = {option: getattr(args, option)
               for option, _ in _TIMEOUTS.values()
               if getattr(args, option) is not _NOT_GIVEN}
    for name in ("shutdown_timeout", "certfile", "keyfile",
                 "access_log_format", "forwarded_allow_ips",
                 "max_header_bytes", "max_body_bytes", "max_connections",
                 "uds", "fd"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.http2_cleartext:
        options["http2_cleartext"] = True
    if args.reuse_port:
        options["reuse_port"] = True
    if args.access_log is not None:
        options["access_log"] = args.access_log
    return options


def _address(args: argparse.Namespace, default: tuple[str, int]
             ) -> tuple[str, int, Optional[list[str]]]:
    """host, port, and bind (None when one HOST:PORT says it all)."""
    binds = args.bind or []
    if len(binds) == 1 and _host_port(binds[0]) is not None:
        host, port = _host_port(binds[0])  # type: ignore[misc]
        return host, port, None
    host, port = default
    return host, port, binds or None


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    policy = _workers.Policy.of(args.workers, args.max_requests,
                                args.max_requests_jitter, args.max_rss)
    if policy.supervised and not _workers.in_worker():
        # The supervisor does not import the app (a worker that cannot
        # import it fails the start): each worker runs this command again.
        timeout = args.shutdown_timeout
        try:
            _workers.Supervisor(
                policy, app_name=args.app,
                shutdown_timeout=(_DEFAULTS["shutdown_timeout"]
                                  if timeout is None else timeout)).run()
        except _workers.BootError:
            raise SystemExit(1) from None
        return

    target, name = _load(args.app)
    options = _options(args)
    if isinstance(target, Server):
        if args.max_handlers is not None:
            parser.error("--max-handlers applies to WSGI apps: give "
                         "gohttp.Server(max_handlers=...) in your code")
        server = target
        host, port, bind = _address(args, (target.host, target.port))
    else:
        host, port, bind = _address(args, ("127.0.0.1", 5000))
        if args.max_handlers is not None:
            options["max_handlers"] = args.max_handlers
        server = None
    if bind is not None:
        options["bind"] = bind
    try:
        if server is None:
            server = Server(host, port, **options)
            mount(server, "/", target, name=name)
        else:
            server._configure(host, port, **options)
        for prefix, directory in args.static:
            server.static(prefix, directory, listing=args.static_listing)
    except (OSError, ValueError, TypeError) as exc:
        raise _fail(str(exc)) from None
    server.run(app_name=name, workers=policy.workers,
               max_requests=policy.max_requests,
               max_requests_jitter=policy.max_requests_jitter,
               max_rss=policy.max_rss)


if __name__ == "__main__":
    main()
