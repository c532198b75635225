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

from ._headers import Headers, canonical_key
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
    chosen = _os.environ.pop("GOHTTP_GOMAXPROCS", None)
    if chosen is not None and _os.environ.get("GOMAXPROCS") == chosen:
        del _os.environ["GOMAXPROCS"]


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
