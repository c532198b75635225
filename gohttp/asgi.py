"""ASGI 3 applications on gohttp (asgiref's ``www.rst`` and ``lifespan.rst``).

    >>> import gohttp
    >>> async def app(scope, receive, send):
    ...     await send({"type": "http.response.start", "status": 200,
    ...                 "headers": [(b"content-type", b"text/plain")]})
    ...     await send({"type": "http.response.body", "body": b"Hello!\\n"})
    >>> gohttp.serve_asgi(app, port=8000)   # doctest: +SKIP

Go's net/http accepts, parses and writes; one asyncio event loop per
process runs every ASGI app of every Server: on the main thread under
run(), serve_asgi() and the command, else in a thread of gohttp's
("gohttp-asgi").  Go queues each request for the loop and wakes it through a
descriptor (one wake per batch); the loop takes the batch in one call and
starts one task per request.  The app's send() hands bytes to Go without
waiting on the network (it waits only once more than 64 KiB are
unwritten); receive() asks Go for the next chunk only when the app wants
it.  The C side is ext/asgi.c; this module is the loop's thread, how a
request's task starts and ends, lifespan, and the public API.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import functools
import inspect
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, Union

from . import _gohttp, _options
from ._lifespan import Lifespan, LifespanFailure, LifespanInterrupted
from ._logging import logger as error_logger
from .wsgi import ClientDisconnected, _script_name

if TYPE_CHECKING:
    from .server import Server

__all__ = ["ASGIApplication", "LifespanFailure", "mount", "route_websocket",
           "serve_asgi"]

ASGIApplication = Callable[[dict[str, Any], Callable[[], Awaitable[Any]],
                            Callable[[Any], Awaitable[None]]],
                           Awaitable[None]]

_D = _options.DEFAULT

# How long a shutdown waits for the requests it cancelled to end.
CANCEL_GRACE = 5.0

# The name of every request's task: the default, "Task-<n>", is formatted
# for each task on 3.11 (about 2% of a hello world's instructions).
TASK_NAME = "gohttp.asgi"


def task_starter(loop: asyncio.AbstractEventLoop
                 ) -> Callable[[Any], "asyncio.Task[None]"]:
    """How each request's coroutine starts: the one place to tune it.

    Frameworks need a real Task (anyio, under Starlette and FastAPI, asks
    for asyncio.current_task()), so every request gets one.  From Python
    3.12 it starts eagerly: the app runs at once, inside the loop's drain,
    until it first waits, and a response it sends without waiting costs
    no trip through the loop's ready queue.  Before 3.12, a plain task.
    """
    if sys.version_info >= (3, 12):
        def start(coro: Any) -> "asyncio.Task[None]":
            return asyncio.Task(coro, loop=loop, eager_start=True,
                                name=TASK_NAME)
        return start
    ready = getattr(loop, "_ready", None)
    if not isinstance(ready, collections.deque):
        # uvloop: its queue is not ours to touch.  The Task itself, not
        # uvloop's create_task, which names every task "Task-<n>" before
        # renaming it (gohttp sets no task factory).
        return functools.partial(asyncio.Task, loop=loop, name=TASK_NAME)
    return functools.partial(_start_at_once, loop, ready)


def _start_at_once(loop: asyncio.AbstractEventLoop,
                   ready: "collections.deque[asyncio.Handle]",
                   coro: Any) -> "asyncio.Task[None]":
    """3.10 and 3.11 on asyncio's own loop: what 3.12's eager start does.
    A new task queues its first step on the loop's ready queue; run that
    step at once, instead of one more turn of the loop (a poll of the
    selector) later.  The step is the task's own, run as the loop would
    run it, so the app runs inside its real Task (current_task() is it)."""
    queued = len(ready)
    task = loop.create_task(coro, name=TASK_NAME)
    if len(ready) == queued + 1:
        step = ready.pop()
        step._run()
    return task


async def _run(app: ASGIApplication, scope: dict[str, Any],
               call: Any) -> None:
    """One request's task: the app, then the news to Go.  An exception is
    logged with its traceback to the "gohttp.error" logger, unless it is
    the OSError of a client gone away; Go answers 500 if the response had
    not started, else aborts it, unless it was complete: that one stands."""
    try:
        # The guard gives Go the response the app's send() holds, if
        # any, as soon as the app waits for something; else it goes with
        # call._finish, in one call into Go (ext/asgicall.c).
        await call._guard(app(scope, call.receive, call.send))
    except BaseException as exc:
        # Logged first, then Go answers: the log says why before the
        # client sees the 500 (a WebSocket's close 1011).
        if isinstance(exc, asyncio.CancelledError):
            pass
        elif call.disconnected and _from_disconnect(exc):
            error_logger.debug("ASGI app stopped: the client went away (%r)",
                               exc)
        elif call.websocket and (call.disconnected or call.ws_closed):
            # Raised once the WebSocket was closed: what a framework
            # raises then (Starlette's WebSocketDisconnect, say) is the
            # news of the close, not a fault.
            error_logger.debug("ASGI app stopped: the WebSocket is closed "
                               "(%r)", exc)
        else:
            error_logger.error("Exception in ASGI application (%s %s)",
                               scope.get("method", "WebSocket"),
                               scope["path"], exc_info=exc)
        call._finish(False)
        if not isinstance(exc, Exception):
            raise
    else:
        if call.websocket:
            pass   # returned: Go closes it (1000), or refuses it (403)
        elif not call.complete and not call.disconnected:
            error_logger.error(
                "ASGI application returned without %s (%s %s)",
                "completing its response" if call.started
                else "sending a response", scope["method"], scope["path"])
        call._finish(True)


def _from_disconnect(exc: BaseException) -> bool:
    """Whether exc is the OSError send() or receive() raised because the
    client went away, or was raised while handling it: Starlette, for
    one, turns it into its own ClientDisconnect, which is no OSError."""
    seen: set[int] = set()
    cause: Optional[BaseException] = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OSError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def asgi3(app: Any) -> ASGIApplication:
    """app as an ASGI 3 callable: an ASGI 2 app (a class, or a callable
    that is not async, called as app(scope) and then awaited as
    instance(receive, send)) is wrapped, as uvicorn does."""
    if not inspect.isclass(app) and _is_async_callable(app):
        return app   # type: ignore[no-any-return]

    async def asgi2(scope: dict[str, Any], receive: Any, send: Any) -> None:
        instance = app(scope)
        await instance(receive, send)
    return asgi2


def interface_of(app: Any) -> Optional[str]:
    """"asgi" for an ASGI 3 app (an async callable: a coroutine function,
    or an object whose __call__ is one, as Starlette's, FastAPI's,
    Litestar's, Quart's and Django's ASGIHandler are), "asgi2" for a
    class whose instances are ASGI 2 apps (made with the scope alone),
    None for anything else (a WSGI app, say)."""
    if inspect.isclass(app):
        one_argument = can_call_with(app, 1) and not can_call_with(app, 2)
        return "asgi2" if one_argument else None
    return "asgi" if _is_async_callable(app) else None


def application(app: Any, interface: str) -> ASGIApplication:
    """app as an ASGI 3 callable, called as interface ("asgi": await
    app(scope, receive, send), even if app is a plain function that
    returns the coroutine; "asgi2": app(scope) then await
    instance(receive, send)); TypeError saying why app cannot be."""
    if interface == "asgi2":
        if not can_call_with(app, 1):
            raise TypeError("an ASGI 2 app is called as app(scope): this "
                            "one does not take one argument")
        return asgi3(app if inspect.isclass(app) else _not_async(app))
    if not can_call_with(app, 3):
        raise TypeError("an ASGI app is called as await app(scope, "
                        "receive, send): this one does not take three "
                        "arguments")
    if _is_async_callable(app) and not inspect.isclass(app):
        return app   # type: ignore[no-any-return]

    async def awaited(scope: dict[str, Any], receive: Any, send: Any
                      ) -> None:
        await app(scope, receive, send)
    return awaited


def _not_async(app: Any) -> Any:
    """app, seen as an ASGI 2 app's factory by asgi3."""
    return lambda scope: app(scope)


def can_call_with(fn: Any, count: int) -> bool:
    """Whether fn can be called with count positional arguments (True
    when there is no signature to read, as for some builtins)."""
    try:
        inspect.signature(fn).bind(*[None] * count)
    except TypeError:
        return False
    except ValueError:
        return True
    return True


def _is_async_callable(app: Any) -> bool:
    """True for a functools.partial of an async function, and for what
    marks itself as one (inspect.markcoroutinefunction)."""
    while isinstance(app, functools.partial):
        app = app.func
    return inspect.iscoroutinefunction(app) or \
        inspect.iscoroutinefunction(getattr(app, "__call__", None))


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """kind as _options checked it."""
    if kind != "asyncio":
        try:
            import uvloop  # type: ignore[import-not-found]
        except ImportError:
            if kind == "uvloop":
                raise ImportError("loop='uvloop' needs uvloop: "
                                  "pip install uvloop") from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class EventLoop:
    """The process's ASGI event loop, polling the descriptor Go wakes it
    through.  It runs in a thread of its own ("gohttp-asgi"), started by
    the first Server that starts with an ASGI app, or on the main thread
    itself under run(), serve_asgi() and the command (run_here)."""

    def __init__(self, kind: str) -> None:
        self.loop = _new_loop(kind)
        self.kind = ("uvloop" if type(self.loop).__module__.startswith(
            "uvloop") else "asyncio")
        self.start_task = task_starter(self.loop)
        # For each request, C sets call.task = start_task(_run(app, scope,
        # call)).
        self.core = _gohttp.ASGILoop(self.loop, self.start_task,
                                     ClientDisconnected, _run)
        # The thread that runs the loop: None until it first runs.
        self.thread: Optional[threading.Thread] = None
        self.stopping = False   # stop() was called
        self.here = False       # run_here runs it (or is about to)
        self.closed = False
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        """Run the loop in a thread of its own unless it runs already
        (a server's start runs this before its lifespan)."""
        with self._lock:
            if self.stopping or self.here or self.loop.is_running() or (
                    self.thread is not None and self.thread.is_alive()
                    and self.thread is not threading.main_thread()):
                return
            ready = threading.Event()
            self.thread = threading.Thread(target=self._run,
                                           args=(ready.set,),
                                           name="gohttp-asgi", daemon=True)
            self.thread.start()
        ready.wait()

    def _run(self, ready: Optional[Callable[[], None]] = None) -> None:
        """Run the loop in this thread until stop(), or until run_here's
        serving ends."""
        asyncio.set_event_loop(self.loop)
        self.loop.add_reader(self.core.fd, self.core.drain)
        if ready is not None:
            self.loop.call_soon(ready)
        try:
            self.loop.run_forever()
        finally:
            self.loop.remove_reader(self.core.fd)
            with self._lock:
                if self.stopping:
                    self._close()

    def _close(self) -> None:
        """Free Go's side and close the loop; the loop is not running.
        Tasks still pending (a lifespan cut short) are cancelled and
        given a second to end first, as asyncio.run() does."""
        self.closed = True
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        if tasks:
            try:
                self.loop.run_until_complete(asyncio.wait(tasks, timeout=1))
            except Exception:
                error_logger.exception("ASGI tasks did not end at close")
        self.core.free()
        self.loop.close()

    def in_loop(self) -> bool:
        return threading.current_thread() is self.thread

    def cancel(self, apps: set[Any], grace: float) -> None:
        """Cancel the tasks of the requests of apps (ASGIApps) still in
        flight, and wait up to grace seconds for them to end."""
        async def cancel_all() -> None:
            tasks = [call.task for call in self.core.calls()
                     if call.app in apps and call.task is not None]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=grace)

        if self.in_loop() or not self.loop.is_running():
            return
        done = asyncio.run_coroutine_threadsafe(cancel_all(), self.loop)
        try:
            done.result(grace + 1.0)
        except concurrent.futures.TimeoutError:
            error_logger.error("ASGI requests did not end within %gs of "
                               "being cancelled: is the loop blocked?",
                               grace)

    def stop(self) -> None:
        """Refuse new requests, stop the loop and free Go's side."""
        with self._lock:
            if self.closed or self.stopping:
                return
            self.stopping = True
            self.core.close()
            if not self.loop.is_running():
                self._close()   # never ran, or run_here has returned
                return
            self.loop.call_soon_threadsafe(self.loop.stop)
        thread = self.thread
        if (thread is not None and thread is not threading.current_thread()
                and thread is not threading.main_thread()):
            thread.join(5.0)

    def run_here(self, server: "Server", serve: Callable[[], None],
                 drain: Callable[[str], None],
                 force: Callable[[], None]) -> None:
        """Run the loop on this, the main, thread while serve() (start the
        server, wait until it stops) runs in a thread of its own: how
        run() serves a Server with ASGI apps.  Ctrl-C and SIGTERM reach
        the loop's signal handlers: the first runs drain(why) in a
        thread, the loop serving on meanwhile; a second, force().  What
        serve() raises is raised here.  When serving is over, the loop
        goes on in a thread if another server still uses it."""
        failed: list[BaseException] = []
        drains: list[threading.Thread] = []

        def control() -> None:
            try:
                try:
                    serve()
                finally:
                    for thread in list(drains):   # it needs the loop
                        thread.join()
                if server._shutting_down:
                    _wait_shut_down(server)   # begun by an app, say
                else:
                    server.shutdown()   # a listener failed: it stopped
            except BaseException as exc:   # raised in the main thread
                failed.append(exc)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)

        def on_signal(why: str) -> None:
            if drains:
                threading.Thread(target=force, name="gohttp-force",
                                 daemon=True).start()
                return
            thread = threading.Thread(target=drain, args=(why,),
                                      name="gohttp-drain")
            drains.append(thread)
            thread.start()

        handled = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
        previous = {sig: signal.getsignal(sig) for sig in handled}
        with self._lock:
            self.thread = threading.current_thread()
            self.here = True
        for sig, why in handled.items():
            self.loop.add_signal_handler(sig, on_signal, why)
        try:
            threading.Thread(target=control, name="gohttp-serve",
                             daemon=True).start()
            self._run()
        finally:
            for sig in handled:
                if not self.loop.is_closed():
                    self.loop.remove_signal_handler(sig)
                signal.signal(sig, previous[sig])
            asyncio.set_event_loop(None)
            with self._lock:
                self.here = False
        if not self.stopping and _users():
            self.ensure_running()   # a server not yet drained, another one
        else:
            self.stop()
        if failed and not (drains and isinstance(failed[0],
                                                 LifespanInterrupted)):
            raise failed[0]


