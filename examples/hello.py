"""The smallest gohttp app: `python examples/hello.py`, then open
http://127.0.0.1:5000/hello/world in a browser.  Ctrl-C stops it."""

import gohttp


@gohttp.route("GET /{$}")
def index(w, req):
    w.header.set("Content-Type", "text/html; charset=utf-8")
    w.write('<p>Try <a href="/hello/world">/hello/world</a>, '
            '<a href="/echo">POST /echo</a> or '
            '<a href="/stream">/stream</a>.</p>\n')


@gohttp.route("GET /hello/{name}")
def hello(w, req):
    w.header.set("Content-Type", "text/plain; charset=utf-8")
    w.write_header(200)
    w.write(f"Hello, {req.path_value('name')}!\n")


@gohttp.route("POST /echo")
def echo(w, req):
    """Streams the request body back: try
    curl --data-binary @README.md http://127.0.0.1:5000/echo"""
    w.header.set("Content-Type",
                 req.headers.get("Content-Type", "application/octet-stream"))
    while chunk := req.read(65536):
        w.write(chunk)


@gohttp.route("GET /stream")
def stream(w, req):
    """Server-sent events: each line reaches the browser as it is written."""
    import time

    w.header.set("Content-Type", "text/event-stream")
    w.header.set("Cache-Control", "no-cache")
    for i in range(5):
        w.write(f"data: tick {i}\n\n")
        w.flush()
        time.sleep(0.5)


if __name__ == "__main__":
    gohttp.run(host="127.0.0.1", port=5000)
