"""The command's options from GOHTTP_* environment variables and a config
file (-c, TOML or Python), their precedence (command line > environment
> file > defaults), --print-config, and errors that say which option,
which value and where from: the real command in a subprocess."""

import os
import subprocess
import sys

import pytest
import urllib3

import gohttp.__main__ as cli
from gohttp import _config, _options
from helpers.common import TIMEOUT
from test_cli import TESTS, failure, gohttp_command, stop

APP = "wsgi_apps.hello:app"


@pytest.fixture
def in_process(monkeypatch, capsys):
    """Run the command in this process, as cheap as a function call:
    print_config(ARGS, VAR=VALUE) gives --print-config's rows, wrong(ARGS,
    VAR=VALUE) the error of a command that exits with 2.  The
    environment is this one without GOHTTP_* variables, plus those
    given."""
    for name in os.environ:
        if name.startswith("GOHTTP_") or name == "FORWARDED_ALLOW_IPS":
            monkeypatch.delenv(name)

    def run(args, variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        cli.main(list(args))

    def print_config(*args, **variables):
        run(["--print-config", *args], variables)
        return rows_of(capsys.readouterr().out)

    def wrong(*args, **variables):
        with pytest.raises(SystemExit) as exc:
            run(args, variables)
        assert exc.value.code == 2
        return capsys.readouterr().err

    return print_config, wrong


def print_config(env, *args, **variables):
    """The --print-config output of the real command, as rows."""
    done = subprocess.run(
        [sys.executable, "-m", "gohttp", "--print-config", *args],
        cwd=TESTS, env=dict(env, **variables), capture_output=True,
        text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return rows_of(done.stdout)


def rows_of(printed):
    """--print-config's output as {key: (value text, source)}."""
    rows = {}
    for line in printed.splitlines():
        if " = " in line and not line.startswith("#"):
            setting, _, source = line.partition("  # ")
            key, _, value = setting.partition(" = ")
            rows[key] = (value.strip(), source.strip())
    return rows


def test_precedence_command_line_environment_file_defaults(
        subprocess_env, tmp_path):
    config = tmp_path / "gohttp.toml"
    config.write_text('app = "wsgi_apps.hello:app"\n'
                      "workers = 2\n"
                      "timeout_read = 5\n"
                      'bind = ["127.0.0.1:8001", "unix:/tmp/a.sock"]\n')
    rows = print_config(subprocess_env, "-c", str(config), "--workers", "4",
                        GOHTTP_WORKERS="3", GOHTTP_TIMEOUT_IDLE="7",
                        GOHTTP_BIND="127.0.0.1:8002")
    assert rows["workers"] == ("4", "command line")
    assert rows["timeout_idle"] == ("7.0", "GOHTTP_TIMEOUT_IDLE")
    # A list from a higher source replaces the lower one's whole.
    assert rows["bind"] == ('["127.0.0.1:8002"]', "GOHTTP_BIND")
    assert rows["timeout_read"] == ("5.0", f"{config}:3")
    assert rows["app"] == ('"wsgi_apps.hello:app"', f"{config}:1")
    assert rows["max_handlers"] == ("64", "default")


def test_environment_syntax_lists_and_flags(in_process):
    print_config, _ = in_process
    rows = print_config(GOHTTP_STATIC="/a/=./x /b/=./y",
                        GOHTTP_RELOAD="on", GOHTTP_HTTP2_CLEARTEXT="TRUE",
                        GOHTTP_REUSE_PORT="0", GOHTTP_ACCESS_LOG="-",
                        GOHTTP_RELOAD_INCLUDE="*.py *.html",
                        GOHTTP_MAX_BODY_SIZE="", GOHTTP_WORKERS="auto")
    assert rows["static"] == ('["/a/=./x", "/b/=./y"]', "GOHTTP_STATIC")
    assert rows["reload"] == ("true", "GOHTTP_RELOAD")
    assert rows["http2_cleartext"] == ("true", "GOHTTP_HTTP2_CLEARTEXT")
    assert rows["reuse_port"] == ("false", "GOHTTP_REUSE_PORT")
    assert rows["access_log"] == ('"-"', "GOHTTP_ACCESS_LOG")
    assert rows["reload_include"] == ('["*.py", "*.html"]',
                                      "GOHTTP_RELOAD_INCLUDE")
    assert "max_body_size" not in rows  # empty: not set
    assert rows["workers"] == ("0", "GOHTTP_WORKERS")  # 0: one per CPU


def test_uvicorns_forwarded_allow_ips_comes_after_gohttps(in_process):
    print_config, _ = in_process
    rows = print_config(FORWARDED_ALLOW_IPS="10.0.0.1")
    assert rows["forwarded_allow_ips"] == ('"10.0.0.1"', "FORWARDED_ALLOW_IPS")
    rows = print_config(FORWARDED_ALLOW_IPS="10.0.0.1",
                        GOHTTP_FORWARDED_ALLOW_IPS="10.0.0.2")
    assert rows["forwarded_allow_ips"] == ('"10.0.0.2"',
                                           "GOHTTP_FORWARDED_ALLOW_IPS")


def test_a_password_is_not_printed(in_process):
    print_config, _ = in_process
    rows = print_config(GOHTTP_SSL_KEYFILE_PASSWORD="s3cret")
    assert rows["ssl_keyfile_password"] == ('"********"',
                                            "GOHTTP_SSL_KEYFILE_PASSWORD")


def test_a_python_config_file_as_gunicorns(in_process, tmp_path):
    print_config, _ = in_process
    config = tmp_path / "gohttp.conf.py"
    config.write_text("import os\n"
                      "cpus = 2  # a name of its own: ignored\n"
                      "workers = cpus * 2\n"
                      "bind = ['127.0.0.1:8003']\n"
                      "access_log = True\n"
                      "timeout_write: float = 30\n"
                      "def helper():\n    pass\n")
    rows = print_config("--config", str(config))
    assert rows["workers"] == ("4", f"{config}:3")
    assert rows["bind"] == ('["127.0.0.1:8003"]', f"{config}:4")
    assert rows["access_log"] == ('"-"', f"{config}:5")
    assert rows["timeout_write"] == ("30.0", f"{config}:6")
    assert "cpus" not in rows


def test_the_config_file_from_the_environment(in_process, tmp_path):
    print_config, _ = in_process
    config = tmp_path / "gohttp.toml"
    config.write_text("max-connections = 100\n")  # dashes as the flag's
    rows = print_config(GOHTTP_CONFIG=str(config))
    assert rows["max_connections"] == ("100", f"{config}:1")
    assert "config" not in rows  # a comment: a file cannot name another


def test_print_config_reads_back_as_a_config_file(capsys, in_process,
                                                  tmp_path):
    """What --print-config prints is a config file that gives the same
    configuration."""
    print_config, _ = in_process
    args = ["--workers", "3", "--static", "/s/=./public", "-b", "[::1]:8000",
            "--timeout-read", "2.5", "--access-log", "--reload",
            "--ssl-min-version", "TLSv1.3", APP]
    config = tmp_path / "printed.toml"
    cli.main(["--print-config", *args])
    config.write_text(capsys.readouterr().out)
    first = {k: v for k, (v, _) in print_config(*args).items()}
    again = print_config("-c", str(config))
    assert {k: v for k, (v, _) in again.items()} == first
    # Printed from a file, it reads back again.
    cli.main(["--print-config", "-c", str(config)])
    config.write_text(capsys.readouterr().out)
    assert print_config("-c", str(config)) == again
    assert again["workers"][1].startswith(f"{config}:")


def test_every_option_of_the_command_is_read_from_the_environment():
    """No option needs code of its own: each one the command takes, with
    its default's text in GOHTTP_<KEY>, is read back as that value; and
    no two share a variable."""
    environ = {}
    for option in _config.OPTIONS:
        value = option.default
        if value is None:
            continue
        if isinstance(value, bool):
            text = "1" if value else "0"
        else:
            text = str(value)
        environ[_config.env_names(option)[0]] = text
    found = _config.from_environment(environ)
    for option in _config.OPTIONS:
        if option.default is not None:
            assert found[option.name] == _config.Setting(
                option.check(option.default),
                _config.env_names(option)[0]), option.name
    names = [n for o in _config.OPTIONS for n in _config.env_names(o)]
    assert len(names) == len(set(names))
    assert len(_config.BY_KEY) == len(_config.OPTIONS)
    assert [o.name for o in _config.OPTIONS] == [
        o.name for o in _options.OPTIONS if o.flags or o.where == "command"]


@pytest.mark.parametrize("variables, message", [
    ({"GOHTTP_WORKERS": "many"},
     "gohttp: error: GOHTTP_WORKERS wants a number of worker processes, or "
     "0 or 'auto' for one per CPU, not 'many'"),
    ({"GOHTTP_TIMEOUT_READ": "-1"},
     "gohttp: error: GOHTTP_TIMEOUT_READ must be a number of seconds, 0 for "
     "no limit, not -1.0"),
    ({"GOHTTP_RELOAD": "maybe"},
     "gohttp: error: GOHTTP_RELOAD wants true or false (1 or 0, yes or no, "
     "on or off), not 'maybe'"),
    ({"GOHTTP_BIND": "127.0.0.1:1 nonsense"},
     "gohttp: error: GOHTTP_BIND: bad address 'nonsense': want HOST:PORT"),
    ({"GOHTTP_STATIC": "static=./x"},
     "gohttp: error: GOHTTP_STATIC wants PREFIX=DIR, such as "
     "/static/=./public, not 'static=./x'"),
    ({"GOHTTP_LOG_LEVEL": "loud"},
     "gohttp: error: GOHTTP_LOG_LEVEL must be one of debug, info, warning, "
     "error, critical, not 'loud'"),
])
def test_a_wrong_environment_variable_names_itself(in_process, variables,
                                                   message):
    _, wrong = in_process
    assert message in wrong(APP, **variables)


def test_the_command_exits_2_naming_the_variable(subprocess_env):
    code, stderr = failure(dict(subprocess_env, GOHTTP_MAX_HANDLERS="0"),
                           APP)
    assert code == 2
    assert stderr.endswith("gohttp: error: GOHTTP_MAX_HANDLERS must be a "
                           "whole number of at least 1, not 0\n"), stderr


@pytest.mark.parametrize("name, text, message", [
    ("gohttp.toml", "# workers\n\nworkers = 0.5\n",
     "{path}:3: workers must be a number of worker processes, or 0 or "
     "'auto' for one per CPU, not 0.5"),
    ("gohttp.toml", 'bind = ["127.0.0.1:1", 8000]\n',
     "{path}:1: bind must be an address or a list of addresses: "
     "HOST:PORT"),
    ("gohttp.toml", 'timeout_read = "soon"\n',
     "{path}:1: timeout_read wants a number of seconds, 0 for no limit, "
     "not 'soon'"),
    ("gohttp.toml", "\nwokers = 4\n",
     "{path}:2: wokers: no such option (did you mean workers?)"),
    ("gohttp.toml", 'config = "other.toml"\n',
     "{path}:1: config: a config file cannot name another"),
    ("gohttp.toml", "workers = \n",
     "--config {path}: not valid TOML: "),
    ("gohttp.conf.py", "wokers = 4\n",
     "{path}:1: wokers: no such option (did you mean workers?)"),
    ("gohttp.conf.py", "workers = 1 / 0\n",
     "--config {path}: running it raised ZeroDivisionError: division by "
     "zero"),
    ("gohttp.ini", "workers = 4\n",
     "--config {path}: want a .toml file, or a .py file of Python"),
    ("missing.toml", None, "--config {path}: No such file or directory"),
])
def test_a_wrong_config_file_says_where(in_process, tmp_path, name, text,
                                        message):
    _, wrong = in_process
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    stderr = wrong(APP, "-c", str(path))
    assert "gohttp: error: " + message.format(path=path) in stderr, stderr


def test_toml_on_python_3_10_without_tomli_says_what_to_do(
        in_process, tmp_path, monkeypatch):
    _, wrong = in_process
    path = tmp_path / "gohttp.toml"
    path.write_text("workers = 2\n")
    monkeypatch.setattr(sys, "version_info", (3, 10, 14))
    monkeypatch.setitem(sys.modules, "tomli", None)  # import fails
    assert ("a TOML file needs Python 3.11, or tomli on Python 3.10: pip "
            "install tomli") in wrong(APP, "-c", str(path))


def test_no_app_anywhere_says_where_to_give_it(in_process):
    _, wrong = in_process
    stderr = wrong()
    assert ("gohttp: error: say what to serve: APP (such as main:app), or "
            "GOHTTP_APP, or app in the config file") in stderr


def test_serve_configured_by_file_and_environment(subprocess_env, tmp_path):
    """The values reach the server: APP and the access log from the file,
    the address from the environment."""
    log = tmp_path / "access.log"
    config = tmp_path / "gohttp.toml"
    config.write_text(f'app = "{APP}"\n'
                      f'access_log = "{log}"\n'
                      'bind = "127.0.0.1:1"\n')
    env = dict(subprocess_env, GOHTTP_BIND="127.0.0.1:0",
               GOHTTP_ACCESS_LOG_FORMAT="common")
    with gohttp_command(env, "-c", str(config)) as (proc, banner):
        name, url = banner.wait()
        assert name == APP
        r = urllib3.request("GET", url + "/configured", retries=False,
                            timeout=TIMEOUT)
        assert r.data == b"Hello from /configured\n"
        assert stop(proc) == 0
    assert '"GET /configured HTTP/1.1" 200 ' in log.read_text()


def test_an_error_between_options_says_where_they_came_from(
        in_process, monkeypatch, tmp_path):
    """A rule between options (Server's, the command's) is checked once
    every source is read: its message says where those that did not come
    from the command line came from."""
    _, wrong = in_process
    monkeypatch.chdir(TESTS)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert ("--lifespan applies to ASGI apps, and wsgi_apps.hello:app is a "
            "WSGI app (lifespan: GOHTTP_LIFESPAN)"
            in wrong(APP, GOHTTP_LIFESPAN="on"))
    monkeypatch.delenv("GOHTTP_LIFESPAN")
    config = tmp_path / "gohttp.toml"
    config.write_text('\nkeyfile = "key.pem"\n')
    with pytest.raises(SystemExit) as exc:
        cli.main([APP, "-c", str(config)])
    assert exc.value.code == (
        "gohttp: keyfile needs certfile: give both, or certfile alone if it "
        f"holds the key too (keyfile: {config}:2)")


def test_a_users_gohttp_worker_is_not_the_supervisors(monkeypatch):
    """GOHTTP_WORKER (a slip for GOHTTP_WORKERS) does not make the command
    act as a supervisor's worker: that one carries the worker's JSON."""
    from gohttp import _control
    monkeypatch.setenv("GOHTTP_WORKER", "4")
    assert not _control.in_worker()
    monkeypatch.setenv("GOHTTP_WORKER", '{"fd": 3, "slot": 1}')
    assert _control.in_worker()
