"""The access log, written by Go: combined, common or JSON; to a file or
standard error; off by default."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

import gohttp
from helpers.common import TIMEOUT, exchange

COMBINED = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?$')


def hello(w, req):
    w.write(b"hello")


def logged(srv, path):
    """The lines of the log at path, complete once srv is shut down."""
    srv.shutdown()
    return path.read_text().splitlines()


def test_combined_to_a_file(make_server, http, tmp_path):
    log = tmp_path / "access.log"
    srv = make_server(access_log=log)
    srv.handle("/hello", hello)
    http.request("GET", srv.url + "/hello?x=1",
                 headers={"Referer": "http://example.com/",
                          "User-Agent": "pytest-agent"})
    http.request("GET", srv.url + "/missing")
    (first, second) = logged(srv, log)
    m = COMBINED.match(first)
    assert m, first
    assert m.group("request", "status", "bytes", "referer", "agent") == (
        "GET /hello?x=1 HTTP/1.1", "200", "5", "http://example.com/",
        "pytest-agent")
    m = COMBINED.match(second)
    assert m and m.group("status") == "404", second
    assert m.group("referer") == "-"


def test_common(make_server, http, tmp_path):
    log = tmp_path / "common.log"
    srv = make_server(access_log=str(log), access_log_format="common")
    srv.handle("/hello", hello)
    http.request("GET", srv.url + "/hello", headers={"User-Agent": "ua"})
    (line,) = logged(srv, log)
    m = COMBINED.match(line)
    assert m and m.group("agent") is None, line
    assert line.endswith('"GET /hello HTTP/1.1" 200 5')


def test_json(make_server, http, tmp_path):
    log = tmp_path / "access.jsonl"
    srv = make_server(access_log=log, access_log_format="json")
    srv.handle("POST /hello", hello)
    http.request("POST", srv.url + "/hello", body=b"abc",
                 headers={"User-Agent": "ua \"quoted\""})
    (line,) = logged(srv, log)
    entry = json.loads(line)
    assert entry["method"] == "POST" and entry["uri"] == "/hello"
    assert entry["status"] == 200 and entry["bytes"] == 5
    assert entry["remote_addr"] == "127.0.0.1"
    assert entry["user_agent"] == 'ua "quoted"'
    assert entry["proto"] == "HTTP/1.1" and entry["duration_ms"] >= 0
    assert set(entry) >= {"time", "host", "referer"}


def test_what_go_answers_alone_is_logged(make_server, http, tmp_path):
    # 413 from the body limit, a static file, a 405: none reaches Python.
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "f.txt").write_text("file")
    log = tmp_path / "access.log"
    srv = make_server(access_log=log, max_body_bytes=10)
    srv.handle("POST /up", hello)
    srv.static("/s/", tmp_path / "pub")
    http.request("POST", srv.url + "/up", body=b"x" * 100)
    http.request("GET", srv.url + "/s/f.txt")
    http.request("GET", srv.url + "/up")
    assert [COMBINED.match(line).group("request", "status")
            for line in logged(srv, log)] == [
        ("POST /up HTTP/1.1", "413"),
        ("GET /s/f.txt HTTP/1.1", "200"),
        ("GET /up HTTP/1.1", "405"),
    ]


def test_client_cannot_forge_lines(make_server, tmp_path):
    log = tmp_path / "access.log"
    srv = make_server(access_log=log)
    srv.handle("/", hello)
    exchange(srv.address, b'GET /"x" HTTP/1.1\r\nHost: x\r\n'
             b'User-Agent: evil" "\t\xff\r\nConnection: close\r\n\r\n')
    (line,) = logged(srv, log)
    assert line.endswith(r'"GET /\"x\" HTTP/1.1" 200 5 "-" '
                         r'"evil\" \"\x09\xff"')


def test_many_requests_all_logged(make_server, http, tmp_path):
    log = tmp_path / "access.log"
    srv = make_server(access_log=log, access_log_format="json")
    srv.handle("/hello", hello)
    for i in range(300):
        http.request("GET", srv.url + f"/hello?i={i}")
    lines = logged(srv, log)
    assert [json.loads(line)["uri"] for line in lines] == [
        f"/hello?i={i}" for i in range(300)]


def test_appends_to_an_existing_file(make_server, http, tmp_path):
    log = tmp_path / "access.log"
    log.write_text("earlier line\n")
    srv = make_server(access_log=log)
    srv.handle("/hello", hello)
    http.request("GET", srv.url + "/hello")
    lines = logged(srv, log)
    assert lines[0] == "earlier line" and len(lines) == 2


def test_unwritable_path_raises_before_listening(tmp_path):
    srv = gohttp.Server("127.0.0.1", 0,
                        access_log=tmp_path / "no" / "such" / "dir.log")
    with pytest.raises(FileNotFoundError, match="access log"):
        srv.start()
    assert not srv.serving


@pytest.mark.parametrize("value", ["", "xml"])
def test_bad_format_or_path(value):
    option = "access_log" if value == "" else "access_log_format"
    with pytest.raises(ValueError, match="access_log"):
        gohttp.Server("127.0.0.1", 0, **{option: value})


def run_script(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, env=env,
                          timeout=TIMEOUT)


SCRIPT = """
    import sys, urllib3, gohttp
    srv = gohttp.Server("127.0.0.1", 0, {options})
    srv.handle("/hello", lambda w, req: None)
    srv.start()
    urllib3.request("GET", srv.url + "/hello", retries=False)
    srv.shutdown()
    print("done")
"""


def test_to_standard_error(subprocess_env):
    proc = run_script(SCRIPT.format(options="access_log=True"),
                      subprocess_env)
    assert proc.stdout == "done\n", proc.stderr
    (line,) = proc.stderr.splitlines()
    assert COMBINED.match(line) and '"GET /hello HTTP/1.1" 200 -' in line


def test_nothing_on_standard_error_by_default(subprocess_env):
    proc = run_script(SCRIPT.format(options=""), subprocess_env)
    assert (proc.stdout, proc.stderr) == ("done\n", "")
