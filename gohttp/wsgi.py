"""WSGI (PEP 3333): any WSGI application, served by Go's net/http.

Serve one application::

    import gohttp
    from myproject.wsgi import application

    gohttp.serve_wsgi(application, host="127.0.0.1", port=8000)

or several, next to native routes, on one server::

    with gohttp.Server("127.0.0.1", 0) as srv:
        srv.mount_wsgi("/", flask_app)           # SCRIPT_NAME ""
        srv.mount_wsgi("/admin", django_app)     # SCRIPT_NAME "/admin"
        srv.route("GET /health")(health)         # a native handler
        ...

A mounted application runs in C (ext/wsgi.c: the ``WSGIApp`` route
``mount()`` registers): the environ, start_response and a response given
as a list of bytes are C's, and this module's code takes over only for
the rest (iterators, file wrappers, write(), exc_info) and to name
mistakes.  ``mount()`` hands C those functions of this module once.
Errors are logged to the ``gohttp.error`` logger: an exception before
anything was sent gives the client a 500, one after the response started
closes the connection.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import socket
import stat
import weakref
from types import TracebackType
from typing import (TYPE_CHECKING, Any, Callable, Iterable, Iterator,
                    Optional, Protocol, Tuple, Type, Union)

from ._gohttp import ResponseWriter, WSGIApp, _code_allows_body
from ._headers import _TOKEN, canonical_key
from ._wsgi_streams import InputStream, empty_input

if TYPE_CHECKING:
    from .server import Server

__all__ = ["FileWrapper", "WSGIApp", "WSGIApplication", "mount",
           "serve_wsgi"]

logger = logging.getLogger("gohttp.error")

ExcInfo = Tuple[Type[BaseException], BaseException, Optional[TracebackType]]
OptExcInfo = Union[ExcInfo, Tuple[None, None, None]]


class StartResponse(Protocol):
    def __call__(self, status: str, headers: list[tuple[str, str]],
                 exc_info: Optional[OptExcInfo] = ...
                 ) -> Callable[[bytes], object]: ...


WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ClientDisconnected(BrokenPipeError):
    """The client went away while the response was being sent.

    Raised by the ``write()`` callable of start_response; the adapter
    stops iterating the response, calls its ``close()``, and logs nothing
    above DEBUG.
    """


class FileWrapper:
    """``wsgi.file_wrapper``: a file sent to the client in blocks.

    ``return environ["wsgi.file_wrapper"](open(path, "rb"))`` sends the
    file, from its current position, and closes it.  A regular file
    opened in binary mode is sent by Go alone (``w.send_file``: with
    sendfile(2) on cleartext HTTP/1.x), and if the application sets no
    Content-Length the adapter sets it from the file's size.  Anything
    else with a ``read()`` is read in Python, blksize bytes at a time.
    """

    __slots__ = ("filelike", "blksize")

    def __init__(self, filelike: Any, blksize: int = 64 * 1024) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> "FileWrapper":
        return self

    def __next__(self) -> bytes:
        data: bytes = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


# ---- start_response's arguments -------------------------------------------

# Headers that belong to one connection, not to the response (RFC 9110
# 7.6.1); Go writes its own.  "Connection: close" is kept: Go reads it as
# the handler's wish to close the connection after the response.
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
})

# Codes of the status lines seen so far: "200 OK" → 200.
_status_codes: dict[str, int] = {}
# Response header names seen so far, checked: name → (canonical name,
# what to do: _KEEP, _DROP, _LENGTH or _CONNECTION).
_header_names: dict[str, tuple[str, int]] = {}
_KEEP, _DROP, _LENGTH, _CONNECTION = range(4)
_CACHE_MAX = 1024


def _status_code(status: object, app: str) -> int:
    """The code of a WSGI status line such as "200 OK"."""
    if type(status) is not str:
        raise TypeError(
            f"WSGI app {app}: the status given to start_response() must be "
            f"a str such as '200 OK', not {type(status).__name__}: "
            f"{status!r}")
    digits = status[:3]
    if (len(digits) == 3 and digits.isdigit()
            and (len(status) == 3 or status[3] == " ")
            and "\r" not in status and "\n" not in status):
        code = int(digits)
        if code >= 200:
            if len(_status_codes) >= _CACHE_MAX:
                _status_codes.clear()
            _status_codes[status] = code
            return code
    raise ValueError(
        f"WSGI app {app}: the status given to start_response() must be a "
        f"final status line, three digits from 200 to 999 and a reason "
        f"such as '200 OK', not {status!r}")


def _header_name(name: object, app: str) -> tuple[str, int]:
    """Check a response header name: (canonical name, what to do)."""
    if type(name) is not str:
        raise TypeError(
            f"WSGI app {app}: response header names must be str, not "
            f"{type(name).__name__}: {name!r}")
    if not name or not _TOKEN.issuperset(name):
        raise ValueError(
            f"WSGI app {app}: invalid response header name {name!r}: use "
            f"letters, digits and !#$%&'*+-.^_`|~ only")
    lower = name.lower()
    action = (_LENGTH if lower == "content-length"
              else _CONNECTION if lower == "connection"
              else _DROP if lower in _HOP_BY_HOP
              else _KEEP)
    checked = (canonical_key(name), action)
    if len(_header_names) >= _CACHE_MAX:
        _header_names.clear()
    _header_names[name] = checked
    return checked


def _header_value(name: str, value: object, app: str) -> str:
    """Check a response header value and return it."""
    if type(value) is not str:
        raise TypeError(
            f"WSGI app {app}: response header values must be str, not "
            f"{type(value).__name__}: {name!r}: {value!r}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(
            f"WSGI app {app}: the value of response header {name!r} holds "
            f"CR, LF or NUL, which would split the response: {value!r}")
    if value.isascii():
        return value
    # PEP 3333: a latin-1 str, one character per byte, which is how the
    # native layer sends header values.
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"WSGI app {app}: response header {name!r} has characters "
            f"beyond latin-1: {value!r}; PEP 3333 header values are latin-1 "
            f"strings (for non-ASCII file names use RFC 8187, filename*=)"
        ) from None
    return value


def _fill_headers(target: dict[str, list[str]], headers: object, app: str
                  ) -> Optional[int]:
    """Check the headers given to start_response and add those to send
    to target (a Headers map: {canonical name: [values]}).  Returns the
    Content-Length they declare, or None."""
    if type(headers) is not list and not isinstance(headers, (list, tuple)):
        raise TypeError(
            f"WSGI app {app}: the headers given to start_response() must be "
            f"a list of (name, value) tuples, not {type(headers).__name__}")
    length: Optional[int] = None
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise TypeError(
                f"WSGI app {app}: each response header must be a (name, "
                f"value) tuple, not {item!r}")
        name, value = item
        key, action = ((type(name) is str and _header_names.get(name))
                       or _header_name(name, app))
        value = _header_value(name, value, app)
        if action:
            if action == _DROP or (action == _CONNECTION
                                   and value.lower() != "close"):
                continue
            if action == _LENGTH:
                if length is not None or not value.isdigit():
                    raise ValueError(
                        f"WSGI app {app}: Content-Length must be one "
                        f"non-negative integer, not {value!r}")
                length = int(value)
        values = target.get(key)
        if values is None:
            target[key] = [value]
        else:
            values.append(value)
    return length


def _check_chunk(chunk: object, app: str) -> None:
    if not isinstance(chunk, bytes):
        hint = " (encode it, e.g. text.encode())" if isinstance(
            chunk, str) else ""
        raise TypeError(
            f"WSGI app {app}: the response body must be bytes, but the app "
            f"gave a {type(chunk).__name__}{hint}: {chunk!r:.80}")


def _regular_file(filelike: Any) -> Optional[tuple[int, int, int]]:
    """(file descriptor, position, bytes left) of a regular file, or
    None for anything else (io.BytesIO, a pipe, a socket)."""
    try:
        fd = filelike.fileno()
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        position = filelike.tell()
    except (AttributeError, OSError, ValueError):
        return None
    if type(fd) is not int or type(position) is not int:
        return None
    return fd, position, max(st.st_size - position, 0)


# ---- one response -----------------------------------------------------------

class _Response:
    """The state of one response once C hands it over (WSGIApp's
    response): start_response, write, and sending the iterable the app
    returned.  status and headers: what start_response was told so far."""

    __slots__ = ("w", "app", "status", "headers", "code", "length",
                 "started", "sent", "discard")

    def __init__(self, w: ResponseWriter, app: str,
                 status: Optional[str] = None, headers: object = None
                 ) -> None:
        self.w = w
        self.app = app
        self.status = status                # as given to start_response
        self.headers = headers              # as given to start_response
        self.code = 0                       # once started
        self.length: Optional[int] = None   # Content-Length the app declared
        self.started = False                # status and headers went to Go
        self.sent = 0                       # body bytes given to Go
        self.discard = False                # the status allows no body

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Optional[OptExcInfo] = None
                       ) -> Callable[[bytes], None]:
        # The arguments are checked when the response starts (start()),
        # before any of it is sent: a mistake still gives a 500.
        if exc_info is not None:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])  # type: ignore[union-attr]
            finally:
                exc_info = None  # no cycle through the traceback
        elif self.status is not None:
            raise RuntimeError(
                f"WSGI app {self.app}: start_response() was called a second "
                f"time without exc_info")
        if status is None:  # here None means "not called": refuse it now
            _status_code(status, self.app)
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """The write() callable start_response returns: data reaches the
        client before it returns."""
        if self.status is None:
            raise RuntimeError(
                f"WSGI app {self.app}: write() was called before "
                f"start_response()")
        if type(data) is not bytes:
            _check_chunk(data, self.app)
        if not data:
            return
        if not self.started:
            self.start()
        self.send(data)
        self.flush()

    def start(self, length: Optional[int] = None) -> None:
        """Check the status and headers and hand them to Go; length: the
        Content-Length to set if the app declared none."""
        status = self.status
        if status is None:
            raise RuntimeError(
                f"WSGI app {self.app}: the app returned its response "
                f"without calling start_response()")
        code = ((type(status) is str and _status_codes.get(status))
                or _status_code(status, self.app))
        w = self.w
        target = w.header._map
        declared = _fill_headers(target, self.headers, self.app)
        self.discard = not _code_allows_body(code)
        if declared is not None:
            self.length = declared
        elif length is not None and not self.discard:
            target["Content-Length"] = [str(length)]
        self.code = code
        w.write_header(code)
        self.started = True

    def send(self, data: bytes) -> None:
        """Give data to Go, no more than the declared Content-Length."""
        if self.discard:
            return
        if self.length is not None and self.sent + len(data) > self.length:
            self.warn_too_long()
            data = data[:self.length - self.sent]
            if not data:
                return
        try:
            self.w.write(data)
        except OSError as exc:
            raise ClientDisconnected(*exc.args) from exc
        self.sent += len(data)

    def send_file(self, fd: int, position: int, size: int) -> None:
        """Have Go send the size bytes of the file open as fd from
        position, no more than the declared Content-Length."""
        if self.discard:
            return
        if self.length is not None and self.sent + size > self.length:
            self.warn_too_long()
            size = self.length - self.sent
        try:
            self.sent += self.w.send_file(fd, position, size)
        except ConnectionError as exc:  # not an error reading the file
            raise ClientDisconnected(*exc.args) from exc

    def warn_too_long(self) -> None:
        logger.warning("WSGI app %s: the response body is longer than "
                       "its Content-Length %d: the rest is not sent",
                       self.app, self.length)

    def flush(self) -> None:
        """Send what Go holds, unless the body is already complete (the
        handler's return sends it at no extra cost)."""
        if self.discard or (self.length is not None
                            and self.sent >= self.length):
            return
        try:
            self.w.flush()
        except OSError as exc:
            raise ClientDisconnected(*exc.args) from exc

    def send_iterable(self, result: Iterable[bytes]) -> None:
        """Send the body the app returned, then finish the response."""
        kind = type(result)
        if kind is list or kind is tuple:
            # Every chunk is here: check them all, so that a wrong one
            # still gives a 500, then send them without a flush.
            total = 0
            for chunk in result:
                if type(chunk) is not bytes:
                    _check_chunk(chunk, self.app)
                total += len(chunk)
            if not self.started:
                self.start(total)
            for chunk in result:
                if chunk:
                    self.send(chunk)
        elif kind is FileWrapper:
            filelike = result.filelike  # type: ignore[attr-defined]
            regular = _regular_file(filelike)
            if regular is not None and not isinstance(filelike,
                                                      io.TextIOBase):
                # Go sends it from the file, no Python per block.
                fd, position, left = regular
                if not self.started:
                    self.start(left)
                self.send_file(fd, position, left)
            else:
                # Read in Python; a text file fails on its first str.
                if not self.started:
                    self.start(None if regular is None else regular[2])
                for chunk in result:
                    if type(chunk) is not bytes:
                        _check_chunk(chunk, self.app)
                    self.send(chunk)
        else:
            if result is None or isinstance(result, (str, bytes)):
                raise TypeError(
                    f"WSGI app {self.app}: the app returned a "
                    f"{type(result).__name__}, but a WSGI response is an "
                    f"iterable of bytes, such as [body]")
            # A stream: each chunk reaches the client before the app
            # makes the next.  Headers wait for the first non-empty chunk.
            for chunk in result:
                if type(chunk) is not bytes:
                    _check_chunk(chunk, self.app)
                if not chunk:
                    continue
                if not self.started:
                    self.start()
                self.send(chunk)
                self.flush()
        if not self.started:
            self.start(0)
        if (self.length is not None and self.sent < self.length
                and not self.discard):
            logger.warning("WSGI app %s: the response body is shorter than "
                           "its Content-Length %d: the connection will be "
                           "closed", self.app, self.length)


# ---- what C calls -----------------------------------------------------------

def _server_name(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return socket.gethostname()
    return host


def _environ_base(server: "Server") -> Callable[[], dict[str, Any]]:
    """WSGIApp's environ_base: the environ entries that are the same for
    every request, made at the first request, when the server knows its
    port."""
    # A weak reference: the server holds the route through its routes,
    # and the C server does not take part in cycle collection.
    ref = weakref.ref(server)

    def environ_base() -> dict[str, Any]:
        srv = ref()
        host, port = ("localhost", "0") if srv is None else (
            _server_name(srv.host), str(srv.port))
        return {
            "SERVER_NAME": host,
            "SERVER_PORT": port,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }

    return environ_base


def _send(response: _Response, result: Iterable[bytes],
          taken: tuple[object, ...] = (),
          rest: Optional[Iterator[object]] = None) -> None:
    """WSGIApp's send: send the body the app returned, then close() it.
    When C began to iterate result, taken holds the chunks it took and
    rest is the iterator it took them from."""
    body: Iterable[Any] = (result if rest is None
                           else itertools.chain(taken, rest))
    try:
        response.send_iterable(body)
    except ClientDisconnected:
        logger.debug("WSGI app %s: the client went away", response.app)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                # The response stands as sent: log, do not cut it off.
                logger.exception("WSGI app %s: error in the close() of "
                                 "its response", response.app)


def _describe(app: object) -> str:
    """A name for app in logs and the banner: "module:qualname"."""
    module = getattr(app, "__module__", None)
    qualname = getattr(app, "__qualname__", None)
    if module and qualname:
        return f"{module}:{qualname}"
    cls = type(app)
    return f"{cls.__module__}:{cls.__qualname__} instance"


# ---- mounting and serving ---------------------------------------------------

def _script_name(prefix: object) -> str:
    """The SCRIPT_NAME of a mount prefix: "/" → "", "/api/" → "/api"."""
    if not isinstance(prefix, str):
        raise TypeError(f"the mount prefix must be a str such as '/api', "
                        f"not {type(prefix).__name__}")
    if not prefix.startswith("/"):
        raise ValueError(f"the mount prefix must start with '/': "
                         f"{prefix!r}; use '/' to mount at the root")
    bad = set("{}%?# \t\r\n") & set(prefix)
    if bad:
        raise ValueError(f"the mount prefix {prefix!r} may not contain "
                         f"{''.join(sorted(bad))!r}: it is a literal path "
                         f"such as '/api', not a route pattern")
    script_name = prefix.rstrip("/")
    if any(part in ("", ".", "..") for part in script_name.split("/")[1:]):
        raise ValueError(f"the mount prefix {prefix!r} is not a clean path: "
                         f"no '//', '.' or '..' segments")
    return script_name


def mount(server: "Server", prefix: str, app: WSGIApplication, *,
          name: Optional[str] = None) -> WSGIApp:
    """Serve app on server for every path under prefix; see
    ``Server.mount_wsgi``.  Returns the route it registered, whose
    ``app``, ``name`` and ``script_name`` say what it serves where.
    (The access log is the server's: ``gohttp.Server(access_log=True)``.)
    """
    if not callable(app):
        raise TypeError(f"a WSGI application must be callable "
                        f"app(environ, start_response), not "
                        f"{type(app).__name__}")
    script_name = _script_name(prefix)
    route = WSGIApp(
        app, name or _describe(app), script_name,
        environ_base=_environ_base(server), response=_Response,
        start_response=_Response.start_response, write=_Response.write,
        send=_send, input_type=InputStream, empty_input=empty_input,
        client_disconnected=ClientDisconnected)
    if script_name:
        server.handle(script_name + "/", route)   # the subtree
        server.handle(script_name, route)         # the prefix itself
    else:
        server.handle("/", route)
    return route


def serve_wsgi(app: WSGIApplication, host: str = "127.0.0.1",
               port: int = 5000, *, name: Optional[str] = None,
               workers: Union[int, str] = 1,
               max_requests: Optional[int] = None,
               max_requests_jitter: int = 0,
               max_rss: Optional[int] = None,
               **server_options: Any) -> None:
    """Serve the WSGI application app on host:port until Ctrl-C or
    SIGTERM, then shut down gracefully and return.

    server_options are gohttp.Server's keyword arguments (timeouts,
    max_handlers, shutdown_timeout, ...); name names app in logs and the
    banner (default: "module:qualname").  workers, max_requests,
    max_requests_jitter and max_rss run it in worker processes, which
    run the program again up to this call: see gohttp.Server.run().

    >>> import gohttp
    >>> def app(environ, start_response):
    ...     start_response("200 OK", [("Content-Type", "text/plain")])
    ...     return [b"Hello, WSGI!\\n"]
    >>> gohttp.serve_wsgi(app, port=8000)   # doctest: +SKIP
    """
    from .server import Server

    srv = Server(host, port, **server_options)
    route = mount(srv, "/", app, name=name)
    srv.run(app_name=route.name, workers=workers,
            max_requests=max_requests,
            max_requests_jitter=max_requests_jitter, max_rss=max_rss)
