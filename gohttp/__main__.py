"""The gohttp command: serve an ASGI or WSGI app, or gohttp routes, on
Go's net/http.

    gohttp main:app                     # FastAPI, Starlette, any ASGI app
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
import os
import sys
import traceback
from typing import Any, Callable, Optional, Sequence

from . import __version__, _control, _logging, _options, _supervisor, asgi
from .server import Server, _default_server
from .wsgi import mount

# The command's own options, besides _options.OPTIONS.
_LOG_LEVELS = ["debug", "info", "warning", "error", "critical"]
# The default of --forwarded-allow-ips, as uvicorn's.
_PROXIES_ENV = "FORWARDED_ALLOW_IPS"
# The default of --ssl-keyfile-password: a password ps does not show.
_KEY_PASSWORD_ENV = "GOHTTP_SSL_KEYFILE_PASSWORD"


def _reader(option: _options.Option) -> Callable[[str], Any]:
    """argparse's type= for option: its text, checked by the table."""
    def read(text: str) -> Any:
        try:
            return option.read(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    read.__name__ = option.name  # argparse names it in some errors
    return read


def _add_options(parser: argparse.ArgumentParser) -> None:
    """A flag for every option of the table that has one; each is in the
    namespace only when given (the APP server keeps its own values)."""
    for option in _options.OPTIONS:
        if not option.flags:
            continue
        cli = dict(option.cli)
        if cli.get("action") == "append":
            cli["action"] = "extend"  # read() gives a list of addresses
        if cli.get("action") not in ("store_true",
                                     argparse.BooleanOptionalAction):
            cli.setdefault("type", _reader(option))
            cli.setdefault("metavar", option.metavar)
        help = option.help.format(cpus=_supervisor.cpu_count())
        parser.add_argument(*option.flags, dest=option.name,
                            default=argparse.SUPPRESS,
                            help=f"{help} (default: {option.default_text})",
                            **cli)


def _parse_static(value: str) -> tuple[str, str]:
    prefix, sep, directory = value.partition("=")
    if not sep or not prefix.startswith("/") or not directory:
        raise argparse.ArgumentTypeError(
            f"--static wants PREFIX=DIR, such as /static/=./public, not "
            f"{value!r}")
    return prefix, directory


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gohttp",
        description="Serve a Python web app on Go's net/http.",
        epilog="APP is MODULE:CALLABLE, an ASGI application such as "
               "main:app (FastAPI, Starlette, Litestar, Quart, Django's "
               "asgi:application) or a WSGI one such as "
               "myproject.wsgi:application, told apart by themselves "
               "(--interface overrides); a dotted path after the colon "
               "is followed: pkg.app:obj.wsgi_app; MODULE:FACTORY(), a "
               "function called with no arguments that returns the "
               "application; MODULE:SERVER, a gohttp.Server the module "
               "made; or MODULE alone, for the handlers it registered with "
               "@gohttp.route.  The current directory is searched first.")
    parser.add_argument("app", metavar="APP", help="what to serve (below)")
    _add_options(parser)
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
        "--log-level", choices=_LOG_LEVELS,
        help="the level of gohttp's messages (logger gohttp.error) and, "
             "without --log-config, of the app's, logged to stderr "
             "(default: info)")
    parser.add_argument(
        "--log-config", metavar="FILE",
        help="configure logging from FILE instead: a logging dictConfig "
             "in .json or .yaml/.yml (needs PyYAML), else a fileConfig "
             ".ini (default: gohttp's messages to stderr)")
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
    if not isinstance(target, Server) and not callable(target):
        raise _fail(f"{app} is a {type(target).__name__}: want an ASGI "
                    f"application (await app(scope, receive, send)), a WSGI "
                    f"one (app(environ, start_response)) or a "
                    f"gohttp.Server")
    return target, app


