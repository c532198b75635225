"""The Server class, the default server, and run()."""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from typing import (TYPE_CHECKING, Any, Callable, Optional, Sequence,
                    TypeVar, Union)

from . import (__version__, _address, _gohttp, _http3, _logging, _options,
               _systemd)
from ._address import Address
from ._gohttp import (ForkedProcessError, Request, ResponseWriter,
                      ServerStateError)

if TYPE_CHECKING:
    from ._websocket import WebSocketHandler
    from .asgi import ASGIApplication
    from .wsgi import WSGIApplication

__all__ = ["Server", "Handler", "route", "run", "shutdown"]

Handler = Callable[[ResponseWriter, Request], None]
StrPath = Union[str, "os.PathLike[str]"]
H = TypeVar("H", bound=Handler)
WH = TypeVar("WH", bound="WebSocketHandler")

logger = _logging.logger

_D = _options.DEFAULT
# The options of _options.OPTIONS a Server keeps (max_handlers goes to
# its core once, run()'s to its workers).
_SERVER_OPTIONS = (_options.ADDRESS, _options.LISTEN, _options.SERVER)

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
    - TLS: ``certfile=`` and ``keyfile=`` (PEM; a legacy-encrypted key
      with ``ssl_keyfile_password=``), reloaded when the files change
      and by ``reload_tls()``; HTTP/2 is then offered by ALPN.
      ``ssl_cert_reqs="required"`` with ``ssl_ca_certs=`` asks clients
      for certificates (mutual TLS: ``req.tls``); ``ssl_min_version``
      ("1.2" or "1.3") and ``ssl_ciphers`` (Go's names of TLS 1.2
      suites).  ``http2_cleartext=True`` serves HTTP/2 with prior
      knowledge (h2c) without TLS.
    - HTTP/3: ``http3=True`` (with TLS) also serves HTTP/3 over QUIC on
      UDP at the TCP port (``http3_bind="HOST:PORT"`` elsewhere; port
      0 picks one, which ``http3_url`` says), and says so with ``Alt-Svc`` on HTTP/1.1 and HTTP/2 responses;
      ``http3_0rtt=True`` accepts replayable 0-RTT requests.
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
    - ``tcp_keepalive``: seconds of silence before TCP keep-alive probes
      on accepted connections (15, as Go's net/http; 0: none).
    - WebSockets (ASGI apps, ``gohttp.asgi.route_websocket``):
      ``ws_max_size`` (bytes per message, 16 MiB; beyond, close 1009),
      ``ws_ping_interval`` and ``ws_ping_timeout`` (seconds, 20 each; a
      client that does not answer a ping is dropped),
      ``ws_per_message_deflate`` (on), ``ws_max_connections`` (None: no
      limit; beyond, 503).
    - ``metrics_bind="127.0.0.1:9100"``: Prometheus metrics at /metrics,
      and /healthz and /readyz for probes, served by Go on a listener of
      their own (docs/metrics.md); ``shutdown_delay``: seconds run()
      keeps accepting after SIGTERM, /readyz saying 503 already, before
      it drains.
    """

    def __init__(
        self,
        host: str = _D["host"],
        port: int = _D["port"],
        *,
        bind: Union[str, Sequence[str], None] = _D["bind"],
        uds: Optional[StrPath] = _D["uds"],
        fd: Optional[int] = _D["fd"],
        certfile: Optional[StrPath] = _D["certfile"],
        keyfile: Optional[StrPath] = _D["keyfile"],
        ssl_keyfile_password: Optional[str] = _D["ssl_keyfile_password"],
        ssl_ca_certs: Optional[StrPath] = _D["ssl_ca_certs"],
        ssl_cert_reqs: Union[str, int] = _D["ssl_cert_reqs"],
        ssl_min_version: Any = _D["ssl_min_version"],
        ssl_ciphers: Optional[str] = _D["ssl_ciphers"],
        http2_cleartext: bool = _D["http2_cleartext"],
        http3: bool = _D["http3"],
        http3_bind: Optional[str] = _D["http3_bind"],
        http3_0rtt: bool = _D["http3_0rtt"],
        max_handlers: int = _D["max_handlers"],
        read_header_timeout: Optional[float] = _D["read_header_timeout"],
        read_timeout: Optional[float] = _D["read_timeout"],
        write_timeout: Optional[float] = _D["write_timeout"],
        idle_timeout: Optional[float] = _D["idle_timeout"],
        max_header_bytes: int = _D["max_header_bytes"],
        max_body_bytes: Optional[int] = _D["max_body_bytes"],
        max_connections: Optional[int] = _D["max_connections"],
        access_log: Union[bool, StrPath] = _D["access_log"],
        access_log_format: str = _D["access_log_format"],
        forwarded_allow_ips: Union[str, Sequence[str], None] = (
            _D["forwarded_allow_ips"]),
        reuse_port: bool = _D["reuse_port"],
        tcp_keepalive: int = _D["tcp_keepalive"],
        ws_max_size: int = _D["ws_max_size"],
        ws_ping_interval: Optional[float] = _D["ws_ping_interval"],
        ws_ping_timeout: Optional[float] = _D["ws_ping_timeout"],
        ws_per_message_deflate: bool = _D["ws_per_message_deflate"],
        ws_max_connections: Optional[int] = _D["ws_max_connections"],
        shutdown_timeout: float = _D["shutdown_timeout"],
        metrics_bind: Optional[str] = _D["metrics_bind"],
        shutdown_delay: float = _D["shutdown_delay"],
    ) -> None:
        # Every argument is an option of _options.OPTIONS: checked there,
        # all of them before the core (a Go server) is made.
        options = {name: value for name, value in locals().items()
                   if name != "self"}
        max_handlers = _options.check("max_handlers",
                                      options.pop("max_handlers"))
        self._started = False
        self._shutting_down = False   # shutdown() has been called
        # The options this server keeps (_SERVER_OPTIONS), checked.
        self._options: dict[str, Any] = {
            o.name: o.check(o.default) for o in _options.OPTIONS
            if o.where in _SERVER_OPTIONS}
        self._adopted: Optional[list[Address]] = None
        self._metrics_port = 0
        self._set(options)
        self._core = _gohttp.Server(max_handlers=max_handlers)

    def _configure(self, host: Optional[str] = None,
                   port: Optional[int] = None, **options: Any) -> None:
        """Set the address and options (Server's keyword arguments but
        max_handlers) of a server not yet started; host, port and options
        left out keep their values.  Nothing changes if one is wrong."""
        if host is not None:
            options["host"] = host
        if port is not None:
            options["port"] = port
        self._set(options)

    def _set(self, options: dict[str, Any]) -> None:
        """_configure() with every option named in options."""
        if self._started:
            raise ServerStateError("the server has started: its address "
                                   "and limits can no longer change")
        values = {**self._options,
                  **_options.check_all(options, _SERVER_OPTIONS,
                                       "Server()")}
        _options.check_together(values)
        self._options = values

    @property
    def host(self) -> str:
        """The host of host:port (not of bind, uds or fd)."""
        return str(self._options["host"])

    @property
    def shutdown_timeout(self) -> float:
        """How long run()'s Ctrl-C or SIGTERM, and shutdown(), wait for
        requests in flight (seconds)."""
        return float(self._options["shutdown_timeout"])

    @property
    def shutdown_delay(self) -> float:
        """How long run() keeps accepting after SIGTERM or Ctrl-C, not
        ready already, before it drains (seconds)."""
        return float(self._options["shutdown_delay"])

    @property
    def metrics_url(self) -> Optional[str]:
        """The base URL of the metrics listener once started
        (``http://127.0.0.1:9100``; ``unix:PATH`` for a Unix socket), or
        None without one: /metrics, /healthz and /readyz are there."""
        bind = self._options["metrics_bind"]
        if bind is None:
            return None
        address = _address.parse(bind)
        if address.kind == "tcp" and self._metrics_port:
            address = _address.tcp(address.host, self._metrics_port)
        return address.url("http")

    def _addresses(self) -> list[Address]:
        """Where the server is to listen, in order: the inherited sockets
        of _adopt_listeners, else bind, uds and fd, else host:port."""
        if self._adopted is not None:
            return list(self._adopted)
        o = self._options
        found = list(o["bind"] or ())
        if o["uds"] is not None:
            found.append(_address.parse("unix:" + o["uds"]))
        if o["fd"] is not None:
            found.append(Address("fd", fd=o["fd"]))
        return found or [_address.tcp(o["host"], o["port"])]

    def _adopt_listeners(self, fds: Sequence[int]) -> None:
        """Listen on the listening sockets fds instead of the addresses
        configured: a worker's, which its supervisor bound for
        _addresses(), one each, in order.  The server owns the
        descriptors once started (closing them when it stops).  For a
        server not yet started."""
        if self._started:
            raise ServerStateError("the server has started: it can no "
                                   "longer adopt listeners")
        self._adopted = [Address("fd", fd=_options.check("fd", fd))
                         for fd in fds]
        if self._options["http3"]:
            # Each worker binds HTTP/3's UDP socket itself, sharing the
            # port with SO_REUSEPORT (adopted TCP sockets ignore it).
            self._options = {**self._options, "reuse_port": True}

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

    def websocket(self, pattern: str) -> Callable[[WH], WH]:
        """Register the decorated function as the WebSocket handler of
        pattern (a route() pattern, e.g. ``"/chat/{room}"``)::

            @srv.websocket("/echo")
            async def echo(ws, req):
                await ws.accept()
                async for message in ws:
                    await ws.send(message)

        handler(ws, req) gets a gohttp.AsyncWebSocket if it is an
        ``async def`` (it runs on the ASGI event loop: an idle connection
        costs no thread), else a gohttp.WebSocket whose methods block (it
        runs in a thread of its own while connected).  Go answers a
        request there that is no WebSocket upgrade with 426.  Returns
        the function unchanged.  See gohttp/_websocket.py.
        """
        if not isinstance(pattern, str):
            raise TypeError(f"websocket() takes a pattern string, not "
                            f"{type(pattern).__name__}: write "
                            f"@websocket(\"/path\"), not @websocket")

        def register(handler: WH) -> WH:
            from ._websocket import register as register_websocket

            return register_websocket(self, pattern, handler)

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
                   root_path: Optional[str] = _D["root_path"],
                   lifespan: str = _D["lifespan"],
                   timeout_lifespan: Optional[float] = _D["timeout_lifespan"],
                   loop: str = _D["loop"]) -> None:
        """Serve the ASGI application app for prefix and every path under
        it, with scope["root_path"] the prefix (and root_path, a prefix
        a proxy took off, before it).  Its lifespan ("auto", "on",
        "off") starts before the server listens and stops after its last
        request, each step within timeout_lifespan seconds; loop picks the
        process's event loop ("auto", "asyncio", "uvloop") when it is the
        first ASGI app.  See gohttp.asgi."""
        from .asgi import mount

        mount(self, prefix, app, root_path=root_path, lifespan=lifespan,
              timeout_lifespan=timeout_lifespan, loop=loop)

    def _add_hooks(self, startup: Callable[[], None],
                   shutdown: Callable[[], None],
                   serving_here: Callable[[], bool]) -> None:
        """Run startup before the server listens, shutdown after it has
        stopped (at every shutdown() call: it must be idempotent);
        serving_here() tells whether this thread serves requests that a
        shutdown would wait for (an ASGI loop's)."""
        self.__dict__.setdefault("_hooks", []).append(
            (startup, shutdown, serving_here))

    def _run_hooks(self, when: int) -> Any:
        return [hooks[when]() for hooks in self.__dict__.get("_hooks", ())]

    # Lifecycle.
    def start(self) -> "Server":
        """Bind the address and serve in the background; return once
        listening.  Raises OSError if the address cannot be bound (port
        in use), gohttp.ServerStateError if already started or shut
        down."""
        if self._started:
            if not self.serving:
                raise ServerStateError("the server was shut down: create a "
                                       "new Server to serve again")
            raise ServerStateError("the server has already been started")
        metrics = self._options["metrics_bind"]
        if metrics is not None:
            # Open first: /readyz says "starting" while the app starts.
            self._metrics_port = self._core.metrics_listen(metrics)
        try:
            self._run_hooks(0)   # ASGI lifespan startup
            try:
                self._core.listen(None, 0,
                                  binds=[str(a) for a in self._addresses()],
                                  **_options.listen_arguments(self._options))
            except BaseException:
                self._run_hooks(1)
                raise
        except BaseException:
            if metrics is not None:
                self._core.shutdown(0)  # closes the metrics listener
            raise
        if metrics is not None:
            self._core.set_ready(1)
        self._started = True
        with _live_lock:
            _live.add(self)
        if self._options["http3"]:
            from . import _control
            if not _control.in_worker():  # the supervisor says it once
                self._warn_udp_buffers()
        return self

    @staticmethod
    def _warn_udp_buffers() -> None:
        warning = _http3.udp_buffer_warning()
        if warning:
            logger.warning("%s", warning)

    def reload_tls(self) -> None:
        """Load the certificate and key from their files again, now, for
        the handshakes to come (the files are also looked at on a
        handshake, at most once a second, and reloaded when changed).
        If they cannot be loaded, the current certificate stays and this
        raises: OSError for a file that cannot be read, ValueError for a
        bad pair or password.  ServerStateError if the server is not
        serving TLS.  run() calls it on SIGHUP."""
        self._core.reload_tls()

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
            workers: Union[int, str] = _D["workers"],
            max_requests: Optional[int] = _D["max_requests"],
            max_requests_jitter: int = _D["max_requests_jitter"],
            max_rss: Optional[int] = _D["max_rss"]) -> None:
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
        from . import _control, _supervisor, _worker

        _logging.install_default()
        policy = _supervisor.Policy.of(workers=workers,
                                       max_requests=max_requests,
                                       max_requests_jitter=max_requests_jitter,
                                       max_rss=max_rss)
        if _control.in_worker():
            _worker.serve_as_worker(self, app_name)
        elif policy.supervised:
            if self._started:
                raise ServerStateError("run(workers=...) needs a server "
                                       "not yet started: the workers "
                                       "listen, not the supervisor")
            _http3.check_supervised(self._options["http3_bind"])
            _supervisor.Supervisor(
                policy, app_name=app_name,
                shutdown_timeout=self.shutdown_timeout,
                metrics_bind=self._options["metrics_bind"]).run()
        else:
            self._serve_in_foreground(app_name)

    def _serve_in_foreground(
            self, app_name: Optional[str] = None, *, banner: bool = True,
            on_listening: Optional[Callable[[], None]] = None) -> None:
        """run() in this process: until Ctrl-C or SIGTERM, or shutdown()
        from elsewhere.  on_listening is called once listening.  A worker
        prints neither banner nor drain notice: its supervisor does."""
        def serve() -> None:
            if not self._started:
                self.start()
            if on_listening is not None:
                on_listening()
            if banner:
                what = f"{app_name} on" if app_name else "on"
                where = self.url
                if self.http3_url:
                    where += f" and HTTP/3 on {self.http3_url}"
                logger.info("gohttp %s serving %s %s (Go net/http) - "
                            "press Ctrl-C to stop", __version__, what,
                            where)
            if banner and self.metrics_url:
                logger.info("metrics at %s/metrics, probes at "
                            "/healthz and /readyz", self.metrics_url)
            # systemd's Type=notify (nothing without NOTIFY_SOCKET):
            # listening, the ASGI lifespan startup done.
            _systemd.notify(f"READY=1\nSTATUS=serving on "
                            f"{' '.join(self.urls)}")
            watchdog.start()
            self._core.wait()

        restore_hup = self._reload_on_sighup()
        watchdog = _systemd.Watchdog()
        try:
            if getattr(self, "_asgi_mounts", None) is not None:
                from . import asgi
                if asgi.runs_here(self):
                    # The ASGI loop on this, the main, thread: its signal
                    # handlers drain; serve() waits in a thread.
                    asgi.event_loop().run_here(
                        self, serve,
                        lambda why: self._drain(why if banner else ""),
                        self._force)
                    return
            # Signals are caught from the first moment: one that lands
            # while the server starts or the banner prints still drains
            # the server.
            restore = _catch_sigterm()
            try:
                try:
                    serve()
                    return  # shutdown() was called elsewhere
                except KeyboardInterrupt:
                    why = "Ctrl-C"
                except _Terminated:
                    why = "SIGTERM"
                self._drain(why if banner else "")
            finally:
                restore()
        finally:
            watchdog.stop()
            restore_hup()

    def _reload_on_sighup(self) -> Callable[[], None]:
        """Under TLS, make SIGHUP reload the certificate (reload_tls)
        while run() serves in this process; return what restores the old
        handler.  A worker ignores SIGHUP (its supervisor replaces the
        workers, which load the files afresh): that stays so."""
        if (not self._options["certfile"]
                or threading.current_thread() is not threading.main_thread()
                or signal.getsignal(signal.SIGHUP) == signal.SIG_IGN):
            return lambda: None

        def on_sighup(signum: int, frame: object) -> None:
            try:
                self.reload_tls()
            except (OSError, ValueError, ServerStateError) as exc:
                logger.error("SIGHUP: the certificate was not reloaded, "
                             "the current one stays: %s", exc)
            else:
                logger.info("SIGHUP: reloaded the certificate from %s",
                            self._options["certfile"])

        previous = signal.signal(signal.SIGHUP, on_sighup)

        def restore() -> None:
            signal.signal(signal.SIGHUP, previous)
        return restore

    def _drain(self, why: str = "") -> None:
        """Shut down gracefully; a second Ctrl-C or SIGTERM cuts it
        short."""
        try:
            if why:
                logger.info("%s: shutting down, waiting up to %gs for "
                            "requests in flight", why, self.shutdown_timeout)
            _systemd.notify("STOPPING=1")
            delay = self.shutdown_delay
            if delay > 0 and self._started and self.serving:
                # Not ready at once; the listeners stay open meanwhile, so
                # that requests sent before the load balancer heard are
                # served.
                if self._options["metrics_bind"] is not None:
                    self._core.set_ready(2)
                if why:
                    logger.info("not ready; draining in %gs "
                                "(shutdown_delay)", delay)
                time.sleep(delay)
            self.shutdown()
        except (KeyboardInterrupt, _Terminated):
            self._force()

    def _force(self) -> None:
        """Cut a graceful shutdown short: a second Ctrl-C or SIGTERM."""
        logger.warning("forced shutdown: the requests in flight are "
                       "cut off")
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
        if any(self._run_hooks(2)):
            # An ASGI app's own loop would wait for itself: shut down
            # from another thread.
            threading.Thread(target=self.shutdown, args=(timeout,),
                             name="gohttp-shutdown").start()
            return False
        self._shutting_down = True
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
    def _bound(self) -> list[Address]:
        """The addresses listened on once started, else configured."""
        if self._started:
            return [_address.parse(a) for a in self._core.addresses()]
        return self._addresses()

    @property
    def port(self) -> int:
        """The port of the first TCP listener (0 if none): once started
        with port 0, the one the OS picked."""
        if self._started:
            return self._core.port
        return next((a.port for a in self._addresses() if a.kind == "tcp"),
                    0)

    @property
    def address(self) -> Union[tuple[str, int], str]:
        """(host, port) as socket addresses go, a Unix socket's path, or
        "fd://N": where the first listener listens."""
        first = self._bound()[0]
        if first.kind == "tcp":
            return first.host, first.port
        return first.path if first.kind == "unix" else str(first)

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
        scheme = "https" if self._options["certfile"] else "http"
        return [a.url(scheme) for a in self._bound()]

    @property
    def http3_url(self) -> Optional[str]:
        """Where HTTP/3 listens, ``udp://127.0.0.1:8443``; None without
        http3."""
        if not self._options["http3"]:
            return None
        return _http3.url(self._options["http3_bind"],
                          next((a for a in self._bound() if a.kind == "tcp"),
                               None),
                          self._core.http3_port if self._started else 0)

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


def run(host: str = _D["host"], port: int = _D["port"], *,
        workers: Union[int, str] = _D["workers"],
        max_requests: Optional[int] = _D["max_requests"],
        max_requests_jitter: int = _D["max_requests_jitter"],
        max_rss: Optional[int] = _D["max_rss"], **options: Any) -> None:
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
    except ForkedProcessError:
        pass  # a forked child: there is no Go runtime to stop


atexit.register(_shutdown_all_at_exit)
# A forked child has no Go runtime: its copies of the servers are dead.
os.register_at_fork(after_in_child=_live.clear)
