"""The Server class, the default server, and run()."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from typing import (TYPE_CHECKING, Any, Callable, Optional, Sequence,
                    TypeVar, Union)

from . import __version__, _gohttp
from ._gohttp import Request, ResponseWriter

if TYPE_CHECKING:
    from .asgi import ASGIApplication
    from .wsgi import WSGIApplication

__all__ = ["Server", "Handler", "route", "run", "shutdown"]

Handler = Callable[[ResponseWriter, Request], None]
StrPath = Union[str, "os.PathLike[str]"]
H = TypeVar("H", bound=Handler)

logger = logging.getLogger("gohttp")

# Servers started and not yet shut down; atexit stops them.
_live: set["Server"] = set()
_live_lock = threading.Lock()


class Server:
    """An HTTP server: Go's net/http serving Python handlers.

    Serve in the background while a block runs::

        with gohttp.Server(host="127.0.0.1", port=0) as srv:
            @srv.route("GET /hello/{name}")
            def hello(w, req):
                w.write(f"Hello, {req.path_value('name')}!\\n")

            print("serving on", srv.url)
            ...  # the server runs until the block ends

    or in the foreground with ``srv.run()`` until Ctrl-C or SIGTERM.

    Timeouts are in seconds (None: no limit).  The defaults keep a slow
    client (slowloris) from holding connections: ``read_header_timeout``
    bounds how long a client may take to send its headers, and
    ``idle_timeout`` how long a keep-alive connection may wait for its
    next request.  ``max_handlers`` bounds how many handlers may run or
    wait for the GIL at once; more requests queue in Go, costing no
    thread.

    What else Go does before Python sees a request, each off unless
    asked for:

    - listeners: ``bind=["0.0.0.0:8000", "[::1]:8000", "unix:/run/a.sock",
      "fd://3"]``, ``uds="/run/a.sock"``, ``fd=3`` (systemd socket
      activation).  Given any of them, the server listens there instead
      of on host:port.
    - TLS: ``certfile=`` and ``keyfile=`` (PEM, key without password);
      HTTP/2 is then offered by ALPN.  ``http2_cleartext=True`` serves
      HTTP/2 with prior knowledge (h2c) without TLS.
    - limits: ``max_body_bytes`` (413 beyond it), ``max_connections``
      (more clients wait to be accepted).
    - ``access_log=True`` (standard error) or a file path, in
      ``access_log_format`` "combined", "common" or "json".
    - ``forwarded_allow_ips="127.0.0.1,10.0.0.0/8"``: proxies whose
      X-Forwarded-For sets ``req.remote_addr``.
    - ``reuse_port=True``: TCP listeners set SO_REUSEPORT, so that other
      processes may listen on the same address (the kernel spreads
      connections among them).  ``run(workers=N)`` starts such
      processes for you.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5000,
        *,
        bind: Union[str, Sequence[str], None] = None,
        uds: Optional[StrPath] = None,
        fd: Optional[int] = None,
        certfile: Optional[StrPath] = None,
        keyfile: Optional[StrPath] = None,
        http2_cleartext: bool = False,
        max_handlers: int = 64,
        read_header_timeout: Optional[float] = 10.0,
        read_timeout: Optional[float] = None,
        write_timeout: Optional[float] = None,
        idle_timeout: Optional[float] = 120.0,
        max_header_bytes: int = 1 << 20,
        max_body_bytes: Optional[int] = None,
        max_connections: Optional[int] = None,
        access_log: Union[bool, StrPath] = False,
        access_log_format: str = "combined",
        forwarded_allow_ips: Union[str, Sequence[str], None] = None,
        reuse_port: bool = False,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self._core = _gohttp.Server(max_handlers=max_handlers)
        self._started = False
        self._configure(host, port, bind=bind, uds=uds, fd=fd,
                        certfile=certfile, keyfile=keyfile,
                        http2_cleartext=http2_cleartext,
                        read_header_timeout=read_header_timeout,
                        read_timeout=read_timeout,
                        write_timeout=write_timeout,
                        idle_timeout=idle_timeout,
                        max_header_bytes=max_header_bytes,
                        max_body_bytes=max_body_bytes,
                        max_connections=max_connections,
                        access_log=access_log,
                        access_log_format=access_log_format,
                        forwarded_allow_ips=forwarded_allow_ips,
                        reuse_port=reuse_port,
                        shutdown_timeout=shutdown_timeout)

    def _configure(self, host: Optional[str] = None,
                   port: Optional[int] = None, *,
                   shutdown_timeout: Optional[float] = None,
                   **options: Any) -> None:
        """Set the address and options (Server's keyword arguments) of a
        server not yet started; host, port and options left out keep
        their values."""
        if self._started:
            raise RuntimeError("the server has started: its address and "
                               "limits can no longer change")
        first = not hasattr(self, "_limits")
        if first:
            self._limits: dict[str, Any] = {}
            self._listeners: dict[str, Any] = {}
            self._tls = False
        if host is not None or first:
            if not isinstance(host, str):
                raise TypeError(f"host must be str, not {type(host).__name__}")
            self.host = host
        if port is not None or first:
            if not isinstance(port, int) or isinstance(port, bool):
                raise TypeError(f"port must be int, not {type(port).__name__}")
            if not 0 <= port <= 65535:
                raise ValueError(f"port must be from 0 to 65535, not {port}")
            self._port = port
        limits = {**self._limits, **_listen_options(options, self._listeners)}
        if limits.get("http2_cleartext") and limits.get("certfile"):
            raise ValueError("http2_cleartext is for servers without TLS: "
                             "with certfile, clients get HTTP/2 by ALPN")
        if shutdown_timeout is not None:
            self.shutdown_timeout = float(shutdown_timeout)
        self._limits = limits
        self._tls = bool(limits.get("certfile"))

    # Routes.
    def route(self, pattern: str) -> Callable[[H], H]:
        """Register the decorated function as the handler of pattern.

        pattern is a Go ServeMux pattern: ``"/static/"`` (a subtree),
        ``"GET /items/{id}"`` (a method and a wildcard, read with
        ``req.path_value("id")``), ``"/{path...}"``, ``"/{$}"`` (exactly
        "/").  Unmatched paths get 404, unmatched methods 405 with
        ``Allow``.  Raises ValueError for a bad pattern or one that
        conflicts with a registered one.  Routes may be added while
        serving.  Returns the function unchanged.
        """
        if not isinstance(pattern, str):
            raise TypeError(f"route() takes a pattern string, not "
                            f"{type(pattern).__name__}: write "
                            f"@route(\"/path\"), not @route")

        def register(handler: H) -> H:
            self.handle(pattern, handler)
            return handler

        return register

    def handle(self, pattern: str, handler: Handler) -> None:
        """Register handler(w, req) for pattern; see route()."""
        self._core.handle(pattern, handler)

    def static(self, prefix: str, directory: StrPath, *,
               listing: bool = False) -> None:
        """Serve the files under directory for the URL prefix, by Go
        alone: no Python runs for these requests, so they cost no GIL::

            srv.static("/static/", "./public")   # /static/app.css

        Go's http.FileServer answers GET and HEAD with Range requests,
        If-Modified-Since / ETag 304s and Content-Type from the file
        extension; paths that would leave directory ("..", encoded or
        not, or symbolic links pointing out) are refused.  A directory
        is served by its index.html, else 404, or, with listing=True, a
        list of its files.  Raises FileNotFoundError or
        NotADirectoryError at once if directory is not a directory,
        ValueError for a prefix that conflicts with a route.
        """
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be str, not "
                            f"{type(prefix).__name__}")
        if not prefix.endswith("/"):
            prefix += "/"  # "/static" means the subtree "/static/"
        self._core.static(prefix, os.fspath(directory), listing=listing)

    def mount_wsgi(self, prefix: str, app: "WSGIApplication", *,
                   name: Optional[str] = None) -> None:
        """Serve the WSGI application app for prefix and every path under
        it: with prefix "/api", "/api/users" reaches app with SCRIPT_NAME
        "/api" and PATH_INFO "/users".  "/" mounts it at the root.
        Native routes and other mounts may share the server; Go's
        ServeMux picks the most specific.  name names app in logs
        (default: "module:qualname").  See gohttp.wsgi.
        """
        from .wsgi import mount

        mount(self, prefix, app, name=name)

    def mount_asgi(self, prefix: str, app: "ASGIApplication", *,
                   root_path: Optional[str] = None, lifespan: str = "auto",
                   timeout_lifespan: Optional[float] = 60.0) -> None:
        """Serve the ASGI application app for prefix and every path under
        it, with scope["root_path"] the prefix (and root_path, a prefix
        a proxy took off, before it).  Its lifespan ("auto", "on",
        "off") starts before the server listens and stops after its last
        request.  See gohttp.asgi."""
        from .asgi import mount

        mount(self, prefix, app, root_path=root_path, lifespan=lifespan,
              timeout_lifespan=timeout_lifespan)

    def _add_hooks(self, startup: Callable[[], None],
                   shutdown: Callable[[], None]) -> None:
        """Run startup before the server listens, shutdown after it has
        stopped (at every shutdown() call: it must be idempotent)."""
        self.__dict__.setdefault("_hooks", []).append((startup, shutdown))

    def _run_hooks(self, when: int) -> None:
        for hooks in self.__dict__.get("_hooks", ()):
            hooks[when]()

    # Lifecycle.
    def start(self) -> "Server":
        """Bind the address and serve in the background; return once
        listening.  Raises OSError if the address cannot be bound (port
        in use), RuntimeError if already started or shut down."""
        if self._started:
            raise RuntimeError("the server has already been started")
        limits = {k: v for k, v in self._limits.items()}
        binds = _binds(self._listeners)
        host = None if binds else self.host  # binds replace host:port
        self._run_hooks(0)   # ASGI lifespan startup
        try:
            self._core.listen(host, self._port, binds=binds, **limits)
        except BaseException:
            self._run_hooks(1)
            raise
        self._started = True
        with _live_lock:
            _live.add(self)
        return self

    def serve_forever(self) -> None:
        """Serve (starting if needed) until shutdown() is called from
        another thread or a handler.  Ctrl-C raises KeyboardInterrupt
        here after a graceful shutdown."""
        if not self._started:
            self.start()
        try:
            self._core.wait()
        except BaseException:
            self._drain()
            raise

    def run(self, *, app_name: Optional[str] = None,
            workers: Union[int, str] = 1,
            max_requests: Optional[int] = None,
            max_requests_jitter: int = 0,
            max_rss: Optional[int] = None) -> None:
        """Serve in the foreground until Ctrl-C or SIGTERM, then shut
        down gracefully (in-flight requests finish, up to
        shutdown_timeout seconds; a second Ctrl-C cuts them off) and
        return.  Prints the address it serves on, and app_name if
        given.

        With ``workers=N`` (0 or "auto": one per CPU) this process
        becomes a supervisor: it runs the program again N times, as
        fresh interpreters (never forked), each serving this server on
        the same sockets, which the supervisor binds once.  Code before
        this call runs again in every worker, so keep it importable and
        guard what must run once with ``if __name__ == "__main__"``
        only if it comes before run().  The supervisor restarts a
        worker that dies, replaces them one by one on SIGHUP, and
        replaces one that has handled ``max_requests`` requests (plus
        up to ``max_requests_jitter``, at random) or uses more than
        ``max_rss`` MiB; SIGTERM or Ctrl-C drains them all::

            srv.run(workers=4, max_requests=10_000,
                    max_requests_jitter=1_000)
        """
        from . import _workers

        policy = _workers.Policy.of(workers, max_requests,
                                    max_requests_jitter, max_rss)
        if _workers.in_worker():
            _workers.serve_as_worker(self, app_name)
        elif policy.supervised:
            if self._started:
                raise RuntimeError("run(workers=...) needs a server not "
                                   "yet started: the workers listen, not "
                                   "the supervisor")
            _workers.Supervisor(policy, app_name=app_name,
                                shutdown_timeout=self.shutdown_timeout
                                ).run()
        else:
            self._serve_in_foreground(app_name)

    def _serve_in_foreground(
            self, app_name: Optional[str] = None, *, banner: bool = True,
            on_listening: Optional[Callable[[], None]] = None) -> None:
        """run() in this process: until Ctrl-C or SIGTERM, or shutdown()
        from elsewhere.  on_listening is called once listening.  A worker
        prints neither banner nor drain notice: its supervisor does."""
        # Signals are caught from the first moment: one that lands while
        # the server starts or the banner prints still drains the server.
        restore = _catch_sigterm()
        try:
            try:
                if not self._started:
                    self.start()
                if on_listening is not None:
                    on_listening()
                if banner:
                    what = f"{app_name} on" if app_name else "on"
                    print(f" * gohttp {__version__} serving {what} "
                          f"{self.url} (Go net/http) - press Ctrl-C to stop",
                          file=sys.stderr, flush=True)
                self._core.wait()
                return  # shutdown() was called elsewhere
            except KeyboardInterrupt:
                why = "Ctrl-C"
            except _Terminated:
                why = "SIGTERM"
            self._drain(why if banner else "")
        finally:
            restore()

    def _drain(self, why: str = "") -> None:
        """Shut down gracefully; a second Ctrl-C or SIGTERM cuts it
        short."""
        try:
            if why:
                print(f" * {why}: shutting down, waiting up to "
                      f"{self.shutdown_timeout:g}s for requests in flight",
                      file=sys.stderr, flush=True)
            self.shutdown()
        except (KeyboardInterrupt, _Terminated):
            print(" * forced shutdown", file=sys.stderr, flush=True)
            self.shutdown(timeout=0)

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Stop serving gracefully: stop accepting, let requests in flight
        finish for up to timeout seconds (default: shutdown_timeout), then
        close what is left.  Returns True if all finished in time.
        Harmless if not started or already stopped.  From one of this
        server's own handlers it only starts the shutdown and returns
        False."""
        if timeout is None:
            timeout = self.shutdown_timeout
        try:
            return self._core.shutdown(timeout)
        finally:
            self._run_hooks(1)   # ASGI: cancel what is left, lifespan shutdown
            if not self._core.serving:
                with _live_lock:
                    _live.discard(self)

    def __enter__(self) -> "Server":
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # Where it listens.
    @property
    def port(self) -> int:
        """The port: the one the OS picked once started with port=0; with
        bind, the first TCP listener's (0 if none)."""
        if self._started:
            return self._core.port
        if _binds(self._listeners):
            return 0
        return self._port

    @property
    def address(self) -> Union[tuple[str, int], str]:
        """(host, port) as socket addresses go, or a Unix socket's path:
        where the first listener listens."""
        if not self._started and not _binds(self._listeners):
            return self.host, self.port
        first = self.addresses[0] if self._started else _binds(self._listeners)[0]
        if first.startswith("unix:"):
            return first[len("unix:"):]
        if first.startswith("fd://"):
            return first
        host, _, port = first.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def addresses(self) -> list[str]:
        """Every address the server listens on once started:
        ``["127.0.0.1:5000", "[::1]:5000", "unix:/run/app.sock"]``."""
        if not self._started:
            return []
        return self._core.addresses()

    @property
    def url(self) -> str:
        """The server's base URL, such as ``http://127.0.0.1:5000``
        (``https://`` with TLS); ``unix:PATH`` for a Unix socket."""
        return self.urls[0]

    @property
    def urls(self) -> list[str]:
        """The URL of each listener (see url)."""
        scheme = "https" if self._tls else "http"
        binds = _binds(self._listeners)
        if not binds:
            host = self.host or "0.0.0.0"
            if ":" in host:
                host = f"[{host}]"
            return [f"{scheme}://{host}:{self.port}"]
        found = self.addresses if self._started else binds
        return [a if a.startswith(("unix:", "fd://")) else f"{scheme}://{a}"
                for a in found]

    @property
    def serving(self) -> bool:
        """True while the server accepts requests."""
        return self._core.serving

    def __repr__(self) -> str:
        state = "serving" if self.serving else (
            "stopped" if self._started else "not started")
        return f"<gohttp.Server {self.url} {state}>"


