"""Many ASGI requests in flight at once, against the command in a process
of its own: requests that wait cost goroutines and tasks, not OS threads,
and the server keeps answering (issue 17: 10,000 concurrent slow
requests with bounded threads)."""

from __future__ import annotations

import resource
import selectors
import socket
import sys
import time

import pytest
import urllib3

from helpers.common import TIMEOUT
from test_cli import gohttp_command, stop

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/<pid>/status")

MiB = 1024 * 1024


def status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def threads_and_rss(pid: int) -> tuple[int, float]:
    """The process's OS threads, and its RSS in MiB."""
    s = status(pid)
    return int(s["Threads"]), int(s["VmRSS"].split()[0]) / 1024


def get(url: str) -> bytes:
    r = urllib3.request("GET", url, retries=False, timeout=TIMEOUT)
    assert r.status == 200, (r.status, r.data)
    return r.data


def open_files_for(n: int) -> None:
    """Raise this process's soft limit of open files to hold n sockets
    and some, or skip."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = n + 200
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"{n} connections need {need} open files; the "
                        f"hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


@pytest.mark.heavy
def test_ten_thousand_slow_requests_cost_no_threads(subprocess_env):
    n = 10_000
    open_files_for(n)
    with gohttp_command(subprocess_env, "asgi_apps.held:app",
                        "-b", "127.0.0.1:0", "--lifespan", "off") as (
            proc, banner):
        _, url = banner.wait()
        host, port = url.rsplit("/", 1)[-1].rsplit(":", 1)
        assert get(url + "/count") == b"0 %d" % proc.pid
        idle_threads, idle_rss = threads_and_rss(proc.pid)

        sel = selectors.DefaultSelector()
        socks = []
        try:
            request = (b"GET /held HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n")
            for _ in range(n):
                sock = socket.create_connection((host, int(port)),
                                                timeout=TIMEOUT)
                sock.sendall(request)
                sock.setblocking(False)
                socks.append(sock)
                sel.register(sock, selectors.EVENT_READ, [])
            deadline = time.monotonic() + 60
            while get(url + "/count") != b"%d %d" % (n, proc.pid):
                assert time.monotonic() < deadline, get(url + "/count")
                time.sleep(0.2)
            # All of them wait in the app: the server still answers, and
            # holds no more OS threads than when idle, give or take Go's
            # few (its Ms for the poller and syscalls).
            busy_threads, busy_rss = threads_and_rss(proc.pid)
            started = time.monotonic()
            assert get(url + "/count").startswith(b"%d " % n)
            answer = time.monotonic() - started
            print(f"threads {idle_threads} idle, {busy_threads} with {n} "
                  f"requests waiting; RSS {idle_rss:.1f} -> "
                  f"{busy_rss:.1f} MiB; one more request answered in "
                  f"{answer * 1000:.1f} ms")
            assert busy_threads <= idle_threads + 8, (idle_threads,
                                                      busy_threads)

            assert get(url + "/release") == b"ok"
            open_ = n
            deadline = time.monotonic() + 60
            while open_ and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=1):
                    data = key.fileobj.recv(65536)
                    if data:
                        key.data.append(data)
                        continue
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    open_ -= 1
                    raw = b"".join(key.data)
                    assert raw.startswith(b"HTTP/1.1 200"), raw[:100]
                    assert raw.endswith(b"released"), raw[-100:]
            assert open_ == 0, f"{open_} responses did not come"
        finally:
            for sock in socks:
                sock.close()
            sel.close()
        assert get(url + "/count") == b"0 %d" % proc.pid
        after_threads, after_rss = threads_and_rss(proc.pid)
        print(f"after: {after_threads} threads, RSS {after_rss:.1f} MiB")
        assert after_threads <= idle_threads + 8
        assert stop(proc) == 0
