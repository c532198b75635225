"""A raw ASGI WebSocket echo, no framework, for every ASGI server's
WebSocket rows: GET / answers "Hello, world!" (the harness's readiness
check), a WebSocket to /ws has every message sent back as it came."""

from apps.asgi_plain import HELLO_BODY, HELLO_START


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "websocket":
        await receive()                       # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return                        # websocket.disconnect
            if message.get("text") is not None:
                await send({"type": "websocket.send",
                            "text": message["text"]})
            else:
                await send({"type": "websocket.send",
                            "bytes": message["bytes"]})
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    else:
        await send(HELLO_START)
        await send(HELLO_BODY)
