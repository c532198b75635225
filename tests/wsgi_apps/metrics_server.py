"""A gohttp.Server whose code asks for a metrics listener."""

import gohttp

from .hello import app

server = gohttp.Server(metrics_bind="127.0.0.1:0")
server.mount_wsgi("/", app)
