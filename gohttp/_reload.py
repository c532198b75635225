"""--reload: watch the app's files, and tell the supervisor when one
changes; it then starts a fresh worker on the same sockets and stops
the old one once the new one serves (see Supervisor._reload), so a
browser never sees a refused connection, and code that fails to import
leaves the old worker serving.

The watching runs in the supervisor, which imports no app and serves no
request, on a thread of its own: with watchfiles (inotify, FSEvents,
kqueue, through the Rust notify crate) when it is installed, told of a
change at once and idle otherwise; else by polling, a walk of the
directories every POLL_INTERVAL seconds that needs nothing installed and
works where notifications do not (network file systems, some container
mounts).  Watching in Go (fsnotify) would need a new dependency and a new
path across the cgo boundary for what a supervisor thread does as well.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Callable, Iterable, Optional

from . import _logging, _options

logger = _logging.logger

# How often the polling watcher walks the directories.
POLL_INTERVAL = 0.5
# Past this many watched files, polling says it is costly.
MANY_FILES = 5000
# How long watchfiles groups changes that come together (a save that
# writes several files, a git checkout) into one reload, in ms.
DEBOUNCE_MS = 400


@dataclass(frozen=True)
class Watch:
    """What --reload watches: the files under dirs whose name or path
    matches an include pattern and neither they nor a directory above
    them an exclude pattern (excludes win, except over a file an include
    pattern names exactly: --reload-include .env)."""

    dirs: tuple[str, ...]
    includes: tuple[str, ...]
    excludes: tuple[str, ...]

    @classmethod
    def of(cls, dirs: Optional[Iterable[str]] = None,
           includes: Optional[Iterable[str]] = None,
           excludes: Optional[Iterable[str]] = None) -> "Watch":
        """The watch of the --reload-* options (None: their defaults);
        ValueError naming a directory that is not one."""
        found = []
        for path in dirs or [os.getcwd()]:
            if not os.path.isdir(path):
                raise ValueError(f"--reload-dir {path}: no such directory")
            found.append(os.path.abspath(path))
        return cls(tuple(dict.fromkeys(found)),
                   tuple(includes or _options.RELOAD_INCLUDES),
                   tuple(excludes or _options.RELOAD_EXCLUDES))

    def _relative(self, path: str) -> Optional[PurePath]:
        for top in self.dirs:
            if path == top or path.startswith(top.rstrip(os.sep) + os.sep):
                return PurePath(os.path.relpath(path, top))
        return None

    def skips_dir(self, path: str) -> bool:
        """Whether the directory at path, and all under it, is left out."""
        rel = self._relative(path)
        return rel is not None and _matches(rel, self.excludes)

    def wants(self, path: str) -> bool:
        """Whether a change to the file at path is a reason to reload."""
        rel = self._relative(os.path.abspath(path))
        if rel is None or not _matches(rel, self.includes):
            return False
        if rel.name in self.includes:
            return True
        return not any(_matches(PurePath(*rel.parts[:n]), self.excludes)
                       for n in range(1, len(rel.parts) + 1))

    def describe(self) -> str:
        return (f"{', '.join(self.dirs)} ({', '.join(self.includes)}; not "
                f"{', '.join(self.excludes)})")


def forget_bytecode(paths: Iterable[str]) -> None:
    """Remove the cached bytecode of the changed .py files among paths.
    A .pyc is trusted while its source's size and mtime in whole seconds
    match: an edit that keeps the size within the same second (v1 to
    v2) would otherwise import the old code."""
    for path in paths:
        if path.endswith(".py"):
            try:
                os.remove(importlib.util.cache_from_source(path))
            except (OSError, ValueError, NotImplementedError):
                pass


def _matches(rel: PurePath, patterns: Iterable[str]) -> bool:
    """Whether a pattern matches rel's name, or rel itself from the
    right (templates/*.html)."""
    return any(fnmatch.fnmatchcase(rel.name, p) or rel.match(p)
               for p in patterns)


class Watcher:
    """A thread that calls on_change(paths) with the changed files each
    time some change, until stop()."""

    def __init__(self, watch: Watch,
                 on_change: Callable[[list[str]], None]) -> None:
        self.watch = watch
        self.on_change = on_change
        self._stop = threading.Event()
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            self.how = (f"by polling every {POLL_INTERVAL:g}s (pip install "
                        f"watchfiles to be told of changes at once)")
            target: Callable[[], None] = self._poll
            self._snapshot = self.snapshot()  # before anything can change
            if len(self._snapshot) > MANY_FILES:
                logger.warning(
                    "reload: polling %d files every %gs costs CPU time: "
                    "narrow --reload-dir or --reload-include, or pip "
                    "install watchfiles", len(self._snapshot),
                    POLL_INTERVAL)
        else:
            self.how = "with watchfiles"
            target = self._watchfiles
        self._thread = threading.Thread(target=self._run, args=(target,),
                                        name="gohttp-reload", daemon=True)

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        except Exception:
            logger.exception("reload: watching the files failed; changes "
                             "no longer reload")

    # watchfiles
    def _watchfiles(self) -> None:
        import logging

        import watchfiles

        # It logs every batch of changes at INFO; the supervisor says
        # which file changed.
        logging.getLogger("watchfiles").setLevel(logging.WARNING)

        def wanted(change: Any, path: str) -> bool:
            return self.watch.wants(path)

        for changes in watchfiles.watch(
                *self.watch.dirs, watch_filter=wanted, stop_event=self._stop,
                debounce=DEBOUNCE_MS, rust_timeout=500,
                raise_interrupt=False, ignore_permission_denied=True):
            self.on_change(sorted({path for _, path in changes}))

    # Polling
    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Each watched file's modification time and size."""
        found = {}
        for top in self.watch.dirs:
            for root, dirs, files in os.walk(top):
                dirs[:] = [d for d in dirs
                           if not self.watch.skips_dir(os.path.join(root, d))]
                for name in files:
                    path = os.path.join(root, name)
                    if not self.watch.wants(path):
                        continue
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue  # gone meanwhile
                    found[path] = (st.st_mtime_ns, st.st_size)
        return found

    def _poll(self) -> None:
        before = self._snapshot
        while not self._stop.wait(POLL_INTERVAL):
            now = self.snapshot()
            changed = sorted(path for path in before.keys() | now.keys()
                             if before.get(path) != now.get(path))
            before = now
            if changed:
                self.on_change(changed)
