"""The worker's side of worker processes: serve a Server on the sockets
the supervisor hands over, report ready, ask to be recycled past a
limit, and stop when the supervisor goes (see _control.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Optional

from . import _control, _logging

if TYPE_CHECKING:
    from .server import Server

logger = _logging.logger

# How often a worker checks its request count and memory.
CHECK_INTERVAL = 0.1
# How long a worker waits to be replaced before it asks again (its
# replacement may have failed to start).
ASK_AGAIN = 30.0


def serve_as_worker(srv: "Server", app_name: Optional[str]) -> None:
    """Serve srv as one worker of the supervisor that started this
    process, until it stops this worker; see the module docstring."""
    # Popped: not for the worker's own children.
    settings = json.loads(os.environ.pop(_control.ENV))
    control = socket.socket(fileno=settings["fd"])
    if settings.get("metrics"):
        # Its metrics on a socket of its own, which the supervisor's
        # /metrics gathers from; its /readyz is the supervisor's.
        srv._configure(metrics_bind="unix:" + settings["metrics"])
    elif srv._options["metrics_bind"] is not None:
        # Set in the app's code, which the command's supervisor does not
        # import: every worker would bind the one address.
        if settings.get("slot") == 1:
            logger.warning("metrics_bind=%s is the supervisor's to serve "
                           "with workers, and it does not import the app: "
                           "give --metrics-bind to the command",
                           srv._options["metrics_bind"])
        srv._configure(metrics_bind=None)
    # SIGHUP reloads the workers: the supervisor's business, not ours.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    wanted = [str(a) for a in srv._addresses()]
    _control.send(control, {"listen": wanted})
    reply, fds = _control.receive(control)
    if "error" in reply or len(fds) != len(wanted):
        for fd in fds:
            os.close(fd)
        raise SystemExit(3)  # the supervisor says why
    # The sockets are the supervisor's: the worker's server closes its
    # copies, and does not set SO_REUSEPORT itself.
    srv._adopt_listeners(fds)

    def listening() -> None:
        _control.send(control, {"ready": os.getpid(), "urls": srv.urls,
                                "http3": srv.http3_url,
                        "shutdown_timeout": srv.shutdown_timeout,
                        "shutdown_delay": srv.shutdown_delay,
                        "app_name": app_name})
        threading.Thread(
            target=_watch, name="gohttp-worker-watch", daemon=True,
            args=(srv, control, settings.get("max_requests"),
                  settings.get("max_rss"))).start()

    srv._serve_in_foreground(app_name, banner=False, on_listening=listening)


def _watch(srv: "Server", control: socket.socket,
           max_requests: Optional[int], max_rss: Optional[int]) -> None:
    """Shut the worker down if the supervisor goes; ask to be recycled
    once a limit is reached."""
    control.settimeout(CHECK_INTERVAL if (max_requests or max_rss) else None)
    asked = -ASK_AGAIN  # when it last asked to be recycled
    while True:
        try:
            if not control.recv(1):
                break  # the supervisor has gone
        except socket.timeout:
            pass
        except OSError:
            break
        if time.monotonic() - asked < ASK_AGAIN or not srv.serving:
            continue
        why = _limit_reached(srv, max_requests, max_rss)
        if why:
            asked = time.monotonic()
            try:
                _control.send(control, {"recycle": why})
            except OSError:
                break
    if srv.serving:
        logger.warning("worker %d: the supervisor has gone; shutting down",
                       os.getpid())
        srv.shutdown()


def _limit_reached(srv: "Server", max_requests: Optional[int],
                   max_rss: Optional[int]) -> str:
    """Why this worker should be recycled, or ""."""
    if max_requests is not None:
        handled = srv._core.handled
        if handled >= max_requests:
            return f"served {handled} requests (max_requests {max_requests})"
    if max_rss is not None:
        rss = _rss_mib()
        if rss > max_rss:
            return f"uses {rss} MiB of memory (max_rss {max_rss})"
    return ""


def _rss_mib() -> int:
    """This process's resident memory in MiB: the current size where
    /proc says it, else the peak."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") >> 20
    except OSError:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak >> 20 if sys.platform == "darwin" else peak >> 10