def runs_here(server: "Server") -> bool:
    """Whether server.run() on this thread runs the ASGI loop itself:
    the main thread, a server with ASGI apps, and a loop that has not
    run yet (no other server started one)."""
    mounts = getattr(server, "_asgi_mounts", None)
    if mounts is None or sys.platform == "win32" or \
            threading.current_thread() is not threading.main_thread():
        return False   # (Windows: no loop.add_signal_handler)
    loop: EventLoop = mounts.loop
    return loop is _loop and not loop.stopping and loop.thread is None


def _wait_shut_down(server: "Server") -> None:
    """Wait until a shutdown() under way in another thread has run
    server's hooks, which need the loop: its requests cancelled, its
    lifespans shut down."""
    from . import server as server_module

    mounts = getattr(server, "_asgi_mounts", None)
    limits = [life.timeout or 60.0 for life in mounts.lifespans] \
        if mounts is not None else []
    deadline = time.monotonic() + CANCEL_GRACE + 1.0 + sum(limits)
    while time.monotonic() < deadline:
        with server_module._live_lock:
            if server not in server_module._live:
                return
        time.sleep(0.02)


def _users() -> list["Server"]:
    """The serving Servers that have ASGI apps."""
    from . import server as server_module

    with server_module._live_lock:
        return [s for s in server_module._live
                if getattr(s, "_asgi_mounts", None) is not None]


