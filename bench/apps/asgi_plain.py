"""A plain ASGI callable, no framework: hello world and echo for uvicorn."""

BODY = b"Hello, world!"
HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"),
                (b"content-length", str(len(BODY)).encode())],
}
HELLO_BODY = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] == "POST" and scope["path"] == "/echo":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        data = b"".join(chunks)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})
    elif scope["method"] in ("GET", "HEAD"):
        await send(HELLO_START)
        await send(HELLO_BODY)
    else:
        await send({"type": "http.response.start", "status": 405,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
