"""1 MiB each way: GET /download answers 1 MiB, POST /upload reads the
whole body and answers its length.  GET / answers the benchmark's hello
world (its readiness check).  `app` is the WSGI callable (gohttp's WSGI
adapter, gunicorn sync, granian WSGI), `asgi` the same as a raw ASGI
callable (gohttp's ASGI server, uvicorn, granian ASGI)."""

MIB = b"x" * (1 << 20)
HELLO = b"Hello, world!"


def app(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    if method == "GET" and path == "/download":
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(MIB)))])
        return [MIB]
    if method == "POST" and path == "/upload":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        size = len(environ["wsgi.input"].read(length))
        body = str(size).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if method == "GET":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(HELLO)))])
        return [HELLO]
    start_response("405 Method Not Allowed", [("Content-Length", "0")])
    return []


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    method, path = scope["method"], scope["path"]
    if method == "GET" and path == "/download":
        body, ctype = MIB, b"application/octet-stream"
    elif method == "POST" and path == "/upload":
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body, ctype = str(size).encode(), b"text/plain"
    elif method == "GET":
        body, ctype = HELLO, b"text/plain"
    else:
        await send({"type": "http.response.start", "status": 405,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", ctype),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
