#!/usr/bin/env python3
"""gohttp's benchmark: gohttp against pure Go net/http and the Python
servers users would pick, every row measured in the same run.

    make bench                        # = python3 bench/run.py
    make bench-quick                  # = run.py --bench-quick: < 3 min check
    python3 bench/run.py --quick      # smoke test: 1 round of 2 s
    python3 bench/run.py --apps       # realistic apps: Flask, Django, FastAPI
    python3 bench/run.py --rows gohttp,granian-wsgi --rounds 5
    python3 bench/run.py --callgrind  # instructions per request
    python3 bench/run.py --memory     # RSS over 1,000,000 requests
    python3 bench/run.py --tls        # HTTPS, HTTP/2 and HTTP/3 (bench/tls.py)
    python3 bench/run.py --chart-only # redraw bench/results.svg from results.md

Each row is a server process started fresh on a free loopback port,
checked to answer correctly, loaded, then stopped and checked to be gone.
Rounds are interleaved (A B C A B C ...); the table gives medians over
rounds and the ratio to pure Go measured in the same run.  The table goes
to stdout and to bench/results.md, and a chart of every ratio to
bench/results.svg (with matplotlib, when installed).  bench/README.md says how to read it.

Installs what it needs: wrk and ab (apt), the peers into bench/.venv
(bench/requirements.txt).  gohttp itself comes from the in-place build
(`make`) and runs with this python.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

# bench/tls.py (the TLS section) imports this module as "run".
sys.modules.setdefault("run", sys.modules[__name__])

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = BENCH / ".venv"
BUILD = BENCH / ".build"          # the gohello binary, server logs, dumps
GOHELLO = BUILD / "gohello"
POST_SCRIPT = BENCH / "post64k.lua"
RESULTS = BENCH / "results.md"
CHART = BENCH / "results.svg"      # req/s × Go of every row, by matplotlib
# The free-threaded CPython `make freethreaded` builds, for the gohttp-ft row.
QUICK = BUILD / "quick.md"         # make bench-quick's tables
WSBENCH = BUILD / "wsbench"        # bench/wsbench: WebSocket client + Go server
FT_PYTHON = REPO / ".cache" / "python3.13t" / "bin" / "python3.13t"

HOST = "127.0.0.1"
HELLO = b"Hello, world!"
POST_BODY = b"x" * (64 * 1024)     # what post64k.lua sends
PEERS = ["granian", "gunicorn", "uvicorn", "uvloop", "httptools", "flask",
         "websockets", "fastapi", "django", "pydantic"]

# Debian packages for the commands this script runs.
TOOLS = {"wrk": "wrk", "ab": "apache2-utils", "taskset": "util-linux"}
CALLGRIND_TOOLS = {"valgrind": "valgrind", "callgrind_control": "valgrind"}

START_TIMEOUT = 30.0     # seconds for a server to answer its first request
STOP_TIMEOUT = 10.0      # seconds after SIGTERM before SIGKILL
WARMUP = 1.0             # seconds of load before each measurement
DISTURBED = 0.25         # cores used by other processes that flag a sample


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# What to install.

def ensure_tools(tools: dict[str, str]) -> None:
    """apt-get install the packages of the commands that are missing."""
    missing = sorted({pkg for cmd, pkg in tools.items() if not shutil.which(cmd)})
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"run.py: missing {', '.join(missing)}: "
                 f"sudo apt-get install -y {' '.join(missing)}")
    log(f"installing {', '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True,
                   env=env, stdout=subprocess.DEVNULL)


def ensure_venv() -> Optional[str]:
    """Create bench/.venv with the peers of requirements.txt, once per
    change of the file or of this python.  Returns why it failed, or None."""
    requirements = BENCH / "requirements.txt"
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes()
                            + sys.version.encode()).hexdigest()
    python = VENV / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return None
    log("setting up bench/.venv (the peers, from bench/requirements.txt)")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)],
                       check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "-r",
                        str(requirements)], check=True)
    except subprocess.CalledProcessError as exc:
        return f"setting up bench/.venv failed: {exc}"
    stamp.write_text(digest)
    return None


def go_command() -> Optional[str]:
    """The go to build gohello with: $GOHTTP_GO as for the build, else PATH."""
    for candidate in (os.environ.get("GOHTTP_GO"), shutil.which("go"),
                      "/usr/local/go/bin/go"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def build_gohello(go: str) -> None:
    BUILD.mkdir(exist_ok=True)
    env = dict(os.environ, GOTOOLCHAIN="local")
    subprocess.run([go, "build", "-o", str(GOHELLO), "."],
                   cwd=BENCH / "gohello", env=env, check=True)


def build_wsbench(go: str) -> Optional[str]:
    """Build bench/wsbench (coder/websocket, from the Go module proxy on
    first use); returns why it failed, or None."""
    BUILD.mkdir(exist_ok=True)
    env = dict(os.environ, GOTOOLCHAIN="local")
    proc = subprocess.run([go, "build", "-o", str(WSBENCH), "."],
                          cwd=BENCH / "wsbench", env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return f"n/a (bench/wsbench did not build: {proc.stderr.strip()[-200:]})"
    return None


C_HANDLER = BUILD / "c_handler"     # examples/c_handler, built for gohttp-c


def build_c_handler() -> Optional[str]:
    """Build the C API's example extension (examples/c_handler/) against
    the in-place gohttp, for the gohttp-c row.  Returns why it failed, or
    None."""
    shutil.rmtree(C_HANDLER, ignore_errors=True)
    shutil.copytree(REPO / "examples" / "c_handler", C_HANDLER,
                    ignore=shutil.ignore_patterns("build", "*.so"))
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext",
                           "--inplace"], cwd=C_HANDLER, env=gohttp_env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"n/a (building examples/c_handler failed: {last})"
    return None


def c_handler_env() -> dict[str, str]:
    env = gohttp_env()
    env["PYTHONPATH"] += os.pathsep + str(C_HANDLER)
    return env


def probe_gohttp(python: str = sys.executable,
                 feature: str = "gohttp.serve_wsgi") -> tuple[Optional[str], bool]:
    """(why gohttp cannot run or None, whether it has feature, a dotted
    name), asked of a child: importing gohttp here would start a Go
    runtime in the harness."""
    module, _, name = feature.rpartition(".")
    code = (f"import gohttp, {module}; "
            f"print(hasattr({module}, {name!r}))")
    proc = subprocess.run([python, "-c", code], env=gohttp_env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"gohttp does not import ({last}): run make", False
    return None, proc.stdout.strip() == "True"


# --------------------------------------------------------------------------
# The rows.

def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def gohttp_env(*, with_venv: bool = False) -> dict[str, str]:
    """gohttp from the repo's in-place build, the apps from bench/; with
    the venv's packages after them for apps that need Flask."""
    path = [str(REPO), str(BENCH)]
    if with_venv:
        path += [str(p) for p in VENV.glob("lib/python*/site-packages")]
    return dict(clean_env(), PYTHONPATH=os.pathsep.join(path))