_loop: Optional[EventLoop] = None
_loop_lock = threading.Lock()


def event_loop(kind: str = "auto") -> EventLoop:
    """The process's ASGI loop, started on first use with kind."""
    global _loop
    kind = _options.check("loop", kind)
    with _loop_lock:
        if _loop is None or _loop.stopping:
            _loop = EventLoop(kind)
        elif kind != "auto" and kind != _loop.kind:
            raise ValueError(f"the ASGI loop of this process is "
                             f"{_loop.kind!r} already: one loop serves "
                             f"every ASGI app; pass loop={_loop.kind!r} "
                             f"or 'auto'")
        return _loop


class _Mounts:
    """A Server's ASGI apps: their lifespans start before it listens and
    stop after its requests have ended."""

    def __init__(self, loop: EventLoop) -> None:
        self.loop = loop
        self.routes: set[Any] = set()
        self.lifespans: list[Lifespan] = []

    def startup(self) -> None:
        self.loop.ensure_running()
        started = []
        try:
            for lifespan in self.lifespans:
                lifespan.startup()
                started.append(lifespan)
        except BaseException:
            for lifespan in reversed(started):
                lifespan.shutdown()
            raise

    def shutdown(self) -> None:
        for lifespan in self.lifespans:
            lifespan.interrupt()   # a startup still under way
        self.loop.cancel(self.routes, CANCEL_GRACE)
        for lifespan in reversed(self.lifespans):
            lifespan.shutdown()


