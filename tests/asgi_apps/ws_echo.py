"""A WebSocket echo app for the command's tests (test_asgi_websocket_ops):
"pid" is answered with the worker's process id, anything else echoed."""

import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"http"})
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        msg = await receive()
        if msg["type"] == "websocket.disconnect":
            return
        text = msg.get("text")
        if text == "pid":
            text = str(os.getpid())
        await send({"type": "websocket.send", "text": text,
                    "bytes": msg.get("bytes")})
