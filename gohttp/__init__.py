"""gohttp: a Python web server whose engine is Go's net/http.

Go accepts connections, parses HTTP, enforces timeouts and limits; Python
runs only the handlers::

    import gohttp

    @gohttp.route("GET /hello/{name}")
    def hello(w, req):
        w.header.set("Content-Type", "text/plain; charset=utf-8")
        w.write(f"Hello, {req.path_value('name')}!\\n")

    gohttp.run(host="127.0.0.1", port=5000)
"""

__version__ = "0.1.0"

import os as _os

from . import _control, _cpus
from ._headers import Headers, canonical_key
from . import _gohttp
from ._gohttp import (Error, ForkedProcessError, Request, RequestFinishedError,
                      ResponseWriter, ServerStateError, StateError)
from ._supervisor import BootError
from .server import Handler, Server, route, run, shutdown
from .wsgi import ClientDisconnected, serve_wsgi
from .asgi import LifespanFailure, serve_asgi
from ._websocket import (AsyncWebSocket, WebSocket, WebSocketClosed,
                         WebSocketRequest, websocket)


def _forget_chosen_gomaxprocs() -> None:
    """In a worker, the Go runtime has read the GOMAXPROCS its supervisor
    chose (gohttp/_supervisor.py): the app's subprocesses must not inherit
    it."""
    chosen = _os.environ.pop(_control.GO_PROCS_ENV, None)
    if chosen is not None and _os.environ.get("GOMAXPROCS") == chosen:
        del _os.environ["GOMAXPROCS"]


def _fit_go_procs_to_quota() -> None:
    """Where a cgroup CPU quota (a container's CPU limit) allows fewer
    CPUs than the Go runtime counts (the affinity mask: Go 1.25's own
    count of the quota is off for a module that says go 1.24), run that
    many Go threads, as --workers auto counts (gohttp/_cpus.py).  Set
    through runtime.GOMAXPROCS: Go reads the environment the process
    started with, not os.environ.  A GOMAXPROCS in the environment, the
    user's or the one a supervisor chose for its worker, is kept."""
    if "GOMAXPROCS" in _os.environ:
        return
    limit = _cpus.cpu_limit()
    if limit is not None and limit < _gohttp._go_procs():
        _gohttp._go_procs(limit)


_fit_go_procs_to_quota()
_forget_chosen_gomaxprocs()


def get_include() -> str:
    """The directory of gohttp.h, the C API for extensions that answer
    requests in C (see the README's "Embedding from C")::

        Extension("myext", ["myext.c"], include_dirs=[gohttp.get_include()])
    """
    return _os.path.join(_os.path.dirname(__file__), "include")


__all__ = [
    "AsyncWebSocket",
    "BootError",
    "ClientDisconnected",
    "Error",
    "ForkedProcessError",
    "Handler",
    "Headers",
    "LifespanFailure",
    "Request",
    "RequestFinishedError",
    "ResponseWriter",
    "Server",
    "ServerStateError",
    "StateError",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketRequest",
    "__version__",
    "canonical_key",
    "get_include",
    "route",
    "run",
    "serve_asgi",
    "serve_wsgi",
    "shutdown",
    "websocket",
]
