"""The control socket between a supervisor and each of its workers.

The Go runtime does not survive fork(), so workers are never forked from
a process that imported gohttp: the supervisor (_supervisor.py) starts
each one as a new interpreter running the same command line, with
``GOHTTP_WORKER`` in its environment (see in_worker).  The program runs
again in the worker up to its ``run(workers=...)`` (or the gohttp
command's ``--workers``), which there serves as one worker (_worker.py)
instead of supervising.

Each worker has a control socket to the supervisor (a socketpair), over
which it sends JSON lines and receives its listening sockets:

    worker -> {"listen": ["127.0.0.1:8000", "unix:/run/a.sock"]}
    supervisor -> {"fds": 2}, with the sockets as SCM_RIGHTS, in order
                  (or {"error": "..."} if they cannot be bound)
    worker -> {"ready": PID, "urls": [...], "http3": "udp://..." or None,
               "shutdown_timeout": 10.0,
               "shutdown_delay": 0.0, "app_name": "main:app (ASGI)"}
    worker -> {"recycle": "why"}     (after max_requests or max_rss)

The supervisor binds the sockets (_sockets.py): port 0 is picked once,
and a worker that stops closes only its copies, so connections queued
on a socket wait for the next worker and none is lost when a worker is
replaced.  A worker whose control socket closes (the supervisor died)
shuts down.  The supervisor stops workers with SIGTERM (their graceful
drain); they ignore SIGHUP, which is the supervisor's.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Optional

# The worker's settings, as JSON: its end of the control socket ("fd"),
# its slot, its recycling limits, and the addresses of sockets systemd
# passed the supervisor ("binds", see inherited_binds).
ENV = "GOHTTP_WORKER"
# Set beside GOMAXPROCS when the supervisor chose it (see
# _supervisor.go_procs); the worker's import of gohttp (__init__.py)
# takes both out of os.environ.
GO_PROCS_ENV = "GOHTTP_GOMAXPROCS"


def in_worker() -> bool:
    """True in a process a supervisor started as a worker (not where a
    user set GOHTTP_WORKER, meaning the option GOHTTP_WORKERS)."""
    return os.environ.get(ENV, "").startswith("{")


def inherited_binds() -> Optional[list[str]]:
    """In a worker, the addresses its supervisor says it listens on when
    the command line does not say (the sockets systemd passed the
    supervisor), else None."""
    settings = os.environ.get(ENV)
    return json.loads(settings).get("binds") if settings else None


def send(sock: socket.socket, message: dict[str, Any],
         fds: Optional[list[int]] = None) -> None:
    """One message, and the descriptors fds with it (blocking)."""
    data = json.dumps(message).encode() + b"\n"
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One message and the descriptors that came with it (blocking)."""
    data, fds, _, _ = socket.recv_fds(sock, 65536, 16)
    while data and not data.endswith(b"\n"):
        more = sock.recv(65536)
        if not more:
            break
        data += more
    if not data:
        raise ConnectionError("the supervisor closed the control socket")
    return json.loads(data), list(fds)
