"""The whole process: run() and signals, interpreter exit, fork, re-import.

Each test runs a small script in a fresh interpreter (sys.executable), so
that signals, exit and fork act on a process of its own.
"""

import os
import re
import selectors
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import urllib3

import gohttp
from helpers import common
from helpers.common import TIMEOUT, as_in_a_terminal, outcome

# run()'s banner: " * gohttp 0.1.0 serving on http://127.0.0.1:PORT (...)",
# with the app's name before "on" when the gohttp command runs it.
BANNER = re.compile(
    rb" \* gohttp " + re.escape(gohttp.__version__.encode())
    + rb" serving (?:\S+ )?on http://127\.0\.0\.1:(\d+) ")
CRASH_SIGNS = ("Fatal Python error", "panic:", "fatal error:",
               "Segmentation fault", "Traceback", "SIGSEGV", "goroutine ")


class Script:
    """A Python script running in a subprocess, its stderr read as it
    comes so that the test can wait for what it prints."""

    def __init__(self, tmp_path, env, source, *args):
        path = tmp_path / "script.py"
        path.write_text(textwrap.dedent(source))
        self.proc = subprocess.Popen(
            [sys.executable, str(path), *args], env=env, cwd=tmp_path,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, preexec_fn=as_in_a_terminal)
        self.err = b""

    def wait_for(self, pattern, timeout=TIMEOUT):
        """Read stderr until pattern (bytes regex) matches; the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while not (match := regex.search(self.err)):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.kill()
                    pytest.fail(f"no {pattern!r} on stderr in {timeout}s:\n"
                                + self.err.decode(errors="replace"))
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.finish()
                    pytest.fail(f"exited before {pattern!r}:\n"
                                + self.err.decode(errors="replace"))
                self.err += chunk
        return match

    def port(self):
        return int(self.wait_for(BANNER.pattern).group(1))

    def finish(self, timeout=TIMEOUT):
        """Wait for the exit; (returncode, stdout, stderr) as text."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("the process did not exit in time; stderr so far:\n"
                        + self.err.decode(errors="replace"))
        self.err += err
        return (self.proc.returncode, out.decode(errors="replace"),
                self.err.decode(errors="replace"))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def script(tmp_path, subprocess_env):
    started = []

    def start(source, *args):
        s = Script(tmp_path, subprocess_env, source, *args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


def get(port, path, **kw):
    return common.get(f"http://127.0.0.1:{port}{path}", **kw)


def assert_clean(code, err):
    assert code == 0, err
    for sign in CRASH_SIGNS:
        assert sign not in err, err


RUN_APP = """
    import sys, time
    import gohttp

    @gohttp.route("GET /hello/{name}")
    def hello(w, req):
        w.header.set("Content-Type", "text/plain; charset=utf-8")
        w.write(f"Hello, {req.path_value('name')}!\\n")

    @gohttp.route("GET /slow")
    def slow(w, req):
        print("handler entered", file=sys.stderr, flush=True)
        time.sleep(0.5)
        w.write(b"slow done")

    @gohttp.route("GET /stuck")
    def stuck(w, req):
        print("handler entered", file=sys.stderr, flush=True)
        time.sleep(60)

    gohttp.run(host="127.0.0.1", port=0, shutdown_timeout=5)
    print("run() returned", file=sys.stderr, flush=True)
"""


@pytest.mark.parametrize("signum, why", [(signal.SIGINT, "Ctrl-C"),
                                         (signal.SIGTERM, "SIGTERM")])
def test_run_serves_then_stops_cleanly_on_signal(script, signum, why):
    s = script(RUN_APP)
    port = s.port()
    r = get(port, "/hello/world")
    assert (r.status, r.data) == (200, b"Hello, world!\n")
    assert get(port, "/nope").status == 404

    started = time.monotonic()
    s.proc.send_signal(signum)
    code, out, err = s.finish()
    assert time.monotonic() - started < 10
    assert_clean(code, err)
    assert f" * {why}: shutting down" in err
    assert "run() returned" in err


def test_run_keeps_the_programs_own_logging(script):
    """A program that configured logging gets gohttp's messages through
    it (logger gohttp.error), and no second handler of gohttp's."""
    s = script("""
        import logging
        import gohttp

        logging.basicConfig(level=logging.INFO,
                            format="mine|%(name)s|%(message)s")

        @gohttp.route("GET /fail")
        def fail(w, req):
            raise ValueError("handler failed on purpose")

        gohttp.run(host="127.0.0.1", port=0)
    """)
    port = int(s.wait_for(rb"mine\|gohttp\.error\|gohttp \S+ serving on "
                          rb"http://127\.0\.0\.1:(\d+) ").group(1))
    assert get(port, "/fail").status == 500
    s.proc.send_signal(signal.SIGTERM)
    code, out, err = s.finish()
    assert_clean(code, err.replace("Traceback", "traceback"))
    assert "mine|gohttp.error|SIGTERM: shutting down" in err
    assert "ValueError: handler failed on purpose" in err
    assert " * " not in err  # no line went through a handler of gohttp's


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_lets_the_request_in_flight_finish(script, signum):
    s = script(RUN_APP)
    port = s.port()
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, retries=False,
                                      timeout=TIMEOUT)
    r = pool.urlopen("GET", "/slow", preload_content=False)
    s.wait_for(rb"handler entered")
    s.proc.send_signal(signum)
    assert (r.status, r.read()) == (200, b"slow done")
    code, out, err = s.finish()
    assert_clean(code, err)
    assert "run() returned" in err


