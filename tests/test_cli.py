"""The gohttp command, started as `python -m gohttp` in a subprocess
(the console script runs the same main())."""

import contextlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3

import gohttp
import gohttp.__main__ as cli
from helpers.common import TIMEOUT, as_in_a_terminal
from helpers.wsgi import Banner

TESTS = Path(__file__).resolve().parent


@contextlib.contextmanager
def gohttp_command(env, *args, code=None, pass_fds=()):
    """Run `python -m gohttp ARGS` (or `python -c CODE ARGS`) from tests/,
    with the descriptors pass_fds; yields (process, Banner).  The process
    is killed if still running at the end."""
    command = ([sys.executable, "-c", code, *args] if code
               else [sys.executable, "-m", "gohttp", *args])
    proc = subprocess.Popen(command, cwd=TESTS, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=as_in_a_terminal, pass_fds=pass_fds)
    try:
        yield proc, Banner(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()


def stop(proc):
    """SIGTERM, then the exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(TIMEOUT)


def failure(env, *args):
    """Run a command that must fail at once: (exit code, stderr)."""
    done = subprocess.run([sys.executable, "-m", "gohttp", *args], cwd=TESTS,
                          env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    return done.returncode, done.stderr


@pytest.mark.parametrize("app", ["wsgi_apps.hello:app",
                                 "wsgi_apps.hello:create_app()"])
def test_serve_a_wsgi_app_then_sigterm(subprocess_env, app):
    with gohttp_command(subprocess_env, app, "--bind", "127.0.0.1:0") as (
            proc, banner):
        name, url = banner.wait()
        assert name == app
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        r = urllib3.request("GET", url + "/some/path", retries=False)
        assert (r.status, r.data) == (200, b"Hello from /some/path\n")
        assert stop(proc) == 0
        assert "SIGTERM: shutting down" in banner.rest()


def test_serve_a_django_project(subprocess_env):
    pytest.importorskip("django")
    with gohttp_command(subprocess_env, "wsgi_apps.django_site.wsgi:application",
                        "-b", "127.0.0.1:0") as (proc, banner):
        _, url = banner.wait()
        r = urllib3.request("GET", url + "/hello/cli/", retries=False)
        assert (r.status, r.data) == (200, b"Hello, cli!")
        assert stop(proc) == 0


def test_access_log(subprocess_env, tmp_path):
    log = tmp_path / "access.log"
    with gohttp_command(subprocess_env, "wsgi_apps.hello:app",
                        "--bind", "127.0.0.1:0", "--access-log", str(log)) as (
            proc, banner):
        _, url = banner.wait()
        urllib3.request("GET", url + "/logged?x=1", retries=False)
        assert stop(proc) == 0
    line = log.read_text()
    assert line.startswith("127.0.0.1 - - [")
    assert '"GET /logged?x=1 HTTP/1.1" 200 19 ' in line


def test_several_binds_and_static_files(subprocess_env, tmp_path):
    (tmp_path / "hello.txt").write_text("static hello\n")
    sock = tmp_path / "s.sock"
    with gohttp_command(subprocess_env, "wsgi_apps.hello:app",
                        "--bind", "127.0.0.1:0", "--bind", f"unix:{sock}",
                        "--static", f"/files/={tmp_path}") as (proc, banner):
        _, url = banner.wait()
        r = urllib3.request("GET", url + "/files/hello.txt", retries=False)
        assert (r.status, r.data) == (200, b"static hello\n")
        assert urllib3.request("GET", url + "/", retries=False).status == 200
        assert sock.exists()
        assert stop(proc) == 0


def test_no_access_log_by_default(subprocess_env):
    with gohttp_command(subprocess_env, "wsgi_apps.hello:app",
                        "--bind", "127.0.0.1:0") as (proc, banner):
        _, url = banner.wait()
        urllib3.request("GET", url + "/", retries=False)
        assert stop(proc) == 0
        assert proc.stdout.read() == ""
        assert "GET /" not in banner.rest()


@pytest.mark.parametrize("app, path, body", [
    ("wsgi_apps.native", "/native", b"from the default server"),
    ("wsgi_apps.native:server", "/own", b"from its own server"),
])
def test_native_handlers_still_serve(subprocess_env, app, path, body):
    with gohttp_command(subprocess_env, app, "--bind", "127.0.0.1:0") as (
            proc, banner):
        name, url = banner.wait()
        assert name == app
        assert urllib3.request("GET", url + path, retries=False).data == body
        assert stop(proc) == 0


def test_serve_wsgi_from_python(subprocess_env):
    code = ("import gohttp\n"
            "from wsgi_apps.hello import app\n"
            "gohttp.serve_wsgi(app, port=0, read_timeout=5)\n")
    with gohttp_command(subprocess_env, code=code) as (proc, banner):
        name, url = banner.wait()
        assert name == "wsgi_apps.hello:app"
        assert url.startswith("http://127.0.0.1:")
        r = urllib3.request("GET", url + "/py", retries=False)
        assert r.data == b"Hello from /py\n"
        assert stop(proc) == 0


def test_an_import_error_shows_the_traceback(subprocess_env):
    _, stderr = failure(subprocess_env, "wsgi_apps.broken_import:app")
    assert "Traceback (most recent call last)" in stderr
    assert 'broken_import.py", line' in stderr


def test_version_is_the_packages(subprocess_env):
    """--version prints gohttp.__version__, the one place it is kept."""
    done = subprocess.run([sys.executable, "-m", "gohttp", "--version"],
                          cwd=TESTS, env=subprocess_env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"gohttp {gohttp.__version__}\n"


def test_help_lists_every_option_with_its_default(subprocess_env):
    done = subprocess.run([sys.executable, "-m", "gohttp", "--help"],
                          env=subprocess_env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # undo argparse's wrapping
    options = text[text.index("options:"):]
    for option, default in [
            ("--bind", "(default: 127.0.0.1:5000"),
            ("--log-level", "(default: info)"),
            ("--access-log", "(default: off)"),
            ("--shutdown-timeout", "(default: 10)"),
            ("--max-handlers", "(default: 64)"),
            ("--timeout-read-header", "(default: 10)"),
            ("--timeout-read", "(default: none)"),
            ("--timeout-write", "(default: none)"),
            ("--timeout-idle", "(default: 120)")]:
        [action] = [a for a in cli._parser()._actions
                    if option in a.option_strings]
        assert option in options
        assert default in " ".join(action.help.split()), option
    assert "repeat it to listen on several" in text
    assert "MODULE:FACTORY()" in text
    # Every option the parser has is in the help, with a default.
    for action in cli._parser()._actions:
        if action.option_strings and action.dest not in ("help", "version"):
            assert action.option_strings[0] in text
            assert "(default:" in action.help


def test_defaults_in_help_are_the_servers():
    import inspect
    defaults = inspect.signature(gohttp.Server).parameters
    help_text = " ".join(cli._parser().format_help().split())
    assert f"(default: {defaults['max_handlers'].default})" in help_text
    assert f"(default: {defaults['idle_timeout'].default:g})" in help_text


def test_the_option_table_is_servers_and_runs_signature():
    """Server(), Server.run(), gohttp.run(), serve_asgi() and
    mount_asgi() take exactly the options of the one table, with its
    defaults."""
    import inspect
    from gohttp import _options
    for function, where, skip in [
            (gohttp.Server, ("core", "address", "listen", "server"), ()),
            (gohttp.Server.run, ("run",), ("self", "app_name")),
            (gohttp.run, ("run",), ("host", "port", "options")),
            (gohttp.serve_asgi, ("asgi", "run"),
             ("app", "host", "port", "server_options")),
            (gohttp.Server.mount_asgi, ("asgi",), ("self", "prefix", "app"))
            ]:
        params = {name: p.default for name, p in
                  inspect.signature(function).parameters.items()
                  if name not in skip}
        assert params == {o.name: o.default for o in _options.OPTIONS
                          if o.where in where}, function


@pytest.mark.parametrize("args, message", [
    (["--bind", "nonsense"],
     "--bind: bad address 'nonsense': want HOST:PORT"),
    (["--static", "static=./x"], "--static wants PREFIX=DIR"),
    (["--bind", "127.0.0.1:99999"], "--bind: bad address"),
    (["--timeout-read", "-1"],
     "--timeout-read must be a number of seconds, 0 for no limit, not -1.0"),
    (["--max-body-size", "0"],
     "--max-body-size must be a whole number of at least 1, not 0"),
    (["--timeout-read", "soon"],
     "--timeout-read wants a number of seconds, 0 for no limit, not 'soon'"),
    (["--max-handlers", "0"],
     "--max-handlers must be a whole number of at least 1, not 0"),
    (["--workers", "many"], "--workers wants a number of worker processes"),
    (["--fd", "x"], "--fd wants a file descriptor number, not 'x'"),
    (["--log-level", "loud"], "--log-level must be one of debug, info"),
])
def test_bad_options(captured, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["wsgi_apps.hello:app", *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_options_exit_2(subprocess_env):
    code, stderr = failure(subprocess_env, "wsgi_apps.hello:app",
                           "-b", "127.0.0.1:1", "-b", "nonsense")
    assert code == 2
    assert ("gohttp: error: argument --bind/-b: --bind: bad address "
            "'nonsense': want HOST:PORT") in stderr


def test_a_missing_static_directory_is_a_clear_error(subprocess_env, tmp_path):
    code, stderr = failure(subprocess_env, "wsgi_apps.hello:app",
                           "--bind", "127.0.0.1:0",
                           "--static", f"/s/={tmp_path / 'nope'}")
    assert code == 1
    assert stderr.startswith("gohttp: ") and "nope" in stderr


@pytest.mark.parametrize("option", [["--max-handlers", "4"]])
def test_wsgi_only_options_with_a_server_app(captured, capsys, option):
    with pytest.raises(SystemExit) as exc:
        cli.main(["wsgi_apps.native:server", *option])
    assert exc.value.code == 2
    assert "WSGI apps" in capsys.readouterr().err


# ---- the options reach the server (in this process; run() is stubbed) ----

@pytest.fixture
def captured(monkeypatch):
    """main() makes its Server as usual; run() records it instead of
    serving."""
    seen = {}
    real_init = gohttp.Server.__init__

    def init(self, *args, **kwargs):
        seen["init"] = kwargs
        real_init(self, *args, **kwargs)

    def run(self, *, app_name=None, **workers):
        seen.update(server=self, app_name=app_name, workers=workers)

    monkeypatch.setattr(gohttp.Server, "__init__", init)
    monkeypatch.setattr(gohttp.Server, "run", run)
    monkeypatch.chdir(TESTS)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return seen


def test_options_map_to_server_arguments(captured):
    cli.main(["wsgi_apps.hello:app", "--bind", "[::1]:8123",
              "--timeout-read-header", "2.5", "--timeout-read", "30",
              "--timeout-write", "0", "--timeout-idle", "7",
              "--shutdown-timeout", "3", "--max-handlers", "16"])
    srv = captured["server"]
    assert (srv.host, srv.port) == ("::1", 8123)
    assert captured["init"] == {
        "host": "::1", "port": 8123, "bind": None,
        "read_header_timeout": 2.5, "read_timeout": 30.0,
        "write_timeout": None, "idle_timeout": 7.0, "shutdown_timeout": 3.0,
        "max_handlers": 16}
    assert srv.shutdown_timeout == 3.0
    assert captured["app_name"] == "wsgi_apps.hello:app"


def test_timeout_0_means_no_limit(captured):
    cli.main(["wsgi_apps.hello:app", "--timeout-idle", "0",
              "--timeout-read-header", "0"])
    assert captured["init"] == {"idle_timeout": None,
                                "read_header_timeout": None}


def test_no_options_leave_the_servers_defaults(captured):
    cli.main(["wsgi_apps.hello:app"])
    srv = captured["server"]
    assert (srv.host, srv.port) == ("127.0.0.1", 5000)
    assert captured["init"] == {}


def test_options_apply_to_a_server_app(captured):
    from wsgi_apps.native import server
    cli.main(["wsgi_apps.native:server", "--bind", ":8124",
              "--timeout-idle", "9"])
    assert captured["server"] is server
    assert (server.host, server.port) == ("", 8124)
    assert server._options["idle_timeout"] == 9.0


@pytest.mark.parametrize("app, message", [
    ("nosuchmodule:app",
     "cannot import 'nosuchmodule': there is no module named 'nosuchmodule'"),
    ("wsgi_apps.nosuch:app",
     "there is no module named 'wsgi_apps.nosuch'"),
    ("wsgi_apps.missing_dependency:app",
     "cannot import 'wsgi_apps.missing_dependency': importing it raised "
     "ModuleNotFoundError: No module named "
     "'no_such_package_for_gohttp_tests'"),
    ("wsgi_apps.broken_import:app",
     "cannot import 'wsgi_apps.broken_import': importing it raised "
     "RuntimeError: settings are missing: DATABASE_URL is not set"),
    ("wsgi_apps.hello:nope", "module 'wsgi_apps.hello' has no attribute "
                             "'nope'"),
    ("wsgi_apps.hello:app.nope", "wsgi_apps.hello:app has no attribute "
                                 "'nope'"),
    ("wsgi_apps.hello:create_app", "if it is a factory that makes one, "
                                   "write wsgi_apps.hello:create_app()"),
    ("wsgi_apps.hello:create_app(1)", "a factory is called with no "
                                      "arguments"),
    ("wsgi_apps.hello:failing_factory()",
     "the factory raised RuntimeError: the factory could not configure "
     "itself"),
    ("wsgi_apps.hello:not_callable", "is a int: want an ASGI application"),
    ("wsgi_apps.hello:", "nothing after the colon"),
    (":app", "APP names no module"),
])
def test_a_wrong_app_says_what_and_why(captured, capsys, app, message):
    with pytest.raises(SystemExit) as exc:
        cli.main([app, "--bind", "127.0.0.1:0"])
    # SystemExit with a message: Python prints it and exits with 1.
    assert exc.value.code.startswith("gohttp: ")
    assert message in exc.value.code
    assert "server" not in captured


def test_a_wrong_app_exits_1_with_the_message(subprocess_env):
    code, stderr = failure(subprocess_env, "nosuchmodule:app")
    assert code == 1
    assert stderr == ("gohttp: cannot import 'nosuchmodule': there is no "
                      f"module named 'nosuchmodule' (searched {TESTS} and "
                      "sys.path)\n")


# ---- logging: the gohttp.error logger, --log-level, --log-config ------------

def test_app_errors_and_lifecycle_go_to_gohttp_error_on_stderr(
        subprocess_env):
    with gohttp_command(subprocess_env, "wsgi_apps.hello:failing_app",
                        "--bind", "127.0.0.1:0") as (proc, banner):
        _, url = banner.wait()
        r = urllib3.request("GET", url + "/", retries=False)
        assert r.status == 500
        assert stop(proc) == 0
        rest = banner.rest()
    assert " * SIGTERM: shutting down" in rest
    assert " ERROR gohttp.error: " in rest
    assert "RuntimeError: the app failed on purpose" in rest


def test_an_address_that_cannot_be_bound_is_one_line(subprocess_env):
    code, stderr = failure(subprocess_env, "wsgi_apps.hello:app",
                           "--bind", "127.0.0.1:0", "--log-level", "warning",
                           "--uds", "/nonexistent/dir/s.sock")
    assert code == 1
    assert stderr.startswith("gohttp: ") and "s.sock" in stderr
    assert "Traceback" not in stderr and "serving" not in stderr


LOG_CONFIG_JSON = """{
  "version": 1,
  "formatters": {"plain": {"format": "%(name)s|%(levelname)s|%(message)s"}},
  "handlers": {"file": {"class": "logging.FileHandler",
                        "filename": "LOGFILE", "formatter": "plain"}},
  "loggers": {"gohttp.error": {"handlers": ["file"], "level": "INFO",
                               "propagate": false}}
}"""

LOG_CONFIG_YAML = """
version: 1
formatters: {plain: {format: "%(name)s|%(levelname)s|%(message)s"}}
handlers:
  file: {class: logging.FileHandler, filename: LOGFILE, formatter: plain}
loggers:
  gohttp.error: {handlers: [file], level: INFO, propagate: false}
"""

LOG_CONFIG_INI = """
[loggers]
keys = root, gohttp

[handlers]
keys = file

[formatters]
keys = plain

[logger_root]
handlers =

[logger_gohttp]
qualname = gohttp.error
level = INFO
handlers = file
propagate = 0

[handler_file]
class = FileHandler
args = ('LOGFILE',)
formatter = plain

[formatter_plain]
format = %(name)s|%(levelname)s|%(message)s
"""


@pytest.mark.parametrize("suffix, text", [(".json", LOG_CONFIG_JSON),
                                          (".yaml", LOG_CONFIG_YAML),
                                          (".ini", LOG_CONFIG_INI)])
def test_log_config_file_sends_gohttp_error_where_it_says(
        subprocess_env, tmp_path, suffix, text):
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    log = tmp_path / "gohttp.log"
    config = tmp_path / f"logging{suffix}"
    config.write_text(text.replace("LOGFILE", str(log)))
    with gohttp_command(subprocess_env, "wsgi_apps.hello:failing_app",
                        "--bind", "127.0.0.1:0",
                        "--log-config", str(config)) as (proc, banner):
        url = logged_url(log, proc)
        assert urllib3.request("GET", url, retries=False).status == 500
        assert stop(proc) == 0
        assert banner.rest() == ""  # nothing left for stderr
    text = log.read_text()
    assert (f"gohttp.error|INFO|gohttp {gohttp.__version__} serving "
            f"wsgi_apps.hello:failing_app on {url} ") in text
    assert "gohttp.error|ERROR|" in text
    assert "RuntimeError: the app failed on purpose" in text
    assert "gohttp.error|INFO|SIGTERM: shutting down" in text


def logged_url(log, proc):
    """The URL of the banner once the process has logged it to log."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"serving \S+ on (http://\S+) ",
                          log.read_text() if log.exists() else "")
        if found:
            return found.group(1)
        time.sleep(0.05)
    pytest.fail(f"no banner in {log}: {proc.poll()=}")


@pytest.mark.parametrize("name, text, problem", [
    ("missing.json", None, "no such file"),
    ("bad.json", "{nope", "not valid JSON: Expecting property name"),
    ("list.json", "[1]", "want a mapping (a logging dictConfig), not list"),
    ("handler.json",
     '{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}',
     "Unable to configure handler 'h'"),
    ("bad.yml", "a: [", "not valid YAML"),
    ("empty.ini", "", ""),
    ("bad.ini", "[loggers]\nkeys = root\n", ""),
])
def test_a_bad_log_config_says_which_file_and_why(subprocess_env, tmp_path,
                                                  name, text, problem):
    if name.endswith(".yml"):
        pytest.importorskip("yaml")
    config = tmp_path / name
    if text is not None:
        config.write_text(text)
    code, stderr = failure(subprocess_env, "wsgi_apps.hello:app",
                           "--log-config", str(config))
    assert code == 1
    assert stderr.startswith(f"gohttp: --log-config {config}: "), stderr
    assert problem in stderr
    assert "Traceback" not in stderr


def test_a_yaml_log_config_without_pyyaml_says_so(tmp_path, monkeypatch):
    from gohttp import _logging
    monkeypatch.setitem(sys.modules, "yaml", None)  # import fails
    config = tmp_path / "logging.yaml"
    config.write_text("version: 1\n")
    with pytest.raises(ValueError, match="a YAML file needs PyYAML"):
        _logging.load(str(config))