def _interface(target: Any, app: str, given: str, call: bool) -> str:
    """How to serve target, which APP app named: "server", "wsgi",
    "asgi" or "asgi2"; given is --interface ("auto" tells by target)."""
    if isinstance(target, Server):
        if given != "auto":
            raise _fail(f"--interface applies to an app, and {app} is a "
                        f"gohttp.Server: mount its apps with mount_asgi or "
                        f"mount_wsgi")
        return "server"
    found = asgi.interface_of(target)
    if given == "auto":
        given = found or "wsgi"
    elif given == "wsgi" and found:
        raise _fail(f"--interface wsgi: {app} is an ASGI application "
                    f"({_why_asgi(found)}); leave --interface out, or give "
                    f"--interface {found}")
    if given == "wsgi" and not asgi.can_call_with(target, 2):
        hint = "" if call else (f"; if it is a factory that makes one, "
                                f"write {app}()")
        if asgi.can_call_with(target, 1):
            hint += ("; if it is an ASGI 2 app, app(scope), give "
                     "--interface asgi2")
        raise _fail(f"{app} cannot be called as a WSGI application "
                    f"app(environ, start_response){hint}")
    return given


def _why_asgi(interface: str) -> str:
    return ("its __call__ is a coroutine function" if interface == "asgi"
            else "a class made with the scope alone, ASGI 2 style")


def _given(args: argparse.Namespace, where: tuple[str, ...]
           ) -> dict[str, Any]:
    """The options of the table the command line gave, of those whose
    where is in where; the others keep the Server's (or the APP
    server's) own values."""
    return {name: value for name, value in vars(args).items()
            if name in _options.BY_NAME
            and _options.BY_NAME[name].where in where}


def _server_options(args: argparse.Namespace) -> dict[str, Any]:
    """Server's keyword arguments from the command line: one HOST:PORT
    --bind sets host and port, several set bind."""
    options = _given(args, (_options.ADDRESS, _options.LISTEN,
                            _options.SERVER))
    if "forwarded_allow_ips" not in options and _PROXIES_ENV in os.environ:
        options["forwarded_allow_ips"] = os.environ[_PROXIES_ENV]
    if ("ssl_keyfile_password" not in options
            and os.environ.get(_KEY_PASSWORD_ENV)):
        options["ssl_keyfile_password"] = os.environ[_KEY_PASSWORD_ENV]
    binds = options.get("bind")
    if binds is not None and len(binds) == 1 and binds[0].kind == "tcp":
        options.update(host=binds[0].host, port=binds[0].port, bind=None)
    return options


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _logging.configure_command(args.log_level, args.log_config)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    run_options = _given(args, (_options.RUN,))
    policy = _supervisor.Policy.of(**run_options)
    options = _server_options(args)
    if policy.supervised and not _control.in_worker():
        # The supervisor does not import the app (a worker that cannot
        # import it fails the start): each worker runs this command again.
        try:
            _supervisor.Supervisor(
                policy, app_name=args.app,
                shutdown_timeout=options.get(
                    "shutdown_timeout",
                    _options.DEFAULT["shutdown_timeout"])).run()
        except _supervisor.BootError:
            raise SystemExit(1) from None
        return

    target, name = _load(args.app)
    interface = _interface(target, args.app,
                           getattr(args, "interface", "auto"),
                           args.app.endswith("()"))
    max_handlers = _given(args, (_options.CORE,))
    asgi_options = _given(args, (_options.ASGI,))
    if asgi_options and not interface.startswith("asgi"):
        flags = ", ".join(_options.BY_NAME[o].flags[0] for o in asgi_options)
        what = "a gohttp.Server" if interface == "server" else "a WSGI app"
        parser.error(f"{flags} applies to ASGI apps, and {args.app} is "
                     f"{what}")
    try:
        if interface == "server":
            if max_handlers:
                parser.error("--max-handlers applies to WSGI apps: give "
                             "gohttp.Server(max_handlers=...) in your code")
            server = target
            server._configure(**options)
        elif interface == "wsgi":
            server = Server(**options, **max_handlers)
            mount(server, "/", target, name=name)
        else:
            if max_handlers:
                parser.error("--max-handlers applies to WSGI apps: an ASGI "
                             "app's requests all run on its event loop")
            server = Server(**options)
            server.mount_asgi("/", asgi.application(target, interface),
                              **asgi_options)
            name = f"{name} ({interface.upper()})"
        for prefix, directory in args.static:
            server.static(prefix, directory, listing=args.static_listing)
    except (OSError, ValueError, TypeError, ImportError) as exc:
        raise _fail(str(exc)) from None
    try:
        server.run(app_name=name, **run_options)
    except (OSError, ValueError) as exc:  # an address, a certificate
        raise _fail(str(exc)) from None
    except asgi.LifespanFailure as exc:   # the app's own message
        raise _fail(str(exc)) from None


if __name__ == "__main__":
    main()
