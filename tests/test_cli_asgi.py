"""The gohttp command with ASGI apps, as real processes on real sockets:
it tells ASGI from WSGI, --interface overrides, lifespan runs around the
serving (and its failure stops the command), workers and SIGHUP."""

import signal
import sys
import threading
import time

import pytest
import urllib3

from helpers.common import TIMEOUT
from test_cli import failure, gohttp_command, stop
from test_workers import READY, Load, pids_seen, ready_pids, wait_gone

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")


def get(url):
    r = urllib3.request("GET", url, retries=False, timeout=TIMEOUT)
    return r.status, r.data.decode()


@pytest.mark.parametrize("app, shown", [
    ("asgi_apps.hello:app", "asgi_apps.hello:app (ASGI)"),
    ("asgi_apps.hello:create_app()", "asgi_apps.hello:create_app() (ASGI)"),
])
def test_an_asgi_app_is_told_apart_and_its_lifespan_runs(
        subprocess_env, tmp_path, app, shown):
    log = tmp_path / "lifespan.log"
    env = dict(subprocess_env, GOHTTP_TEST_LIFESPAN_LOG=str(log))
    with gohttp_command(env, app, "-b", "127.0.0.1:0") as (proc, banner):
        name, url = banner.wait()
        assert name == shown
        status, body = get(url + "/x")
        assert status == 200
        assert body.startswith("Hello from /x root= ")
        assert "started=True" in body   # startup ran before serving
        assert not log.exists()
        assert stop(proc) == 0
        assert log.read_text() == f"shutdown {proc.pid}\n"
        assert "SIGTERM: shutting down" in banner.rest()


def test_sigterm_lets_a_request_finish_then_runs_lifespan_shutdown(
        subprocess_env, tmp_path):
    log = tmp_path / "lifespan.log"
    env = dict(subprocess_env, GOHTTP_TEST_LIFESPAN_LOG=str(log))
    with gohttp_command(env, "asgi_apps.hello:app", "-b", "127.0.0.1:0") as (
            proc, banner):
        _, url = banner.wait()
        result = {}
        client = threading.Thread(
            target=lambda: result.update(r=get(url + "/slow")))
        client.start()
        banner.wait_for("slow request started")
        assert stop(proc) == 0
        client.join(TIMEOUT)
        assert result["r"][0] == 200
    assert log.read_text() == f"slow request done\nshutdown {proc.pid}\n"


@pytest.mark.parametrize("loop", ["asyncio", "auto"])
def test_the_loop_runs_on_the_main_thread(subprocess_env, loop):
    """As under uvicorn, the command's loop is the main thread's: an app
    can add its own signal handlers (anyio's open_signal_receiver does),
    and Ctrl-C and SIGTERM still drain the server."""
    with gohttp_command(subprocess_env, "asgi_apps.held:signals",
                        "-b", "127.0.0.1:0", "--loop", loop) as (
            proc, banner):
        _, url = banner.wait()
        assert get(url + "/install") == (200, "main thread")
        proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + TIMEOUT
        while get(url + "/seen")[1] != "USR1":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(TIMEOUT) == 0
        assert "Ctrl-C: shutting down" in banner.rest()


def test_a_second_sigterm_cuts_the_requests_off(subprocess_env):
    with gohttp_command(subprocess_env, "asgi_apps.held:app",
                        "-b", "127.0.0.1:0", "--lifespan", "off") as (
            proc, banner):
        _, url = banner.wait()
        result = {}

        def held():
            try:
                result["r"] = get(url + "/held")
            except urllib3.exceptions.HTTPError as exc:
                result["r"] = exc
        client = threading.Thread(target=held)
        client.start()
        deadline = time.monotonic() + TIMEOUT
        while not get(url + "/count")[1].startswith("1 "):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        banner.wait_for("SIGTERM: shutting down")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
        client.join(TIMEOUT)
        assert "forced shutdown" in banner.rest()
        assert not isinstance(result["r"], tuple) or result["r"][0] == 500


