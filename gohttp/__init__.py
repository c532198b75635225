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

from ._headers import Headers, canonical_key
from ._gohttp import Request, ResponseWriter
from .server import Handler, Server, route, run, shutdown
from .wsgi import serve_wsgi

__all__ = [
    "Handler",
    "Headers",
    "Request",
    "ResponseWriter",
    "Server",
    "__version__",
    "canonical_key",
    "route",
    "run",
    "serve_wsgi",
    "shutdown",
]
