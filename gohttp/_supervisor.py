"""The supervisor of worker processes: it runs N copies of the program,
all serving the same listening sockets, restarts those that die,
replaces them one by one on SIGHUP (and, with --reload, when a watched
file changes: _reload.py) and recycles those past their limits (see
_control.py for how it talks with them)."""

from __future__ import annotations

import json
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from . import (__version__, _address, _control, _gohttp, _http3, _logging,
               _options, _systemd)
from . import _reload
from ._cpus import cpu_count
from ._gohttp import Error
from ._sockets import Listeners

logger = _logging.logger

# How long a new worker may take to import the app and listen.
BOOT_TIMEOUT = 120.0
# A worker that served this long before it died is replaced at once; one
# that died sooner, or before it was ready, is crashing at start, and its
# replacement waits RESTART_DELAY, doubling with each such death in a row,
# up to RESTART_DELAY_MAX. Its listening sockets stay open meanwhile (the
# supervisor holds them from start to stop): connections wait in their
# queue for the replacement, and are never refused.
STABLE_AFTER = 1.0
RESTART_DELAY = 0.1
RESTART_DELAY_MAX = 5.0
# How long past its shutdown_timeout a stopping worker has before SIGKILL.
KILL_GRACE = 5.0


class BootError(Error, RuntimeError):
    """The workers could not start: the app did not import, an address
    could not be bound."""

    __module__ = "gohttp"


