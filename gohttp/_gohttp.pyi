"""Type stubs for the C extension gohttp._gohttp (ext/)."""

import os
from typing import (Any, Callable, ItemsView, Iterable, Iterator, KeysView,
                    Mapping, NoReturn, Optional, Protocol, Sequence, Tuple,
                    TypeVar, Union, ValuesView, overload)

_Seconds = Optional[float]
_BytesLike = Union[bytes, bytearray, memoryview, str]
_T = TypeVar("_T")
_R = TypeVar("_R")
_R_contra = TypeVar("_R_contra", contravariant=True)

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

class Error(Exception):
    """Base class of the errors gohttp raises itself."""

class StateError(Error, RuntimeError):
    """An object was used in a state that does not allow it."""

class RequestFinishedError(StateError):
    """A ResponseWriter or Request was used after its handler returned."""

class ServerStateError(StateError):
    """The server cannot do that now: started already, or shut down."""

class ForkedProcessError(StateError):
    """gohttp was used in a process forked after it was imported."""

class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued HTTP headers, as Go's http.Header.

    A Mapping of each key to its first value (gohttp._headers registers
    it); get_all(key) and multi_items() give every value."""

    def __init__(
        self,
        items: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None,
        /,
    ) -> None: ...
    @classmethod
    def _frozen(cls, map: dict[str, list[str]], /) -> "Headers": ...
    @property
    def _map(self) -> dict[str, list[str]]: ...
    @overload
    def get(self, key: str, /) -> Optional[str]: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: _T, /) -> Union[str, _T]: ...
    def get_all(self, key: str, /) -> list[str]: ...
    def multi_items(self) -> list[Tuple[str, str]]: ...
    # Dict views of {key: first value} as the headers are at the call.
    def keys(self) -> KeysView[str]: ...
    def values(self) -> ValuesView[str]: ...
    def items(self) -> ItemsView[str, str]: ...
    def copy(self) -> "Headers": ...
    def set(self, key: str, value: str, /) -> None: ...
    def add(self, key: str, value: str, /) -> None: ...
    def delete(self, key: str, /) -> None: ...
    def __getitem__(self, key: str, /) -> str: ...
    def __setitem__(self, key: str, value: str, /) -> None: ...
    def __delitem__(self, key: str, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...

def canonical_key(key: str, /) -> str: ...

class Request:
    """An HTTP request, as a handler receives it; valid until it returns."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def proto(self) -> str: ...
    @property
    def remote_addr(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def tls(self) -> Optional[Mapping[str, Any]]:
        """None in cleartext; else version, cipher, server_name, alpn
        (str or None) and client_cert_chain (a tuple of DER bytes)."""
    @property
    def content_length(self) -> Optional[int]: ...
    @property
    def body(self) -> bytes: ...
    def read(self, size: Optional[int] = -1, /) -> bytes: ...
    def path_value(self, name: str, /) -> str: ...

class ResponseWriter:
    """How a handler writes its response; valid until it returns."""

    @property
    def header(self) -> Headers: ...
    def write(self, data: _BytesLike, /) -> int: ...
    def write_header(self, code: int, /) -> None: ...
    def set_status(self, code: int, /) -> None: ...
    def flush(self) -> None: ...
    def send_file(
        self, file: Union[int, _HasFileno], offset: int = 0, count: Optional[int] = None
    ) -> int: ...

class Server:
    """The core of gohttp.Server: a Go http.Server and its ServeMux."""

    def __new__(cls, *, max_handlers: int = 64) -> "Server": ...
    def handle(
        self, pattern: str, handler: Callable[[ResponseWriter, Request], object], /
    ) -> None: ...
    def handle_asgi(self, pattern: str, app: "ASGIApp", /) -> None: ...
    def listen(
        self,
        host: Optional[str],
        port: int,
        *,
        read_header_timeout: _Seconds = None,
        read_timeout: _Seconds = None,
        write_timeout: _Seconds = None,
        idle_timeout: _Seconds = None,
        max_header_bytes: int = 0,
        max_body_bytes: int = 0,
        max_connections: int = 0,
        binds: Optional[Sequence[str]] = None,
        certfile: Optional[str] = None,
        keyfile: Optional[str] = None,
        http2_cleartext: bool = False,
        access_log: Optional[str] = None,
        access_log_format: str = "combined",
        forwarded_allow_ips: Optional[str] = None,
        reuse_port: bool = False,
        ssl_keyfile_password: Optional[str] = None,
        ssl_ca_certs: Optional[str] = None,
        ssl_cert_reqs: str = "none",
        ssl_min_version: Optional[str] = None,
        ssl_ciphers: Optional[str] = None,
        http3: bool = False,
        http3_bind: Optional[str] = None,
        http3_0rtt: bool = False,
    ) -> int: ...
    def reload_tls(self) -> None: ...
    def static(
        self,
        prefix: str,
        directory: Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"],
        /,
        *,
        listing: bool = False,
    ) -> None: ...
    def addresses(self) -> list[str]: ...
    def wait(self, timeout: _Seconds = None) -> bool: ...
    def shutdown(self, timeout: float = 5.0) -> bool: ...
    @property
    def port(self) -> int: ...
    @property
    def handled(self) -> int: ...
    @property
    def serving(self) -> bool: ...

class _StartResponseHook(Protocol[_R_contra]):
    # start_response bound to the response C handed over: the app's own
    # call (status, headers, exc_info=None) goes on as it was made.
    def __call__(
        self,
        response: _R_contra,
        status: str,
        headers: list[Tuple[str, str]],
        /,
        exc_info: Any = None,
    ) -> Callable[[bytes], object]: ...

class _SendHook(Protocol[_R_contra]):
    # taken and rest only when C began to iterate the app's result: the
    # chunks it took, and the iterator it took them from.
    def __call__(
        self,
        response: _R_contra,
        result: Iterable[bytes],
        taken: Tuple[object, ...] = ...,
        rest: Optional[Iterator[object]] = ...,
        /,
    ) -> object: ...

class WSGIApp:
    """The route gohttp.wsgi.mount() registers: a WSGI application run in
    C, with the Python adapter's functions given here for the rest: C
    calls them, and nothing of the adapter by name.  _R is the adapter's
    response type: what response() makes and the others take first."""

    def __new__(
        cls,
        app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]],
        name: str,
        script_name: str,
        # Once, at the first request: the environ entries of every request.
        environ_base: Callable[[], dict[str, Any]],
        # response(w, name, status, headers): the adapter takes over a
        # response, told what start_response was told so far (or None).
        response: Callable[[ResponseWriter, str, Optional[str], object], _R],
        start_response: _StartResponseHook[_R],
        write: Callable[[_R, bytes], object],
        send: _SendHook[_R],
        # input_type(read, length): wsgi.input of a request with a body;
        # length None if chunked.
        input_type: Callable[[Callable[..., bytes], Optional[int]], object],
        empty_input: object,
        client_disconnected: type[BaseException],
    ) -> "WSGIApp": ...
    @property
    def app(self) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]: ...
    @property
    def name(self) -> str: ...
    @property
    def script_name(self) -> str: ...
    # Callable only so that Server.handle() takes it: the server runs it,
    # and a call from Python raises TypeError.
    def __call__(self, w: ResponseWriter, req: Request, /) -> NoReturn: ...