def _mounts(server: "Server", loop: EventLoop) -> _Mounts:
    mounts = getattr(server, "_asgi_mounts", None)
    if mounts is None:
        mounts = _Mounts(loop)
        server._asgi_mounts = mounts  # type: ignore[attr-defined]
        server._add_hooks(mounts.startup, mounts.shutdown, loop.in_loop)
    return mounts


def mount(server: "Server", prefix: str, app: ASGIApplication, *,
          root_path: Optional[str] = _D["root_path"],
          lifespan: str = _D["lifespan"],
          timeout_lifespan: Optional[float] = _D["timeout_lifespan"],
          loop: str = _D["loop"]) -> Any:
    """Serve app on server for every path under prefix; see
    ``Server.mount_asgi``.  Returns the route (an ASGIApp)."""
    if not callable(app):
        raise TypeError(f"an ASGI app must be callable as "
                        f"await app(scope, receive, send), not "
                        f"{type(app).__name__}")
    root_path = _options.check("root_path", root_path)
    lifespan = _options.check("lifespan", lifespan)
    timeout_lifespan = _options.check("timeout_lifespan", timeout_lifespan)
    script_name = _script_name(prefix)
    proxy_root = "" if root_path is None else _script_name(root_path)
    app = asgi3(app)
    ev = event_loop(loop)
    route = _gohttp.ASGIApp(app, proxy_root + script_name, ev.core,
                            path_prefix=proxy_root)
    life = Lifespan(app, lifespan, timeout_lifespan, ev.loop)
    route.state = life.state   # copied into each scope
    mounts = _mounts(server, ev)
    if script_name:
        server._core.handle_asgi(script_name + "/", route)  # the subtree
        server._core.handle_asgi(script_name, route)        # the prefix
    else:
        server._core.handle_asgi("/", route)
    mounts.routes.add(route)
    mounts.lifespans.append(life)
    return route


