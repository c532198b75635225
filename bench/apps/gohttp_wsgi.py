"""Serve a WSGI app with gohttp's WSGI adapter.

    PYTHONPATH=.:bench python3 bench/apps/gohttp_wsgi.py apps.wsgi_plain:app PORT [WORKERS]

Runs in the foreground until SIGTERM or Ctrl-C.  BENCH_IDLE_TIMEOUT in the
environment (seconds) replaces the idle_timeout default, as in
gohttp_native.py.
"""

import importlib
import os
import sys

import gohttp

if __name__ == "__main__":
    module, _, name = sys.argv[1].partition(":")
    app = getattr(importlib.import_module(module), name or "app")
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    idle = os.environ.get("BENCH_IDLE_TIMEOUT")
    options = {"idle_timeout": float(idle)} if idle else {}
    gohttp.serve_wsgi(app, host="127.0.0.1", port=int(sys.argv[2]),
                      workers=workers, **options)
