"""Raw ASGI apps for the command: ASGI 3, ASGI 2, a factory, lifespans
that fail or note their shutdown, and things that are no ASGI app."""

import asyncio
import os
import sys


def note(line):
    """A line in the file $GOHTTP_TEST_LIFESPAN_LOG names, if set."""
    log = os.environ.get("GOHTTP_TEST_LIFESPAN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(line + "\n")


async def app(scope, receive, send):
    """Hello, the pid, and lifespan: its shutdown is noted, and so is the
    end of /slow, which takes a second."""
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
        return
    if scope["path"] == "/slow":
        print("slow request started", file=sys.stderr, flush=True)
        await asyncio.sleep(1.0)
        note("slow request done")
    body = (f"Hello from {scope['path']} root={scope['root_path']} "
            f"pid={os.getpid()} started={scope['state'].get('started')}\n")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"x-worker-pid", str(os.getpid()).encode())]})
    await send({"type": "http.response.body", "body": body.encode()})


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started"] = True
            await send({"type": "lifespan.startup.complete"})
        else:
            note(f"shutdown {os.getpid()}")
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app():
    return app


class Asgi2:
    """An ASGI 2 app: made with the scope, then awaited."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        if self.scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"ASGI 2\n"})


def asgi2_factory(scope):
    """An ASGI 2 app as a function: auto cannot tell it from a broken WSGI
    app, --interface asgi2 can."""
    return Asgi2(scope)


async def failing_startup(scope, receive, send):
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed",
                "message": "the database is not there"})


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"WSGI\n"]
