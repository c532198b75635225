"""Type stubs for the C extension gohttp._gohttp (ext/)."""

import os
from typing import Callable, Optional, Protocol, Sequence, Union

from ._headers import Headers

_Seconds = Optional[float]
_BytesLike = Union[bytes, bytearray, memoryview, str]

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

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
    ) -> int: ...
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
    def serving(self) -> bool: ...

def _close_gate(timeout: float, /) -> bool: ...
def _thread_states() -> int: ...

# The C API for other extensions: a PyCapsule named "gohttp._gohttp._C_API"
# holding the function table of gohttp/include/gohttp.h.  Use it from C
# with gohttp_import(); from Python it is opaque.
_C_API: object