def venv_env() -> dict[str, str]:
    return dict(clean_env(), PYTHONPATH=str(BENCH), VIRTUAL_ENV=str(VENV),
                PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")


def static_dir() -> Path:
    """A directory whose index.html is the 13-byte hello, for the rows that
    serve GET / as a static file."""
    directory = BUILD / "static"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.html").write_bytes(HELLO)
    return directory


@dataclass
class Row:
    name: str                         # for --rows
    label: str                        # in the table
    argv: Callable[[int], list[str]]  # the server's command for a port
    env: Callable[[], dict[str, str]]
    skip: Optional[str] = None        # why it is not measured
    # Text the server's log shows once every worker is ready: a GET
    # reaches one worker, and a worker still starting holds the
    # connections the kernel gives its socket meanwhile.
    all_ready: Optional[str] = None
    # A peer's worker processes, whose supervisors log no such text:
    # the row is ready once that many distinct processes have answered
    # POST /pid (apps/wsgi_plain.py), each on a connection of its own.
    workers: int = 1


def gohttp_python() -> str:
    """The python gohttp's rows run: the venv's, which is this python
    with the same site as the peers.  (A .pth file in this python's own
    site-packages may import more at start-up: on the machines this was
    measured on, one imports certifi, 3.8 MiB of RSS that no peer pays.)"""
    venv_python = VENV / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


# What gohttp's supervisor logs once all its workers are ready.
SUPERVISOR_READY = "workers (Go net/http)"


def all_rows() -> list[Row]:
    py = gohttp_python()
    vbin = VENV / "bin"

    def granian(interface: str, app: str, *extra: str,
                workers: int = 1) -> Callable[[int], list[str]]:
        return lambda port: [str(vbin / "granian"), "--interface", interface,
                             "--host", HOST, "--port", str(port),
                             "--workers", str(workers), *extra, app]

    def gunicorn(app: str, workers: int = 1) -> Callable[[int], list[str]]:
        return lambda port: [str(vbin / "gunicorn"), "--workers",
                             str(workers), "--worker-class", "sync", "--bind",
                             f"{HOST}:{port}", "--log-level", "warning", app]

    def gohttp_wsgi(app: str, workers: int = 1) -> Callable[[int], list[str]]:
        return lambda port: [py, str(BENCH / "apps" / "gohttp_wsgi.py"),
                             app, str(port), str(workers)]

    def gohttp_asgi(app: str, loop: str = "auto") -> Callable[[int], list[str]]:
        return lambda port: [py, str(BENCH / "apps" / "gohttp_asgi.py"),
                             app, str(port), loop]

    def uvicorn(app: str) -> Callable[[int], list[str]]:
        return lambda port: [str(vbin / "uvicorn"), "--host", HOST, "--port",
                             str(port), "--no-access-log", "--log-level",
                             "warning", app]

    return [
        Row("go", "pure Go net/http",
            lambda port: [str(GOHELLO), "-addr", f"{HOST}:{port}"], clean_env),
        # What gohttp's default timeouts cost Go itself (a deadline timer
        # reset twice per request): the baseline stays the bare server.
        Row("go-timeouts", "pure Go net/http, gohttp's timeouts",
            lambda port: [str(GOHELLO), "-addr", f"{HOST}:{port}",
                          "-read-header-timeout", "10s",
                          "-idle-timeout", "120s"], clean_env),
        Row("gohttp", "gohttp native handler",
            lambda port: [py, str(BENCH / "apps" / "gohttp_native.py"),
                          str(port)], gohttp_env),
        # The same with Prometheus metrics on (metrics_bind): what
        # counting every request in Go costs.
        Row("gohttp-metrics", "gohttp native handler, metrics on",
            lambda port: [py, str(BENCH / "apps" / "gohttp_native.py"),
                          str(port), "--metrics"], gohttp_env),
        Row("gohttp-ft", "gohttp native handler, free-threaded 3.13t",
            lambda port: [str(FT_PYTHON), str(BENCH / "apps" / "gohttp_native.py"),
                          str(port)], gohttp_env),
        Row("gohttp-c", "gohttp C handler (C API)",
            lambda port: [py, str(BENCH / "apps" / "gohttp_c.py"),
                          str(port)], c_handler_env),
        Row("go-static", "pure Go static file",
            lambda port: [str(GOHELLO), "-addr", f"{HOST}:{port}",
                          "-static", str(static_dir())], clean_env),
        Row("gohttp-static", "gohttp static file (srv.static)",
            lambda port: [py, str(BENCH / "apps" / "gohttp_static.py"),
                          str(port), str(static_dir())], gohttp_env),
        Row("gohttp-wsgi", "gohttp WSGI",
            gohttp_wsgi("apps.wsgi_plain:app"), gohttp_env),
        Row("gohttp-wsgi-flask", "gohttp WSGI + Flask",
            gohttp_wsgi("apps.wsgi_flask:app"),
            lambda: gohttp_env(with_venv=True)),
        Row("granian-wsgi", "granian WSGI",
            granian("wsgi", "apps.wsgi_plain:app"), venv_env),
        Row("granian-wsgi-bt1", "granian WSGI --blocking-threads 1",
            granian("wsgi", "apps.wsgi_plain:app", "--blocking-threads", "1"),
            venv_env),
        Row("granian-rsgi", "granian RSGI",
            granian("rsgi", "apps.rsgi_plain:app"), venv_env),
        Row("gunicorn", "gunicorn sync", gunicorn("apps.wsgi_plain:app"),
            venv_env),
        Row("gunicorn-flask", "gunicorn sync + Flask",
            gunicorn("apps.wsgi_flask:app"), venv_env),
        # Two worker processes each: the supervisors' own ways.  Pure Go
        # first, as two SO_REUSEPORT processes with GOMAXPROCS split as
        # gohttp's supervisor splits it: what two processes cost on this
        # machine whoever serves.
        Row("go-2p", "pure Go net/http, 2 processes",
            lambda port: [str(GOHELLO), "-addr", f"{HOST}:{port}",
                          "-procs", "2"], clean_env),
        Row("gohttp-w2", "gohttp native handler, 2 workers",
            lambda port: [py, str(BENCH / "apps" / "gohttp_native.py"),
                          str(port), "2"], gohttp_env,
            all_ready=SUPERVISOR_READY),
        Row("gohttp-wsgi-w2", "gohttp WSGI, 2 workers",
            gohttp_wsgi("apps.wsgi_plain:app", workers=2), gohttp_env,
            all_ready=SUPERVISOR_READY),
        Row("granian-wsgi-w2", "granian WSGI --workers 2",
            granian("wsgi", "apps.wsgi_plain:app", workers=2), venv_env,
            workers=2),
        Row("gunicorn-w2", "gunicorn sync -w 2",
            gunicorn("apps.wsgi_plain:app", workers=2), venv_env,
            workers=2),
        # The same raw ASGI callable on each ASGI server, each in its
        # default configuration: gohttp and uvicorn on uvloop (installed
        # in the venv), uvicorn with httptools.
        Row("gohttp-asgi", "gohttp ASGI",
            gohttp_asgi("apps.asgi_plain:app"), gohttp_env),
        Row("gohttp-asgi-asyncio", "gohttp ASGI, asyncio loop",
            gohttp_asgi("apps.asgi_plain:app", "asyncio"), gohttp_env),
        Row("granian-asgi", "granian ASGI",
            granian("asgi", "apps.asgi_plain:app"), venv_env),
        Row("uvicorn", "uvicorn ASGI",
            uvicorn("apps.asgi_plain:app"), venv_env),
        # The same through FastAPI: what a framework leaves of the gap.
        Row("gohttp-fastapi", "gohttp ASGI + FastAPI",
            gohttp_asgi("apps.asgi_fastapi:app"),
            lambda: gohttp_env(with_venv=True)),
        Row("uvicorn-fastapi", "uvicorn ASGI + FastAPI",
            uvicorn("apps.asgi_fastapi:app"), venv_env),
    ]


def mark_skips(rows: list[Row], venv_error: Optional[str]) -> None:
    gohttp_error, has_wsgi = probe_gohttp()
    for row in rows:
        if row.name == "gohttp-ft":
            if not FT_PYTHON.exists():
                row.skip = "n/a (no free-threaded CPython: make freethreaded)"
            elif probe_gohttp(str(FT_PYTHON))[0]:
                row.skip = ("n/a (gohttp not built for it: "
                            "make all PYTHON=.cache/python3.13t/bin/python3.13t)")
        elif row.name.startswith("gohttp"):
            if gohttp_error:
                row.skip = f"n/a ({gohttp_error})"
            elif "wsgi" in row.name and not has_wsgi:
                row.skip = "n/a (no WSGI adapter yet)"
        needs_venv = row.env is venv_env or row.name in (
            "gohttp-wsgi-flask", "gohttp-fastapi")
        if needs_venv and not row.skip:
            if venv_error:
                row.skip = f"n/a ({venv_error})"
            elif row.env is venv_env and not Path(row.argv(0)[0]).exists():
                row.skip = f"n/a ({Path(row.argv(0)[0]).name} not installed)"


def ws_rows() -> list[Row]:
    """The WebSocket rows: each serves GET / (the readiness check) and
    echoes every message of a WebSocket to /ws."""
    py = gohttp_python()
    vbin = VENV / "bin"
    return [
        Row("ws-go", "pure Go net/http + coder/websocket",
            lambda port: [str(WSBENCH), "-mode", "serve",
                          "-addr", f"{HOST}:{port}"], clean_env),
        Row("ws-gohttp", "gohttp native WebSocket (async def)",
            lambda port: [py, str(BENCH / "apps" / "gohttp_ws.py"),
                          str(port), "off"], gohttp_env),
        Row("ws-gohttp-asgi", "gohttp ASGI WebSocket",
            lambda port: [py, str(BENCH / "apps" / "gohttp_asgi.py"),
                          "apps.asgi_ws:app", str(port)], gohttp_env),
        Row("ws-uvicorn", "uvicorn ASGI, --ws websockets",
            lambda port: [str(vbin / "uvicorn"), "--host", HOST, "--port",
                          str(port), "--ws", "websockets", "--no-access-log",
                          "--log-level", "warning", "apps.asgi_ws:app"],
            venv_env),
        Row("ws-granian", "granian ASGI",
            lambda port: [str(vbin / "granian"), "--interface", "asgi",
                          "--host", HOST, "--port", str(port),
                          "--workers", "1", "apps.asgi_ws:app"], venv_env),
    ]


def mark_ws_skips(rows: list[Row], venv_error: Optional[str],
                  wsbench_error: Optional[str]) -> None:
    gohttp_error, has_ws = probe_gohttp(feature="gohttp.asgi.route_websocket")
    for row in rows:
        if wsbench_error:
            row.skip = wsbench_error     # the client of every row
        elif row.name.startswith("ws-gohttp"):
            if gohttp_error:
                row.skip = f"n/a ({gohttp_error})"
            elif not has_ws:
                row.skip = "n/a (no WebSocket core in this build)"
        elif row.env is venv_env:
            if venv_error:
                row.skip = f"n/a ({venv_error})"
            elif not Path(row.argv(0)[0]).exists():
                row.skip = f"n/a ({Path(row.argv(0)[0]).name} not installed)"


# --------------------------------------------------------------------------
# Starting and stopping a server, for real.

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True if nothing listens on port (TIME_WAIT sockets do not count:
    every server here binds with SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def session_pids(sid: int) -> list[int]:
    """The live processes of session sid: a server and every process it
    forked (gunicorn's and granian's workers), however reparented; and
    the children of sid, which gohttp's workers are (each in a session of
    its own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        # fields: state ppid pgrp session ...
        if fields[0] != "Z" and sid in (int(fields[3]), int(fields[1])):
            pids.append(int(entry))
    return pids


def rss_mib(sid: int) -> float:
    """The summed VmRSS of the server's process tree, in MiB."""
    total_kib = 0
    for pid in session_pids(sid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        if m:
            total_kib += int(m.group(1))
    return total_kib / 1024


def busy_jiffies() -> int:
    """CPU time spent by all processes (user + nice + system), in clock
    ticks, from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def session_jiffies(sid: int) -> int:
    """CPU time of the live processes of session sid, in clock ticks."""
    total = 0
    for pid in session_pids(sid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])     # utime stime
    return total


def children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class OtherLoad:
    """Measures how many cores processes other than the server and the
    load generator used over a window: on a shared machine, a round
    that another job disturbed can then be told from a slow server."""

    def __init__(self, sid: int) -> None:
        self.sid = sid
        self.hz = os.sysconf("SC_CLK_TCK")
        self.t0 = time.monotonic()
        self.busy0 = busy_jiffies()
        self.server0 = session_jiffies(sid)
        self.client0 = children_seconds()

    def cores(self) -> float:
        elapsed = time.monotonic() - self.t0
        busy = (busy_jiffies() - self.busy0) / self.hz
        server = (session_jiffies(self.sid) - self.server0) / self.hz
        client = children_seconds() - self.client0
        return max(0.0, busy - server - client) / elapsed


def http_request(port: int, method: str = "GET", path: str = "/",
                 body: Optional[bytes] = None,
                 timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Server:
    """One server process, in its own session so that Ctrl-C on the
    harness does not reach it and its whole tree can be signalled."""

    def __init__(self, row: Row, port: int, prefix: list[str],
                 logfile: Path, start_timeout: float = START_TIMEOUT,
                 extra_env: Optional[dict[str, str]] = None) -> None:
        self.row = row
        self.port = port
        self.logfile = logfile
        logfile.parent.mkdir(parents=True, exist_ok=True)
        with open(logfile, "ab") as f:
            f.write(f"\n==== {datetime.datetime.now():%H:%M:%S} "
                    f"{row.name} port {port}\n".encode())
        self._log = open(logfile, "ab")
        self._log_start = self._log.tell()
        self.proc = subprocess.Popen(
            [*prefix, *row.argv(port)], cwd=BENCH,
            env=dict(row.env(), **(extra_env or {})),
            stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.row.name} exited with status "
                                   f"{self.proc.returncode}: {self.tail()}")
            try:
                status, body = self._get_root()
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                time.sleep(0.05)
                continue
            if status != 200 or body != HELLO:
                raise RuntimeError(f"{self.row.name}: GET / answered "
                                   f"{status} {body[:40]!r}, not 200 {HELLO!r}")
            if self.row.all_ready and not self._logged(self.row.all_ready):
                last = "not every worker ready"
                time.sleep(0.05)
                continue
            if self.row.workers > 1 and not self._every_worker_answers(
                    deadline):
                last = "not every worker answered POST /pid"
                continue
            return
        raise RuntimeError(f"{self.row.name} did not answer within "
                           f"{timeout:g}s ({last}): {self.tail()}")

    def _every_worker_answers(self, deadline: float) -> bool:
        """Whether row.workers distinct processes answer POST /pid before
        deadline.  A new connection each time: the kernel gives it to
        whichever worker accepts first, and a worker still starting
        accepts none."""
        pids: set[bytes] = set()
        while time.monotonic() < deadline:
            try:
                status, body = http_request(self.port, "POST", "/pid", b"")
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
                continue
            if status != 200 or not body.isdigit():
                raise RuntimeError(f"{self.row.name}: POST /pid answered "
                                   f"{status} {body[:40]!r}, not a pid")
            pids.add(body)
            if len(pids) >= self.row.workers:
                return True
            time.sleep(0.01)
        return False

    def _logged(self, text: str) -> bool:
        """Whether the server has logged text since it started."""
        self._log.flush()
        with open(self.logfile, "rb") as f:
            f.seek(self._log_start)
            return text.encode() in f.read()

    def _get_root(self) -> tuple[int, bytes]:
        """GET / of the server, as _wait_ready asks until it answers."""
        return http_request(self.port)

    def echo_works(self) -> bool:
        try:
            status, body = http_request(self.port, "POST", "/echo",
                                        POST_BODY, timeout=10)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200 and body == POST_BODY

    def rss_mib(self) -> float:
        return rss_mib(self.pid)

    def tail(self, lines: int = 5) -> str:
        self._log.flush()
        text = self.logfile.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL what is left after
        STOP_TIMEOUT, then wait until no process of the session is alive
        and nothing listens on the port."""
        try:
            if self.proc.poll() is None:
                self._signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    log(f"  {self.row.name}: no exit {STOP_TIMEOUT:g}s after "
                        f"SIGTERM: SIGKILL")
                    self._signal(signal.SIGKILL)
                    self.proc.wait()
            deadline = time.monotonic() + STOP_TIMEOUT
            while session_pids(self.pid):          # workers of a master
                if time.monotonic() > deadline:
                    for pid in session_pids(self.pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                time.sleep(0.05)
            deadline = time.monotonic() + STOP_TIMEOUT
            while not port_is_free(self.port):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"port {self.port} still in use after "
                                       f"{self.row.name} stopped")
                time.sleep(0.05)
        finally:
            self._log.close()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------
# The load generators.

@dataclass
class Sample:
    rps: float
    p50_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    rss_mib: Optional[float] = None
    errors: str = ""
    other_cpu: Optional[float] = None   # cores used by other processes
    round: int = 0                      # the round it was measured in


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(out: str) -> Sample:
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not m:
        raise RuntimeError(f"no Requests/sec in wrk's output: {out!r}")
    lat = {pct: float(v) * _UNITS_MS[unit] for pct, v, unit in
           re.findall(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    errors = []
    m_sock = re.search(r"Socket errors: connect (\d+), read (\d+), "
                       r"write (\d+), timeout (\d+)", out)
    if m_sock:
        kinds = ("connect", "read", "write", "timeout")
        errors += [f"{n} {k}" for k, n in zip(kinds, m_sock.groups())
                   if n != "0"]
    m_bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m_bad:
        errors.append(f"{m_bad.group(1)} non-2xx")
    return Sample(float(m.group(1)), lat.get("50"), lat.get("99"),
                  errors=", ".join(errors))


def parse_ab(out: str) -> Sample:
    m = re.search(r"Requests per second:\s*([\d.]+)", out)
    if not m:
        raise RuntimeError(f"no Requests per second in ab's output: {out!r}")
    errors = []
    failed = re.search(r"Failed requests:\s*(\d+)", out)
    if failed and failed.group(1) != "0":
        errors.append(f"{failed.group(1)} failed")
    bad = re.search(r"Non-2xx responses:\s*(\d+)", out)
    if bad:
        errors.append(f"{bad.group(1)} non-2xx")
    return Sample(float(m.group(1)), errors=", ".join(errors))


def run_client(argv: list[str], timeout: float) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc.stdout


@dataclass
class Workload:
    name: str       # for the notes
    title: str      # column title
    path: str
    measure: Callable[[list[str], str, "Settings"], Sample]


@dataclass
class Settings:
    duration: float
    ab_requests: int


def wrk_args(script: Optional[Path]) -> list[str]:
    return ["-s", str(script)] if script else []


def wrk_workload(script: Optional[Path]) -> Callable[[list[str], str, Settings], Sample]:
    def measure(client: list[str], url: str, s: Settings) -> Sample:
        run_client([*client, "wrk", "-t2", "-c50", f"-d{WARMUP:g}s",
                    *wrk_args(script), url], timeout=WARMUP + 30)
        out = run_client([*client, "wrk", "-t2", "-c50", f"-d{s.duration:g}s",
                          "--latency", *wrk_args(script), url],
                         timeout=s.duration + 30)
        return parse_wrk(out)
    return measure


def ab_measure(client: list[str], url: str, s: Settings) -> Sample:
    run_client([*client, "ab", "-q", "-r", "-c", "10", "-t", f"{WARMUP:g}",
                url], timeout=WARMUP + 60)
    out = run_client([*client, "ab", "-q", "-r", "-n", str(s.ab_requests),
                      "-c", "10", url], timeout=300)
    return parse_ab(out)


WORKLOADS = {
    "get": Workload("GET, wrk keep-alive", "GET req/s", "/",
                    wrk_workload(None)),
    "ab": Workload("GET, ab -c 10 no keep-alive", "ab req/s", "/", ab_measure),
    "post": Workload("POST 64 KiB echo, wrk keep-alive", "POST 64K req/s",
                     "/echo", wrk_workload(POST_SCRIPT)),
}


# --------------------------------------------------------------------------
# The run: rounds of every row, interleaved.

@dataclass
class Mode:
    name: str                  # "unpinned" / "pinned"
    title: str
    server_prefix: list[str]
    client_prefix: list[str]
    workloads: list[str]
    # results[row][workload] = samples, one a round
    results: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)


def measure_row(mode: Mode, row: Row, settings: Settings,
                round_no: int) -> None:
    port = free_port()
    logfile = BUILD / "logs" / f"{mode.name}-{row.name}.log"
    results = mode.results.setdefault(row.name, {})
    failures = mode.failures.setdefault(row.name, [])
    try:
        server = Server(row, port, mode.server_prefix, logfile)
    except RuntimeError as exc:
        failures.append(f"start: {exc}")
        log(f"  {row.name}: FAILED to start: {exc}")
        return
    parts = []
    try:
        for key in mode.workloads:
            work = WORKLOADS[key]
            if key == "post" and not server.echo_works():
                failures.append("POST /echo did not echo the 64 KiB body")
                continue
            other = OtherLoad(server.pid)
            try:
                sample = work.measure(mode.client_prefix,
                                      f"http://{HOST}:{port}{work.path}",
                                      settings)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                failures.append(f"{work.name}: {exc}")
                continue
            sample.other_cpu = other.cores()
            sample.round = round_no
            if key == "get":
                sample.rss_mib = server.rss_mib()
            if server.proc.poll() is not None:
                failures.append(f"{work.name}: the server died: "
                                f"{server.tail()}")
                break
            results.setdefault(key, []).append(sample)
            extra = f" p99 {sample.p99_ms:.2f} ms" if sample.p99_ms else ""
            parts.append(f"{key} {sample.rps:,.0f}/s{extra}"
                         + (f" [{sample.errors}]" if sample.errors else "")
                         + f" (others {sample.other_cpu:.2f} cores)")
    finally:
        server.stop()
    log(f"  {row.name}: {'; '.join(parts)}")


def run_benchmark(args: argparse.Namespace, rows: list[Row]) -> list[Mode]:
    settings = Settings(args.duration, args.ab_requests)
    modes = []
    if args.pin in ("off", "both"):
        modes.append(Mode("unpinned", "Unpinned: server and load generator "
                          "share both cores", [], [], args.workloads))
    if args.pin in ("on", "both"):
        modes.append(Mode("pinned", "Pinned: server on core 0 "
                          "(`taskset -c 0`), load generator on core 1",
                          ["taskset", "-c", "0"], ["taskset", "-c", "1"],
                          args.pinned_workloads))
    live = [row for row in rows if not row.skip]
    for r in range(args.rounds):
        for mode in modes:
            log(f"round {r + 1}/{args.rounds}, {mode.name}")
            for row in live:
                measure_row(mode, row, settings, r + 1)
    return modes


# --------------------------------------------------------------------------
# WebSockets: echo messages per second, and memory per idle connection.

def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (servers
    and clients started after inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def parse_wsbench(out: str) -> Sample:
    m = re.search(r"rate ([\d.]+) p50_ms ([\d.]+) p99_ms ([\d.]+) "
                  r"errors (\d+)", out)
    if not m:
        raise RuntimeError(f"wsbench said: {out.strip()[-300:]!r}")
    errors = f"{m.group(4)} connections failed" if m.group(4) != "0" else ""
    return Sample(float(m.group(1)), float(m.group(2)), float(m.group(3)),
                  errors=errors)


def ws_echo(port: int, clients: int, duration: float,
            warmup: float = WARMUP) -> Sample:
    out = run_client([str(WSBENCH), "-mode", "echo", "-url",
                      f"ws://{HOST}:{port}/ws", "-c", str(clients),
                      "-d", f"{duration:g}s", "-warmup", f"{warmup:g}s",
                      "-size", str(WS_MESSAGE)],
                     timeout=duration + warmup + 60)
    return parse_wsbench(out)


WS_MESSAGE = 16       # bytes of each echoed message


@dataclass
class IdleMemory:
    opened: int
    empty_mib: float
    open_mib: float

    @property
    def kib_each(self) -> float:
        return (self.open_mib - self.empty_mib) * 1024 / max(self.opened, 1)


def ws_idle(row: Row, count: int) -> IdleMemory:
    """Open count WebSockets to a fresh server of row and leave them
    idle: the server's RSS with them open, over its RSS before (after a
    short echo, so that what the first connection loads is not counted)."""
    server = Server(row, free_port(), [], BUILD / "logs" /
                    f"websocket-idle-{row.name}.log")
    try:
        ws_echo(server.port, 4, 1.0, 0.5)
        time.sleep(1.0)
        empty = server.rss_mib()
        client = subprocess.Popen(
            [str(WSBENCH), "-mode", "idle", "-url",
             f"ws://{HOST}:{server.port}/ws", "-c", str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            assert client.stdout is not None and client.stdin is not None
            line = ""
            ready, _, _ = select.select([client.stdout], [], [], 300)
            if ready:
                line = client.stdout.readline()
            m = re.match(r"open (\d+) errors (\d+)", line)
            if not m:
                raise RuntimeError(f"wsbench idle: {line!r}")
            time.sleep(2.0)                 # let the server settle
            full = server.rss_mib()
            if server.proc.poll() is not None:
                raise RuntimeError(f"the server died: {server.tail()}")
            client.stdin.close()
            client.wait(120)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        return IdleMemory(int(m.group(1)), empty, full)
    finally:
        server.stop()


def run_websocket(args: argparse.Namespace, rows: list[Row]) -> str:
    started = time.monotonic()
    limit = raise_fd_limit()
    idle_count = max(0, min(args.ws_idle, limit - 1000))
    mode = Mode("websocket", "", [], [], ["echo"])
    live = [row for row in rows if not row.skip]
    for r in range(args.rounds):
        log(f"websocket round {r + 1}/{args.rounds}")
        for row in live:
            results = mode.results.setdefault(row.name, {})
            failures = mode.failures.setdefault(row.name, [])
            try:
                server = Server(row, free_port(), [], BUILD / "logs" /
                                f"websocket-{row.name}.log")
            except RuntimeError as exc:
                failures.append(f"start: {exc}")
                log(f"  {row.name}: FAILED to start: {exc}")
                continue
            try:
                other = OtherLoad(server.pid)
                sample = ws_echo(server.port, args.ws_clients, args.duration)
                sample.other_cpu = other.cores()
                sample.rss_mib = server.rss_mib()
                sample.round = r + 1
                results.setdefault("echo", []).append(sample)
                log(f"  {row.name}: {sample.rps:,.0f} messages/s, p99 "
                    f"{sample.p99_ms:.2f} ms (others {sample.other_cpu:.2f})")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                failures.append(f"echo: {exc}")
                log(f"  {row.name}: echo FAILED: {exc}")
            finally:
                server.stop()
    idle: dict[str, IdleMemory] = {}
    if idle_count:
        for row in live:
            log(f"websocket idle: {row.name}, {idle_count:,} connections")
            try:
                idle[row.name] = found = ws_idle(row, idle_count)
                log(f"  {row.name}: {found.empty_mib:.1f} -> "
                    f"{found.open_mib:.1f} MiB, {found.kib_each:.1f} KiB "
                    f"each")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                mode.failures.setdefault(row.name, []).append(
                    f"idle: {exc}")
                log(f"  {row.name}: idle FAILED: {exc}")
    return websocket_report(args, rows, mode, idle, idle_count,
                            time.monotonic() - started)


def websocket_report(args: argparse.Namespace, rows: list[Row], mode: Mode,
                     idle: dict[str, IdleMemory], idle_count: int,
                     elapsed: float) -> str:
    out = ["## WebSockets", ""]
    out += machine_header()
    out.append(tools_header())
    out.append(f"- echo: `bench/wsbench` (Go, coder/websocket, no "
               f"compression offered) keeps {args.ws_clients} WebSockets, "
               f"each sending a {WS_MESSAGE}-byte text message and awaiting "
               f"its echo, again and again; counted for {args.duration:g} s "
               f"after {WARMUP:g} s; {args.rounds} round(s) interleaved, a "
               f"fresh server each; the whole section took "
               f"{elapsed / 60:.1f} min")
    out.append(f"- idle: {idle_count:,} WebSockets opened to a fresh "
               f"server and left idle; KiB/conn is (RSS open − RSS "
               f"empty) / connections, RSS empty measured after a short "
               f"echo")
    if args.quick:
        out.append("- **--quick smoke test: not a measurement to compare**")
    out += ["", "Medians over rounds.  × Go: the row's messages/s over pure "
            "Go's in the same run; rounds × Go: its lowest and highest in "
            "one round.  RSS: the server's process tree after the echo.", ""]
    head = ["server", "messages/s", "× Go", "rounds × Go", "spread",
            "p50 ms", "p99 ms", "RSS MiB", "others", "idle conns",
            "RSS empty MiB", "RSS open MiB", "KiB/conn"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|"]
    base = mode.results.get("ws-go", {}).get("echo", [])
    go_rate = med([s.rps for s in base])
    notes: list[str] = []
    disturbed: list[str] = []
    for row in rows:
        if row.skip:
            lines.append("| " + " | ".join([row.label, row.skip]
                                           + [""] * (len(head) - 2)) + " |")
            continue
        samples = mode.results.get(row.name, {}).get("echo", [])
        rate = med([s.rps for s in samples])
        ratio = rate / go_rate if rate and go_rate else None
        spread = ((max(s.rps for s in samples) - min(s.rps for s in samples))
                  / rate * 100 if rate and len(samples) > 1 else None)
        found = idle.get(row.name)
        lines.append("| " + " | ".join([
            row.label, fmt(rate, ",.0f"),
            fmt(ratio, ".2f") + ("×" if ratio else ""),
            round_ratios(samples, base),
            fmt(spread, ".0f") + ("%" if spread is not None else ""),
            fmt(med([s.p50_ms for s in samples]), ".2f"),
            fmt(med([s.p99_ms for s in samples]), ".2f"),
            fmt(med([s.rss_mib for s in samples]), ".1f"),
            fmt(med([s.other_cpu for s in samples]), ".2f"),
            f"{found.opened:,}" if found else "–",
            fmt(found.empty_mib if found else None, ".1f"),
            fmt(found.open_mib if found else None, ".1f"),
            fmt(found.kib_each if found else None, ".1f"),
        ]) + " |")
        notes += [f"{row.label}, round {s.round}: {s.errors}"
                  for s in samples if s.errors]
        busy = [f"r{s.round} {s.other_cpu:.2f}" for s in samples
                if s.other_cpu is not None and s.other_cpu > DISTURBED]
        if busy:
            disturbed.append(f"{row.label}: {', '.join(busy)}")
        notes += [f"{row.label}: {f}" for f in mode.failures.get(row.name, [])]
    out += lines
    if notes:
        out += ["", "Errors reported during the run:", ""]
        out += [f"- {n}" for n in notes]
    if disturbed:
        out += ["", f"Echo measurements during which other processes used "
                f"more than {DISTURBED:g} of a core (round, cores):", ""]
        out += [f"- {d}" for d in disturbed]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# The report.

def version_of(argv: list[str], pattern: str = r"(.+)") -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(pattern, proc.stdout + proc.stderr)
    return m.group(1).strip() if m else "?"


def source_state() -> tuple[str, bool]:
    """The commit checked out, and whether go/, ext/ or gohttp/ differ
    from it."""
    commit = version_of(["git", "-C", str(REPO), "rev-parse", "--short",
                         "HEAD"])
    changed = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                              "--", "go", "ext", "gohttp"],
                             capture_output=True, text=True).stdout.strip()
    return commit, bool(changed)


# The source state when the run began, which is what it measures (make
# bench builds first): an edit made while it runs does not change it.
SOURCE_STATE: Optional[tuple[str, bool]] = None


def machine_header() -> list[str]:
    cpu = "?"
    try:
        m = re.search(r"^model name\s*:\s*(.+)$",
                      Path("/proc/cpuinfo").read_text(), re.M)
        cpu = m.group(1).strip() if m else "?"
    except OSError:
        pass
    go = go_command()
    commit, changed = SOURCE_STATE or source_state()
    now = datetime.datetime.now().astimezone()
    return [
        f"- date: {now:%Y-%m-%d %H:%M %Z}",
        f"- machine: {os.cpu_count()} CPUs (nproc), {cpu}; "
        f"kernel {platform.release()}; load average at the end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- gohttp: {commit}{' with uncommitted changes' if changed else ''}"
        f", Python {platform.python_version()}"
        f", {version_of([go, 'version'], r'(go[0-9.]+)') if go else 'no Go'}",
    ]


def tools_header() -> str:
    wrk = version_of(["wrk", "-v"], r"wrk (\S+)")
    ab = version_of(["ab", "-V"], r"Version (\S+)")
    code = ("import importlib.metadata as m\n"
            f"for p in {PEERS!r}:\n"
            "    try: print(p, m.version(p))\n"
            "    except Exception: print(p, '-')\n")
    peers = version_of([str(VENV / "bin" / "python"), "-c", code], r"([\s\S]+)")
    peers = ", ".join(peers.splitlines())
    return f"- wrk {wrk}, ab {ab}; peers: {peers}"


def med(values: list[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt(value: Optional[float], spec: str) -> str:
    return "–" if value is None else format(value, spec)


def round_ratios(samples: list[Sample], go: list[Sample]) -> str:
    """The lowest and highest of the row's req/s over pure Go's in the
    same round: how far one round's ratio may be from the median's."""
    go_rps = {s.round: s.rps for s in go}
    ratios = [s.rps / go_rps[s.round] for s in samples
              if go_rps.get(s.round)]
    if len(ratios) < 2:
        return "–"
    return f"{min(ratios):.2f}–{max(ratios):.2f}"


def mode_table(mode: Mode, rows: list[Row]) -> list[str]:
    base = mode.results.get("go", {})
    head = ["server"]
    for key in mode.workloads:
        head += [WORKLOADS[key].title, "× Go"]
        if key == "get":
            head += ["rounds × Go", "spread", "p50 ms", "p99 ms", "RSS MiB", "others"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|"]
    notes: list[str] = []
    disturbed: dict[str, dict[str, list[str]]] = {}   # row: workload: rounds
    for row in rows:
        if row.skip:
            cells = [row.label, row.skip] + [""] * (len(head) - 2)
            lines.append("| " + " | ".join(cells) + " |")
            continue
        cells = [row.label]
        results = mode.results.get(row.name, {})
        for key in mode.workloads:
            samples = results.get(key, [])
            rps = med([s.rps for s in samples])
            go_rps = med([s.rps for s in base.get(key, [])])
            ratio = rps / go_rps if rps and go_rps else None
            cells += [fmt(rps, ",.0f"), fmt(ratio, ".2f") + ("×" if ratio else "")]
            if key == "get":
                cells.append(round_ratios(samples, base.get(key, [])))
                spread = ((max(s.rps for s in samples) - min(s.rps for s in samples))
                          / rps * 100 if rps and len(samples) > 1 else None)
                cells += [fmt(spread, ".0f") + ("%" if spread is not None else ""),
                          fmt(med([s.p50_ms for s in samples]), ".2f"),
                          fmt(med([s.p99_ms for s in samples]), ".2f"),
                          fmt(med([s.rss_mib for s in samples]), ".1f"),
                          fmt(med([s.other_cpu for s in samples]), ".2f")]
            for i, s in enumerate(samples):
                if s.errors:
                    notes.append(f"{row.label}, {WORKLOADS[key].name}, "
                                 f"round {i + 1}: {s.errors}")
                if s.other_cpu is not None and s.other_cpu > DISTURBED:
                    disturbed.setdefault(row.label, {}).setdefault(
                        key, []).append(f"r{i + 1} {s.other_cpu:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
        notes += [f"{row.label}: {f}" for f in mode.failures.get(row.name, [])]
    if notes:
        lines += ["", "Errors reported during the run:", ""]
        lines += [f"- {n}" for n in notes]
    if disturbed:
        lines += ["", f"Measurements during which other processes used more "
                  f"than {DISTURBED:g} of a core (round, cores):", ""]
        lines += [f"- {label}: " + "; ".join(f"{key} {', '.join(rounds)}"
                                             for key, rounds in by_key.items())
                  for label, by_key in disturbed.items()]
    return lines


def throughput_report(args: argparse.Namespace, rows: list[Row],
                      modes: list[Mode], elapsed: float) -> str:
    out = ["## Throughput", ""]
    out += machine_header()
    out.append(tools_header())
    out.append(f"- settings: {args.rounds} round(s) interleaved, wrk "
               f"`-t2 -c50 -d{args.duration:g}s --latency` after "
               f"{WARMUP:g} s of warm-up, `ab -n {args.ab_requests} -c 10`, "
               f"1 worker per server; the whole run took "
               f"{elapsed / 60:.1f} min")
    if args.quick:
        out.append("- **--quick smoke test: not a measurement to compare**")
    out.append("")
    out.append("Medians over rounds.  × Go: the row's req/s over pure Go "
               "net/http's in the same table.  rounds × Go: the lowest and "
               "the highest of the row's GET req/s over pure Go's in the "
               "same round.  spread: (max − min) / median of the GET req/s "
               "over rounds.  RSS: the server's process tree after the GET "
               "run.  others: cores used by processes other than the server "
               "and the load generator during the GET run (another job on a "
               "shared machine).")
    for mode in modes:
        out += ["", f"### {mode.title}", ""]
        out += mode_table(mode, rows)
    return "\n".join(out) + "\n"


def write_section(name: str, text: str, path: Path) -> None:
    """Replace one run.py section of results.md, keeping the others."""
    begin, end = f"<!-- run.py: {name} -->", f"<!-- /run.py: {name} -->"
    block = f"{begin}\n{text}{end}\n"
    old = path.read_text() if path.exists() else (
        "# gohttp benchmark results\n\nWritten by `bench/run.py`; "
        "`bench/README.md` says how to run and read them.\n\n")
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?",
                         re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old)
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)


# --------------------------------------------------------------------------
# The chart: every × Go of the throughput tables, drawn from the markdown
# they are written as, so that --chart-only redraws it from results.md.

@dataclass
class Panel:
    """One × Go column of one table: a bar per row."""
    title: str
    ratios: dict[str, Optional[float]]                # row label: ratio
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class Chart:
    run: str                  # "commit c1de78c, 2026-12-01 19:41 UTC"
    machine: str
    rows: list[str]           # row labels in table order
    panels: list[Panel]


# The chart's name for a workload column of the table.
_PANEL_TITLES = {"GET": "GET, keep-alive (wrk)",
                 "ab": "GET, a connection each (ab)",
                 "POST 64K": "POST 64 KiB echoed (wrk)"}


def _ratio(cell: str) -> Optional[float]:
    m = re.fullmatch(r"([0-9.]+)×", cell.strip())
    return float(m.group(1)) if m else None


def parse_throughput(text: str) -> Chart:
    """The × Go columns of every table in text: a throughput section
    (throughput_report's text), or the sections of results.md that the
    chart shows (chart_sections)."""
    def header(key: str) -> str:
        m = re.search(rf"^- {key}: (.+)$", text, re.M)
        return m.group(1).strip() if m else "?"

    commit = header("gohttp").split(",")[0]
    machine = header("machine").split(";")[0]
    rows: list[str] = []
    panels: list[Panel] = []
    # A table: a "### " title, maybe some prose, then the first table.
    for m in re.finditer(r"^### (.+?)\n(?:(?!### |\|).*\n)*((?:\|.*\n?)+)",
                         text, re.M):
        mode = m.group(1).split(":")[0]
        lines = [line.strip().strip("|").split("|")
                 for line in m.group(2).splitlines()]
        head = [cell.strip() for cell in lines[0]]
        body = [[cell.strip() for cell in line] for line in lines[2:]]
        for label in (line[0] for line in body):
            if label not in rows:
                rows.append(label)
        for i, name in enumerate(head):
            if name != "× Go":
                continue
            what = next(cell for cell in reversed(head[:i])
                        if cell.endswith("req/s"))[:-len("req/s")].strip()
            title = mode.split(" (`")[0]
            if title[1:2].islower():          # "Unpinned", not "HTTP/2"
                title = title[:1].lower() + title[1:]
            title = textwrap.fill(title, 30)
            if what:
                title = f"{_PANEL_TITLES.get(what, what)}\n{title}"
            panel = Panel(title, {})
            spread = (i + 1 if i + 1 < len(head)
                      and head[i + 1] == "rounds × Go" else None)
            for line in body:
                cells = line + [""] * (len(head) - len(line))
                panel.ratios[line[0]] = _ratio(cells[i])
                lo, dash, hi = (cells[spread].partition("–") if spread
                                else ("", "", ""))
                if dash and lo and hi:
                    panel.ranges[line[0]] = (float(lo), float(hi))
            panels.append(panel)
    if not panels:
        raise ValueError("no throughput table with a × Go column found")
    # GET of every mode side by side, then the other workloads.
    panels.sort(key=lambda p: not p.title.startswith(_PANEL_TITLES["GET"]))
    return Chart(f"gohttp {commit}, {header('date')}", machine, rows, panels)


# The sections of results.md whose × Go columns the chart shows, in order.
CHART_SECTIONS = ("throughput", "tls", "apps")


def chart_sections(path: Path) -> str:
    """The sections of results.md that the chart shows, the throughput
    section first (its header names the run)."""
    text = path.read_text()
    found = [m.group(1) for name in CHART_SECTIONS
             if (m := re.search(rf"<!-- run\.py: {name} -->\n(.*?)"
                                rf"<!-- /run\.py: {name} -->", text, re.S))]
    if found:
        return "".join(found)
    if text.startswith("## "):   # sections alone, without the markers
        return text
    raise ValueError(f"{path} has no section the chart shows: run `make "
                     f"bench` first")


def _bar_color(label: str) -> str:
    if label.startswith("pure Go"):
        return "#9e9e9e"
    return "#1f77b4" if label.startswith("gohttp") else "#ff7f0e"


def draw_chart(chart: Chart, path: Path) -> None:
    """Draw chart as one panel per × Go column, rows top to bottom in
    table order, with each GET ratio's range over rounds as a whisker."""
    import importlib

    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")
    importlib.import_module("matplotlib.patches")
    matplotlib.rcParams.update({
        "svg.fonttype": "none",      # text stays text: small and greppable
        "svg.hashsalt": "gohttp",    # the same run draws the same file
        "font.size": 9,
    })
    n = len(chart.rows)
    fig, axes = plt.subplots(1, len(chart.panels), sharey=True,
                             figsize=(2.6 * len(chart.panels) + 2.8,
                                      0.32 * n + 1.6),
                             squeeze=False)
    top = max(max([r for r in p.ratios.values() if r] + [hi for _, hi in
                   p.ranges.values()] + [1.0]) for p in chart.panels)
    ys = list(range(n))
    for ax, panel in zip(axes[0], chart.panels):
        for y, label in zip(ys, chart.rows):
            ratio = panel.ratios.get(label)
            if ratio is None:
                ax.text(0.02, y, "n/a", va="center", fontsize=7,
                        color="#777777")
                continue
            ax.barh(y, ratio, color=_bar_color(label), height=0.7)
            end = ratio
            if label in panel.ranges:
                lo, end = panel.ranges[label]
                ax.plot([lo, end], [y, y], color="black", linewidth=0.8)
            ax.text(max(ratio, end) + 0.02 * top, y, f"{ratio:.2f}",
                    fontsize=7, va="center")
        ax.axvline(1.0, color="black", linewidth=0.6, linestyle="--")
        ax.set_xlim(0, top * 1.15)
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel("× pure Go req/s")
        ax.grid(axis="x", linewidth=0.3)
    axes[0][0].set_yticks(ys, chart.rows)
    axes[0][0].invert_yaxis()
    legend = [("gohttp", _bar_color("gohttp")),
              ("pure Go net/http", _bar_color("pure Go")),
              ("other Python servers", _bar_color(""))]
    fig.legend(handles=[matplotlib.patches.Patch(color=color, label=name)
                        for name, color in legend],
               loc="lower center", ncol=len(legend), frameon=False)
    fig.suptitle(f"req/s as a ratio to pure Go net/http, same run "
                 f"(higher is better; whisker: lowest to highest round)\n"
                 f"{chart.run}; {chart.machine} (each section of "
                 f"bench/results.md gives its own run)", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


def chart_or_hint(text: str, path: Path) -> None:
    """Draw the chart of a throughput section to path with matplotlib:
    this python's, else bench/.venv's; else say how to get it."""
    try:
        chart = parse_throughput(text)
    except ValueError as exc:
        log(f"no chart: {exc}")
        return
    try:
        draw_chart(chart, path)
    except ImportError:
        venv_python = VENV / "bin" / "python"
        if Path(sys.prefix).resolve() == VENV.resolve() \
                or not venv_python.exists():
            log("no chart: matplotlib is not installed (pip install "
                "matplotlib, or -r bench/requirements.txt)")
            return
        section = BUILD / "throughput.md"
        BUILD.mkdir(parents=True, exist_ok=True)
        section.write_text(text)
        subprocess.run([str(venv_python), __file__, "--chart-only",
                        "--output", str(section), "--chart", str(path)],
                       check=False)
        return
    log(f"chart drawn to {path}")


# --------------------------------------------------------------------------
# Callgrind: instructions per request, repeatable on a noisy machine.

def dump_total(path: Path) -> int:
    m = re.search(r"^totals:\s*(\d+)", path.read_text(errors="replace"), re.M)
    if not m:
        raise RuntimeError(f"no totals in {path}")
    return int(m.group(1))


def callgrind_control(option: str, pid: int) -> None:
    proc = subprocess.run(["callgrind_control", option, str(pid)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or "OK" not in proc.stdout:
        raise RuntimeError(f"callgrind_control {option} {pid}: "
                           f"{(proc.stdout + proc.stderr).strip()}")


def keepalive_requests(conn: http.client.HTTPConnection, n: int) -> None:
    for _ in range(n):
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or body != HELLO:
            raise RuntimeError(f"GET / answered {resp.status} {body[:40]!r}")


# Where the callgrind rows' dumps stay, for callgrind_annotate.
CALLGRIND_OUT = BUILD / "callgrind"


def start_under_callgrind(row: Row, server: type[Server] = Server
                          ) -> Server | str:
    """row's server under valgrind --tool=callgrind, its old dumps gone;
    or why it did not start.  --trace-children: a row with workers counts
    its whole process tree, the supervisor and every worker."""
    CALLGRIND_OUT.mkdir(parents=True, exist_ok=True)
    for old in CALLGRIND_OUT.glob(f"callgrind.out.{row.name}.*"):
        old.unlink()
    prefix = ["valgrind", "--tool=callgrind", "--trace-children=yes",
              f"--callgrind-out-file={CALLGRIND_OUT}/callgrind.out.{row.name}.%p"]
    # Go preempts goroutines with signals (SIGURG); callgrind 3.19 asserts
    # on them (threads.c: vgCallgrind_post_signal).  The cooperative
    # preemption points are enough for a server that only serves.
    extra_env = {"GODEBUG": "asyncpreemptoff=1", "PYTHONMALLOC": "malloc"}
    try:
        return server(row, free_port(), prefix,
                      BUILD / "logs" / f"callgrind-{row.name}.log",
                      start_timeout=300, extra_env=extra_env)
    except RuntimeError as exc:
        return f"did not run under callgrind: {exc}"


def callgrind_row(row: Row, args: argparse.Namespace) -> tuple[list[int], str]:
    """Ir per request of two measured phases of args.requests requests,
    after a warm-up; ([], why) when callgrind cannot run it."""
    server = start_under_callgrind(row)
    if isinstance(server, str):
        return [], server
    per_request = []
    try:
        conn = http.client.HTTPConnection(HOST, server.port, timeout=120)
        keepalive_requests(conn, args.warmup_requests)
        # Warm every worker, not only the one the connection reached.
        run_client(["ab", "-q", "-c", "10", "-n", str(args.warmup_requests),
                    f"http://{HOST}:{server.port}/"], timeout=1800)
        pids = process_tree(server.pid)
        for pid in pids:
            callgrind_control("--zero", pid)

        def dump(phase: int, requests: int) -> None:
            total = 0
            for pid in pids:
                callgrind_control("--dump", pid)
                total += dump_total(
                    CALLGRIND_OUT / f"callgrind.out.{row.name}.{pid}.{phase}")
            per_request.append(round(total / requests))

        for phase in (1, 2):
            keepalive_requests(conn, args.requests)
            dump(phase, args.requests)
        conn.close()
        # Phase 3: 50 connections at once, as wrk's, through ab -k: the
        # handler calls queue for the interpreter.
        run_client(["ab", "-q", "-k", "-c", "50", "-n",
                    str(args.requests * 5), f"http://{HOST}:{server.port}/"],
                   timeout=1800)
        dump(3, args.requests * 5)
        # Phase 4: a new connection per request (ab without -k, 10 at
        # once), ab's row: what accepting and closing a connection costs.
        run_client(["ab", "-q", "-c", "10", "-n", str(args.requests),
                    f"http://{HOST}:{server.port}/"], timeout=1800)
        dump(4, args.requests)
    except (RuntimeError, OSError, http.client.HTTPException,
            subprocess.TimeoutExpired) as exc:
        return per_request, f"failed under callgrind: {exc}; {server.tail()}"
    finally:
        server.stop()
    return per_request, ""


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (Linux's /proc/PID/task/TID/children)."""
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").glob("*"):
            try:
                pids += [int(p)
                         for p in (task / "children").read_text().split()]
            except OSError:
                pass
        i += 1
    return pids


# A keep-alive phase this many times the other is not the requests' cost:
# under valgrind, which runs one thread at a time, Go 1.26's background
# sweeper can spin in goschedIfBusy for hundreds of millions of
# instructions while it waits for another sweeper to finish
# (go.dev/issue/73499; bench/results.md, "Where the instruction targets
# stand, quiet").  At real speed that wait is microseconds.
SPIKE = 1.5


def keepalive_ir(label: str, phase1: int, phase2: int) -> tuple[float, str]:
    """The Ir per request of a row's two keep-alive phases, as its × Go
    takes it: their mean, or the lower one if the other is a spike; and a
    note that says so ("" if none)."""
    low, high = sorted((phase1, phase2))
    if high <= SPIKE * low:
        return (phase1 + phase2) / 2, ""
    spiked = 1 if phase1 == high else 2
    return low, (f"{label}: phase {spiked} is {high / low:.0f}× the other, "
                 f"left out of × Go (Go's background sweeper spinning under "
                 f"valgrind: see SPIKE in bench/run.py)")


def run_callgrind(args: argparse.Namespace, rows: list[Row]) -> str:
    ensure_tools(CALLGRIND_TOOLS)
    ensure_tools({"ab": "apache2-utils"})
    wanted = ("go", "go-timeouts", "gohttp", "gohttp-metrics", "gohttp-c",
              "gohttp-wsgi", "gohttp-asgi", "gohttp-asgi-asyncio",
              "gohttp-fastapi", "gohttp-w2", "gohttp-wsgi-w2",
              "uvicorn", "uvicorn-fastapi")   # the ASGI peer, for scale
    out = ["## Instructions per request (callgrind)", ""]
    out += machine_header()
    out.append(f"- {version_of(['valgrind', '--version'])}, "
               f"`--tool=callgrind`, GODEBUG=asyncpreemptoff=1, "
               f"PYTHONMALLOC=malloc")
    out.append(f"- one keep-alive connection (http.client), GET / × "
               f"{args.warmup_requests} to warm up, counters zeroed, then two "
               f"phases of {args.requests} requests, each dumped: Ir of the "
               f"phase / requests; then a third phase of "
               f"{args.requests * 5} requests on 50 keep-alive connections "
               f"at once (`ab -k -c 50`); then a fourth of {args.requests} "
               f"requests each on a new connection, 10 at once (`ab -c 10`, "
               f"no keep-alive).  Counts the whole server process "
               f"(Go runtime, net/http, the C trampoline, Python), not the "
               f"client.")
    out += ["", "| server | Ir/request, 1 conn, phase 1 | phase 2 | × Go "
            "| 50 conns | × Go | new conn each | × Go |",
            "|---|--:|--:|--:|--:|--:|--:|--:|"]
    base = base50 = base_new = None
    notes = []
    for row in rows:
        if row.name not in wanted:
            continue
        if row.skip:
            out.append(f"| {row.label} | {row.skip} | | |")
            continue
        log(f"callgrind: {row.name}")
        counts, why = callgrind_row(row, args)
        if why:
            notes.append(f"{row.label} {why}")
        if len(counts) < 4:
            out.append(f"| {row.label} | n/a (see below) | | | | | | |")
            continue
        mean, spike = keepalive_ir(row.label, counts[0], counts[1])
        if spike:
            notes.append(spike)
        if row.name == "go":
            base, base50, base_new = mean, counts[2], counts[3]
        ratio = f"{mean / base:.2f}×" if base else "–"
        ratio50 = f"{counts[2] / base50:.2f}×" if base50 else "–"
        ratio_new = f"{counts[3] / base_new:.2f}×" if base_new else "–"
        out.append(f"| {row.label} | {counts[0]:,} | {counts[1]:,} | {ratio} "
                   f"| {counts[2]:,} | {ratio50} | {counts[3]:,} "
                   f"| {ratio_new} |")
        log(f"  {row.name}: {counts[0]:,} / {counts[1]:,} Ir per request, "
            f"{counts[2]:,} on 50 connections, {counts[3]:,} on a new "
            f"connection each")
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def ws_messages(port: int, clients: int, count: int) -> None:
    out = run_client([str(WSBENCH), "-mode", "echo", "-url",
                      f"ws://{HOST}:{port}/ws", "-c", str(clients),
                      "-n", str(count), "-size", str(WS_MESSAGE)],
                     timeout=1800)
    sample = parse_wsbench(out)
    if sample.errors or not out.startswith(f"messages {count} "):
        raise RuntimeError(f"wsbench: {out.strip()}")


def ws_callgrind_row(row: Row, args: argparse.Namespace
                     ) -> tuple[list[int], str]:
    """Ir per echoed message: args.requests messages on one WebSocket,
    then 5 × as many on 50, after a warm-up; ([], why) when callgrind
    cannot run the row."""
    server = start_under_callgrind(row)
    if isinstance(server, str):
        return [], server
    per_message = []
    try:
        ws_messages(server.port, 1, args.warmup_requests)
        ws_messages(server.port, 50, args.warmup_requests)
        callgrind_control("--zero", server.pid)
        for phase, clients, count in ((1, 1, args.requests),
                                      (2, 50, args.requests * 5)):
            ws_messages(server.port, clients, count)
            callgrind_control("--dump", server.pid)
            dump = (CALLGRIND_OUT
                    / f"callgrind.out.{row.name}.{server.pid}.{phase}")
            per_message.append(round(dump_total(dump) / count))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return per_message, f"failed under callgrind: {exc}; {server.tail()}"
    finally:
        server.stop()
    return per_message, ""


def run_ws_callgrind(args: argparse.Namespace, rows: list[Row]) -> str:
    ensure_tools(CALLGRIND_TOOLS)
    out = ["## Instructions per WebSocket message (callgrind)", ""]
    out += machine_header()
    out.append(f"- {version_of(['valgrind', '--version'])}, "
               f"`--tool=callgrind`, GODEBUG=asyncpreemptoff=1, "
               f"PYTHONMALLOC=malloc")
    out.append(f"- `bench/wsbench -n`: {args.warmup_requests} echoed "
               f"{WS_MESSAGE}-byte text messages on 1 WebSocket and as many "
               f"on 50 to warm up (each connection's handshake included), "
               f"counters zeroed; then {args.requests} messages on 1 "
               f"WebSocket, dumped, and {args.requests * 5} on 50 at once "
               f"(each a new connection, its handshake counted), dumped: "
               f"Ir of the phase / messages.  Counts the whole server "
               f"process, not the client.")
    out += ["", "| server | Ir/message, 1 WebSocket | × Go | 50 WebSockets "
            "| × Go |", "|---|--:|--:|--:|--:|"]
    base = base50 = None
    notes = []
    for row in rows:
        if row.name == "ws-granian":
            # Its worker is a process of its own, which callgrind_control
            # on the master neither zeroes nor dumps.
            row.skip = "n/a (a master and a worker process)"
        if row.skip:
            out.append(f"| {row.label} | {row.skip} | | | |")
            continue
        log(f"callgrind: {row.name}")
        counts, why = ws_callgrind_row(row, args)
        if why:
            notes.append(f"{row.label} {why}")
        if len(counts) < 2:
            out.append(f"| {row.label} | n/a (see below) | | | |")
            continue
        if row.name == "ws-go":
            base, base50 = counts
        ratio = f"{counts[0] / base:.2f}×" if base else "–"
        ratio50 = f"{counts[1] / base50:.2f}×" if base50 else "–"
        out.append(f"| {row.label} | {counts[0]:,} | {ratio} | "
                   f"{counts[1]:,} | {ratio50} |")
        log(f"  {row.name}: {counts[0]:,} Ir per message, {counts[1]:,} on "
            f"50 WebSockets")
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Memory: RSS over many requests once warm.

def wrk_requests(port: int, seconds: float) -> int:
    """Requests wrk made in seconds of GET / on 50 connections."""
    out = run_client(["wrk", "-t2", "-c50", f"-d{seconds:g}s",
                      f"http://{HOST}:{port}/"], timeout=seconds + 60)
    m = re.search(r"(\d+) requests in", out)
    if not m or re.search(r"Non-2xx|Socket errors", out):
        raise RuntimeError(f"wrk: {out.strip()[-300:]}")
    return int(m.group(1))


def memory_row(row: Row, args: argparse.Namespace) -> list[str]:
    """The row's RSS after a warm-up and after args.memory_requests more
    requests, sampled along the way."""
    server = Server(row, free_port(), [], BUILD / "logs" /
                    f"memory-{row.name}.log")
    try:
        made = 0
        while made < args.memory_requests // 10:   # warm: 10% first
            made += wrk_requests(server.port, 5)
        warm = server.rss_mib()
        samples, made = [warm], 0
        while made < args.memory_requests:
            made += wrk_requests(server.port, 10)
            samples.append(server.rss_mib())
        peak = max(samples)
        log(f"  {row.name}: {warm:.1f} -> {samples[-1]:.1f} MiB over "
            f"{made:,} requests (peak {peak:.1f})")
        return [row.label, f"{made:,}", f"{warm:.1f}", f"{samples[-1]:.1f}",
                f"{samples[-1] - warm:+.1f}", f"{peak:.1f}",
                " ".join(f"{s:.1f}" for s in samples)]
    finally:
        server.stop()


def run_memory(args: argparse.Namespace, rows: list[Row]) -> str:
    wanted = ("go", "gohttp", "gohttp-wsgi")
    out = ["## Memory over many requests", ""]
    out += machine_header()
    out.append(f"- GET / with wrk on 50 keep-alive connections: "
               f"{args.memory_requests // 10:,} requests to warm up, then "
               f"{args.memory_requests:,} more in 10 s runs, the server's "
               f"RSS sampled after each run")
    out += ["", "| server | requests | RSS warm MiB | RSS after | growth "
            "| peak | samples |", "|---|--:|--:|--:|--:|--:|---|"]
    for row in rows:
        if row.name not in wanted:
            continue
        if row.skip:
            out.append(f"| {row.label} | {row.skip} | | | | | |")
            continue
        log(f"memory: {row.name}")
        try:
            cells = memory_row(row, args)
        except RuntimeError as exc:
            cells = [row.label, f"failed: {exc}", "", "", "", "", ""]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Idle connections: what a keep-alive connection that has been served
# costs the server while it waits for its next request.

IDLE_ROWS = ("go", "gohttp", "gohttp-wsgi", "gohttp-asgi", "uvicorn",
             "granian-wsgi")


def open_idle_connections(port: int, count: int) -> list[socket.socket]:
    """count connections that each sent one GET / at once (all sent, then
    all read, as a burst of clients does) and stay open."""
    socks = [socket.create_connection((HOST, port), timeout=30)
             for _ in range(count)]
    request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    for sock in socks:
        sock.sendall(request)
    for sock in socks:
        seen = b""
        while not seen.endswith(HELLO):
            data = sock.recv(4096)
            if not data:
                raise RuntimeError("a connection closed before its response")
            seen += data
    return socks


def closed_by_server(socks: list[socket.socket]) -> int:
    """How many of socks the server has closed (or reset), by a peek that
    does not wait."""
    closed = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            if sock.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass                  # open, nothing to read: idle
        except OSError:
            closed += 1
    return closed


def idle_kept_open(row: Row, keep: float) -> tuple[Row, dict[str, str]]:
    """row, and the environment to add, with idle keep-alive connections
    kept open keep seconds at least: gohttp's default idle_timeout (120 s)
    and uvicorn's --timeout-keep-alive (5 s) would otherwise close them
    before the settled reading, which would then see what closed
    connections left, not idle ones.  The bench apps of gohttp read
    BENCH_IDLE_TIMEOUT; pure Go's gohello has no idle timeout."""
    if row.name == "uvicorn":
        base = row.argv
        return (dataclasses.replace(row, argv=lambda port: [
            *base(port), "--timeout-keep-alive", f"{keep:.0f}"]), {})
    return row, {"BENCH_IDLE_TIMEOUT": f"{keep:.0f}"}


def idle_row(row: Row, args: argparse.Namespace) -> list[str]:
    """The row's RSS growth per idle connection: right after the burst,
    and args.idle_settle seconds later (Go's periodic GC and scavenger
    have run by then).  The connections must still be open then: a server
    that closed some fails the row."""
    row, env = idle_kept_open(row, args.idle_settle + 120)
    server = Server(row, free_port(), [], BUILD / "logs" /
                    f"idle-{row.name}.log", extra_env=env)
    socks: list[socket.socket] = []
    try:
        for _ in range(200):
            http_request(server.port)
        time.sleep(1)
        before = server.rss_mib()
        socks = open_idle_connections(server.port, args.idle_connections)
        time.sleep(2)
        burst = server.rss_mib()
        time.sleep(args.idle_settle)
        settled = server.rss_mib()
        closed = closed_by_server(socks)
        if closed:
            raise RuntimeError(f"the server closed {closed:,} of the "
                               f"connections within {args.idle_settle:g} s")
        per = [(mib - before) * 1024 / len(socks) for mib in (burst, settled)]
        log(f"  {row.name}: {per[0]:.1f} KiB, {per[1]:.1f} KiB settled")
        return [row.label, f"{before:.1f}", f"{per[0]:.1f}", f"{per[1]:.1f}"]
    finally:
        for sock in socks:
            sock.close()
        server.stop()


def run_idle(args: argparse.Namespace, rows: list[Row]) -> str:
    out = ["## Memory per idle connection", ""]
    out += machine_header()
    out.append(f"- {args.idle_connections:,} keep-alive connections that "
               f"each sent one GET / at once and stay open: the server's "
               f"RSS growth per connection 2 s after the burst, and "
               f"{args.idle_settle:g} s later")
    out += ["", "| server | RSS before MiB | KiB per connection | "
            f"after {args.idle_settle:g} s |", "|---|--:|--:|--:|"]
    for row in rows:
        if row.name not in IDLE_ROWS:
            continue
        if row.skip:
            out.append(f"| {row.label} | {row.skip} | | |")
            continue
        log(f"idle connections: {row.name}")
        try:
            cells = idle_row(row, args)
        except (RuntimeError, OSError) as exc:
            cells = [row.label, f"failed: {exc}", "", ""]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------

# --------------------------------------------------------------------------
# Realistic apps: the same app code on gohttp and the peers, a workload
# each (bench/apps/app_*.py, gohttp_bytes.py; --apps, and a full run).

APP_JSON = (b'{"name": "widget", "price": 9.5, "quantity": 3, '
            b'"tags": ["a", "b", "c"]}')    # what json_post.lua sends
MIB = 1 << 20


def _expect_items_page(status: int, body: bytes) -> Optional[str]:
    """The template page of 10 rows, names escaped by the engine."""
    text = body.decode(errors="replace")
    rows = text.count("<tr><td>")
    if status != 200 or rows != 10 or "Item &lt;41&gt; &amp; co" not in text:
        return f"answered {status}, {rows} rows: {text[:60]!r}"
    return None


def _expect_json(shape: Callable[[Any], bool]) -> Callable[[int, bytes], Optional[str]]:
    def check(status: int, body: bytes) -> Optional[str]:
        try:
            ok = status == 200 and shape(json.loads(body))
        except ValueError:
            ok = False
        return None if ok else f"answered {status} {body[:60]!r}"
    return check


def _expect_bytes(expected: bytes) -> Callable[[int, bytes], Optional[str]]:
    def check(status: int, body: bytes) -> Optional[str]:
        if status != 200 or body != expected:
            return f"answered {status}, {len(body):,} bytes {body[:20]!r}"
        return None
    return check


@dataclass
class AppLoad:
    """One table of the apps section: a request, how to check its answer,
    the wrk load that repeats it, and the servers that run the app."""
    key: str
    title: str
    method: str
    path: str
    body: Optional[bytes]
    content_type: str
    check: Callable[[int, bytes], Optional[str]]
    script: Optional[Path]           # wrk's lua script for a POST
    rows: list[Row]

    def verify(self, port: int) -> Optional[str]:
        """Why the server's answer is wrong, or None."""
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            headers = {"Content-Type": self.content_type} if self.body else {}
            conn.request(self.method, self.path, body=self.body,
                         headers=headers)
            resp = conn.getresponse()
            why = self.check(resp.status, resp.read())
        except (OSError, http.client.HTTPException) as exc:
            why = str(exc)
        finally:
            conn.close()
        return f"{self.method} {self.path} {why}" if why else None


def app_loads() -> list[AppLoad]:
    py = gohttp_python()
    vbin = VENV / "bin"
    apps = BENCH / "apps"

    def with_venv() -> dict[str, str]:
        return gohttp_env(with_venv=True)

    def wsgi_rows(app: str, what: str) -> list[Row]:
        return [
            Row(f"gohttp-wsgi-{what}", "gohttp WSGI",
                lambda port: [py, str(apps / "gohttp_wsgi.py"), app,
                              str(port)], with_venv),
            Row(f"gunicorn-{what}", "gunicorn sync",
                lambda port: [str(vbin / "gunicorn"), "--workers", "1",
                              "--worker-class", "sync", "--bind",
                              f"{HOST}:{port}", "--log-level", "warning",
                              app], venv_env),
            Row(f"granian-wsgi-{what}", "granian WSGI",
                lambda port: [str(vbin / "granian"), "--interface", "wsgi",
                              "--host", HOST, "--port", str(port),
                              "--workers", "1", app], venv_env),
        ]

    def asgi_rows(app: str, what: str) -> list[Row]:
        return [
            Row(f"gohttp-asgi-{what}", "gohttp ASGI",
                lambda port: [py, str(apps / "gohttp_asgi.py"), app,
                              str(port)], with_venv),
            Row(f"uvicorn-{what}", "uvicorn",
                lambda port: [str(vbin / "uvicorn"), "--host", HOST, "--port",
                              str(port), "--no-access-log", "--log-level",
                              "warning", app], venv_env),
            Row(f"granian-asgi-{what}", "granian ASGI",
                lambda port: [str(vbin / "granian"), "--interface", "asgi",
                              "--host", HOST, "--port", str(port),
                              "--workers", "1", app], venv_env),
        ]

    def bytes_rows(what: str) -> list[Row]:
        return [
            Row(f"go-{what}", "pure Go net/http",
                lambda port: [str(GOHELLO), "-addr", f"{HOST}:{port}",
                              "-bytes"], clean_env),
            Row(f"gohttp-{what}", "gohttp native handler",
                lambda port: [py, str(apps / "gohttp_bytes.py"), str(port)],
                gohttp_env),
            *wsgi_rows("apps.app_bytes:app", what),
            *asgi_rows("apps.app_bytes:asgi", what),
        ]

    n_items = _expect_json(lambda v: isinstance(v, list) and len(v) == 10
                           and v[0].get("name") == "item 1")
    created = _expect_json(lambda v: v == {"name": "widget", "total": 28.5,
                                           "tags": 3})
    return [
        AppLoad("flask", "Flask: a Jinja template of 10 rows of a SQLite "
                "query (`GET /items`, apps/app_flask.py)", "GET", "/items",
                None, "", _expect_items_page, None,
                wsgi_rows("apps.app_flask:app", "flask")),
        AppLoad("django", "Django: a template of 10 rows of a SQLite query "
                "(`GET /items`, apps/app_django.py)", "GET", "/items", None,
                "", _expect_items_page, None,
                wsgi_rows("apps.app_django:app", "django")),
        AppLoad("api-get", "FastAPI: a list of 10 pydantic objects as JSON "
                "(`GET /items`, apps/app_api.py)", "GET", "/items", None, "",
                n_items, None, asgi_rows("apps.app_api:app", "api-get")),
        AppLoad("api-post", "FastAPI: a small JSON body parsed by a pydantic "
                "model, JSON back (`POST /items`, apps/app_api.py)", "POST",
                "/items", APP_JSON, "application/json", created,
                BENCH / "json_post.lua",
                asgi_rows("apps.app_api:app", "api-post")),
        AppLoad("download", "1 MiB download (`GET /download`, "
                "apps/app_bytes.py, apps/gohttp_bytes.py)", "GET",
                "/download", None, "", _expect_bytes(b"x" * MIB), None,
                bytes_rows("download")),
        AppLoad("upload", "1 MiB upload, its length back (`POST /upload`, "
                "apps/app_bytes.py, apps/gohttp_bytes.py)", "POST",
                "/upload", b"x" * MIB, "application/octet-stream",
                _expect_bytes(str(MIB).encode()), BENCH / "upload1m.lua",
                bytes_rows("upload")),
    ]


def mark_app_skips(loads: list[AppLoad], venv_error: Optional[str]) -> None:
    gohttp_error, has_wsgi = probe_gohttp()
    for load in loads:
        for row in load.rows:
            if row.name.startswith("gohttp") and gohttp_error:
                row.skip = f"n/a ({gohttp_error})"
            elif row.name.startswith("gohttp-wsgi") and not has_wsgi:
                row.skip = "n/a (no WSGI adapter yet)"
            elif not row.name.startswith(("go-", "gohttp-")) and venv_error:
                row.skip = f"n/a ({venv_error})"
            elif row.env is venv_env and not Path(row.argv(0)[0]).exists():
                row.skip = f"n/a ({Path(row.argv(0)[0]).name} not installed)"


def measure_app(load: AppLoad, row: Row, settings: Settings, round_no: int,
                results: dict[str, list[Sample]],
                failures: dict[str, list[str]]) -> None:
    """One round of one row: start it, check the app's answer, load it."""
    try:
        server = Server(row, free_port(), [],
                        BUILD / "logs" / f"apps-{row.name}.log")
    except RuntimeError as exc:
        failures.setdefault(row.name, []).append(f"start: {exc}")
        log(f"  {row.name}: FAILED to start: {exc}")
        return
    try:
        why = load.verify(server.port)
        if why:
            failures.setdefault(row.name, []).append(why)
            log(f"  {row.name}: wrong answer: {why}")
            return
        other = OtherLoad(server.pid)
        sample = wrk_workload(load.script)(
            [], f"http://{HOST}:{server.port}{load.path}", settings)
        sample.other_cpu = other.cores()
        sample.rss_mib = server.rss_mib()
        sample.round = round_no
        if server.proc.poll() is not None:
            failures.setdefault(row.name, []).append(
                f"the server died: {server.tail()}")
            return
        results.setdefault(row.name, []).append(sample)
        log(f"  {row.name}: {sample.rps:,.0f}/s"
            + (f" [{sample.errors}]" if sample.errors else "")
            + f" (others {sample.other_cpu:.2f} cores)")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        failures.setdefault(row.name, []).append(str(exc))
    finally:
        server.stop()


def app_table(load: AppLoad, results: dict[str, list[Sample]],
              failures: dict[str, list[str]]) -> list[str]:
    """One markdown table: req/s, × the gohttp row of the same
    interface, × pure Go where there is one."""
    has_go = any(row.name.startswith("go-") for row in load.rows)
    head = ["server", "req/s", "× gohttp"] + (["× Go"] if has_go else []) + [
        "p50 ms", "p99 ms", "RSS MiB", "others"]
    lines = [f"### {load.title}", "",
             "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|"]
    rps = {row.name: med([s.rps for s in results.get(row.name, [])])
           for row in load.rows}
    go = next((rps[r.name] for r in load.rows if r.name.startswith("go-")), None)
    notes = []
    reference: Optional[float] = None
    for row in load.rows:
        if row.name.startswith("gohttp"):
            reference = rps[row.name]       # the rows below compare with it
        if row.skip:
            lines.append("| " + " | ".join([row.label, row.skip]
                                           + [""] * (len(head) - 2)) + " |")
            continue
        samples = results.get(row.name, [])
        value = rps[row.name]
        cells = [row.label, fmt(value, ",.0f")]
        ratio = value / reference if value and reference else None
        cells.append(fmt(ratio, ".2f") + ("×" if ratio else ""))
        if has_go:
            ratio = value / go if value and go else None
            cells.append(fmt(ratio, ".2f") + ("×" if ratio else ""))
        cells += [fmt(med([s.p50_ms for s in samples]), ".2f"),
                  fmt(med([s.p99_ms for s in samples]), ".2f"),
                  fmt(med([s.rss_mib for s in samples]), ".1f"),
                  fmt(med([s.other_cpu for s in samples]), ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
        notes += [f"{row.label}: {s.errors} (round {s.round})"
                  for s in samples if s.errors]
        notes += [f"{row.label}: {f}" for f in failures.get(row.name, [])]
    if notes:
        lines += ["", "Errors reported during the run:", ""]
        lines += [f"- {n}" for n in notes]
    return lines + [""]


def run_apps(args: argparse.Namespace, venv_error: Optional[str]) -> str:
    """The realistic apps section: every load's rows, rounds interleaved
    over the whole section."""
    sys.path.insert(0, str(BENCH))
    from apps import appdb          # the schema and rows the apps read
    appdb.create()
    loads = app_loads()
    mark_app_skips(loads, venv_error)
    settings = Settings(args.duration, args.ab_requests)
    results: dict[str, list[Sample]] = {}
    failures: dict[str, list[str]] = {}
    started = time.monotonic()
    for r in range(args.rounds):
        log(f"apps, round {r + 1}/{args.rounds}")
        for load in loads:
            for row in load.rows:
                if not row.skip:
                    measure_app(load, row, settings, r + 1, results, failures)
    out = ["## Realistic apps", ""]
    out += machine_header()
    out.append(tools_header())
    out.append(f"- settings: {args.rounds} round(s) interleaved, wrk "
               f"`-t2 -c50 -d{args.duration:g}s --latency` after "
               f"{WARMUP:g} s of warm-up, unpinned, 1 worker per server; "
               f"each app's answer checked (status and body) before it is "
               f"loaded; the section took "
               f"{(time.monotonic() - started) / 60:.1f} min")
    if args.rounds == 1:
        out.append("- **1 round on a machine other jobs share (the others "
                   "column): a first look, ratios may be tens of percent "
                   "off; 3 rounds on a quiet machine make the figures**")
    out += ["", "The same app code on every server of a table (medians "
            "over rounds).  × gohttp: the row's req/s over the gohttp row "
            "above it (native, WSGI or ASGI: the same interface); × Go: "
            "over pure Go net/http's.  others: cores used by processes "
            "other than the server and wrk (a shared machine).", ""]
    for load in loads:
        out += app_table(load, results, failures)
    return "\n".join(out)


# --------------------------------------------------------------------------
# make bench-quick: the key rows, short, to check a change (not results.md).

QUICK_ROWS = ("go", "gohttp", "gohttp-wsgi", "gohttp-asgi")
QUICK_CALLGRIND = ("go", "gohttp", "gohttp-wsgi")


def run_quick(args: argparse.Namespace, rows: list[Row],
              started: float) -> str:
    """GET req/s of QUICK_ROWS (1 round, unpinned), then instructions per
    request of QUICK_CALLGRIND (fewer requests than --callgrind's)."""
    modes = run_benchmark(args, rows)
    out = throughput_report(args, rows, modes, time.monotonic() - started)
    out = out.replace("## Throughput", "## make bench-quick: throughput", 1)
    out = out.replace("\n\nMedians over rounds", "\n- **make bench-quick: 1 "
                      "round, for checking a change; `make bench` makes the "
                      "figures to compare**\n\nMedians over rounds", 1)
    if shutil.which("valgrind") or os.geteuid() == 0:
        grind = run_callgrind(args, [r for r in rows
                                     if r.name in QUICK_CALLGRIND])
        out += "\n" + grind.replace("## Instructions", "## make bench-quick: "
                                     "instructions", 1)
    else:
        out += "\n(no valgrind: the callgrind rows are left out)\n"
    return out


def parse_args() -> argparse.Namespace:
    import tls
    names = [row.name for row in all_rows() + ws_rows()] + tls.row_names()
    p = argparse.ArgumentParser(
        description="gohttp's benchmark against pure Go net/http and the "
                    "Python servers; see bench/README.md.")
    p.add_argument("--rows", default="",
                   help=f"comma-separated subset of: {', '.join(names)} "
                        f"(go is always measured: it is the baseline)")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds (default 3)")
    p.add_argument("--duration", type=float, default=5,
                   help="seconds of each wrk measurement (default 5)")
    p.add_argument("--ab-requests", type=int, default=10000,
                   help="requests of the ab measurement (default 10000)")
    p.add_argument("--pin", choices=("off", "on", "both"), default="both",
                   help="unpinned table, pinned table (server on core 0, "
                        "client on core 1), or both (default)")
    p.add_argument("--workloads", default="get,ab,post",
                   help="workloads of the unpinned table (default "
                        "get,ab,post)")
    p.add_argument("--pinned-workloads", default="get",
                   help="workloads of the pinned table (default get, to "
                        "keep the run short)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 round of 2 s, ab -n 2000")
    p.add_argument("--callgrind", action="store_true",
                   help="instead: instructions per request of pure Go and "
                        "gohttp under valgrind --tool=callgrind")
    p.add_argument("--memory", action="store_true",
                   help="instead: the RSS of pure Go and gohttp over "
                        "--memory-requests requests once warm")
    p.add_argument("--idle-memory", action="store_true",
                   help="instead: the RSS per idle keep-alive connection "
                        "of pure Go, gohttp and the peers")
    p.add_argument("--idle-connections", type=int, default=5000,
                   help="connections of the --idle-memory run "
                        "(default 5,000)")
    p.add_argument("--idle-settle", type=float, default=260,
                   help="seconds --idle-memory waits before its second "
                        "sample (default 260: Go forces a GC every 2 min, "
                        "and returns what a GC freed after the next)")
    p.add_argument("--memory-requests", type=int, default=1_000_000,
                   help="requests of the --memory run (default 1,000,000)")
    p.add_argument("--requests", type=int, default=2000,
                   help="requests of each callgrind phase (default 2000)")
    p.add_argument("--warmup-requests", type=int, default=200,
                   help="callgrind warm-up requests (default 200)")
    p.add_argument("--websocket", action="store_true",
                   help="instead: only the WebSocket section (echo "
                        "messages/s and memory per idle connection; with "
                        "--callgrind, instructions per message); a "
                        "default run measures it after the throughput "
                        "tables")
    p.add_argument("--tls", action="store_true",
                   help="instead: only the TLS section (HTTP/1.1 with wrk "
                        "and HTTP/2 with h2load over TLS; HTTP/2 beside "
                        "HTTP/3 with bench/h3bench); a default run "
                        "measures it after the WebSocket section")
    p.add_argument("--ws-clients", type=int, default=50,
                   help="WebSockets of the echo load (default 50)")
    p.add_argument("--ws-idle", type=int, default=10_000,
                   help="idle WebSockets of the memory measurement "
                        "(default 10,000; fewer if the open-file limit "
                        "says so; 0: none)")
    p.add_argument("--apps", action="store_true",
                   help="instead: only the realistic apps section (Flask, "
                        "Django, FastAPI, 1 MiB up and down; a default run "
                        "measures it after the throughput tables)")
    p.add_argument("--bench-quick", action="store_true",
                   help="instead: make bench-quick, a check of a change in "
                        "under 3 minutes: pure Go, gohttp native, WSGI and "
                        "ASGI, 1 round of 3 s of GET, and the callgrind "
                        "rows of native and WSGI with 1000 requests; "
                        "written to bench/.build/quick.md, not results.md")
    p.add_argument("--output", default=None,
                   help="markdown file to update (default bench/results.md;"
                        " '-' for stdout only); with --chart-only, the one "
                        "to read")
    p.add_argument("--chart", default=str(CHART),
                   help="where a throughput run draws its chart, with "
                        "matplotlib (default bench/results.svg)")
    p.add_argument("--chart-only", action="store_true",
                   help="instead: redraw the chart from the throughput "
                        "tables already in --output, measuring nothing")
    args = p.parse_args()
    if args.output is None:
        args.output = str(QUICK if args.bench_quick else RESULTS)
    if args.bench_quick:
        args.rounds, args.duration, args.pin = 1, 3, "off"
        args.workloads, args.rows = "get", ",".join(QUICK_ROWS)
        args.requests, args.warmup_requests = 1000, 100
    if args.quick:
        args.rounds, args.duration, args.ab_requests = 1, 2, 2000
    for opt in ("workloads", "pinned_workloads"):
        chosen = [w for w in getattr(args, opt).split(",") if w]
        bad = set(chosen) - set(WORKLOADS)
        if bad:
            p.error(f"unknown workload {', '.join(sorted(bad))}: choose from "
                    f"{', '.join(WORKLOADS)}")
        setattr(args, opt, chosen)
    rows = {r for r in args.rows.split(",") if r}
    if rows - set(names):
        p.error(f"unknown row {', '.join(sorted(rows - set(names)))}: "
                f"choose from {', '.join(names)}")
    ws_names = {row.name for row in ws_rows()}
    args.full_run = not rows          # a default run: the apps section too
    if not rows:
        rows = set(names)
    if rows & ws_names:
        rows.add("ws-go")            # the WebSocket section's baseline
    tls_names = set(tls.row_names())
    for prefix in ("tls-", "h3-"):           # the TLS section's baselines
        if any(r.startswith(prefix) for r in rows):
            rows.add(prefix + "go")
    if rows - ws_names - tls_names or not rows & (ws_names | tls_names):
        rows.add("go")
    args.rows = rows
    if args.rounds < 1 or args.duration <= 0 or args.ws_clients < 1:
        p.error("--rounds, --duration and --ws-clients must be positive")
    return args


def tls_setup(args: argparse.Namespace, go: str,
              venv_error: Optional[str]) -> list[Row]:
    """The TLS section's rows (bench/tls.py) a run measures; their
    certificate and client made ready."""
    import tls
    if args.memory or args.idle_memory or (args.websocket and not args.tls) \
            or (args.callgrind and not args.tls):
        return []
    rows = [row for row in tls.tls_rows() + tls.h3_rows()
            if row.name in args.rows and (
                not args.callgrind or row.name in tls.CALLGRIND_ROWS)]
    if rows:
        ensure_tools(tls.TOOLS)
        tls.make_cert()
        h3 = any(row.name.startswith("h3-") for row in rows)
        tls.mark_skips(rows, venv_error, tls.build_h3bench(go) if h3 else None)
    return rows


def main() -> None:
    global SOURCE_STATE
    args = parse_args()
    if args.chart_only:
        try:
            section = chart_sections(Path(args.output))
        except (OSError, ValueError) as exc:
            sys.exit(f"run.py: {exc}")
        chart_or_hint(section, Path(args.chart))
        return
    SOURCE_STATE = source_state()
    started = time.monotonic()
    ensure_tools(TOOLS)
    go = go_command()
    if not go:
        sys.exit("run.py: Go is needed to build bench/gohello (the baseline):"
                 " put go on PATH or set GOHTTP_GO")
    build_gohello(go)
    venv_error = ensure_venv()
    if venv_error:
        log(venv_error)
    rows = [row for row in all_rows() if row.name in args.rows
            and not args.tls]
    mark_skips(rows, venv_error)
    for row in rows:
        if row.name == "gohttp-c" and not row.skip:
            row.skip = build_c_handler()
    wsrows = [row for row in ws_rows() if row.name in args.rows]
    if args.memory or (args.callgrind and not args.websocket) or args.tls:
        wsrows = []
    if wsrows:
        mark_ws_skips(wsrows, venv_error, build_wsbench(go))
    tlsrows = tls_setup(args, go, venv_error)
    for row in rows + wsrows + tlsrows:
        if row.skip:
            log(f"{row.name}: {row.skip}")

    reports = []
    if args.callgrind and args.tls:
        import tls
        reports.append(("tls-callgrind", tls.run_callgrind(args, tlsrows)))
    elif args.callgrind and args.websocket:
        reports.append(("websocket-callgrind", run_ws_callgrind(args, wsrows)))
    elif args.callgrind:
        reports.append(("callgrind", run_callgrind(args, rows)))
    elif args.memory:
        reports.append(("memory", run_memory(args, rows)))
    elif args.idle_memory:
        reports.append(("idle-memory", run_idle(args, rows)))
    elif args.apps:
        reports.append(("apps", run_apps(args, venv_error)))
    elif args.bench_quick:
        reports.append(("quick", run_quick(args, rows, started)))
    else:
        # Throughput unless only WebSocket rows were asked for (go is
        # added to any --rows) or --websocket; then WebSockets.
        only_go = not {r.name for r in rows} - {"go"}
        if not (args.websocket or args.tls) and not (
                only_go and (wsrows or tlsrows)):
            modes = run_benchmark(args, rows)
            reports.append(("throughput",
                            throughput_report(args, rows, modes,
                                              time.monotonic() - started)))
        if wsrows:
            reports.append(("websocket", run_websocket(args, wsrows)))
        if tlsrows:
            import tls
            reports.append(("tls", tls.run_tls(args, tlsrows)))
        if args.full_run and not (args.websocket or args.tls):
            reports.append(("apps", run_apps(args, venv_error)))
    for section, report in reports:
        print(report)
        if args.output != "-":
            write_section(section, report, Path(args.output))
            log(f"{section} written to {args.output} "
                f"({(time.monotonic() - started) / 60:.1f} min)")
    if args.output != "-" and any(section in CHART_SECTIONS
                                  for section, _ in reports):
        chart_or_hint(chart_sections(Path(args.output)), Path(args.chart))


if __name__ == "__main__":
    main()