def test_second_ctrl_c_cuts_requests_in_flight_off(script):
    s = script(RUN_APP)
    port = s.port()
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, retries=False,
                                      timeout=TIMEOUT)
    results = []
    t = threading.Thread(target=lambda: results.append(
        outcome(lambda: pool.urlopen("GET", "/stuck"))), daemon=True)
    t.start()
    s.wait_for(rb"handler entered")
    started = time.monotonic()
    s.proc.send_signal(signal.SIGINT)
    s.wait_for(rb"shutting down")
    s.proc.send_signal(signal.SIGINT)
    code, out, err = s.finish()
    assert time.monotonic() - started < 15  # not the handler's 60 s
    assert code == 0, err
    assert "forced shutdown" in err
    assert "Fatal Python error" not in err
    t.join(TIMEOUT)
    assert results and isinstance(results[0], Exception)


def test_shutdown_from_a_handler_stops_run(script):
    s = script("""
        import sys
        import gohttp

        def stop(w, req):
            sys.stderr.write(f"shutdown() gave {gohttp.shutdown()}\\n")
            w.write(b"bye")

        assert gohttp.route("/stop")(stop) is stop
        try:
            gohttp.run(max_handlers=2)
        except TypeError:
            sys.stderr.write("run() refuses max_handlers\\n")
        gohttp.run(host="127.0.0.1", port=0)
        print("run() returned", file=sys.stderr, flush=True)
    """)
    port = s.port()
    assert get(port, "/stop").data == b"bye"
    code, out, err = s.finish()
    assert_clean(code, err)
    assert "run() refuses max_handlers" in err
    assert "shutdown() gave False" in err
    assert "run() returned" in err


def test_shutdown_from_another_thread_stops_run(script):
    s = script("""
        import sys, threading
        import gohttp

        def stop_soon():
            sys.stderr.write(f"shutdown() gave {gohttp.shutdown()}\\n")

        @gohttp.route("/stop")
        def stop(w, req):
            # Threads started on a handler's (foreign) thread are daemons
            # unless told otherwise; this one must finish before exit.
            threading.Thread(target=stop_soon, daemon=False).start()
            w.write(b"stopping")

        gohttp.run(host="127.0.0.1", port=0)
        print("run() returned", file=sys.stderr, flush=True)
    """)
    port = s.port()
    assert get(port, "/stop").data == b"stopping"
    code, out, err = s.finish()
    assert_clean(code, err)
    assert "shutdown() gave True" in err
    assert "run() returned" in err


