"""A plain WSGI callable, no framework: the hello world and echo served by
granian WSGI, gunicorn sync and gohttp's WSGI adapter.

GET (any path) answers the 13 bytes "Hello, world!"; POST /echo sends the
request body back; POST /pid answers the serving process's id, which
bench/run.py asks until every worker of a --workers 2 row has answered
(on the POST branch, so that a GET pays nothing for it).
"""

import os

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
    if method == "POST" and environ["PATH_INFO"] == "/pid":
        pid = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(pid)))])
        return [pid]
    start_response("405 Method Not Allowed", [("Content-Length", "0")])
    return []
