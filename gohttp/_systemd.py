"""systemd's service protocol, without libsystemd (docs/deployment.md).

- Type=notify: ``READY=1`` once listening (after the ASGI lifespan
  startup), ``STOPPING=1`` when draining, ``WATCHDOG=1`` every half of
  ``WATCHDOG_USEC``: each one datagram to the Unix socket named by
  ``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading
  "@"), as sd_notify(3) sends it.
- Socket activation: ``LISTEN_PID`` and ``LISTEN_FDS`` name the listening
  sockets systemd passes from descriptor 3 on (sd_listen_fds(3)).

Without these variables (not under systemd) every function here does
nothing.  Worker processes never talk to systemd: their supervisor does,
and takes the variables out of their environment (child_environment).
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Optional

from . import _logging

logger = _logging.logger

NOTIFY_ENV = "NOTIFY_SOCKET"
# The first descriptor systemd passes (SD_LISTEN_FDS_START).
LISTEN_FDS_START = 3
# What a process of ours passes on to its children: none of it.
_OURS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID",
         "LISTEN_FDS", "LISTEN_FDNAMES")


def notify(message: str) -> bool:
    """Send message ("READY=1", ...) to systemd; True if sent.  A failure
    is logged, never raised: the service goes on."""
    target = os.environ.get(NOTIFY_ENV)
    if not target:
        return False
    if target.startswith("@"):
        target = "\0" + target[1:]  # an abstract socket name
    elif not target.startswith("/"):
        logger.warning("NOTIFY_SOCKET=%r is neither a path nor an abstract "
                       "name (@NAME): systemd is not told %s", target,
                       message.split("\n", 1)[0])
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(target)
            sock.sendall(message.encode())
    except OSError as exc:
        logger.warning("cannot tell systemd %s at NOTIFY_SOCKET=%s: %s",
                       message.split("\n", 1)[0], os.environ[NOTIFY_ENV],
                       exc)
        return False
    return True


def watchdog_interval() -> Optional[float]:
    """How often to send WATCHDOG=1 (half of WATCHDOG_USEC, in seconds),
    or None if systemd watches no process, or another one."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2e6


class Watchdog:
    """A thread that sends WATCHDOG=1 while the service runs.  It holds
    the GIL for a moment each time: a process whose interpreter is stuck
    (a handler that never lets the GIL go) stops sending, and systemd
    restarts it, as it should."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def start(self) -> "Watchdog":
        interval = watchdog_interval()
        if interval is not None and os.environ.get(NOTIFY_ENV):
            self.thread = threading.Thread(
                target=self._run, args=(interval,), name="gohttp-watchdog",
                daemon=True)
            self.thread.start()
        return self

    def _run(self, interval: float) -> None:
        notify("WATCHDOG=1")
        while not self.stopped.wait(interval):
            notify("WATCHDOG=1")

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()


def listen_fds() -> list[int]:
    """The listening sockets systemd passed this process (socket
    activation), as descriptor numbers; [] if none or if they were meant
    for another process.  The variables are taken out of the environment,
    so that children do not take the sockets for theirs."""
    pid = os.environ.get("LISTEN_PID", "")
    count = os.environ.get("LISTEN_FDS", "")
    if not (pid.isdigit() and int(pid) == os.getpid()
            and count.isdigit() and int(count) > 0):
        return []
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return list(range(LISTEN_FDS_START, LISTEN_FDS_START + int(count)))


def child_environment(env: dict[str, str]) -> dict[str, str]:
    """env without systemd's variables: for a worker process, which its
    supervisor speaks for."""
    return {k: v for k, v in env.items() if k not in _OURS}