def test_ctrl_c_in_serve_forever_raises_keyboard_interrupt(script):
    s = script("""
        import inspect, sys, threading, time
        import gohttp

        def announce_when_main_thread_waits_in(func):
            # "waiting" on stderr once the main thread is in func's call
            # of _core.wait(): a Ctrl-C sent earlier would land before
            # serve_forever() and test nothing.
            lines, first = inspect.getsourcelines(func)
            line = first + next(i for i, text in enumerate(lines)
                                if "_core.wait(" in text)
            main = threading.main_thread().ident

            def watch():
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    frame = sys._current_frames().get(main)
                    while frame is not None:
                        if (frame.f_code is func.__code__
                                and frame.f_lineno == line):
                            sys.stderr.write("waiting\\n")
                            return
                        frame = frame.f_back
                    time.sleep(0.005)

            threading.Thread(target=watch, daemon=True).start()

        srv = gohttp.Server("127.0.0.1", 0).start()
        srv.handle("/", lambda w, req: None)
        sys.stderr.write(f"port {srv.port}\\n")
        announce_when_main_thread_waits_in(gohttp.Server.serve_forever)
        try:
            srv.serve_forever()
        except KeyboardInterrupt:
            sys.stderr.write(f"KeyboardInterrupt; serving: {srv.serving}\\n")
    """)
    port = int(s.wait_for(rb"port (\d+)").group(1))
    assert get(port, "/").status == 200
    s.wait_for(rb"waiting")
    s.proc.send_signal(signal.SIGINT)
    code, out, err = s.finish()
    assert_clean(code, err)
    assert "KeyboardInterrupt; serving: False" in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_the_banner_is_printed_still_stops_gracefully(
        script, signum):
    """run() serves from start(), before it prints the banner: a Ctrl-C or
    SIGTERM that lands while the banner is being written (a busy machine,
    a slow terminal) must get the same graceful shutdown, not a
    KeyboardInterrupt traceback or death by SIGTERM.  A slow stderr
    holds run() in its banner print while the signal arrives."""
    s = script("""
        import sys, time
        import gohttp

        class SlowStderr:
            def __init__(self, inner):
                self.inner = inner

            def write(self, text):
                n = self.inner.write(text)
                self.inner.flush()
                if " serving on " in text:
                    time.sleep(5)  # the signal lands here
                return n

            def flush(self):
                self.inner.flush()

        sys.stderr = SlowStderr(sys.stderr)

        @gohttp.route("/")
        def index(w, req):
            w.write(b"ok")

        gohttp.run(host="127.0.0.1", port=0)
        sys.stderr.inner.write("run() returned\\n")
    """)
    s.port()
    s.proc.send_signal(signum)
    code, out, err = s.finish()
    assert code == 0, f"exit code {code}:\n{err}"
    assert "shutting down" in err
    assert "run() returned" in err


def test_second_ctrl_c_while_shutting_down_is_printed_forces_shutdown(
        script):
    """The second Ctrl-C may land while run() is still printing that it is
    shutting down: it must cut the requests off as documented, not escape
    as a KeyboardInterrupt traceback."""
    s = script("""
        import sys, time
        import gohttp

        class SlowStderr:
            def __init__(self, inner):
                self.inner = inner

            def write(self, text):
                n = self.inner.write(text)
                self.inner.flush()
                if "shutting down" in text:
                    time.sleep(5)  # the second signal lands here
                return n

            def flush(self):
                self.inner.flush()

        sys.stderr = SlowStderr(sys.stderr)

        @gohttp.route("/stuck")
        def stuck(w, req):
            sys.stderr.write("handler entered\\n")
            time.sleep(60)

        gohttp.run(host="127.0.0.1", port=0, shutdown_timeout=30)
        sys.stderr.inner.write("run() returned\\n")
    """)
    port = s.port()
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, retries=False,
                                      timeout=TIMEOUT)
    t = threading.Thread(target=outcome,
                         args=(lambda: pool.urlopen("GET", "/stuck"),),
                         daemon=True)
    t.start()
    s.wait_for(rb"handler entered")
    s.proc.send_signal(signal.SIGINT)
    s.wait_for(rb"shutting down")
    started = time.monotonic()
    s.proc.send_signal(signal.SIGINT)
    code, out, err = s.finish()
    assert time.monotonic() - started < 15  # not the 30 s grace period
    assert code == 0, f"exit code {code}:\n{err}"
    assert "forced shutdown" in err
    assert "run() returned" in err