class _Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler run() installs."""


def _catch_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise _Terminated in the main thread, like Ctrl-C
    raises KeyboardInterrupt; return what restores the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_sigterm(signum: int, frame: object) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)
    return restore


# The default server, for route() and run().
_default: Optional[Server] = None
_default_lock = threading.Lock()


def _default_server() -> Server:
    global _default
    with _default_lock:
        if _default is None:
            _default = Server()
        return _default


def route(pattern: str) -> Callable[[H], H]:
    """Register the decorated handler(w, req) on the default server.

    >>> import gohttp
    >>> @gohttp.route("GET /hello/{name}")
    ... def hello(w, req):
    ...     w.write(f"Hello, {req.path_value('name')}!\\n")
    """
    return _default_server().route(pattern)


def run(host: str = "127.0.0.1", port: int = 5000, *,
        workers: Union[int, str] = 1, max_requests: Optional[int] = None,
        max_requests_jitter: int = 0, max_rss: Optional[int] = None,
        **options: Any) -> None:
    """Serve the routes registered with route() on host:port until Ctrl-C
    or SIGTERM, then shut down gracefully and return.  options are
    Server's keyword arguments (listeners, TLS, timeouts, limits, access
    log); workers and the limits after it run worker processes, which run
    the program again up to this call: see Server.run()."""
    srv = _default_server()
    if "max_handlers" in options:
        raise TypeError("run() cannot change max_handlers of the default "
                        "server: create a gohttp.Server(max_handlers=...)")
    srv._configure(host, port, **options)
    srv.run(workers=workers, max_requests=max_requests,
            max_requests_jitter=max_requests_jitter, max_rss=max_rss)


def shutdown(timeout: Optional[float] = None) -> bool:
    """Stop the default server started by run(), from another thread or a
    handler; see Server.shutdown()."""
    return _default_server().shutdown(timeout)


def _shutdown_all_at_exit() -> None:
    """Stop every server before the interpreter finalizes, so that no Go
    thread enters a finalizing interpreter; then close the gate."""
    with _live_lock:
        servers = list(_live)
    for srv in servers:
        try:
            srv.shutdown(timeout=min(srv.shutdown_timeout, 5.0))
        except Exception:
            logger.exception("error shutting down %r at exit", srv)
    try:
        _gohttp._close_gate(2.0)
    except RuntimeError:
        pass  # a forked child: there is no Go runtime to stop


_LOG_FORMATS = ("combined", "common", "json")


def _listen_options(options: dict[str, Any],
                    listeners: dict[str, Any]) -> dict[str, Any]:
    """Check Server's keyword arguments and turn them into those of the
    core's listen(); bind, uds and fd go into listeners instead."""
    core: dict[str, Any] = {}
    for name, value in options.items():
        if name == "bind":
            if isinstance(value, str):
                value = [value]
            elif value is not None:
                value = list(value)
                for item in value:
                    if not isinstance(item, str):
                        raise TypeError(f"bind addresses must be str, not "
                                        f"{type(item).__name__}")
            listeners["bind"] = value or None
        elif name == "uds":
            listeners["uds"] = None if value is None else os.fspath(value)
        elif name == "fd":
            if value is not None and (not isinstance(value, int)
                                      or isinstance(value, bool)
                                      or value < 0):
                raise ValueError(f"fd must be a file descriptor number "
                                 f"(an int >= 0), not {value!r}")
            listeners["fd"] = value
        elif name in ("certfile", "keyfile"):
            core[name] = None if value is None else os.fspath(value)
        elif name in ("max_body_bytes", "max_connections"):
            if value is None:
                value = 0
            elif (not isinstance(value, int) or isinstance(value, bool)
                  or value < 1):
                raise ValueError(f"{name} must be a positive int, or None "
                                 f"for no limit, not {value!r}")
            core[name] = value
        elif name == "access_log":
            if value is False or value is None:
                value = None
            elif value is True:
                value = "-"
            else:
                value = os.fspath(value)
                if not value:
                    raise ValueError("access_log must be True, '-' "
                                     "(standard error) or a file path")
            core[name] = value
        elif name == "access_log_format":
            if value not in _LOG_FORMATS:
                raise ValueError(f"access_log_format must be one of "
                                 f"{', '.join(_LOG_FORMATS)}, not {value!r}")
            core[name] = value
        elif name == "forwarded_allow_ips":
            if value is not None and not isinstance(value, str):
                value = ",".join(value)
            core[name] = value or None
        elif name in ("http2_cleartext", "reuse_port"):
            core[name] = bool(value)
        else:  # timeouts and max_header_bytes: listen() checks them
            core[name] = value
    if core.get("keyfile") and not core.get("certfile"):
        raise ValueError("keyfile needs certfile: give both, or certfile "
                         "alone if it holds the key too")
    return core


def _binds(listeners: dict[str, Any]) -> list[str]:
    """The addresses bind, uds and fd name, as the core's listen() takes
    them; [] when the server listens on host:port."""
    binds = list(listeners.get("bind") or ())
    if listeners.get("uds") is not None:
        binds.append("unix:" + listeners["uds"])
    if listeners.get("fd") is not None:
        binds.append(f"fd://{listeners['fd']}")
    return binds


atexit.register(_shutdown_all_at_exit)
# A forked child has no Go runtime: its copies of the servers are dead.
os.register_at_fork(after_in_child=_live.clear)
