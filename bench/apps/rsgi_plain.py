"""A plain RSGI app (granian's own interface): hello world and echo."""

BODY = b"Hello, world!"
HELLO_HEADERS = [("content-type", "text/plain")]
ECHO_HEADERS = [("content-type", "application/octet-stream")]


async def app(scope, protocol):
    if scope.method == "POST" and scope.path == "/echo":
        protocol.response_bytes(200, ECHO_HEADERS, await protocol())
    elif scope.method in ("GET", "HEAD"):
        protocol.response_bytes(200, HELLO_HEADERS, BODY)
    else:
        protocol.response_empty(405, [])
