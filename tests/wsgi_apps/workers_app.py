"""The app of the worker-process tests: each response names the worker's
pid, its Go runtime's GOMAXPROCS and the GOMAXPROCS of its environment;
/slow?SECONDS takes its time, saying on stderr when it starts."""

import os
import sys
import time

from gohttp import _gohttp


def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        print(f"slow request started in {os.getpid()}", file=sys.stderr,
              flush=True)
        time.sleep(float(environ["QUERY_STRING"] or 1))
    pid = str(os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Worker-Pid", pid),
                              ("X-Go-Procs", str(_gohttp._go_procs())),
                              ("X-Env-Gomaxprocs",
                               os.environ.get("GOMAXPROCS", "unset"))])
    return [pid.encode()]
