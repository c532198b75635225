"""ASGI lifespan (asgiref's lifespan.rst) for gohttp.asgi: the app's
startup before the server serves, its shutdown after the last request.

A Lifespan runs the app's lifespan scope in a task on the ASGI event loop;
the server's thread waits for each step, up to a timeout.  mode "auto"
serves an app that raises on the lifespan scope before it completes
startup without lifespan (as uvicorn does, logged at INFO); "on" makes
that a failure; "off" never calls the app with it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Callable, Optional

from ._logging import logger


class LifespanFailure(RuntimeError):
    """The app's lifespan startup or shutdown failed, or timed out."""


class LifespanInterrupted(LifespanFailure):
    """A shutdown (Ctrl-C, SIGTERM) came while the startup ran."""


class Lifespan:
    def __init__(self, app: Callable[..., Any], mode: str,
                 timeout: Optional[float],
                 loop: asyncio.AbstractEventLoop) -> None:
        # mode and timeout are checked by _options (timeout 0: no limit).
        self.app = app
        self.mode = mode
        self.timeout = timeout or None
        self.loop = loop
        self.state: dict[str, Any] = {}
        self.running = False       # startup completed: shutdown is due
        self.supported = mode != "off"
        self.failure: Optional[str] = None
        self.pending: Optional[concurrent.futures.Future[Any]] = None

    # From the server's thread.
    def startup(self) -> None:
        """Run the startup; raise LifespanFailure if the app says it
        failed (or, with mode "on", raised), or it takes too long."""
        if not self.supported or self.running:
            return
        try:
            self._wait(self._startup(), "startup")
            if self.failure is not None:
                raise LifespanFailure(f"ASGI lifespan startup failed: "
                                      f"{self.failure}")
        except BaseException:
            self._cancel()
            raise
        self.running = self.supported

    def interrupt(self) -> None:
        """Make a startup under way raise LifespanInterrupted (any
        thread)."""
        pending = self.pending
        if pending is not None:
            pending.cancel()

    def _cancel(self) -> None:
        """Cancel the lifespan task, if it still runs."""
        task = getattr(self, "task", None)
        if task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(task.cancel)

    def shutdown(self) -> None:
        """Run the shutdown, once, if the startup completed; a failure is
        logged."""
        if not self.running:
            return
        self.running = False
        try:
            self._wait(self._shutdown(), "shutdown")
        except LifespanFailure as exc:
            logger.error("%s", exc)
            self._cancel()
        if self.failure is not None:
            logger.error("ASGI lifespan shutdown failed: %s", self.failure)

    def _wait(self, coro: Any, step: str) -> None:
        if asyncio._get_running_loop() is self.loop:
            coro.close()   # an app that shuts its own server down
            raise LifespanFailure(f"ASGI lifespan {step} cannot run from "
                                  f"the ASGI loop's own thread")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        self.pending = fut
        try:
            fut.result(self.timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise LifespanFailure(
                f"ASGI lifespan {step} did not complete within "
                f"{self.timeout:g}s (timeout_lifespan)") from None
        except concurrent.futures.CancelledError:
            raise LifespanInterrupted(f"ASGI lifespan {step} was "
                                      f"interrupted by a shutdown") from None
        finally:
            self.pending = None

    # On the loop.
    async def _startup(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.task = self.loop.create_task(self._main())
        await self.messages.put({"type": "lifespan.startup"})
        await self.started.wait()

    async def _shutdown(self) -> None:
        self.failure = None
        await self.messages.put({"type": "lifespan.shutdown"})
        await self.stopped.wait()

    async def _main(self) -> None:
        scope = {"type": "lifespan",
                 "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        try:
            await self.app(scope, self.receive, self.send)
        except (asyncio.CancelledError, GeneratorExit):
            raise   # cancelled, or destroyed with its loop
        except BaseException as exc:
            if self.started.is_set():
                logger.error("Exception in ASGI lifespan", exc_info=exc)
            elif self.mode == "auto":
                logger.info("ASGI 'lifespan' protocol appears unsupported "
                            "by the app (%s: %s): serving without it",
                            type(exc).__name__, exc)
                self.supported = False
            else:
                logger.error("Exception in ASGI lifespan startup",
                             exc_info=exc)
                self.failure = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, Exception):
                raise
        finally:
            self.started.set()
            self.stopped.set()

    async def receive(self) -> dict[str, Any]:
        return await self.messages.get()

    async def send(self, message: dict[str, Any]) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "lifespan.startup.complete" and not self.started.is_set():
            self.started.set()
        elif kind == "lifespan.startup.failed" and not self.started.is_set():
            self.failure = message.get("message") or "(no message)"
            self.started.set()
        elif kind == "lifespan.shutdown.complete" and self.started.is_set():
            self.stopped.set()
        elif kind == "lifespan.shutdown.failed" and self.started.is_set():
            self.failure = message.get("message") or "(no message)"
            self.stopped.set()
        else:
            raise ValueError(f"unexpected ASGI lifespan message {message!r}")
