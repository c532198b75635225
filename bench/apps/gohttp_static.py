"""gohttp serving GET / as a static file, by Go alone: srv.static().

    PYTHONPATH=. python3 bench/apps/gohttp_static.py PORT DIR

DIR/index.html holds the 13 bytes "Hello, world!"; no Python runs for
GET /.  POST /echo is the native echo, as in gohttp_native.py.
"""

import sys

import gohttp

srv = gohttp.Server(host="127.0.0.1", port=int(sys.argv[1]))
srv.static("/", sys.argv[2])


@srv.route("POST /echo")
def echo(w, req):
    w.header.set("Content-Type", "application/octet-stream")
    w.write(req.body)


if __name__ == "__main__":
    srv.run()
