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


signalled = []


async def signals(scope, receive, send):
    """What the loop's thread is and can do: GET /install adds a loop
    signal handler for SIGUSR1 (the main thread only: under uvicorn too),
    GET /seen says whether it ran; anything else is app's."""
    import signal
    import threading

    if scope["type"] != "http" or scope["path"] not in ("/install", "/seen"):
        await app(scope, receive, send)
        return
    if scope["path"] == "/install":
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, signalled.append, "USR1")
        main = threading.current_thread() is threading.main_thread()
        body = b"main thread" if main else b"other thread"
    else:
        body = b" ".join(s.encode() for s in signalled)
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": body})


async def hanging_startup(scope, receive, send):
    """A lifespan whose startup never completes."""
    import sys

    assert scope["type"] == "lifespan"
    await receive()
    print("startup began", file=sys.stderr, flush=True)
    await asyncio.sleep(3600)