def go_procs(workers: int) -> int:
    """The GOMAXPROCS a worker's Go runtime gets, unless the environment
    sets one: the CPUs shared among the workers, at least one.  Go's
    default, every CPU in every worker, keeps workers × CPUs schedulers,
    which spend on waking one another what they save by running in
    parallel (granian's workers, likewise, each run one runtime thread
    by default)."""
    return max(1, -(-cpu_count() // workers))


@dataclass
class Policy:
    """How many workers, and when to recycle one."""

    workers: int = 1
    max_requests: Optional[int] = None
    max_requests_jitter: int = 0
    max_rss: Optional[int] = None  # MiB

    @classmethod
    def of(cls, **given: Any) -> "Policy":
        """Check run()'s worker arguments (see _options); workers 0 or
        "auto" is one per CPU."""
        checked = _options.check_all(given, (_options.RUN,), "run()")
        policy = cls(**checked)
        policy.workers = policy.workers or cpu_count()
        return policy

    @property
    def supervised(self) -> bool:
        """Whether a supervisor is needed: several workers, or one that
        is replaced when it reaches a limit."""
        return (self.workers > 1 or self.max_requests is not None
                or self.max_rss is not None)

    def request_limit(self) -> Optional[int]:
        """One worker's max_requests, jitter added: workers started
        together do not all recycle at once."""
        if self.max_requests is None:
            return None
        return self.max_requests + random.randint(0, self.max_requests_jitter)


@dataclass(eq=False)
class Worker:
    """One worker process, as the supervisor sees it."""

    slot: int
    proc: subprocess.Popen
    control: socket.socket
    started: float
    replaces: Optional["Worker"] = None  # stopped once this one is ready
    ready_at: Optional[float] = None
    stop_deadline: Optional[float] = None  # set once SIGTERM was sent
    recycling: bool = False
    buffer: bytes = b""
    metrics: str = ""  # the Unix socket of its metrics, if any

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __str__(self) -> str:
        return f"worker {self.slot} (pid {self.pid})"


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Runs policy.workers workers of command until SIGTERM or SIGINT:
    restarts those that die, reloads them one by one on SIGHUP, recycles
    those past their limits."""

    def __init__(self, policy: Policy, *, app_name: Optional[str] = None,
                 shutdown_timeout: float = 10.0,
                 command: Optional[list[str]] = None,
                 binds: Optional[list[str]] = None,
                 metrics_bind: Optional[str] = None,
                 watch: Optional[_reload.Watch] = None) -> None:
        self.policy = policy
        # One /metrics for every worker (see go/opsworkers.go): the
        # supervisor serves it, each worker its own on a Unix socket in
        # metrics_dir that the supervisor gathers from.
        self.metrics_bind = metrics_bind
        self.metrics_core: Optional[Any] = None
        self.metrics_dir = ""
        self.spawned = 0
        # Where the workers listen when the command line cannot say: the
        # sockets systemd passed the supervisor (socket activation).
        self.binds = binds
        self.app_name = app_name
        self.shutdown_timeout = shutdown_timeout
        self.shutdown_delay = 0.0  # the workers' (they say when ready)
        self.command = command or _rerun_command()
        self.listeners = Listeners()
        self.slots: dict[int, Optional[Worker]] = {
            n: None for n in range(1, policy.workers + 1)}
        self.workers: list[Worker] = []  # every live process
        self.failures = {n: 0 for n in self.slots}
        self.restart_at: dict[int, float] = {}  # slot -> when
        self.reload_queue: list[int] = []
        self.reloading: Optional[Worker] = None  # the reload's new worker
        self.reload_why = "SIGHUP"
        self.reload_after_boot = ""  # a change came while starting
        self.watch = watch  # --reload's files
        self.changes: list[list[str]] = []  # from the watcher's thread
        self._wake_w = -1
        self.booted = False
        self.boot_error = ""  # why the workers could not start
        self.stopping = ""  # why, once stopping
        self.urls: list[str] = []
        self.http3_url: Optional[str] = None  # "udp://...": the workers'
        self.selector = selectors.DefaultSelector()
        self.signals: list[int] = []

    # The loop.
    def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then drain every worker and
        return.  Raises BootError if the workers cannot start."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("workers are supervised from the main "
                               "thread, which receives the signals: call "
                               "run(workers=...) there")
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self.selector.register(wake_r, selectors.EVENT_READ)
        self._wake_w = wake_w
        previous = self._catch_signals(wake_w)
        watchdog = _systemd.Watchdog().start()
        watcher = None
        try:
            self._open_metrics()
            if self.watch is not None:
                watcher = _reload.Watcher(self.watch, self._changed).start()
            for slot in self.slots:
                self._spawn(slot)
            while self.workers or not self.stopping:
                self._step(wake_r)
        finally:
            watchdog.stop()
            self._close_metrics()
            if watcher is not None:
                watcher.stop()
            self._restore_signals(previous)
            for w in self.workers:
                w.proc.kill()
                w.proc.wait()
            self.listeners.close()
            self.selector.close()
            self._wake_w = -1
            os.close(wake_r)
            os.close(wake_w)
        if self.boot_error:
            raise BootError(self.boot_error)

    # Metrics and probes.
    def _open_metrics(self) -> None:
        if self.metrics_bind is None:
            return
        self.metrics_dir = tempfile.mkdtemp(prefix="gohttp-metrics-")
        self.metrics_core = _gohttp.Server(max_handlers=1)
        try:
            port = self.metrics_core.metrics_listen(self.metrics_bind,
                                                    supervisor=True)
        except OSError as exc:
            raise BootError(f"cannot listen for metrics on "
                            f"{self.metrics_bind}: {exc}") from None
        address = _address.parse(self.metrics_bind)
        if address.kind == "tcp" and port:
            address = _address.tcp(address.host, port)
        logger.info("metrics of every worker at %s/metrics, probes at "
                    "/healthz and /readyz", address.url("http"))

    def _close_metrics(self) -> None:
        if self.metrics_core is not None:
            self.metrics_core.shutdown(0)
            self.metrics_core = None
        if self.metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _set_ready(self, state: int) -> None:
        if self.metrics_core is not None:
            self.metrics_core.set_ready(state)

    def _publish_workers(self) -> None:
        """Tell the metrics listener which workers to gather from: the
        ready worker of each slot, labelled with the slot."""
        if self.metrics_core is None:
            return
        self.metrics_core.metrics_workers("\n".join(
            f"{slot}={w.metrics}" for slot, w in self.slots.items()
            if w is not None and w.ready_at is not None and w.metrics))

    def _step(self, wake_r: int) -> None:
        now = time.monotonic()
        timeout = min([1.0] + [max(0.0, t - now) for t in self._deadlines()])
        for key, _ in self.selector.select(timeout):
            if key.fd == wake_r:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
            else:
                self._read(key.data)
        while self.signals:
            self._on_signal(self.signals.pop(0))
        if self.changes:
            paths = sorted({p for batch in self.changes for p in batch})
            self.changes.clear()
            self._on_change(paths)
        self._reap()
        self._timers()

    def _deadlines(self) -> list[float]:
        times = list(self.restart_at.values())
        for w in self.workers:
            if w.stop_deadline is not None:
                times.append(w.stop_deadline)
            elif w.ready_at is None:
                times.append(w.started + BOOT_TIMEOUT)
        return times

    # Signals.
    def _catch_signals(self, wake_w: int) -> dict[int, Any]:
        def note(signum: int, frame: object) -> None:
            self.signals.append(signum)

        caught = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                  signal.SIGCHLD]
        previous: dict[int, Any] = {s: signal.signal(s, note) for s in caught}
        previous[-1] = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        return previous

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        signal.set_wakeup_fd(previous.pop(-1))
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            return  # _reap looks
        if signum == signal.SIGHUP:
            if not self.stopping and self.booted:
                self._reload()
            return
        why = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        if self.stopping:
            logger.warning("%s again: stopping the workers at once", why)
            for w in self.workers:
                self._signal(w, signal.SIGTERM)  # a second one cuts off
            return
        self._stop_all(why)

    def _stop_all(self, why: str) -> None:
        _systemd.notify("STOPPING=1")
        self._set_ready(2)
        self.stopping = why
        self.restart_at.clear()
        self.reload_queue.clear()
        if self.booted:
            logger.info("%s: shutting down %d workers, waiting up to %gs "
                        "for requests in flight", why, len(self.workers),
                        self.shutdown_timeout)
        for w in self.workers:
            self._stop(w)

    # Workers.
    def _spawn(self, slot: int, replaces: Optional[Worker] = None
               ) -> Worker:
        ours, theirs = socket.socketpair()
        settings: dict[str, Any] = {"fd": theirs.fileno(), "slot": slot,
                    "max_requests": self.policy.request_limit(),
                    "max_rss": self.policy.max_rss}
        if self.binds:
            settings["binds"] = self.binds
        if self.metrics_dir:
            self.spawned += 1
            settings["metrics"] = os.path.join(
                self.metrics_dir, f"w{slot}-{self.spawned}.sock")
        # systemd talks with the supervisor alone.
        env = dict(_systemd.child_environment(dict(os.environ)),
                   **{_control.ENV: json.dumps(settings)})
        if "GOMAXPROCS" not in env:
            # Read by the worker's Go runtime as it starts; gohttp's
            # import then takes both out of os.environ, so that the
            # app's own subprocesses do not inherit them.
            env["GOMAXPROCS"] = env[_control.GO_PROCS_ENV] = str(
                go_procs(self.policy.workers))
        try:
            # A session of its own: Ctrl-C in a terminal reaches the
            # supervisor alone, which then stops the workers in order.
            proc = subprocess.Popen(self.command, env=env,
                                    pass_fds=[theirs.fileno()],
                                    stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        w = Worker(slot, proc, ours, time.monotonic(), replaces=replaces,
                   metrics=settings.get("metrics", ""))
        self.workers.append(w)
        self.selector.register(ours, selectors.EVENT_READ, w)
        if replaces is None:
            self.slots[slot] = w
        logger.debug("%s started", w)
        return w

    def _signal(self, w: Worker, signum: int) -> None:
        try:
            w.proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def _stop(self, w: Worker) -> None:
        """Ask w to drain and exit."""
        if w.stop_deadline is None:
            w.stop_deadline = (time.monotonic() + self.shutdown_delay
                               + self.shutdown_timeout + KILL_GRACE)
        self._signal(w, signal.SIGTERM)

    def _read(self, w: Worker) -> None:
        try:
            data = w.control.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._forget_control(w)
            return
        w.buffer += data
        while b"\n" in w.buffer:
            line, _, w.buffer = w.buffer.partition(b"\n")
            try:
                message = json.loads(line)
            except ValueError:
                logger.error("%s sent a malformed message: %r", w, line)
                continue
            self._on_message(w, message)

    def _forget_control(self, w: Worker) -> None:
        try:
            self.selector.unregister(w.control)
        except (KeyError, ValueError):
            pass
        w.control.close()

    def _on_message(self, w: Worker, message: dict[str, Any]) -> None:
        if "listen" in message:
            try:
                fds = self.listeners.get(list(message["listen"]), w.slot)
            except OSError as exc:
                self._refuse(w, str(exc.strerror or exc))
                return
            except ValueError as exc:
                self._refuse(w, str(exc))
                return
            w.control.setblocking(True)
            try:
                _control.send(w.control, {"fds": len(fds)}, fds)
            except OSError:
                pass  # it died; _reap tells
            finally:
                w.control.setblocking(False)
        elif "ready" in message:
            self._on_ready(w, message)
        elif "recycle" in message:
            if (self.slots.get(w.slot) is w and not self.stopping
                    and not w.recycling and w.stop_deadline is None):
                w.recycling = True
                logger.info("%s %s: replacing it", w, message["recycle"])
                self._spawn(w.slot, replaces=w)

    def _refuse(self, w: Worker, why: str) -> None:
        w.control.setblocking(True)
        try:
            _control.send(w.control, {"error": why})
        except OSError:
            pass
        w.control.setblocking(False)
        if not self.booted and not self.stopping:
            self._boot_failed(why)
        else:
            logger.error("%s cannot listen: %s", w, why)

    def _boot_failed(self, why: str) -> None:
        logger.error("the workers cannot start: %s", why)
        self.boot_error = why
        self._stop_all(why)

    def _on_ready(self, w: Worker, message: dict[str, Any]) -> None:
        w.ready_at = time.monotonic()
        self.shutdown_timeout = float(message.get("shutdown_timeout",
                                                  self.shutdown_timeout))
        self.shutdown_delay = float(message.get("shutdown_delay",
                                                self.shutdown_delay))
        if not self.urls:
            self.urls = list(message.get("urls") or [])
            self.http3_url = message.get("http3")
            # The worker imported the app: its name says the interface
            # too ("main:app (ASGI)"), which the supervisor cannot know.
            self.app_name = message.get("app_name") or self.app_name
        if self.stopping:
            self._stop(w)
            return
        old = w.replaces
        if old is not None:
            w.replaces = None
            self.slots[w.slot] = w
            logger.info("%s ready; stopping %s", w, old)
            self._stop(old)
            if w is self.reloading:
                self._next_reload()
        else:
            logger.info("%s ready", w)
        self._publish_workers()
        if not self.booted and all(s is not None and s.ready_at is not None
                                   for s in self.slots.values()):
            self.booted = True
            self._set_ready(1)
            self._banner()
            if self.reload_after_boot:
                self._reload(self.reload_after_boot)

    def _banner(self) -> None:
        what = f"{self.app_name} on" if self.app_name else "on"
        where = " ".join(self.urls) or "?"
        n = len(self.slots)
        h3 = f" and HTTP/3 on {self.http3_url}" if self.http3_url else ""
        logger.info("gohttp %s serving %s %s%s with %d worker%s (Go "
                    "net/http) - press Ctrl-C to stop", __version__, what,
                    where, h3, n, "s" if n != 1 else "")
        if self.http3_url:
            # Once per start, here rather than in each worker.
            warning = _http3.udp_buffer_warning()
            if warning:
                logger.warning("%s", warning)
        _systemd.notify(f"READY=1\nSTATUS=serving on {where} with {n} "
                        f"worker{'s' if n != 1 else ''}")

    def _reap(self) -> None:
        for w in list(self.workers):
            code = w.proc.poll()
            if code is None:
                continue
            self.workers.remove(w)
            self._forget_control(w)
            self._on_exit(w, code)
            self._publish_workers()

    def _on_exit(self, w: Worker, code: int) -> None:
        now = time.monotonic()
        if w.stop_deadline is not None or self.stopping:
            logger.debug("%s stopped (%s)", w, _exit_reason(code))
            if self.slots.get(w.slot) is w:
                self.slots[w.slot] = None
            return
        if not self.booted:
            if self.watch is not None and not self.boot_error:
                # While developing: fix the code, and the next change
                # starts it again.
                logger.error("%s exited before it was ready (%s): waiting "
                             "for a change to a watched file to start it "
                             "again", w, _exit_reason(code))
                if self.slots.get(w.slot) is w:
                    self.slots[w.slot] = None
                return
            if not self.boot_error:
                self._boot_failed(f"{w} exited before it was ready "
                                  f"({_exit_reason(code)}): see its error "
                                  f"above")
            return
        if w.replaces is not None:
            # A replacement that failed.  The worker it was to replace
            # keeps serving, unless it died meanwhile.
            old, w.replaces = w.replaces, None
            old.recycling = False
            logger.error("%s exited before it was ready (%s)", w,
                         _exit_reason(code))
            if w is self.reloading:
                logger.error("%s: reload stopped; the workers not yet "
                             "replaced keep serving%s", self.reload_why,
                             " until the next change" if self.watch else "")
                self.reloading = None
                self.reload_queue.clear()
            if self.slots.get(w.slot) is None:
                self._restart_later(w.slot)
            return
        # The slot's worker died.
        self.slots[w.slot] = None
        served = (now - w.ready_at) if w.ready_at is not None else None
        if served is not None and served >= STABLE_AFTER:
            self.failures[w.slot] = 0
        if any(x.replaces is w for x in self.workers):
            logger.warning("%s died (%s); its replacement is starting", w,
                           _exit_reason(code))
            return
        if served is None:
            how = f"died before it was ready ({_exit_reason(code)})"
        else:
            how = f"died ({_exit_reason(code)}) after {served:.1f}s serving"
        self._restart_later(w.slot, f"{w} {how}")

    def _restart_later(self, slot: int, why: str = "") -> None:
        """Start a worker for slot: at once after one that served a while,
        else after a delay that doubles with each failure in a row, from
        RESTART_DELAY up to RESTART_DELAY_MAX. The slot's sockets stay
        open, so connections wait in their queue meanwhile."""
        failures = self.failures[slot]
        self.failures[slot] += 1
        if failures == 0:
            self.restart_at[slot] = time.monotonic()
            logger.warning("%s: starting worker %d again now", why or
                           f"worker {slot} is gone", slot)
            return
        delay = min(RESTART_DELAY * 2 ** (failures - 1), RESTART_DELAY_MAX)
        self.restart_at[slot] = time.monotonic() + delay
        logger.warning("%s: crash loop (%d in a row), starting worker %d "
                       "again in %.1fs (connections wait in its listen "
                       "queue)", why or f"worker {slot} is gone",
                       failures + 1, slot, delay)

    def _timers(self) -> None:
        now = time.monotonic()
        for slot, when in list(self.restart_at.items()):
            if when <= now and not self.stopping:
                del self.restart_at[slot]
                self._spawn(slot)
        for w in self.workers:
            if w.stop_deadline is not None and now >= w.stop_deadline:
                logger.warning("%s did not stop in time: killing it", w)
                w.proc.kill()
                w.stop_deadline = now + KILL_GRACE
            elif w.ready_at is None and now - w.started >= BOOT_TIMEOUT:
                logger.error("%s was not ready after %gs: killing it", w,
                             BOOT_TIMEOUT)
                w.proc.kill()

    # --reload: a watched file changed.
    def _changed(self, paths: list[str]) -> None:
        """Called by the watcher's thread: hand paths to the loop."""
        self.changes.append(paths)
        try:
            if self._wake_w >= 0:
                os.write(self._wake_w, b"r")
        except OSError:
            pass  # full: the loop wakes anyway; closed: it has stopped

    def _on_change(self, paths: list[str]) -> None:
        if self.stopping:
            return
        _reload.forget_bytecode(paths)
        names = [os.path.relpath(p) for p in paths]
        what = names[0] + (f" and {len(names) - 1} more" if len(names) > 1
                           else "")
        why = f"{what} changed"
        # Workers that failed to start, or wait to restart, start now.
        now = time.monotonic()
        waiting = [slot for slot, w in self.slots.items()
                   if w is None and slot not in self.restart_at]
        for slot in self.restart_at:
            self.restart_at[slot] = now
        if waiting:
            logger.info("%s: starting the workers that could not", why)
            for slot in waiting:
                self._spawn(slot)
        if not self.booted:
            # Those already starting may have imported the old code:
            # replaced once all serve.
            if len(waiting) < len(self.slots):
                logger.info("%s: the workers starting are replaced once "
                            "they serve", why)
                self.reload_after_boot = why
            return
        self._reload(why, skip=waiting)  # those run the new code already

    # SIGHUP (and --reload): one by one.
    def _reload(self, why: str = "SIGHUP", skip: Iterable[int] = ()
                ) -> None:
        self.reload_why = why
        queue = [slot for slot in self.slots if slot not in skip]
        if not queue:
            return
        logger.info("%s: replacing %s", why,
                    "the worker" if len(self.slots) == 1
                    else f"{len(queue)} workers one by one")
        self.reload_queue = queue  # again, if under way
        if self.reloading is None:
            self._next_reload()

    def _next_reload(self) -> None:
        """Start the new worker of the next slot to reload."""
        self.reloading = None
        while self.reload_queue:
            slot = self.reload_queue.pop(0)
            current = self.slots.get(slot)
            if current is None or current.recycling:
                continue  # its restart or replacement runs the new code
            current.recycling = True
            self.reloading = self._spawn(slot, replaces=current)
            return
        logger.info("%s: every worker replaced", self.reload_why)


def _rerun_command() -> list[str]:
    """The command line that runs this program again."""
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    if not sys.argv or sys.argv[0] in ("", "-"):
        raise RuntimeError(
            "workers are started by running the program again, but this "
            "one came from an interactive session or standard input: put "
            "it in a file (or use the gohttp command: gohttp APP "
            "--workers N)")
    return [sys.executable, *argv[1:]]