def test_exit_with_a_server_still_running(script):
    s = script("""
        import sys
        import urllib3
        import gohttp

        srv = gohttp.Server("127.0.0.1", 0).start()
        other = gohttp.Server("127.0.0.1", 0).start()

        @srv.route("/")
        def index(w, req):
            w.write(b"hi")

        r = urllib3.request("GET", srv.url + "/", retries=False, timeout=20)
        print(f"got {r.data.decode()}", file=sys.stderr, flush=True)
        # Falls off the end with both servers serving.
    """)
    started = time.monotonic()
    code, out, err = s.finish()
    assert time.monotonic() - started < 10
    assert_clean(code, err)
    assert "got hi" in err


def test_exit_with_a_request_in_flight(script):
    s = script("""
        import sys, threading, time
        import urllib3
        import gohttp

        entered = threading.Event()
        srv = gohttp.Server("127.0.0.1", 0).start()

        @srv.route("/slow")
        def slow(w, req):
            entered.set()
            time.sleep(0.5)
            w.write(b"slow done")

        def client():
            r = urllib3.request("GET", srv.url + "/slow", retries=False,
                                timeout=20)
            print(f"client got {r.status} {r.data}", file=sys.stderr,
                  flush=True)

        threading.Thread(target=client, daemon=True).start()
        entered.wait(20)
        print("leaving with the handler running", file=sys.stderr,
              flush=True)
    """)
    started = time.monotonic()
    code, out, err = s.finish()
    assert time.monotonic() - started < 10
    assert_clean(code, err)
    assert "leaving with the handler running" in err


def test_exit_with_a_handler_that_never_returns(script):
    """The exit hook waits a bounded time for handlers, then exits anyway."""
    s = script("""
        import sys, threading, time
        import gohttp

        entered = threading.Event()
        srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=0.5).start()

        @srv.route("/stuck")
        def stuck(w, req):
            entered.set()
            time.sleep(60)

        import socket
        sock = socket.create_connection(srv.address)
        sock.sendall(b"GET /stuck HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        entered.wait(20)
        print("leaving", file=sys.stderr, flush=True)
    """)
    started = time.monotonic()
    code, out, err = s.finish()
    assert time.monotonic() - started < 15  # not the handler's 60 s
    assert code == 0, err
    assert "Fatal Python error" not in err
    assert "leaving" in err


def test_exit_right_after_start_with_connections_arriving(script):
    s = script("""
        import socket, sys
        import gohttp

        srv = gohttp.Server("127.0.0.1", 0).start()
        srv.handle("/", lambda w, req: None)
        socks = []
        for _ in range(20):
            sock = socket.create_connection(srv.address)
            sock.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            socks.append(sock)
        print("leaving", file=sys.stderr, flush=True)
    """)
    code, out, err = s.finish()
    assert_clean(code, err)


