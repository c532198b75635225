"""Worker processes: `gohttp APP --workers N` and run(workers=N), as real
processes on real sockets.

Every request goes on a connection of its own (common.get): the kernel
spreads new connections among the workers, and no keep-alive connection
outlives the worker it went to.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import urllib3

from gohttp import _supervisor
from helpers import common
from helpers.common import TIMEOUT
from test_cli import gohttp_command, stop

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")

APP = "wsgi_apps.workers_app:app"
READY = re.compile(r"worker (\d+) \(pid (\d+)\) ready")


def ready_pids(banner):
    """The pids of the workers the supervisor has said are ready."""
    return [int(m.group(2)) for line in banner.lines
            if (m := READY.search(line))]


def pid_of(url):
    r = common.get(url + "/")
    assert r.status == 200
    return int(r.headers["X-Worker-Pid"])


def pids_seen(url, want, tries=200):
    """The worker pids that answer requests, until want distinct ones
    have (or tries requests went)."""
    seen = set()
    for _ in range(tries):
        seen.add(pid_of(url))
        if len(seen) >= want:
            break
    return seen


def wait_gone(pids):
    """Wait until none of pids is a live process (the supervisor reaps
    its workers; these tests' workers are not our children)."""
    deadline = time.monotonic() + TIMEOUT
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive.discard(pid)
        time.sleep(0.02)
    assert not alive, f"processes {alive} still run"


class Load:
    """Client threads sending requests in a loop until stopped, counting
    what failed."""

    def __init__(self, url, threads=2):
        self.url = url + "/"
        self.done = threading.Event()
        self.ok = 0
        self.failed: list[str] = []
        self.pids: set[int] = set()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, daemon=True)
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _loop(self):
        while not self.done.is_set():
            try:
                r = common.get(self.url)
                good = r.status == 200
                what = f"status {r.status}"
            except Exception as exc:  # noqa: BLE001 - counted
                good, what = False, repr(exc)
            with self.lock:
                if good:
                    self.ok += 1
                    self.pids.add(int(r.headers["X-Worker-Pid"]))
                else:
                    self.failed.append(what)

    def wait_for_requests(self, n):
        deadline = time.monotonic() + TIMEOUT
        start = self.ok
        while self.ok - start < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.ok - start >= n, f"only {self.ok - start} requests"

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(TIMEOUT)


def test_workers_all_serve_then_sigterm(subprocess_env):
    with gohttp_command(subprocess_env, APP, "-b", "127.0.0.1:0",
                        "--workers", "3") as (proc, banner):
        _, url = banner.wait()
        assert "with 3 workers" in banner.lines[-1]
        assert banner.lines[-1].count("http://") == 1  # the address, once
        workers = set(ready_pids(banner))
        assert len(workers) == 3 and proc.pid not in workers
        assert pids_seen(url, 3) == workers
        assert stop(proc) == 0
        rest = banner.rest()
        assert "SIGTERM: shutting down 3 workers" in rest
    for pid in workers:  # every worker has gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("workers, given", [(2, None), (3, None), (2, "3")])
