"""An ASGI app whose requests wait until told to go: thousands of slow
requests in flight at once (tests/test_asgi_load.py).

GET /held waits until a GET /release; GET /count says how many wait.
"""

import asyncio
import os

waiting = 0
release = None


async def app(scope, receive, send):
    global waiting, release
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    if release is None:
        release = asyncio.Event()
    path = scope["path"]
    if path == "/held":
        waiting += 1
        try:
            await release.wait()
        finally:
            waiting -= 1
        body = b"released"
    elif path == "/release":
        release.set()
        body = b"ok"
    else:
        body = b"%d %d" % (waiting, os.getpid())
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