def test_fork_child_gets_a_clear_error(script):
    s = script("""
        import os, sys
        import gohttp

        srv = gohttp.Server("127.0.0.1", 0).start()  # Go threads running
        pid = os.fork()
        if pid == 0:
            codes = []
            for attempt in (lambda: gohttp.Server("127.0.0.1", 0),
                            lambda: srv.handle("/x", lambda w, r: None),
                            lambda: srv.shutdown()):
                try:
                    attempt()
                    codes.append(1)      # no error at all
                except gohttp.ForkedProcessError as exc:
                    codes.append(0 if "fork" in str(exc) else 2)
                except BaseException:
                    codes.append(3)
            os._exit(int("".join(map(str, codes)), 4))
        _, status = os.waitpid(pid, 0)
        print(f"child exit code {os.waitstatus_to_exitcode(status)}",
              file=sys.stderr, flush=True)
        srv.handle("/", lambda w, req: None)   # the parent is unaffected
        import urllib3
        r = urllib3.request("GET", srv.url + "/", retries=False, timeout=20)
        print(f"parent got {r.status}", file=sys.stderr, flush=True)
        srv.shutdown()
    """)
    code, out, err = s.finish()
    assert_clean(code, err)
    # Each of the three attempts raised ForkedProcessError mentioning fork.
    assert "child exit code 0\n" in err
    assert "parent got 200" in err


def test_fork_child_that_just_exits_is_fine(script):
    """A child that does not touch gohttp exits normally, atexit hooks and
    all, without hanging on the Go runtime it cannot use."""
    s = script("""
        import os, sys
        import gohttp

        srv = gohttp.Server("127.0.0.1", 0).start()
        pid = os.fork()
        if pid == 0:
            sys.exit(7)   # runs atexit: gohttp's exit hook included
        _, status = os.waitpid(pid, 0)
        print(f"child exit code {os.waitstatus_to_exitcode(status)}",
              file=sys.stderr, flush=True)
        srv.shutdown()
    """)
    code, out, err = s.finish()
    assert_clean(code, err)
    assert "child exit code 7" in err


def test_reimporting_the_extension(script):
    s = script("""
        import sys
        import urllib3
        import gohttp
        import gohttp._gohttp as first_ext

        old = gohttp.Server("127.0.0.1", 0).start()
        old.handle("/", lambda w, req: None)

        for name in [n for n in sys.modules
                     if n == "gohttp" or n.startswith("gohttp.")]:
            del sys.modules[name]
        import gohttp as again
        import gohttp._gohttp as second_ext

        assert second_ext is not first_ext, "the module was not re-made"
        assert second_ext.Request is not first_ext.Request

        with again.Server("127.0.0.1", 0) as srv:
            @srv.route("GET /{name}")
            def hello(w, req):
                w.write(f"again {req.path_value('name')}")

            r = urllib3.request("GET", srv.url + "/x", retries=False,
                                timeout=20)
            print(f"new: {r.data.decode()}", file=sys.stderr, flush=True)
            r = urllib3.request("GET", old.url + "/", retries=False,
                                timeout=20)
            print(f"old: {r.status}", file=sys.stderr, flush=True)
        old.shutdown()
    """)
    code, out, err = s.finish()
    assert_clean(code, err)
    assert "new: again x" in err
    assert "old: 200" in err


def test_import_alone_starts_no_server_and_exits(script):
    s = script("""
        import gohttp
        print(gohttp.__version__)
    """)
    code, out, err = s.finish()
    assert_clean(code, err)
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*\n", out)


def test_gohttp_command_serves_a_module(script, tmp_path):
    (tmp_path / "myapp.py").write_text(textwrap.dedent("""
        import gohttp

        @gohttp.route("GET /hi")
        def hi(w, req):
            w.write(b"from the command")
    """))
    s = script("""
        import sys
        from gohttp.__main__ import main
        main(sys.argv[1:])
        print("main() returned", file=sys.stderr, flush=True)
    """, "myapp", "--bind", "127.0.0.1:0")
    port = s.port()
    assert get(port, "/hi").data == b"from the command"
    s.proc.send_signal(signal.SIGINT)
    code, out, err = s.finish()
    assert_clean(code, err)
    assert "main() returned" in err
