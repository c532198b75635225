"""systemd's protocol without systemd: the gohttp command told where to
send its notifications by NOTIFY_SOCKET, a real Unix datagram socket the
test binds, and handed a listening socket as socket activation hands it
(LISTEN_PID, LISTEN_FDS, descriptor 3)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Iterator

import pytest
import urllib3

from helpers.common import TIMEOUT
from helpers.net import short_tmp  # noqa: F401  (a fixture)
from test_cli import gohttp_command, stop

from gohttp import _systemd

pytestmark = pytest.mark.skipif(sys.platform != "linux",
                                reason="systemd is Linux's")


@pytest.fixture
def notify_socket(short_tmp: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound where NOTIFY_SOCKET will point."""
    path = str(short_tmp / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(TIMEOUT)
    yield sock, path
    sock.close()


def messages_until(sock: socket.socket, wanted: str) -> list[str]:
    """The datagrams received up to the first that holds the line
    wanted."""
    got = []
    while True:
        got.append(sock.recv(4096).decode())
        if wanted in got[-1].split("\n"):
            return got


def test_ready_then_stopping(subprocess_env, notify_socket) -> None:
    sock, path = notify_socket
    env = dict(subprocess_env, NOTIFY_SOCKET=path)
    with gohttp_command(env, "wsgi_apps.hello:app", "--bind",
                        "127.0.0.1:0") as (proc, banner):
        _, url = banner.wait()
        ready = messages_until(sock, "READY=1")[-1]
        # Sent once listening: the server answers at once.
        assert f"STATUS=serving on {url}" in ready
        assert urllib3.request("GET", url + "/", retries=False).status == 200
        assert stop(proc) == 0
        assert messages_until(sock, "STOPPING=1")


def test_watchdog(subprocess_env, notify_socket) -> None:
    sock, path = notify_socket
    # Every 50 ms (half of WATCHDOG_USEC); WATCHDOG_PID is the main
    # process's when set, and unset here.
    env = dict(subprocess_env, NOTIFY_SOCKET=path, WATCHDOG_USEC="100000")
    with gohttp_command(env, "wsgi_apps.hello:app", "--bind",
                        "127.0.0.1:0") as (proc, banner):
        banner.wait()
        messages_until(sock, "READY=1")
        messages_until(sock, "WATCHDOG=1")
        messages_until(sock, "WATCHDOG=1")
        assert stop(proc) == 0


def test_abstract_socket_name(monkeypatch) -> None:
    name = f"gohttp-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(TIMEOUT)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert _systemd.notify("READY=1")
        assert sock.recv(100) == b"READY=1"


def test_not_under_systemd(monkeypatch, caplog) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not _systemd.notify("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/notify")
    assert not _systemd.notify("READY=1")  # logged, not raised
    assert "cannot tell systemd READY=1" in caplog.text
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")  # another process's
    assert _systemd.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert _systemd.watchdog_interval() == 1.0


# What systemd does between fork and exec: the socket at descriptor 3,
# LISTEN_PID the new process's own pid.
# (Workers run this again: they get their sockets from the supervisor.)
ACTIVATED = """
import os, sys
if "GOHTTP_WORKER" not in os.environ:
    os.dup2(int(sys.argv[1]), 3)
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ["LISTEN_FDS"] = "1"
from gohttp.__main__ import main
main(sys.argv[2:])
"""


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]])
def test_socket_activation(subprocess_env, notify_socket, workers) -> None:
    sock, path = notify_socket
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        env = dict(subprocess_env, NOTIFY_SOCKET=path)
        with gohttp_command(env, str(listener.fileno()),
                            "wsgi_apps.workers_app:app", *workers,
                            code=ACTIVATED, pass_fds=(listener.fileno(),)
                            ) as (proc, banner):
            listener.close()  # the server's copy serves
            ready = messages_until(sock, "READY=1")
            # The supervisor alone speaks for its workers.
            assert sum("READY=1" in m for m in ready) == 1
            r = urllib3.request("GET", f"http://127.0.0.1:{port}/",
                                retries=False)
            assert r.status == 200
            # The workers did not take the sockets for theirs.
            assert stop(proc) == 0
            assert messages_until(sock, "STOPPING=1")
