"""--reload: a real server, real edits of its app's files.  A change
starts a fresh worker on the same sockets (no connection refused), code
that does not import leaves the old worker serving until it is fixed,
and the watch follows --reload-dir, --reload-include and
--reload-exclude, with watchfiles or by polling."""

import contextlib
import os
import signal
import subprocess
import sys
import threading

import pytest

from gohttp import _reload
from helpers.common import TIMEOUT, as_in_a_terminal, get
from helpers.wsgi import Banner

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")

APP = """\
import os

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"VERSION %d" % os.getpid()]
"""


def write_app(path, version):
    """Write the app, answering "version pid"; a new mtime even within
    the file system's clock tick."""
    path.write_text(APP.replace("VERSION", version))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


@contextlib.contextmanager
def reloading(env, cwd, *args):
    """`gohttp app:app --reload ARGS` in cwd; yields (process, Banner)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gohttp", "app:app", "--reload",
         "-b", "127.0.0.1:0", *args],
        cwd=cwd, env=env, text=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, preexec_fn=as_in_a_terminal)
    try:
        yield proc, Banner(proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(TIMEOUT)
        proc.stderr.close()


def answer(url):
    r = get(url + "/")
    assert r.status == 200
    version, pid = r.data.decode().split()
    return version, int(pid)


def soon(url, version):
    """The pid that answers version: once the new worker is ready, the
    old one drains, and may still take a connection or two before it
    closes its copies of the sockets."""
    for _ in range(1000):
        found, pid = answer(url)
        if found == version:
            return pid
    pytest.fail(f"still {found} after a thousand requests")


def without_watchfiles(env, tmp_path):
    """env in which `import watchfiles` fails: the polling watcher."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "watchfiles.py").write_text("raise ImportError('hidden')\n")
    return dict(env, PYTHONPATH=f"{shim}{os.pathsep}{env['PYTHONPATH']}")


def test_a_change_serves_from_a_fresh_worker_without_refusing(
        subprocess_env, tmp_path):
    write_app(tmp_path / "app.py", "v1")
    with reloading(subprocess_env, tmp_path) as (proc, banner):
        _, url = banner.wait()
        version, first = answer(url)
        assert version == "v1"
        # A client asks all along the reload, a new connection each time.
        failures, stop = [], threading.Event()

        def client():
            while not stop.is_set():
                try:
                    answer(url)
                except Exception as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)

        thread = threading.Thread(target=client)
        thread.start()
        try:
            write_app(tmp_path / "app.py", "v2")
            banner.wait_for("app.py changed: every worker replaced")
            second = soon(url, "v2")
        finally:
            stop.set()
            thread.join(TIMEOUT)
        assert failures == []
        assert second != first
        assert "reload: watching " in "".join(banner.lines)


def test_code_that_fails_to_import_leaves_the_old_worker_serving(
        subprocess_env, tmp_path):
    app = tmp_path / "app.py"
    write_app(app, "v1")
    with reloading(subprocess_env, tmp_path) as (proc, banner):
        _, url = banner.wait()
        app.write_text("def app(:\n")
        banner.wait_for("reload stopped; the workers not yet replaced keep "
                        "serving until the next change")
        assert answer(url)[0] == "v1"
        log = "".join(banner.lines)
        assert "SyntaxError" in log and 'app.py", line 1' in log
        write_app(app, "v2")
        banner.wait_for("every worker replaced")
        soon(url, "v2")


@pytest.mark.heavy
def test_an_app_broken_at_the_start_starts_once_fixed(subprocess_env,
                                                      tmp_path):
    app = tmp_path / "app.py"
    app.write_text("raise RuntimeError('not yet')\n")
    with reloading(subprocess_env, tmp_path) as (proc, banner):
        banner.wait_for("waiting for a change to a watched file to start "
                        "it again")
        write_app(app, "v1")
        _, url = banner.wait()
        assert answer(url)[0] == "v1"
        assert "RuntimeError: not yet" in "".join(banner.lines)


@pytest.mark.heavy
def test_a_change_while_starting_is_served_once_started(subprocess_env,
                                                       tmp_path):
    """The worker starting when a file changes may have read the old
    code: it is replaced as soon as the workers serve."""
    app = tmp_path / "app.py"
    go = tmp_path / "go"
    # The app's import waits for the test to let it finish.
    wait = (f"import os, time\nwhile not os.path.exists({str(go)!r}):\n"
            f"    time.sleep(0.01)\n")
    app.write_text(wait + APP.replace("VERSION", "v1"))
    with reloading(subprocess_env, tmp_path) as (proc, banner):
        banner.wait_for("reload: watching ")
        app.write_text(wait + APP.replace("VERSION", "v2"))
        banner.wait_for("app.py changed")
        go.touch()
        _, url = banner.wait()
        banner.wait_for("app.py changed: replacing the worker")
        banner.wait_for("every worker replaced")
        soon(url, "v2")


@pytest.mark.heavy
def test_polling_follows_includes_and_excludes(subprocess_env, tmp_path):
    """Without watchfiles it polls; --reload-include adds templates,
    --reload-exclude leaves a directory out, --reload-dir says where."""
    src = tmp_path / "src"
    (src / "templates").mkdir(parents=True)
    (src / "generated").mkdir()
    write_app(src / "app.py", "v1")
    env = without_watchfiles(subprocess_env, tmp_path)
    env["PYTHONPATH"] += os.pathsep + str(src)
    with reloading(env, tmp_path, "--reload-dir", str(src),
                   "--reload-include", "*.html",
                   "--reload-exclude", "generated") as (proc, banner):
        _, url = banner.wait()
        assert "by polling every 0.5s" in "".join(banner.lines)
        (src / "generated" / "out.html").write_text("ignored")
        (tmp_path / "elsewhere.py").write_text("ignored = True\n")
        (src / "templates" / "page.html").write_text("<p>changed</p>")
        line = banner.wait_for("changed: replacing the worker")
        assert "page.html changed" in line, line
        banner.wait_for("every worker replaced")
        assert "out.html" not in "".join(banner.lines)
        assert "elsewhere.py" not in "".join(banner.lines)


def test_a_reload_dir_that_is_not_one(subprocess_env, tmp_path):
    write_app(tmp_path / "app.py", "v1")
    done = subprocess.run(
        [sys.executable, "-m", "gohttp", "app:app", "--reload",
         "--reload-dir", "nowhere"], cwd=tmp_path, env=subprocess_env,
        capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    assert done.stderr == "gohttp: --reload-dir nowhere: no such directory\n"


@pytest.mark.parametrize("path, wanted", [
    ("app.py", True),
    ("pkg/views.py", True),
    ("pkg/views.pyc", False),
    ("README.md", False),
    (".venv/lib/site.py", False),
    ("pkg/__pycache__/views.py", False),
    ("pkg/.#views.py", False),
    ("templates/index.html", True),
    ("static/app.css", False),
    (".env", True),        # named exactly: over the default ".*"
    ("../outside.py", False),
])
def test_which_files_reload(tmp_path, path, wanted):
    watch = _reload.Watch.of([str(tmp_path)],
                             includes=["*.py", "templates/*.html", ".env"])
    assert watch.wants(str(tmp_path / path)) is wanted
