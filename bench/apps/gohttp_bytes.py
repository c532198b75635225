"""gohttp's native handler API, 1 MiB each way: GET /download answers
1 MiB, POST /upload answers the length of the body it read; GET / the
benchmark's hello world (its readiness check).

    PYTHONPATH=. python3 bench/apps/gohttp_bytes.py PORT
"""

import sys

import gohttp

MIB = b"x" * (1 << 20)
srv = gohttp.Server(host="127.0.0.1", port=int(sys.argv[1]))


@srv.route("GET /")
def hello(w, req):
    w.header.set("Content-Type", "text/plain")
    w.write(b"Hello, world!")


@srv.route("GET /download")
def download(w, req):
    w.header.set("Content-Type", "application/octet-stream")
    w.write(MIB)


@srv.route("POST /upload")
def upload(w, req):
    w.header.set("Content-Type", "text/plain")
    w.write(str(len(req.body)).encode())


if __name__ == "__main__":
    srv.run()