class ErrorStream:
    """wsgi.errors: lines to the gohttp logger, after a tag."""

    def __new__(cls, tag: str, /) -> "ErrorStream": ...
    def write(self, text: str, /) -> int: ...
    def writelines(self, lines: Iterable[str], /) -> None: ...
    def flush(self) -> None: ...

class ASGILoop:
    """An event loop as Go sees it: Go wakes it through fd; drain() takes
    the events Go queued (gohttp.asgi runs it)."""

    def __new__(
        cls,
        loop: Any,
        start: Callable[[Any, dict[str, Any], "ASGICall"], None],
        client_disconnected: type,
    ) -> "ASGILoop": ...
    @property
    def fd(self) -> int: ...
    @property
    def loop(self) -> Any: ...
    def drain(self) -> bool: ...
    def close(self) -> None: ...
    def free(self) -> None: ...
    def calls(self) -> list["ASGICall"]: ...

class ASGIApp:
    """The value of an ASGI route: the app, its root_path, its loop."""

    state: Optional[dict[str, Any]]
    def __new__(
        cls, app: Callable[..., Any], root_path: str, loop: ASGILoop,
        path_prefix: str = ...,
    ) -> "ASGIApp": ...
    @property
    def app(self) -> Callable[..., Any]: ...
    @property
    def root_path(self) -> str: ...
    @property
    def loop(self) -> ASGILoop: ...

class Ready:
    """An awaitable that is done already."""

    def __await__(self) -> Iterator[Any]: ...

class ASGICall:
    """One ASGI request: the receive and send callables of its app."""

    task: Any
    @property
    def app(self) -> ASGIApp: ...
    @property
    def started(self) -> bool: ...
    @property
    def complete(self) -> bool: ...
    @property
    def disconnected(self) -> bool: ...
    def receive(self) -> Any: ...
    def send(self, message: dict[str, Any], /) -> Any: ...
    def _finish(self, returned: bool, /) -> None: ...

def _close_gate(timeout: float, /) -> bool: ...
def _thread_states() -> int: ...
def _go_procs() -> int: ...
def _code_allows_body(code: int, /) -> bool: ...

# The C API for other extensions: a PyCapsule named "gohttp._gohttp._C_API"
# holding the function table of gohttp/include/gohttp.h.  Use it from C
# with gohttp_import(); from Python it is opaque.
_C_API: object
