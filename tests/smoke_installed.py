"""Smoke test of an installed gohttp: the wheel or sdist just installed,
not this source tree.

    cd "$(mktemp -d)" && python -I /path/to/tests/smoke_installed.py

Standard library only, so that it runs in a bare virtual environment
(`make test-wheel`, `make test-sdist`, and cibuildwheel's test-command).
It serves one native route and one WSGI app on port 0, fetches both with
urllib, shuts the server down, and checks that the version is the same in
gohttp.__version__, the installed metadata and `gohttp --version`.
Prints one line per check; exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from importlib import metadata

TIMEOUT = 30.0


def check(what: str, ok: bool, detail: str = "") -> None:
    if not ok:
        raise SystemExit(f"smoke: FAILED: {what}{': ' + detail if detail else ''}")
    print(f"smoke: ok: {what}", flush=True)


def fetch(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def main() -> None:
    import gohttp
    import gohttp._gohttp

    package_dir = os.path.dirname(os.path.abspath(gohttp.__file__))
    source_tree = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    check(f"gohttp {gohttp.__version__} imported from {package_dir}",
          package_dir != os.path.join(source_tree, "gohttp"),
          "that is the source tree, not an installed copy: run this "
          "from another directory with python -I")
    check("the extension is part of the installed package",
          os.path.dirname(os.path.abspath(gohttp._gohttp.__file__)) == package_dir)

    header = os.path.join(gohttp.get_include(), "gohttp.h")
    check(f"the C API: {header} and gohttp._gohttp._C_API",
          os.path.isfile(header) and type(gohttp._gohttp._C_API).__name__ == "PyCapsule")

    installed = metadata.version("gohttp")
    check(f"metadata version {installed} is gohttp.__version__",
          installed == gohttp.__version__, f"{installed} != {gohttp.__version__}")

    def wsgi_app(environ, start_response):
        body = f"wsgi {environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    with gohttp.Server("127.0.0.1", 0, shutdown_timeout=5.0) as srv:
        @srv.route("GET /native/{name}")
        def native(w, req):
            w.header.set("Content-Type", "text/plain; charset=utf-8")
            w.write(f"native {req.path_value('name')}")

        srv.mount_wsgi("/app", wsgi_app)
        check(f"serving on {srv.url}", srv.serving and srv.port > 0)

        status, ctype, body = fetch(srv.url + "/native/go")
        check("native route", (status, ctype, body)
              == (200, "text/plain; charset=utf-8", b"native go"),
              repr((status, ctype, body)))
        status, ctype, body = fetch(srv.url + "/app/x")
        check("WSGI app", (status, ctype, body) == (200, "text/plain", b"wsgi GET /x"),
              repr((status, ctype, body)))
        check("graceful shutdown", srv.shutdown(timeout=5.0) is True)
    check("stopped", not srv.serving)

    # The console script if pip put one beside this python, else -m.
    script = os.path.join(os.path.dirname(sys.executable), "gohttp")
    command = [script] if os.path.exists(script) else [sys.executable, "-m", "gohttp"]
    done = subprocess.run([*command, "--version"], capture_output=True,
                          text=True, timeout=TIMEOUT)
    check(f"{os.path.basename(command[-1])} --version: {done.stdout.strip()}",
          done.returncode == 0 and done.stdout == f"gohttp {gohttp.__version__}\n",
          done.stdout + done.stderr)
    print("smoke: passed", flush=True)


if __name__ == "__main__":
    main()
