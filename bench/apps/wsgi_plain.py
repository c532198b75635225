"""A plain WSGI callable, no framework: the hello world and echo served by
granian WSGI, gunicorn sync and gohttp's WSGI adapter.

GET (any path) answers the 13 bytes "Hello, world!"; POST /echo sends the
request body back.
"""

BODY = b"Hello, world!"
HELLO_HEADERS = [("Content-Type", "text/plain"),
                 ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    method = environ["REQUEST_METHOD"]
    if method in ("GET", "HEAD"):
        start_response("200 OK", HELLO_HEADERS)
        return [BODY]
    if method == "POST" and environ["PATH_INFO"] == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(data)))])
        return [data]
    start_response("405 Method Not Allowed", [("Content-Length", "0")])
    return []
