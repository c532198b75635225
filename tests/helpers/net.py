"""Fixtures and helpers for the network features: TLS certificates made
with openssl, the external clients (curl, h2load), raw sockets that stall
on purpose, Unix sockets.

Import the fixtures a test module uses from here (pytest finds imported
fixtures).  A test that needs a tool the machine lacks is skipped, with
the package that brings it (CI installs them: see .ci/run).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest

from helpers.common import TIMEOUT, tool_env

# ---- external tools ----------------------------------------------------------


def _curl_features() -> str:
    curl = shutil.which("curl")
    if curl is None:
        return ""
    try:
        return subprocess.run([curl, "-V"], capture_output=True, text=True,
                              env=tool_env(), timeout=TIMEOUT).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


_CURL_V = _curl_features()

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None,
    reason="needs the openssl command (Debian package openssl)")
needs_curl = pytest.mark.skipif(
    not _CURL_V, reason="needs curl (Debian package curl)")
needs_curl_http2 = pytest.mark.skipif(
    not re.search(r"^Features:.*\bHTTP2\b", _CURL_V, re.M),
    reason="needs a curl built with HTTP/2 (Debian package curl)")
needs_curl_unix = pytest.mark.skipif(
    not re.search(r"^Features:.*\bUnixSockets\b", _CURL_V, re.M),
    reason="needs a curl that speaks over Unix sockets (Debian package "
           "curl)")
needs_h2load = pytest.mark.skipif(
    shutil.which("h2load") is None,
    reason="needs h2load (Debian package nghttp2-client)")


def ipv6_loopback() -> bool:
    """True if this machine can bind ::1."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(),
                                reason="no IPv6 loopback (::1)")


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run curl quietly with a timeout; the caller checks returncode."""
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", str(TIMEOUT),
         *args],
        capture_output=True, text=True, env=tool_env(), timeout=TIMEOUT + 5)


@dataclass
class H2loadResult:
    succeeded: int
    failed: int
    protocol: str
    output: str


def h2load(url: str, *args: str) -> H2loadResult:
    """Run h2load against url and read its summary."""
    proc = subprocess.run(["h2load", *args, url], capture_output=True,
                          text=True, env=tool_env(), timeout=TIMEOUT * 3)
    out = proc.stdout + proc.stderr
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, "
                     r"(\d+) succeeded, (\d+) failed", out)
    proto = re.search(r"Application protocol: (\S+)", out)
    return H2loadResult(int(done.group(1)) if done else 0,
                        int(done.group(2)) if done else -1,
                        proto.group(1) if proto else "", out)


# ---- TLS certificates --------------------------------------------------------


@dataclass
class KeyPair:
    cert: Path       # self-signed for localhost and 127.0.0.1: also the CA file
    key: Path        # unencrypted PKCS#8
    combined: Path   # cert then key in one file


def make_key_pair(directory: Path, name: str,
                  passphrase: Optional[str] = None) -> KeyPair:
    """A self-signed certificate for localhost, 127.0.0.1 and ::1, made
    with the openssl command.  With passphrase, the key is encrypted."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cmd = ["openssl", "req", "-x509", "-newkey", "ec",
           "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-keyout", str(key), "-out", str(cert), "-days", "2",
           "-subj", "/CN=localhost",
           "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"]
    cmd += ["-passout", f"pass:{passphrase}"] if passphrase else ["-nodes"]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=tool_env(), timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    combined = directory / f"{name}.pem"
    combined.write_bytes(cert.read_bytes() + key.read_bytes())
    return KeyPair(cert, key, combined)


@pytest.fixture(scope="session")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """A self-signed certificate and its key, made once per run."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command (Debian package openssl)")
    return make_key_pair(tmp_path_factory.mktemp("tls"), "server")


# ---- raw sockets --------------------------------------------------------------


def closed_within(sock: socket.socket, seconds: float) -> Optional[float]:
    """Read and discard until the peer closes the connection; return how
    long that took, or None if it was still open after seconds."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return None
    return time.monotonic() - started


def read_response(sock: socket.socket) -> tuple[int, bytes, bytes]:
    """Read one HTTP/1.1 response with a Content-Length from sock, leaving
    the connection open: (status, head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the headers: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return int(head.split(b" ", 2)[1]), head, body


def unix_exchange(path: str, data: bytes) -> bytes:
    """Send data over a Unix socket, half-close, and read until closed."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(path)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path: a Unix socket's path must
    fit in 108 bytes, which pytest's tmp_path may not."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gh") as d:
        yield Path(d)
