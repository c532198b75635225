"""The Server class, the default server, and run()."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from typing import Any, Callable, Optional, TypeVar

from . import _gohttp
from ._gohttp import Request, ResponseWriter

__all__ = ["Server", "Handler", "route", "run", "shutdown"]

Handler = Callable[[ResponseWriter, Request], None]
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
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5000,
        *,
        max_handlers: int = 64,
        read_header_timeout: Optional[float] = 10.0,
        read_timeout: Optional[float] = None,
        write_timeout: Optional[float] = None,
        idle_timeout: Optional[float] = 120.0,
        max_header_bytes: int = 1 << 20,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self._core = _gohttp.Server(max_handlers=max_handlers)
        self._started = False
        self._configure(host, port, read_header_timeout=read_header_timeout,
                        read_timeout=read_timeout,
                        write_timeout=write_timeout,
                        idle_timeout=idle_timeout,
                        max_header_bytes=max_header_bytes,
                        shutdown_timeout=shutdown_timeout)

    def _configure(self, host: str, port: int, *,
                   shutdown_timeout: Optional[float] = None,
                   **limits: Any) -> None:
        if not isinstance(host, str):
            raise TypeError(f"host must be str, not {type(host).__name__}")
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"port must be int, not {type(port).__name__}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, not {port}")
        if self._started:
            raise RuntimeError("the server has started: its address and "
                               "limits can no longer change")
        self.host = host
        self._port = port
        if shutdown_timeout is not None:
            self.shutdown_timeout = float(shutdown_timeout)
        if not hasattr(self, "_limits"):
            self._limits: dict[str, Any] = {}
        self._limits.update(limits)

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

    # Lifecycle.
    def start(self) -> "Server":
        """Bind the address and serve in the background; return once
        listening.  Raises OSError if the address cannot be bound (port
        in use), RuntimeError if already started or shut down."""
        if self._started:
            raise RuntimeError("the server has already been started")
        limits = {k: v for k, v in self._limits.items()}
        self._core.listen(self.host, self._port, **limits)
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

    def run(self) -> None:
        """Serve in the foreground until Ctrl-C or SIGTERM, then shut
        down gracefully (in-flight requests finish, up to
        shutdown_timeout seconds; a second Ctrl-C cuts them off) and
        return.  Prints the address it serves on."""
        # Signals are caught from the first moment: one that lands while
        # the server starts or the banner prints still drains the server.
        restore = _catch_sigterm()
        try:
            try:
                if not self._started:
                    self.start()
                print(f" * gohttp serving on {self.url} (Go net/http) - "
                      f"press Ctrl-C to stop", file=sys.stderr, flush=True)
                self._core.wait()
                return  # shutdown() was called elsewhere
            except KeyboardInterrupt:
                why = "Ctrl-C"
            except _Terminated:
                why = "SIGTERM"
            self._drain(why)
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
        """The port: the one the OS picked once started with port=0."""
        return self._core.port if self._started else self._port

    @property
    def address(self) -> tuple[str, int]:
        """(host, port), as socket addresses go."""
        return self.host, self.port

    @property
    def url(self) -> str:
        """The server's base URL, such as ``http://127.0.0.1:5000``."""
        host = self.host or "0.0.0.0"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

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
    return lambda: signal.signal(signal.SIGTERM, previous)


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


def run(host: str = "127.0.0.1", port: int = 5000, **options: Any) -> None:
    """Serve the routes registered with route() on host:port until Ctrl-C
    or SIGTERM, then shut down gracefully and return.  options are
    Server's keyword arguments (timeouts, limits)."""
    srv = _default_server()
    if "max_handlers" in options:
        raise TypeError("run() cannot change max_handlers of the default "
                        "server: create a gohttp.Server(max_handlers=...)")
    srv._configure(host, port, **options)
    srv.run()


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


atexit.register(_shutdown_all_at_exit)
# A forked child has no Go runtime: its copies of the servers are dead.
os.register_at_fork(after_in_child=_live.clear)
