"""Plain helpers the WSGI and CLI tests share (their fixtures are in
helpers/wsgi_fixtures.py)."""

from __future__ import annotations

import io
import logging
import queue
import re
import subprocess
import threading
from typing import Any, Callable, Iterator, Optional

import pytest

import gohttp
from helpers.common import TIMEOUT

App = Callable[..., Any]


def error_text(record: logging.LogRecord) -> str:
    """A log record as the log shows it: message and exception."""
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        text += f"\n{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
    return text


def hello_app(environ: dict, start_response: Callable) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, WSGI!"]


def record_environ(into: list) -> App:
    """An app that keeps a copy of its environ (and reads the body into
    "body") and answers "ok"."""

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        seen = dict(environ)
        seen["body"] = environ["wsgi.input"].read(
            int(environ.get("CONTENT_LENGTH") or 0) or 1 << 30)
        into.append(seen)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


class Closing:
    """An iterable response that records close() and can stop midway."""

    def __init__(self, chunks: list[bytes], *, fail_at: Optional[int] = None,
                 exc: BaseException = RuntimeError("fails midway")) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.exc = exc
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise self.exc
            yield chunk

    def close(self) -> None:
        self.closed.set()


class TrackedFile(io.BufferedReader):
    """open(path, "rb") that records close(): with sendfile the client can
    have the whole body before the adapter closes the file."""

    def __init__(self, path: Any) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self.closed_event = threading.Event()

    def close(self) -> None:
        super().close()
        self.closed_event.set()


class Banner:
    """Reads a gohttp process's stderr on a thread; waits for the
    banner and keeps every line."""

    # " * gohttp 0.1.0 serving [APP [(ASGI)] ]on URL (Go net/http) - ...":
    # the version must be gohttp's own.
    PATTERN = re.compile(r" \* gohttp " + re.escape(gohttp.__version__)
                         + r" serving (?:(\S+(?: \(ASGI2?\))?) )?on "
                           r"(https?://\S+)")

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[Optional[str]] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(proc,),
                                        daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._queue.put(line)
        self._queue.put(None)

    def wait(self) -> tuple[Optional[str], str]:
        """(app name, URL) from the banner; fails if the process ends or
        TIMEOUT passes first."""
        while True:
            try:
                line = self._queue.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail("no banner in time:\n" + "".join(self.lines))
            if line is None:
                pytest.fail("the process ended without a banner:\n"
                            + "".join(self.lines))
            self.lines.append(line)
            match = self.PATTERN.match(line)
            if match:
                return match.group(1), match.group(2)

    def wait_for(self, text: str) -> str:
        """The next line that holds text; fails if the process ends or
        TIMEOUT passes first."""
        while True:
            try:
                line = self._queue.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no {text!r} in time:\n" + "".join(self.lines))
            if line is None:
                pytest.fail(f"the process ended without {text!r}:\n"
                            + "".join(self.lines))
            self.lines.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        """Everything written to stderr, once the process has ended."""
        self._thread.join(TIMEOUT)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)
