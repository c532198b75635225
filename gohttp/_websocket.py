"""Native WebSocket handlers: ``@srv.websocket(pattern)``.

    >>> import gohttp
    >>> srv = gohttp.Server("127.0.0.1", 8000)
    >>> @srv.websocket("/echo")
    ... async def echo(ws, req):
    ...     await ws.accept()
    ...     async for message in ws:        # str or bytes, until the peer closes
    ...         await ws.send(message)

Go does the WebSocket itself (github.com/coder/websocket: the handshake,
framing, masking, ping/pong, the close handshake), one goroutine per
connection; each connection reaches Python as the ASGI ``websocket``
events of ``gohttp.asgi.route_websocket``, and this module turns them into
the ``ws`` object a handler gets, with no second path through C.

An ``async def`` handler runs as a task on the process's ASGI loop: while
it waits in ``receive()`` it costs a task and no thread, so ten thousand
idle connections need no ten thousand threads.  A plain ``def`` handler
runs in a thread of its own for as long as its connection lasts, its
``ws`` methods blocking while the loop does the work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
from typing import (TYPE_CHECKING, Any, Awaitable, Callable, Iterable,
                    Iterator, Mapping, Optional, TypeVar, Union)
from urllib.parse import parse_qs

from ._gohttp import Error, StateError
from ._headers import Headers
from ._logging import logger as error_logger

if TYPE_CHECKING:
    from .server import Server

__all__ = ["AsyncWebSocket", "WebSocket", "WebSocketClosed",
           "WebSocketHandler", "WebSocketRequest", "register", "websocket"]

HeadersLike = Union[Mapping[str, str], Iterable[tuple[str, str]], None]
WebSocketHandler = Union[
    Callable[["AsyncWebSocket", "WebSocketRequest"], Awaitable[None]],
    Callable[["WebSocket", "WebSocketRequest"], None]]
W = TypeVar("W", bound=WebSocketHandler)

# The connection's states.
CONNECTING, OPEN, CLOSED, REFUSED = range(4)

# Close codes an endpoint may send (RFC 6455 section 7.4, and the IANA
# registry since): 1004-1006 and 1015 are reserved, 1016-2999 unassigned.
_SENDABLE = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                       1011, 1012, 1013, 1014))
ABNORMAL = 1006       # the connection was lost without a close frame
GOING_AWAY = 1001     # the server is shutting down
INTERNAL_ERROR = 1011


class WebSocketClosed(Error):
    """The WebSocket is closed: the peer closed it or went away.

    ``receive()`` raises it when the peer closes (``code`` and ``reason``
    are the peer's: 1005 when its close frame had no code, 1006 when the
    connection was lost without one), ``send()`` when the peer is gone.
    A handler may let it escape: that ends the handler quietly.
    """

    def __init__(self, code: int = ABNORMAL, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        why = f": {self.reason!r}" if self.reason else ""
        return f"the WebSocket was closed (code {self.code}{why})"


def _close_code(code: object) -> int:
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"the close code must be an int such as 1000, not "
                        f"{type(code).__name__}")
    if code not in _SENDABLE and not 3000 <= code <= 4999:
        raise ValueError(f"{code} is not a close code an endpoint may send: "
                         f"use 1000 (normal), 1001 (going away), 1008 "
                         f"(policy), 1011 (error), or 3000-4999 (your own)")
    return code


def _close_reason(reason: object) -> str:
    if not isinstance(reason, str):
        raise TypeError(f"the close reason must be a str, not "
                        f"{type(reason).__name__}")
    if len(reason.encode("utf-8", "surrogatepass")) > 123:
        raise ValueError("the close reason may be at most 123 bytes in "
                         "UTF-8 (a close frame carries 125 with the code)")
    return reason


def _raw_headers(headers: HeadersLike) -> list[tuple[bytes, bytes]]:
    """headers as ASGI's [(name, value)] in bytes, checked by Headers."""
    if headers is None:
        return []
    if isinstance(headers, (str, bytes)):
        raise TypeError("headers must be a mapping or (name, value) pairs, "
                        "not a string")
    checked = headers if isinstance(headers, Headers) else Headers(headers)
    try:
        return [(k.encode("latin-1"), v.encode("latin-1"))
                for k, v in checked.multi_items()]
    except UnicodeEncodeError:
        raise ValueError("header values must be latin-1: encode other "
                         "text (RFC 8187, or percent-encoding)") from None


