"""The server of the soak (tests/soak/run.py): one gohttp.Server with the
same five routes three times over, so that every kind of load reaches
each path through gohttp:

    /n/...  native handlers, handler(w, req)
    /w/...  a WSGI app (mount_wsgi)
    /a/...  an ASGI app (mount_asgi)

and, under each prefix:

    GET  blob?seed=S&size=N      N bytes, Content-Length set
    GET  stream?seed=S&size=N&chunk=C&pause=MS
                                 the same bytes in C-byte pieces, each
                                 flushed, MS milliseconds apart (chunked
                                 over HTTP/1.1: no Content-Length)
    POST upload                  reads the whole body, answers
                                 "SHA256HEX LENGTH"
    GET  raise                   raises SoakError before any response: 500
    GET  raise-mid?seed=S&size=N sends half of the bytes, then raises
                                 SoakError: the client must see the
                                 response cut off, never complete

plus GET /n/stats, the worker's pid and goroutines as JSON (the harness
reads RSS, fds and threads from /proc itself); /n/stats?stacks the
goroutines' stacks too.

The body of (seed, size) is the first size bytes of SEED_BYTES random
bytes made from seed (seeds 0 to SEEDS - 1, made at import, so that no
cache grows under the load): the client makes them too, so it checks
every byte, not a header the server could get wrong the same way.

WebSockets (HTTP/1.1 upgrades; WSGI has none): /n/ws (a native
`async def` handler) and /a/ws (the ASGI app's websocket scope) echo
each message back, with the same type, after a text message
"sha256 HEX LENGTH" that the server computed: the client checks both.
The message "close CODE" makes the server close with CODE.

Run by the harness as `python -m gohttp soak_app:server --workers 2` from
this folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

import gohttp
from gohttp import _gohttp


class SoakError(Exception):
    """Raised on purpose by the raise routes; the harness expects the
    tracebacks of this one alone in the log."""


SEEDS = 8
SEED_BYTES = 1 << 20
_BASES = [random.Random(seed).randbytes(SEED_BYTES) for seed in range(SEEDS)]


def body_of(seed: int, size: int) -> bytes:
    return _BASES[seed][:size]


def params(query: str) -> dict[str, int]:
    return {k: int(v[0]) for k, v in parse_qs(query).items()}


def chunks_of(q: dict[str, int]) -> Iterable[bytes]:
    data = body_of(q["seed"], q["size"])
    step = max(1, q.get("chunk", 16384))
    for i in range(0, len(data), step):
        yield data[i:i + step]


def digest(data: bytes) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()} {len(data)}".encode()


server = gohttp.Server("127.0.0.1", 0)


# ---- native ---------------------------------------------------------------
@server.route("GET /n/blob")
def n_blob(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
    q = params(req.query)
    data = body_of(q["seed"], q["size"])
    w.header.set("Content-Type", "application/octet-stream")
    w.header.set("Content-Length", str(len(data)))
    w.write(data)


@server.route("GET /n/stream")
def n_stream(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
    q = params(req.query)
    w.header.set("Content-Type", "application/octet-stream")
    pause = q.get("pause", 0) / 1000
    for piece in chunks_of(q):
        w.write(piece)
        w.flush()
        if pause:
            time.sleep(pause)


@server.route("POST /n/upload")
def n_upload(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
    try:
        data = req.read()
    except OSError:
        w.write_header(400)  # the client cut its upload off
        return
    w.write(digest(data))


@server.route("GET /n/raise")
def n_raise(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
    raise SoakError("raised before the response, on purpose")


@server.route("GET /n/raise-mid")
def n_raise_mid(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
    q = params(req.query)
    data = body_of(q["seed"], q["size"])
    w.header.set("Content-Length", str(len(data)))
    w.write(data[:len(data) // 2])
    w.flush()
    raise SoakError("raised half-way through the body, on purpose")


def ws_answer(message: str | bytes) -> tuple[str, str | bytes] | int:
    """What the WebSocket echo sends for message: (its digest, itself),
    or the close code asked for."""
    if isinstance(message, str) and message.startswith("close "):
        return int(message.split()[1])
    data = message.encode() if isinstance(message, str) else message
    return f"sha256 {hashlib.sha256(data).hexdigest()} {len(data)}", message


@server.websocket("/n/ws")
async def n_ws(ws: Any, req: gohttp.Request) -> None:
    await ws.accept()
    async for message in ws:
        answer = ws_answer(message)
        if isinstance(answer, int):
            await ws.close(answer)
            return
        await ws.send(answer[0])
        await ws.send(answer[1])


@server.route("GET /n/stats")
def n_stats(w: gohttp.ResponseWriter, req: gohttp.Request) -> None:
    w.header.set("Content-Type", "application/json")
    stats: dict[str, Any] = {"pid": os.getpid(),
                             "goroutines": _gohttp._goroutines()}
    if "stacks" in req.query:
        stats["stacks"] = _gohttp._goroutine_stacks() + _asgi_tasks()
    w.write(json.dumps(stats))


def _asgi_tasks() -> str:
    """The ASGI requests' tasks that have not finished, and where each
    waits (read from another thread: good enough to see a leak)."""
    from gohttp import asgi
    loop = asgi._loop
    if loop is None:
        return ""
    out = ["\n\nASGI tasks not done:"]
    for task in list(asyncio.all_tasks(loop.loop)):
        chain, aw = [], task.get_coro()
        while aw is not None and len(chain) < 20:
            frame = getattr(aw, "cr_frame", None)
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}" if frame
                         else type(aw).__name__)
            aw = getattr(aw, "cr_await", None)
        out.append(f"{task.get_name()} {' > '.join(chain)} "
                   f"fut_waiter={task._fut_waiter!r}")
    return "\n".join(out) + "\n"


# ---- WSGI -----------------------------------------------------------------
def wsgi_app(environ: dict[str, Any],
             start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    q = params(environ.get("QUERY_STRING", ""))
    octets = [("Content-Type", "application/octet-stream")]
    if path == "/blob":
        data = body_of(q["seed"], q["size"])
        start_response("200 OK", octets + [("Content-Length",
                                            str(len(data)))])
        return [data]
    if path == "/stream":
        start_response("200 OK", octets)
        return _wsgi_stream(q)
    if path == "/upload":
        try:
            data = environ["wsgi.input"].read()
        except OSError:  # the client cut its upload off
            start_response("400 Bad Request", [("Content-Type",
                                                "text/plain")])
            return [b"cut off\n"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [digest(data)]
    if path == "/raise":
        raise SoakError("raised before the response, on purpose")
    if path == "/raise-mid":
        data = body_of(q["seed"], q["size"])
        start_response("200 OK", octets + [("Content-Length",
                                            str(len(data)))])
        return _wsgi_raise_mid(data)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found\n"]


def _wsgi_stream(q: dict[str, int]) -> Iterable[bytes]:
    pause = q.get("pause", 0) / 1000
    for piece in chunks_of(q):
        yield piece
        if pause:
            time.sleep(pause)


def _wsgi_raise_mid(data: bytes) -> Iterable[bytes]:
    yield data[:len(data) // 2]
    raise SoakError("raised half-way through the body, on purpose")


server.mount_wsgi("/w", wsgi_app, name="soak_app:wsgi_app")


# ---- ASGI -----------------------------------------------------------------
async def asgi_app(scope: dict[str, Any], receive: Callable[..., Any],
                   send: Callable[..., Any]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await asgi_ws(receive, send)
        return
    assert scope["type"] == "http"
    path = scope["path"][len(scope["root_path"]):]
    q = params(scope["query_string"].decode())
    octets = [(b"content-type", b"application/octet-stream")]
    if path == "/blob":
        data = body_of(q["seed"], q["size"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": octets + [(b"content-length",
                                          str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": octets})
        pause = q.get("pause", 0) / 1000
        for piece in chunks_of(q):
            await send({"type": "http.response.body", "body": piece,
                        "more_body": True})
            if pause:
                await asyncio.sleep(pause)
        await send({"type": "http.response.body"})
    elif path == "/upload":
        parts = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client cut its upload off
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body",
                    "body": digest(b"".join(parts))})
    elif path == "/raise":
        raise SoakError("raised before the response, on purpose")
    elif path == "/raise-mid":
        data = body_of(q["seed"], q["size"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": octets + [(b"content-length",
                                          str(len(data)).encode())]})
        await send({"type": "http.response.body",
                    "body": data[:len(data) // 2], "more_body": True})
        raise SoakError("raised half-way through the body, on purpose")
    else:
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"not found\n"})


async def asgi_ws(receive: Callable[..., Any],
                  send: Callable[..., Any]) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        got = message.get("text")
        answer = ws_answer(got if got is not None else message["bytes"])
        if isinstance(answer, int):
            await send({"type": "websocket.close", "code": answer})
            return
        await send({"type": "websocket.send", "text": answer[0]})
        key = "text" if isinstance(answer[1], str) else "bytes"
        await send({"type": "websocket.send", key: answer[1]})


server.mount_asgi("/a", asgi_app, lifespan="on")