def test_a_hanging_startup_times_out_or_stops_at_ctrl_c(subprocess_env):
    code, stderr = failure(subprocess_env, "asgi_apps.held:hanging_startup",
                           "-b", "127.0.0.1:0", "--timeout-lifespan", "0.5")
    assert code == 1
    assert stderr == ("startup began\ngohttp: ASGI lifespan startup did "
                      "not complete within 0.5s (timeout_lifespan)\n")
    # Ctrl-C while it hangs: no waiting for the timeout, nothing left.
    with gohttp_command(subprocess_env, "asgi_apps.held:hanging_startup",
                        "-b", "127.0.0.1:0") as (proc, banner):
        banner.wait_for("startup began")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(TIMEOUT) == 0
        assert time.monotonic() - started < 5
        rest = banner.rest()
        assert "Ctrl-C: shutting down" in rest
        assert "Traceback" not in rest and "destroyed" not in rest


def test_tasks_an_app_leaks_do_not_hold_up_the_exit(subprocess_env):
    with gohttp_command(subprocess_env, "asgi_apps.held:leaky",
                        "-b", "127.0.0.1:0") as (proc, banner):
        _, url = banner.wait()
        for i in range(1, 4):
            assert get(url + "/") == (200, str(i))
        started = time.monotonic()
        assert stop(proc) == 0
        assert time.monotonic() - started < 5
        rest = banner.rest()
        assert "destroyed" not in rest and "Traceback" not in rest, rest


@pytest.mark.parametrize("args", [["asgi_apps.hello:Asgi2"],
                                  ["asgi_apps.hello:asgi2_factory",
                                   "--interface", "asgi2"]])
def test_an_asgi2_app(subprocess_env, args):
    with gohttp_command(subprocess_env, *args, "-b", "127.0.0.1:0") as (
            proc, banner):
        name, url = banner.wait()
        assert name == f"{args[0]} (ASGI2)"
        assert get(url + "/") == (200, "ASGI 2\n")
        assert stop(proc) == 0
        # auto: an app that raises on the lifespan scope is served
        # without it, not an error.
        assert "Traceback" not in banner.rest()


def test_the_asgi_flags_reach_the_app(subprocess_env, tmp_path):
    """uvicorn's flags, spelled as uvicorn spells them (asgi3 too)."""
    log = tmp_path / "lifespan.log"
    env = dict(subprocess_env, GOHTTP_TEST_LIFESPAN_LOG=str(log))
    with gohttp_command(env, "asgi_apps.hello:app", "-b", "127.0.0.1:0",
                        "--interface", "asgi3", "--root-path", "/api",
                        "--lifespan", "off", "--loop", "asyncio",
                        "--timeout-lifespan", "5") as (proc, banner):
        _, url = banner.wait()
        status, body = get(url + "/x")
        assert status == 200
        assert "root=/api " in body
        assert "started=None" in body   # --lifespan off
        assert stop(proc) == 0
    assert not log.exists()


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]])
def test_a_failed_lifespan_startup_exits_1_with_the_apps_message(
        subprocess_env, workers):
    code, stderr = failure(subprocess_env, "asgi_apps.hello:failing_startup",
                           "-b", "127.0.0.1:0", *workers)
    assert code == 1
    assert ("gohttp: ASGI lifespan startup failed: the database is not "
            "there\n") in stderr
    if workers:
        assert "the workers cannot start" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("args, code, message", [
    (["asgi_apps.hello:app", "--interface", "wsgi"], 1,
     "gohttp: --interface wsgi: asgi_apps.hello:app is an ASGI application "
     "(its __call__ is a coroutine function); leave --interface out, or "
     "give --interface asgi"),
    (["asgi_apps.hello:wsgi_app", "--interface", "asgi"], 1,
     "gohttp: an ASGI app is called as await app(scope, receive, send): "
     "this one does not take three arguments"),
    (["asgi_apps.hello:asgi2_factory"], 1,
     "cannot be called as a WSGI application app(environ, start_response); "
     "if it is a factory that makes one, write asgi_apps.hello:"
     "asgi2_factory(); if it is an ASGI 2 app, app(scope), give "
     "--interface asgi2"),
    (["asgi_apps.hello:wsgi_app", "--interface", "asgi2"], 1,
     "gohttp: an ASGI 2 app is called as app(scope): this one does not "
     "take one argument"),
    (["wsgi_apps.hello:app", "--lifespan", "on"], 2,
     "--lifespan applies to ASGI apps, and wsgi_apps.hello:app is a WSGI "
     "app"),
    (["wsgi_apps.native:server", "--interface", "asgi"], 1,
     "--interface applies to an app, and wsgi_apps.native:server is a "
     "gohttp.Server"),
    (["asgi_apps.hello:app", "--max-handlers", "3"], 2,
     "--max-handlers applies to WSGI apps"),
    (["asgi_apps.hello:app", "--interface", "asgi4"], 2,
     "--interface must be one of auto, asgi, asgi3, asgi2, wsgi, not "
     "'asgi4'"),
    (["asgi_apps.hello:app", "--root-path", "api"], 2,
     "--root-path must be a URL path that starts with '/', not 'api'"),
    (["asgi_apps.hello:app", "--timeout-lifespan", "-1"], 2,
     "--timeout-lifespan must be a number of seconds"),
])
def test_a_wrong_interface_or_flag_is_a_clear_error(subprocess_env, args,
                                                    code, message):
    got, stderr = failure(subprocess_env, *args, "-b", "127.0.0.1:0")
    assert got == code, stderr
    assert message in stderr
    assert "Traceback" not in stderr