class AsyncWebSocket:
    """The ``ws`` of an ``async def`` handler: every method is awaited.

    ::

        @srv.websocket("/chat/{room}")
        async def chat(ws, req):
            await ws.accept()
            async for message in ws:      # ends when the peer closes
                await ws.send(f"{req.path_value('room')}: {message}")

    Only ``accept()`` or ``refuse()`` may come first; ``receive()`` and
    ``send()`` need an accepted WebSocket and raise
    ``gohttp.StateError`` before it or after ``close()``, and
    ``gohttp.WebSocketClosed`` once the peer has closed or gone.
    """

    __slots__ = ("_scope", "_receive", "_send", "_state", "_accepted",
                 "_close_code", "_close_reason", "_closed_here",
                 "_subprotocol", "__weakref__")

    def __init__(self, scope: dict[str, Any],
                 receive: Callable[[], Awaitable[dict[str, Any]]],
                 send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._state = CONNECTING
        self._accepted = False
        self._close_code: Optional[int] = None
        self._close_reason = ""
        self._closed_here = False
        self._subprotocol: Optional[str] = None

    # What the client asked for, and how it ended.
    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered (Sec-WebSocket-Protocol),
        in its order of preference; [] when none."""
        return list(self._scope.get("subprotocols") or ())

    @property
    def subprotocol(self) -> Optional[str]:
        """The subprotocol accept() chose, or None."""
        return self._subprotocol

    @property
    def accepted(self) -> bool:
        """True once accept() succeeded (also after the close)."""
        return self._accepted

    @property
    def closed(self) -> bool:
        """True once closed by either side, or refused."""
        return self._state in (CLOSED, REFUSED)

    @property
    def close_code(self) -> Optional[int]:
        """The code of the close: the peer's, or the one close() sent;
        None while open or before accept."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The reason that came with close_code ("" when none)."""
        return self._close_reason

    # The handshake.
    async def accept(self, subprotocol: Optional[str] = None,
                     headers: HeadersLike = None) -> None:
        """Complete the handshake (101 Switching Protocols).

        subprotocol must be one the client offered (``ws.subprotocols``),
        or None for none; headers are extra response headers.  Raises
        StateError if already accepted, refused or closed, and
        WebSocketClosed if the client has gone meanwhile.
        """
        if subprotocol is not None:
            if not isinstance(subprotocol, str):
                raise TypeError(f"subprotocol must be a str or None, not "
                                f"{type(subprotocol).__name__}")
            if subprotocol not in self.subprotocols:
                raise ValueError(f"the client did not offer the subprotocol "
                                 f"{subprotocol!r}: it offered "
                                 f"{self.subprotocols}; choose one of them "
                                 f"or None")
        raw = _raw_headers(headers)
        self._expect(CONNECTING, "accept()")
        event: dict[str, Any] = {"type": "websocket.accept",
                                 "subprotocol": subprotocol,
                                 "headers": raw}
        await self._transmit(event)
        self._state = OPEN
        self._accepted = True
        self._subprotocol = subprotocol

    async def refuse(self, status: int = 403,
                     body: Union[str, bytes] = b"",
                     headers: HeadersLike = None) -> None:
        """Refuse the WebSocket with a plain HTTP response instead of
        accepting it: ``await ws.refuse(401, "log in first\\n",
        {"WWW-Authenticate": "Bearer"})``.  A str body is sent in UTF-8
        as text/plain unless headers set a Content-Type.  Only before
        accept(); the handler should return afterwards."""
        if not isinstance(status, int) or isinstance(status, bool):
            raise TypeError(f"status must be an int such as 403, not "
                            f"{type(status).__name__}")
        if not 200 <= status <= 599 or status == 101:
            raise ValueError(f"refuse() sends an HTTP status from 200 to "
                             f"599, not {status}")
        if isinstance(body, str):
            content = body.encode("utf-8")
            text = True
        elif isinstance(body, (bytes, bytearray, memoryview)):
            content = bytes(body)
            text = False
        else:
            raise TypeError(f"body must be str or bytes, not "
                            f"{type(body).__name__}")
        raw = _raw_headers(headers)
        if text and not any(k.lower() == b"content-type" for k, _ in raw):
            raw.append((b"content-type", b"text/plain; charset=utf-8"))
        self._expect(CONNECTING, "refuse()")
        self._state = REFUSED
        if "websocket.http.response" not in (
                self._scope.get("extensions") or {}):
            # No denial responses here: a 403 is what the server can say.
            await self._transmit({"type": "websocket.close", "code": 1008,
                                  "reason": ""}, refused=True)
            return
        await self._transmit({"type": "websocket.http.response.start",
                              "status": status, "headers": raw},
                             refused=True)
        await self._transmit({"type": "websocket.http.response.body",
                              "body": content}, refused=True)

    # Messages.
    async def receive(self) -> Union[str, bytes]:
        """The next message: str for a text message, bytes for a binary
        one.  Raises WebSocketClosed (with the peer's code and reason)
        when the peer closes or goes away."""
        if self._state != OPEN:
            self._expect(OPEN, "receive()")
        message = await self._receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            return text if text is not None else message["bytes"]
        raise self._disconnected(message)

    async def send(self, message: Union[str, bytes]) -> None:
        """Send message: a str as a text message, bytes (bytearray,
        memoryview) as a binary one.  Returns once Go has written it, so
        a peer that reads slowly slows the sender down.  Raises
        WebSocketClosed if the peer has closed or gone."""
        if isinstance(message, str):
            event: dict[str, Any] = {"type": "websocket.send",
                                     "text": message}
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = {"type": "websocket.send", "bytes": bytes(message)}
        else:
            raise TypeError(f"send() takes str (a text message) or bytes (a "
                            f"binary message), not {type(message).__name__}"
                            f": encode it first, e.g. json.dumps(...)")
        if self._state != OPEN:
            self._expect(OPEN, "send()")
        try:
            await self._send(event)
        except OSError:
            raise self._gone() from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket with code and reason (at most 123 bytes).
        Before accept() this refuses it (HTTP 403).  Harmless once
        closed."""
        code = _close_code(code)
        reason = _close_reason(reason)
        if self._state == CONNECTING:
            self._state = REFUSED
            await self._transmit({"type": "websocket.close", "code": code,
                                  "reason": reason}, refused=True)
            return
        if self._state != OPEN:
            return
        self._state = CLOSED
        self._closed_here = True
        self._close_code = code
        self._close_reason = reason
        try:
            await self._send({"type": "websocket.close", "code": code,
                              "reason": reason})
        except OSError:
            pass   # the peer had gone: closed all the same

    # Iteration.
    def __aiter__(self) -> "AsyncWebSocket":
        return self

    async def __anext__(self) -> Union[str, bytes]:
        """The next message; the iteration ends when either side closes
        (close_code says how)."""
        if self._state != OPEN:
            if self._state == CLOSED:
                raise StopAsyncIteration
            self._expect(OPEN, "receive()")
        message = await self._receive()     # receive(), one frame less
        if message["type"] == "websocket.receive":
            text = message.get("text")
            return text if text is not None else message["bytes"]
        self._disconnected(message)
        raise StopAsyncIteration

    # Inside.
    def _expect(self, state: int, what: str) -> None:
        """Raise if the connection is not in state for what."""
        if self._state == state:
            return
        if self._state == CLOSED and not self._closed_here:
            raise WebSocketClosed(self._close_code or ABNORMAL,
                                  self._close_reason)
        if self._state == CONNECTING:
            why = "call accept() first"
        elif self._state == OPEN:
            why = "the WebSocket is accepted already"
        elif self._state == REFUSED:
            why = "the WebSocket was refused (close() or refuse() before " \
                  "accept())"
        else:
            why = f"the handler closed the WebSocket (code " \
                  f"{self._close_code})"
        raise StateError(f"{what}: {why}")

    async def _transmit(self, event: dict[str, Any], *,
                        refused: bool = False) -> None:
        """send(event); the peer being gone becomes WebSocketClosed
        (silently for a refusal: there is nobody to tell)."""
        try:
            await self._send(event)
        except OSError:
            if not refused:
                raise self._gone() from None

    def _disconnected(self, message: dict[str, Any]) -> WebSocketClosed:
        """What receive() raises for message, websocket.disconnect."""
        if message["type"] != "websocket.disconnect":
            raise StateError(f"unexpected ASGI event {message['type']!r} "
                             f"on a WebSocket")
        self._closed_by_peer(message.get("code", 1005),
                             message.get("reason") or "")
        return WebSocketClosed(self._close_code or ABNORMAL,
                               self._close_reason)

    def _gone(self) -> WebSocketClosed:
        """What send() raises once the peer has gone."""
        self._closed_by_peer(ABNORMAL, "")
        return WebSocketClosed(self._close_code or ABNORMAL,
                               self._close_reason)

    def _closed_by_peer(self, code: Any, reason: Any) -> None:
        if self._state in (CONNECTING, OPEN):
            self._state = CLOSED
            self._close_code = int(code)
            self._close_reason = str(reason)

    def _going_away(self) -> None:
        """The server is shutting down: the connection is over."""
        self._closed_by_peer(GOING_AWAY, "the server is shutting down")

    async def _end(self, failed: bool) -> None:
        """After the handler: refuse what it never accepted (403, or 500
        if it raised), close what it left open (1000, or 1011 if it
        raised)."""
        try:
            if self._state == CONNECTING:
                if failed:
                    await self.refuse(500, "Internal Server Error\n")
                else:
                    await self.close()
            elif self._state == OPEN:
                await self.close(INTERNAL_ERROR if failed else 1000,
                                 "internal error" if failed else "")
        except (OSError, WebSocketClosed):
            pass


class WebSocket:
    """The ``ws`` of a plain ``def`` handler: AsyncWebSocket's methods,
    blocking.  The handler runs in a thread of its own, which it holds
    until it returns.

    ::

        @srv.websocket("/echo")
        def echo(ws, req):
            ws.accept()
            for message in ws:           # ends when the peer closes
                ws.send(message)

    Other threads may call ``send()`` and ``close()`` too (a broadcast);
    the event loop's thread may not: its methods would wait for the
    loop itself.
    """

    __slots__ = ("_ws", "_loop", "_pending", "_lock", "__weakref__")

    def __init__(self, ws: AsyncWebSocket,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._ws = ws
        self._loop = loop
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()

    @property
    def subprotocols(self) -> list[str]:
        """See AsyncWebSocket.subprotocols."""
        return self._ws.subprotocols

    @property
    def subprotocol(self) -> Optional[str]:
        """See AsyncWebSocket.subprotocol."""
        return self._ws.subprotocol

    @property
    def accepted(self) -> bool:
        """See AsyncWebSocket.accepted."""
        return self._ws.accepted

    @property
    def closed(self) -> bool:
        """See AsyncWebSocket.closed."""
        return self._ws.closed

    @property
    def close_code(self) -> Optional[int]:
        """See AsyncWebSocket.close_code."""
        return self._ws.close_code

    @property
    def close_reason(self) -> str:
        """See AsyncWebSocket.close_reason."""
        return self._ws.close_reason

    def accept(self, subprotocol: Optional[str] = None,
               headers: HeadersLike = None) -> None:
        """See AsyncWebSocket.accept()."""
        self._wait(self._ws.accept(subprotocol, headers))

    def refuse(self, status: int = 403, body: Union[str, bytes] = b"",
               headers: HeadersLike = None) -> None:
        """See AsyncWebSocket.refuse()."""
        self._wait(self._ws.refuse(status, body, headers))

    def receive(self) -> Union[str, bytes]:
        """See AsyncWebSocket.receive()."""
        return self._wait(self._ws.receive())    # type: ignore[no-any-return]

    def send(self, message: Union[str, bytes]) -> None:
        """See AsyncWebSocket.send()."""
        self._wait(self._ws.send(message))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """See AsyncWebSocket.close()."""
        self._wait(self._ws.close(code, reason))

    def __iter__(self) -> Iterator[Union[str, bytes]]:
        """The messages until either side closes (close_code says how)."""
        while True:
            if self._ws._state == CLOSED:
                return
            try:
                message = self.receive()
            except WebSocketClosed:
                return
            yield message

    def _wait(self, coro: Awaitable[Any]) -> Any:
        """Run coro on the loop and wait for its result."""
        if _running_loop() is self._loop:
            _close_quietly(coro)
            raise StateError("a plain def handler's ws blocks: it cannot "
                             "be used from the event loop's thread (from "
                             "an async def handler, say); use an async "
                             "def handler's ws there")
        if not self._loop.is_running():
            _close_quietly(coro)
            raise WebSocketClosed(GOING_AWAY, "the server has stopped")
        future = asyncio.run_coroutine_threadsafe(
            _awaited(coro), self._loop)
        with self._lock:
            self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise WebSocketClosed(self._ws.close_code or GOING_AWAY,
                                  self._ws.close_reason
                                  or "the server is shutting down") from None
        finally:
            with self._lock:
                self._pending.discard(future)

    def _going_away(self) -> None:
        """The server is shutting down: fail what the thread waits for."""
        self._ws._going_away()
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _close_quietly(coro: Any) -> None:
    close = getattr(coro, "close", None)
    if close is not None:
        close()


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class WebSocketRequest:
    """The ``req`` of a WebSocket handler: the upgrade request, read-only.

    ``req.path_value("room")`` reads a wildcard of the route's pattern;
    ``req.headers`` are a read-only gohttp.Headers.
    """

    __slots__ = ("_scope", "_headers")

    def __init__(self, scope: dict[str, Any]) -> None:
        self._scope = scope
        self._headers: Optional[Headers] = None

    @property
    def method(self) -> str:
        """Always "GET": a WebSocket starts with a GET (HTTP/1.1)."""
        return "GET"

    @property
    def path(self) -> str:
        """The path, percent-decoded: "/chat/a b"."""
        return str(self._scope["path"])

    @property
    def url(self) -> str:
        """The request-target as sent: "/chat/a%20b?x=1"."""
        raw = self._scope.get("raw_path") or self.path.encode("utf-8")
        target = bytes(raw).decode("latin-1")
        return f"{target}?{self.query}" if self.query else target

    @property
    def query(self) -> str:
        """The raw query string: "x=1&y=2" ("" when none)."""
        return bytes(self._scope.get("query_string") or b"").decode(
            "latin-1")

    @property
    def query_params(self) -> dict[str, list[str]]:
        """The query parsed: {"x": ["1"], "y": ["2"]}; blank values
        kept."""
        return parse_qs(self.query, keep_blank_values=True)

    @property
    def headers(self) -> Headers:
        """The request headers (read-only; values latin-1 decoded)."""
        if self._headers is None:
            from ._gohttp import canonical_key

            found: dict[str, list[str]] = {}
            for name, value in self._scope.get("headers") or ():
                key = canonical_key(bytes(name).decode("latin-1"))
                found.setdefault(key, []).append(
                    bytes(value).decode("latin-1"))
            self._headers = Headers._frozen(found)
        return self._headers

    @property
    def host(self) -> str:
        """The Host header."""
        return self.headers.get("Host", "")

    @property
    def scheme(self) -> str:
        """"wss" under TLS (or when a trusted proxy says so), else "ws"."""
        return str(self._scope.get("scheme") or "ws")

    @property
    def remote_addr(self) -> str:
        """The client's "ip:port" ("[ip]:port" for IPv6), from
        X-Forwarded-For when a trusted proxy sent it."""
        client = self._scope.get("client")
        if not client:
            return ""
        host, port = client[0], client[1]
        if ":" in str(host):
            return f"[{host}]:{port}"
        return f"{host}:{port}"

    def path_value(self, name: str) -> str:
        """The wildcard name of the route's pattern ("" when the pattern
        has none of that name, as in Go)."""
        if not isinstance(name, str):
            raise TypeError(f"path_value() takes a str, not "
                            f"{type(name).__name__}")
        return str((self._scope.get("path_params") or {}).get(name, ""))

    def __repr__(self) -> str:
        return f"<gohttp.WebSocketRequest {self.url!r}>"


def _is_async(handler: Any) -> bool:
    while isinstance(handler, functools.partial):
        handler = handler.func
    return inspect.iscoroutinefunction(handler) or \
        inspect.iscoroutinefunction(getattr(handler, "__call__", None))


def _name_of(handler: Any) -> str:
    return (f"{getattr(handler, '__module__', '?')}:"
            f"{getattr(handler, '__qualname__', type(handler).__qualname__)}")


def application(handler: WebSocketHandler) -> Callable[..., Awaitable[None]]:
    """The ASGI app (websocket scopes only) that runs handler(ws, req)."""
    from .asgi import can_call_with

    if not callable(handler):
        raise TypeError(f"a WebSocket handler must be callable as "
                        f"handler(ws, req), not {type(handler).__name__}")
    if not can_call_with(handler, 2):
        raise TypeError(f"a WebSocket handler is called as handler(ws, req): "
                        f"{_name_of(handler)} does not take two arguments")
    is_async = _is_async(handler)
    name = _name_of(handler)

    async def app(scope: dict[str, Any],
                  receive: Callable[[], Awaitable[dict[str, Any]]],
                  send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope.get("type") != "websocket":
            raise RuntimeError(f"the WebSocket handler {name} got a "
                               f"{scope.get('type')!r} scope")
        first = await receive()
        if first.get("type") != "websocket.connect":
            return   # the client went away before we started
        ws = AsyncWebSocket(scope, receive, send)
        req = WebSocketRequest(scope)
        failed = False
        try:
            if is_async:
                await handler(ws, req)   # type: ignore[arg-type,misc]
            else:
                await _in_thread(handler, ws, req, name)
        except WebSocketClosed as exc:
            error_logger.debug("WebSocket handler %s ended: %s", name, exc)
        except asyncio.CancelledError:
            ws._going_away()
            raise
        except Exception as exc:
            failed = True
            error_logger.error("Exception in WebSocket handler %s (%s)",
                               name, scope.get("path"), exc_info=exc)
        await ws._end(failed)

    app.__qualname__ = f"websocket({name})"
    return app


async def _in_thread(handler: Callable[..., Any], ws: AsyncWebSocket,
                     req: WebSocketRequest, name: str) -> None:
    """Run handler(WebSocket, req) in a new thread; wait for it without
    blocking the loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    blocking = WebSocket(ws, loop)

    def finish(exc: Optional[BaseException]) -> None:
        if done.done():
            return
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)

    def run() -> None:
        outcome: Optional[BaseException] = None
        try:
            handler(blocking, req)
        except StopIteration as exc:   # a Future cannot take it
            outcome = RuntimeError("the handler raised StopIteration")
            outcome.__cause__ = exc
        except BaseException as exc:   # handed to the loop, logged there
            outcome = exc
        try:
            loop.call_soon_threadsafe(finish, outcome)
        except RuntimeError:
            pass   # the loop has stopped: nobody waits any more

    thread = threading.Thread(target=run, name=f"gohttp-ws {name}",
                              daemon=True)
    thread.start()
    try:
        await done
    except asyncio.CancelledError:
        blocking._going_away()
        raise


def register(server: "Server", pattern: str, handler: W) -> W:
    """Serve WebSocket upgrades to pattern with handler(ws, req) on
    server; see Server.websocket()."""
    from .asgi import route_websocket

    route_websocket(server, pattern, application(handler),
                    name=_name_of(handler))
    return handler


def websocket(pattern: str) -> Callable[[W], W]:
    """Register the decorated handler(ws, req) for WebSocket upgrades to
    pattern on the default server (gohttp.run() serves it).

    >>> import gohttp
    >>> @gohttp.websocket("/echo")
    ... async def echo(ws, req):
    ...     await ws.accept()
    ...     async for message in ws:
    ...         await ws.send(message)
    """
    from .server import _default_server

    return _default_server().websocket(pattern)