def test_workers_share_the_cpus_among_their_go_runtimes(subprocess_env,
                                                        workers, given):
    # Each worker's Go runtime gets the CPUs divided among the workers
    # (at least one), unless the environment sets GOMAXPROCS; the app's
    # environment keeps only a GOMAXPROCS the user set.
    from gohttp._supervisor import cpu_count
    env = dict(subprocess_env)
    env.pop("GOMAXPROCS", None)
    if given is not None:
        env["GOMAXPROCS"] = given
    want = int(given) if given else max(1, -(-cpu_count() // workers))
    with gohttp_command(env, APP, "-b", "127.0.0.1:0",
                        "--workers", str(workers)) as (proc, banner):
        _, url = banner.wait()
        procs = {}
        for _ in range(200):
            r = common.get(url + "/")
            procs[r.headers["X-Worker-Pid"]] = (r.headers["X-Go-Procs"],
                                                r.headers["X-Env-Gomaxprocs"])
            if len(procs) == workers:
                break
        assert len(procs) == workers
        assert set(procs.values()) == {(str(want), given or "unset")}
        assert stop(proc) == 0


def test_a_killed_worker_loses_only_its_requests_and_comes_back(
        subprocess_env):
    with gohttp_command(subprocess_env, APP, "-b", "127.0.0.1:0",
                        "--workers", "2") as (proc, banner):
        _, url = banner.wait()
        victim, survivor = ready_pids(banner)
        load = Load(url)
        load.wait_for_requests(20)
        os.kill(victim, signal.SIGKILL)
        line = banner.wait_for("ready")  # its replacement
        replacement = int(READY.search(line).group(2))
        assert replacement not in (victim, survivor)
        load.wait_for_requests(50)
        load.stop()
        # At most what was in flight in the victim: one per client thread.
        assert len(load.failed) <= 2, load.failed
        assert replacement in pids_seen(url, 2) | load.pids
        assert any("died (killed by SIGKILL)" in x for x in banner.lines)
        assert stop(proc) == 0


def connect_many(url, n):
    """n connections to url's port, each with a GET sent: none may be
    refused (the supervisor holds every listening socket, its workers dead
    or alive), and on Linux some land on each worker slot's socket."""
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        socks.append(s)
    return socks


def answers(socks):
    """The status line each connection of connect_many got."""
    lines = []
    for s in socks:
        with s:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines.append(data.split(b"\r\n", 1)[0].decode())
    return lines


@pytest.mark.heavy
def test_workers_killed_again_and_again_are_replaced_at_once(subprocess_env):
    """A worker that served a while and was killed is no crash loop: its
    replacement starts at once, every time, and no connection is ever
    refused (connections that come meanwhile wait in its socket's queue)."""
    with gohttp_command(subprocess_env, APP, "-b", "127.0.0.1:0",
                        "--workers", "2") as (proc, banner):
        _, url = banner.wait()
        load = Load(url)
        rounds = 4
        for _ in range(rounds):
            load.wait_for_requests(10)
            time.sleep(_supervisor.STABLE_AFTER)  # it has served a while
            victim = pid_of(url)
            os.kill(victim, signal.SIGKILL)
            wait_gone([victim])
            waiting = connect_many(url, 12)
            line = banner.wait_for(f"(pid {victim}) died")
            assert "killed by SIGKILL) after" in line
            assert "again now" in line
            assert answers(waiting) == ["HTTP/1.1 200 OK"] * 12
            banner.wait_for("ready")
        load.wait_for_requests(20)
        load.stop()
        # At most what was in flight in each victim, never a refusal.
        assert len(load.failed) <= 2 * rounds, load.failed
        assert not any("refused" in f.lower() for f in load.failed)
        assert not any("crash loop" in x for x in banner.lines)
        assert stop(proc) == 0


@pytest.mark.heavy
def test_a_worker_crashing_at_start_backs_off_and_its_sockets_stay_open(
        subprocess_env, tmp_path):
    crash = tmp_path / "crash"
    env = dict(subprocess_env, GOHTTP_TEST_CRASH_AT_START=str(crash))
    with gohttp_command(env, "wsgi_apps.crash_at_start_app:app",
                        "-b", "127.0.0.1:0", "--workers", "2"
                        ) as (proc, banner):
        _, url = banner.wait()
        victim = ready_pids(banner)[0]
        crash.touch()
        os.kill(victim, signal.SIGKILL)
        assert "again now" in banner.wait_for(f"(pid {victim}) died")
        line = banner.wait_for("crash loop (2 in a row)")
        assert "died before it was ready (exit code 3)" in line
        assert "again in 0.1s" in line
        assert "again in 0.2s" in banner.wait_for("crash loop (3 in a row)")
        # Its slot has no worker: connections on its socket wait for one.
        waiting = connect_many(url, 16)
        crash.unlink()
        assert answers(waiting) == ["HTTP/1.1 200 OK"] * 16
        assert stop(proc) == 0


def test_the_crash_loop_backoff_doubles_up_to_a_few_seconds():
    sup = _supervisor.Supervisor(_supervisor.Policy(workers=1),
                                 command=["true"])
    try:
        delays = []
        for _ in range(10):
            before = time.monotonic()
            sup._restart_later(1, "worker 1 died before it was ready")
            delays.append(round(sup.restart_at[1] - before, 1))
    finally:
        sup.selector.close()
    assert delays == [0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5]
    assert _supervisor.RESTART_DELAY_MAX == 5


def test_sighup_replaces_every_worker_without_a_failed_request(
        subprocess_env):
    with gohttp_command(subprocess_env, APP, "-b", "127.0.0.1:0",
                        "--workers", "2") as (proc, banner):
        _, url = banner.wait()
        before = set(ready_pids(banner))
        load = Load(url)
        load.wait_for_requests(20)
        proc.send_signal(signal.SIGHUP)
        banner.wait_for("every worker replaced")
        after = set(ready_pids(banner)) - before
        wait_gone(before)
        load.wait_for_requests(20)
        load.stop()
        assert load.failed == []
        assert len(after) == 2
        assert pids_seen(url, 2) == after
        assert stop(proc) == 0


def test_sigterm_drains_a_request_in_flight(subprocess_env):
    with gohttp_command(subprocess_env, APP, "-b", "127.0.0.1:0",
                        "--workers", "2") as (proc, banner):
        _, url = banner.wait()
        result = {}

        def slow():
            result["r"] = common.get(url + "/slow?1.0")

        client = threading.Thread(target=slow)
        client.start()
        banner.wait_for("slow request started")
        began = time.monotonic()
        assert stop(proc) == 0
        client.join(TIMEOUT)
        r = result["r"]
        assert (r.status, r.data) == (200, r.headers["X-Worker-Pid"].encode())
        assert time.monotonic() - began < 5  # no worker waited for a kill
        # Nothing accepts any more.
        with pytest.raises(urllib3.exceptions.HTTPError):
            common.get(url + "/")


def test_max_requests_recycles_a_worker(subprocess_env):
    with gohttp_command(subprocess_env, APP, "-b", "127.0.0.1:0",
                        "--workers", "1", "--max-requests", "20",
                        "--max-requests-jitter", "5") as (proc, banner):
        _, url = banner.wait()
        assert "with 1 worker " in banner.lines[-1]
        first = ready_pids(banner)[0]
        load = Load(url, threads=1)
        banner.wait_for("requests (max_requests")
        line = banner.wait_for("ready")
        load.wait_for_requests(5)
        load.stop()
        assert load.failed == []
        assert int(READY.search(line).group(2)) != first
        assert stop(proc) == 0


def test_workers_stop_when_the_supervisor_is_killed(subprocess_env):
    with gohttp_command(subprocess_env, APP, "-b", "127.0.0.1:0",
                        "--workers", "2") as (proc, banner):
        _, url = banner.wait()
        workers = ready_pids(banner)
        proc.kill()
        proc.wait(TIMEOUT)
        wait_gone(workers)


def test_a_worker_that_cannot_start_fails_the_start(subprocess_env):
    done = subprocess.run(
        [sys.executable, "-m", "gohttp", "wsgi_apps.broken_import:app",
         "--workers", "2", "-b", "127.0.0.1:0"],
        cwd=common.GOHTTP_PATH + "/tests", env=subprocess_env,
        capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    assert "cannot import 'wsgi_apps.broken_import'" in done.stderr
    assert "exited before it was ready" in done.stderr


def test_an_address_in_use_fails_the_start(subprocess_env):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gohttp", APP, "--workers", "2",
             "-b", f"127.0.0.1:{port}"],
            cwd=common.GOHTTP_PATH + "/tests", env=subprocess_env,
            capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["-1", "many", "2.5"])
def test_bad_workers_value(subprocess_env, value):
    done = subprocess.run(
        [sys.executable, "-m", "gohttp", APP, "--workers", value],
        cwd=common.GOHTTP_PATH + "/tests", env=subprocess_env,
        capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2
    assert "--workers" in done.stderr and "auto" in done.stderr


SERVE_WSGI = """
import os, gohttp

def app(environ, start_response):
    start_response("200 OK", [("X-Worker-Pid", str(os.getpid()))])
    return [b"hi"]

gohttp.serve_wsgi(app, "127.0.0.1", 0, workers=2, shutdown_timeout=3)
"""


def test_serve_wsgi_with_workers(subprocess_env):
    with gohttp_command(subprocess_env, code=SERVE_WSGI) as (proc, banner):
        _, url = banner.wait()
        assert "with 2 workers" in banner.lines[-1]
        pids = pids_seen(url, 2)
        assert len(pids) == 2 and proc.pid not in pids
        assert stop(proc) == 0


def test_workers_argument_is_checked():
    import gohttp
    srv = gohttp.Server("127.0.0.1", 0)
    for bad, error in ((-1, ValueError), ("many", TypeError),
                       (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="workers must be a number of "
                                        "worker processes"):
            srv.run(workers=bad)
    with pytest.raises(ValueError, match="max_requests must be"):
        srv.run(workers=2, max_requests=0)
    assert not srv.serving


def test_run_with_workers_raises_a_gohttp_error_when_they_cannot_start(
        subprocess_env):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = ("import gohttp\n"
                "try:\n"
                f"    gohttp.run('127.0.0.1', {port}, workers=2)\n"
                "except gohttp.Error as exc:\n"
                "    print(type(exc).__name__, isinstance(exc, RuntimeError))\n")
        done = subprocess.run([sys.executable, "-c", code],
                              env=subprocess_env, capture_output=True,
                              text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "BootError True\n"
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
