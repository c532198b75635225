"""gohttp's native WebSocket handler: the benchmark's echo.

    PYTHONPATH=. python3 bench/apps/gohttp_ws.py PORT [COMPRESSION]

A WebSocket to /ws has every message sent back as it came, by an
``async def`` handler; GET / answers "Hello, world!" (the harness's
readiness check).  COMPRESSION "off" turns permessage-deflate off
(ws_per_message_deflate=False).  Runs until SIGTERM or Ctrl-C.
"""

import sys

import gohttp

deflate = len(sys.argv) < 3 or sys.argv[2] != "off"
options = {} if deflate else {"ws_per_message_deflate": False}
try:
    srv = gohttp.Server(host="127.0.0.1", port=int(sys.argv[1]), **options)
except TypeError:   # a build without the option: the client offers none
    srv = gohttp.Server(host="127.0.0.1", port=int(sys.argv[1]))


@srv.route("GET /{$}")
def hello(w, req):
    w.header.set("Content-Type", "text/plain")
    w.write(b"Hello, world!")


@srv.websocket("/ws")
async def echo(ws, req):
    await ws.accept()
    async for message in ws:
        await ws.send(message)


if __name__ == "__main__":
    srv.run()