def route_websocket(server: "Server", pattern: str, app: ASGIApplication,
                    *, name: Optional[str] = None) -> Any:
    """Serve the WebSocket handshakes matching pattern (a ServeMux
    pattern, as ``Server.route`` takes: ``"/chat/{room}"``) with the ASGI
    app, which gets ``websocket`` scopes only, with ``path_params``
    ({wildcard: value}).  Other requests there get 426 Upgrade Required
    from Go, a broken handshake 400.  There is no lifespan for such a
    route.  Returns the route (an ASGIApp); name is for the caller's
    bookkeeping (gohttp.websocket's), unused here.

    >>> async def echo(scope, receive, send):
    ...     await receive()                       # websocket.connect
    ...     await send({"type": "websocket.accept"})
    ...     while (msg := await receive())["type"] == "websocket.receive":
    ...         await send({"type": "websocket.send", "text": msg.get("text"),
    ...                     "bytes": msg.get("bytes")})
    >>> route_websocket(srv, "/echo/{room}", echo)   # doctest: +SKIP
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be str, not {type(pattern).__name__}")
    if not callable(app):
        raise TypeError(f"an ASGI app must be callable as "
                        f"await app(scope, receive, send), not "
                        f"{type(app).__name__}")
    app = asgi3(app)
    ev = event_loop("auto")
    route = _gohttp.ASGIApp(app, "", ev.core, websocket=True)
    mounts = _mounts(server, ev)
    server._core.handle_asgi(pattern, route)
    mounts.routes.add(route)
    return route


def serve_asgi(app: ASGIApplication, host: str = _D["host"],
               port: int = _D["port"], *,
               root_path: Optional[str] = _D["root_path"],
               lifespan: str = _D["lifespan"],
               timeout_lifespan: Optional[float] = _D["timeout_lifespan"],
               loop: str = _D["loop"],
               workers: Union[int, str] = _D["workers"],
               max_requests: Optional[int] = _D["max_requests"],
               max_requests_jitter: int = _D["max_requests_jitter"],
               max_rss: Optional[int] = _D["max_rss"],
               **server_options: Any) -> None:
    """Serve the ASGI application app on host:port until Ctrl-C or
    SIGTERM, then shut down gracefully (requests in flight finish, up to
    shutdown_timeout; what is left is cancelled; then lifespan shutdown)
    and return.

    server_options are gohttp.Server's keyword arguments.  lifespan is
    "auto" (run it if the app supports it), "on" or "off";
    timeout_lifespan bounds its startup and shutdown (0 or None: no
    limit).  loop is "auto"
    (uvloop if installed), "asyncio" or "uvloop".  root_path is a prefix
    a proxy took off the path (as uvicorn's --root-path).

    >>> import gohttp
    >>> async def app(scope, receive, send):
    ...     await send({"type": "http.response.start", "status": 200})
    ...     await send({"type": "http.response.body", "body": b"Hello!"})
    >>> gohttp.serve_asgi(app, port=8000)   # doctest: +SKIP
    """
    from .server import Server

    srv = Server(host, port, **server_options)
    mount(srv, "/", app, root_path=root_path, lifespan=lifespan,
          timeout_lifespan=timeout_lifespan, loop=loop)
    name = f"{getattr(app, '__module__', '?')}:" \
           f"{getattr(app, '__qualname__', type(app).__qualname__)}"
    try:
        srv.run(app_name=name, workers=workers, max_requests=max_requests,
                max_requests_jitter=max_requests_jitter, max_rss=max_rss)
    finally:
        _stop_if_unused()


def _stop_if_unused() -> None:
    """Stop the process's loop once no serving Server has an ASGI app: the
    last step of a graceful shutdown (requests, cancellations and
    lifespans have ended).  A later mount starts a new one."""
    if _loop is not None and not _users():
        _loop.stop()


@atexit.register
def _stop_at_exit() -> None:
    """Before the servers' own exit hook (atexit runs this first): shut
    down the servers that serve ASGI, while the loop still runs their
    requests and lifespans, then stop the loop."""
    if _loop is None:
        return
    for srv in _users():
        try:
            srv.shutdown(timeout=min(srv.shutdown_timeout, 5.0))
        except Exception:
            error_logger.exception("error shutting down %r at exit", srv)
    _loop.stop()
