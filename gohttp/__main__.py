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

from . import (__version__, _address, _control, _logging, _options,
               _supervisor, _systemd, asgi)
from . import _config, _cpus, _http3, _reload
from .server import Server, _default_server
from .wsgi import mount

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
            continue  # not on the command line (APP is positional)
        cli = dict(option.cli)
        if cli.get("action") == "append":
            cli["action"] = "extend"  # read() gives a list of addresses
        if cli.get("action") not in ("store_true",
                                     argparse.BooleanOptionalAction):
            cli.setdefault("type", _reader(option))
            cli.setdefault("metavar", option.metavar)
        help = option.help.format(cpus=_cpus.cpu_count())
        parser.add_argument(*option.flags, dest=option.name,
                            default=argparse.SUPPRESS,
                            help=f"{help} (default: {option.default_text})",
                            **cli)


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
               "@gohttp.route.  The current directory is searched first.  "
               "Every option is also read from the environment variable "
               "GOHTTP_ and its name (--timeout-read: "
               "GOHTTP_TIMEOUT_READ=30, GOHTTP_APP=main:app), and from "
               "--config FILE (timeout_read = 30); the command line "
               "overrides the environment, which overrides the file.")
    parser.add_argument("app", metavar="APP", nargs="?",
                        default=argparse.SUPPRESS,
                        help="what to serve (below); or GOHTTP_APP, or app "
                             "in the config file")
    _add_options(parser)
    parser.add_argument(
        "--print-config", action="store_true",
        help="print the configuration from the command line, the "
             "environment, the config file and the defaults, as a TOML "
             "config file that says where each value came from, and exit "
             "(default: serve)")
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
    if not any(name in options for name in ("bind", "uds", "fd")):
        # systemd socket activation: the sockets it passed, unless the
        # command line says where to listen.
        binds = ([str(_address.Address("fd", fd=fd))
                  for fd in _systemd.listen_fds()]
                 or _control.inherited_binds())
        if binds:
            options["bind"] = [_address.parse(b) for b in binds]
    binds = options.get("bind")
    if binds is not None and len(binds) == 1 and binds[0].kind == "tcp":
        options.update(host=binds[0].host, port=binds[0].port, bind=None)
    return options


def _configure(parser: argparse.ArgumentParser,
               args: argparse.Namespace) -> dict[str, _config.Setting]:
    """Every option from the command line (args), the environment, the
    config file and the defaults (see _config.py); those not left at
    their defaults are put in args, as if given on the command line."""
    try:
        # Checked again: a flag's const (--access-log alone) is not read.
        given = {name: _config.Setting(_options.check(name, value),
                                       "command line")
                 for name, value in vars(args).items()
                 if name in _options.BY_NAME}
        settings = _config.resolve(given, os.environ)
    except (TypeError, ValueError) as exc:  # ConfigError too
        parser.error(str(exc))
    for name, setting in settings.items():
        if setting.source != _config.DEFAULT:
            setattr(args, name, setting.value)
    return settings


def _watch(args: argparse.Namespace) -> Optional[_reload.Watch]:
    """What --reload watches, or None without --reload."""
    given = [name for name in ("reload_dirs", "reload_includes",
                               "reload_excludes") if hasattr(args, name)]
    if not getattr(args, "reload", False):
        if given:
            _logging.logger.warning(
                "%s applies with --reload only: ignored",
                _options.BY_NAME[given[0]].flags[0])
        return None
    try:
        return _reload.Watch.of(getattr(args, "reload_dirs", None),
                                getattr(args, "reload_includes", None),
                                getattr(args, "reload_excludes", None))
    except ValueError as exc:
        raise _fail(str(exc)) from None


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = _configure(parser, args)
    if args.print_config:
        sys.stdout.write(_config.render(settings))
        return
    if not hasattr(args, "app"):
        parser.error("say what to serve: APP (such as main:app), or "
                     "GOHTTP_APP, or app in the config file")
    try:
        _logging.configure_command(getattr(args, "log_level", None),
                                   getattr(args, "log_config", None))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    run_options = _given(args, (_options.RUN,))
    policy = _supervisor.Policy.of(**run_options)
    options = _server_options(args)
    watch = _watch(args)
    if (policy.supervised or watch) and not _control.in_worker():
        # The supervisor does not import the app (a worker that cannot
        # import it fails the start): each worker runs this command again.
        try:
            _http3.check_supervised(options.get("http3_bind"))
        except ValueError as exc:
            raise _fail(_config.whence(str(exc), settings)) from None
        try:
            binds = options.get("bind")
            _supervisor.Supervisor(
                policy, app_name=args.app,
                binds=[str(b) for b in binds] if binds else None,
                metrics_bind=options.get("metrics_bind"),
                shutdown_timeout=options.get(
                    "shutdown_timeout",
                    _options.DEFAULT["shutdown_timeout"]),
                watch=watch).run()
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
        parser.error(_config.whence(f"{flags} applies to ASGI apps, and "
                                    f"{args.app} is {what}", settings))
    try:
        if interface == "server":
            if max_handlers:
                parser.error(_config.whence(
                    "--max-handlers applies to WSGI apps: give "
                    "gohttp.Server(max_handlers=...) in your code", settings))
            server = target
            server._configure(**options)
        elif interface == "wsgi":
            server = Server(**options, **max_handlers)
            mount(server, "/", target, name=name)
        else:
            if max_handlers:
                parser.error(_config.whence(
                    "--max-handlers applies to WSGI apps: an ASGI app's "
                    "requests all run on its event loop", settings))
            server = Server(**options)
            server.mount_asgi("/", asgi.application(target, interface),
                              **asgi_options)
            name = f"{name} ({interface.upper()})"
        for static in getattr(args, "static", None) or []:
            server.static(static.prefix, static.directory,
                          listing=getattr(args, "static_listing", False))
    except (OSError, ValueError, TypeError, ImportError) as exc:
        raise _fail(_config.whence(str(exc), settings)) from None
    try:
        server.run(app_name=name, **run_options)
    except (OSError, ValueError) as exc:  # an address, a certificate
        raise _fail(_config.whence(str(exc), settings)) from None
    except asgi.LifespanFailure as exc:   # the app's own message
        raise _fail(str(exc)) from None


if __name__ == "__main__":
    main()
