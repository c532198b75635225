"""gohttp over TLS for the benchmark's TLS and HTTP/3 rows.

    PYTHONPATH=.:bench python3 bench/apps/gohttp_tls.py APP PORT CERT KEY [--http3]

APP is "native" (the hello world of gohttp_native.py, on gohttp's native
handler API) or a WSGI app, "module:name" (served by gohttp.serve_wsgi).
Serves HTTP/1.1 and HTTP/2 over TLS on PORT and, with --http3, HTTP/3 on
the same UDP port.  Runs in the foreground until SIGTERM or Ctrl-C.
"""

import importlib
import sys

import gohttp

if __name__ == "__main__":
    http3 = "--http3" in sys.argv
    app_name, port, cert, key = [a for a in sys.argv[1:] if a != "--http3"]
    options = dict(host="127.0.0.1", port=int(port), certfile=cert,
                   keyfile=key, http3=http3)
    if app_name == "native":
        srv = gohttp.Server(**options)

        @srv.route("GET /")
        def hello(w, req):
            w.header.set("Content-Type", "text/plain")
            w.write(b"Hello, world!")

        srv.run()
    else:
        module, _, name = app_name.partition(":")
        app = getattr(importlib.import_module(module), name or "app")
        gohttp.serve_wsgi(app, **options)
