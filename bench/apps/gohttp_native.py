"""gohttp's native handler API: the benchmark's hello world and echo.

    PYTHONPATH=. python3 bench/apps/gohttp_native.py PORT [WORKERS]

GET / answers the 13 bytes "Hello, world!" (text/plain); POST /echo sends
the request body back.  Runs in the foreground until SIGTERM or Ctrl-C.
"""

import sys

import gohttp

srv = gohttp.Server(host="127.0.0.1", port=int(sys.argv[1]))


@srv.route("GET /")
def hello(w, req):
    w.header.set("Content-Type", "text/plain")
    w.write(b"Hello, world!")


@srv.route("POST /echo")
def echo(w, req):
    w.header.set("Content-Type", "application/octet-stream")
    w.write(req.body)


if __name__ == "__main__":
    srv.run(workers=int(sys.argv[2]) if len(sys.argv) > 2 else 1)