def test_a_wsgi_app_is_still_wsgi_and_interface_wsgi_says_so(subprocess_env):
    with gohttp_command(subprocess_env, "asgi_apps.hello:wsgi_app",
                        "--interface", "wsgi", "-b", "127.0.0.1:0") as (
            proc, banner):
        name, url = banner.wait()
        assert name == "asgi_apps.hello:wsgi_app"
        assert get(url + "/") == (200, "WSGI\n")
        assert stop(proc) == 0


def test_workers_sighup_and_sigterm_with_lifespan(subprocess_env, tmp_path):
    log = tmp_path / "lifespan.log"
    env = dict(subprocess_env, GOHTTP_TEST_LIFESPAN_LOG=str(log))
    with gohttp_command(env, "asgi_apps.hello:app", "-b", "127.0.0.1:0",
                        "--workers", "2") as (proc, banner):
        name, url = banner.wait()
        assert name == "asgi_apps.hello:app (ASGI)"   # a worker's word
        before = set(ready_pids(banner))
        assert len(before) == 2
        assert pids_seen(url, 2) == before
        proc.send_signal(signal.SIGHUP)
        banner.wait_for("every worker replaced")
        wait_gone(before)
        after = set(ready_pids(banner)) - before
        assert len(after) == 2
        assert pids_seen(url, 2) == after
        # The replaced workers ran their lifespan shutdown.
        assert {int(line.split()[1]) for line in
                log.read_text().splitlines()} == before
        assert stop(proc) == 0
        wait_gone(after)
    assert {int(line.split()[1]) for line in
            log.read_text().splitlines()} == before | after


def test_max_requests_recycles_an_asgi_worker_after_its_lifespan(
        subprocess_env, tmp_path):
    # The worker that reached max_requests runs its lifespan shutdown and
    # its successor serves on: no request in the load fails meanwhile.
    log = tmp_path / "lifespan.log"
    env = dict(subprocess_env, GOHTTP_TEST_LIFESPAN_LOG=str(log))
    with gohttp_command(env, "asgi_apps.hello:app", "-b", "127.0.0.1:0",
                        "--workers", "1", "--max-requests", "20") as (
            proc, banner):
        _, url = banner.wait()
        first = ready_pids(banner)[0]
        load = Load(url, threads=1)
        banner.wait_for("requests (max_requests")
        line = banner.wait_for("ready")
        load.wait_for_requests(5)
        load.stop()
        assert load.failed == []
        second = int(READY.search(line).group(2))
        assert second != first and second in load.pids
        wait_gone([first])
        assert log.read_text().splitlines() == [f"shutdown {first}"]
        assert stop(proc) == 0
