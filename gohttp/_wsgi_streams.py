"""``wsgi.input``: the request body of a WSGI environ.

It reads the body from Go as the application asks for it
(``Request.read``), keeping at most one block of it for ``readline``; an
upload is never held whole unless the application itself reads it
whole.  (``wsgi.errors`` is in C, ext/errorstream.c: one is made per
request.)
"""

from __future__ import annotations

from typing import Callable, Iterator, List, Optional

__all__ = ["InputStream", "empty_input"]


# How much readline() asks Go for at a time.  Request.read(n) returns less
# than n only at the end of the body, so this also bounds how long a
# readline() may wait for a slow client past the end of its line.
_LINE_BLOCK = 8192
# Request.read(n) sets n bytes aside before it reads.  When the body's
# length is unknown (chunked), a larger read(n) is made of reads this big,
# so read(1 << 30) of a short body does not reserve a gigabyte.
_READ_BLOCK = 1 << 20


class InputStream:
    """``wsgi.input``: the request body, streamed from Go.

    read(size) reads from Go only what is asked (less what readline()
    already holds); readline(), readlines() and iteration read blocks of
    8 KiB and keep what follows the line for the next call.
    """

    __slots__ = ("_read", "_buffer")

    def __init__(self, read: Callable[..., bytes],
                 length: Optional[int] = 0) -> None:
        # The request's read(size); if the length is unknown, one that
        # reads at most _READ_BLOCK at a time.
        self._read = read if length is not None else _blockwise(read)
        self._buffer = b""       # read from Go, not yet by the app

    def read(self, size: Optional[int] = -1) -> bytes:
        """Up to size bytes; all that is left if size is negative or
        None.  Fewer than size bytes only at the end of the body."""
        buffer = self._buffer
        if size is None or size < 0:
            if not buffer:
                return self._read()
            self._buffer = b""
            return buffer + self._read()
        if not buffer:
            return self._read(size)
        if len(buffer) >= size:
            self._buffer = buffer[size:]
            return buffer[:size]
        self._buffer = b""
        return buffer + self._read(size - len(buffer))

    def readline(self, size: Optional[int] = -1) -> bytes:
        """One line, with its b"\\n"; at most size bytes of it if size
        is not negative; b"" at the end of the body."""
        limit = -1 if size is None else size
        buffer = self._buffer
        end = _line_end(buffer, limit)
        if end >= 0:
            self._buffer = buffer[end:]
            return buffer[:end]
        # The line goes on past what is held: gather blocks until its end.
        parts = [buffer]
        have = len(buffer)
        self._buffer = b""
        while True:
            block = self._read(_LINE_BLOCK)
            if not block:
                break
            end = _line_end(block, limit - have if limit >= 0 else -1)
            if end >= 0:
                parts.append(block[:end])
                self._buffer = block[end:]
                break
            parts.append(block)
            have += len(block)
        return b"".join(parts)

    def readlines(self, hint: Optional[int] = -1) -> List[bytes]:
        """The lines that are left; stop once hint bytes were read if
        hint is positive."""
        lines: List[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __repr__(self) -> str:
        return f"<gohttp wsgi.input, {len(self._buffer)} bytes buffered>"


def _blockwise(read: Callable[..., bytes]) -> Callable[..., bytes]:
    """read(size), made of reads of at most _READ_BLOCK bytes."""

    def read_blocks(size: Optional[int] = -1) -> bytes:
        if size is None or size < 0 or size <= _READ_BLOCK:
            return read(size)
        parts = []
        while size > 0:
            want = min(size, _READ_BLOCK)
            part = read(want)
            parts.append(part)
            size -= len(part)
            if len(part) < want:  # the end of the body
                break
        return b"".join(parts)

    return read_blocks


def _line_end(data: bytes, limit: int) -> int:
    """Where the first line in data ends (just after b"\\n"), or limit if
    data holds limit bytes without one; -1 if data ends first."""
    if limit < 0:
        end = data.find(b"\n")
        return end + 1 if end >= 0 else -1
    end = data.find(b"\n", 0, limit)
    if end >= 0:
        return end + 1
    return limit if len(data) >= limit else -1


def _no_body(size: object = -1) -> bytes:
    return b""


# wsgi.input of requests without a body: it holds no state, so all share it.
empty_input = InputStream(_no_body)
