"""gohttp with C handlers (the C API, examples/c_handler/): the benchmark's
hello world and echo answered in C, with no Python per request.

    PYTHONPATH=.:bench/.build/c_handler python3 bench/apps/gohttp_c.py PORT

run.py builds the example extension into bench/.build/c_handler first.
GET / answers the 13 bytes "Hello, world!" (text/plain); POST /echo sends
the request body back.  Runs in the foreground until SIGTERM or Ctrl-C.
"""

import sys

import c_handler
import gohttp

srv = gohttp.Server(host="127.0.0.1", port=int(sys.argv[1]))
c_handler.hello(srv, "GET /")
c_handler.echo(srv, "POST /echo")

if __name__ == "__main__":
    srv.run()
