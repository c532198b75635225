"""gohttp's native handler API: the benchmark's hello world and echo.

    PYTHONPATH=. python3 bench/apps/gohttp_native.py PORT [WORKERS] [--metrics]

GET / answers the 13 bytes "Hello, world!" (text/plain); POST /echo sends
the request body back.  Runs in the foreground until SIGTERM or Ctrl-C.
--metrics counts every request for Prometheus (metrics_bind, on a port the
OS picks), as a production server would.  BENCH_IDLE_TIMEOUT in the
environment, in seconds, replaces the idle_timeout default (120 s): the
idle-connection run keeps its connections open longer than that.
"""

import os
import sys

import gohttp

METRICS = "--metrics" in sys.argv
ARGS = [a for a in sys.argv if a != "--metrics"]

IDLE = os.environ.get("BENCH_IDLE_TIMEOUT")
OPTIONS = {"idle_timeout": float(IDLE)} if IDLE else {}

srv = gohttp.Server(host="127.0.0.1", port=int(ARGS[1]),
                    metrics_bind="127.0.0.1:0" if METRICS else None, **OPTIONS)


@srv.route("GET /")
def hello(w, req):
    w.header.set("Content-Type", "text/plain")
    w.write(b"Hello, world!")


@srv.route("POST /echo")
def echo(w, req):
    w.header.set("Content-Type", "application/octet-stream")
    w.write(req.body)


if __name__ == "__main__":
    srv.run(workers=int(ARGS[2]) if len(ARGS) > 2 else 1)
