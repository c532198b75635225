"""Django (ASGI), Litestar and Quart, unchanged, on gohttp, with a real
httpx client on a real socket; and the command telling each framework's
app (FastAPI and Starlette too) from a WSGI app by itself.  A framework
that is not installed skips its tests, saying so (tests/requirements.txt
installs them all)."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys

import pytest

httpx = pytest.importorskip("httpx")

import gohttp  # noqa: E402
from helpers.asgi_fixtures import (asgi_errors, client,  # noqa: E402,F401
                                   serving, stops_growing)
from helpers.common import TIMEOUT  # noqa: E402
from test_cli import gohttp_command, stop  # noqa: E402


def framework(module: str, package: str):
    """The app of asgi_apps.MODULE (or a dotted path), skipping if its
    framework (package) is not installed."""
    pytest.importorskip(package, reason=f"{package} is not installed "
                        f"(tests/requirements.txt)")
    name, _, attr = module.partition(":")
    return getattr(importlib.import_module(name), attr)




# ---- Django 5 under ASGI (the WSGI tests' project, its asgi.py) -----------

@pytest.fixture(scope="module")
def django_url():
    app = framework("wsgi_apps.django_site.asgi:application", "django")
    with serving(app) as srv:
        yield srv.url


def test_django_sync_view_through_asgiref(django_url, client):
    assert client.get(django_url + "/hello/asgi/").text == "Hello, asgi!"
    r = client.get(django_url + "/thread/")
    assert r.json()["async"] is False
    # asgiref's sync_to_async: a thread of its own, not the event loop's.
    assert r.json()["thread"] != "gohttp-asgi"


def test_django_async_view_on_the_loop(django_url, client):
    r = client.get(django_url + "/athread/")
    assert r.json() == {"thread": "gohttp-asgi", "async": True,
                        "path": "/athread/"}


def test_django_request_and_upload(django_url, client):
    body = os.urandom(2 << 20)
    r = client.post(django_url + "/echo/", content=body,
                    headers={"content-type": "application/octet-stream"})
    assert r.json()["sha256"] == hashlib.sha256(body).hexdigest()
    r = client.post(django_url + "/upload/", data={"field": "v"},
                    files={"file": ("a.bin", body[:300_000])})
    assert r.json()["size"] == 300_000
    assert r.json()["field"] == "v"
    r = client.get(django_url + "/where/", params={"a": ["1", "2"]})
    assert r.json()["get"] == {"a": ["1", "2"]}
    assert r.json()["reverse"] == "/hello/x/"
    assert r.json()["remote_addr"] == "127.0.0.1"


# Django warns, by design, that it consumes a sync iterator under ASGI.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume "
                            "synchronous iterators")
def test_django_file_and_streaming_responses(django_url, client, tmp_path):
    """Large enough that the last send() waits for Go, while Django's
    listen_for_disconnect() waits in receive()."""
    data = os.urandom(3 << 20)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    for _ in range(3):
        r = client.get(django_url + "/download/", params={"path": str(path)})
        assert r.status_code == 200
        assert r.content == data
    with client.stream("GET", django_url + "/stream/1000/") as r:
        assert "".join(r.iter_text()) == "".join(f"line {i}\n"
                                                 for i in range(1000))


def test_django_async_server_sent_events(django_url, client):
    with client.stream("GET", django_url + "/events/") as r:
        assert r.headers["content-type"] == "text/event-stream"
        lines = [line for line in r.iter_lines() if line]
    assert lines == ["data: 0", "data: 1", "data: 2"]


def test_django_under_a_root_path(client):
    app = framework("wsgi_apps.django_site.asgi:application", "django")
    srv = gohttp.Server("127.0.0.1", 0, shutdown_timeout=5)
    srv.mount_asgi("/site", app, lifespan="off")
    srv.start()
    try:
        r = client.get(srv.url + "/site/where/")
        assert r.json()["script_name"] == "/site"
        assert r.json()["path_info"] == "/where/"
        assert r.json()["reverse"] == "/site/hello/x/"
    finally:
        srv.shutdown()


# ---- Litestar ---------------------------------------------------------------

@pytest.fixture(scope="module")
def litestar_url():
    with serving(framework("asgi_apps.litestar_app:app", "litestar")) as srv:
        yield srv.url


# Litestar 2.25 deprecates the plain style its 2.x docs show, which still
# works; the Annotated markers it asks for are not in older 2.x releases.
@pytest.mark.filterwarnings("ignore:.*(deprecated inferred style|without a "
                            "body marker)")
def test_litestar(litestar_url, client):
    r = client.get(litestar_url + "/items/3", params={"q": "x"})
    assert r.json() == {"item_id": 3, "q": "x"}
    assert client.get(litestar_url + "/items/x").status_code == 404
    r = client.post(litestar_url + "/items",
                    json={"name": "pen", "price": 1.5})
    assert (r.status_code, r.json()) == (201, {"name": "pen", "total": 3.0})
    assert client.get(litestar_url + "/sync").json()["thread"] \
        != "gohttp-asgi"
    with client.stream("GET", litestar_url + "/stream") as r:
        assert "".join(r.iter_text()) == "0\n1\n2\n3\n4\n"
    assert client.get(litestar_url + "/state").json() == {
        "greeting": "from startup", "path": "/state"}


def test_litestar_event_stream_stops_when_the_client_goes(
        litestar_url, client, asgi_errors):
    from asgi_apps.litestar_app import ticks
    with client.stream("GET", litestar_url + "/ticks") as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
        assert next(lines) == ""
    assert stops_growing(lambda: ticks["count"])
    assert asgi_errors() == []
    assert client.get(litestar_url + "/items/1").status_code == 200


# ---- Quart ------------------------------------------------------------------

@pytest.fixture(scope="module")
def quart_url():
    with serving(framework("asgi_apps.quart_app:app", "quart")) as srv:
        yield srv.url


def test_quart(quart_url, client):
    r = client.get(quart_url + "/items/3", params={"q": "x"})
    assert r.json() == {"item_id": 3, "q": "x",
                        "greeting": "from before_serving"}
    r = client.post(quart_url + "/items", json={"name": "pen", "price": 2})
    assert (r.status_code, r.json()) == (201, {"name": "pen", "total": 4})
    body = os.urandom(1 << 20)
    assert client.post(quart_url + "/echo", content=body).json() == {
        "length": len(body)}
    with client.stream("GET", quart_url + "/stream") as r:
        assert "".join(r.iter_text()) == "0\n1\n2\n3\n4\n"
    assert client.get(quart_url + "/nope").status_code == 404


# ---- the command tells each framework's app by itself -----------------------

@pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")
@pytest.mark.parametrize("app, package, path, want", [
    ("asgi_apps.fastapi_app:app", "fastapi", "/items/5",
     '{"item_id":5,"q":null,"limit":10}'),
    ("asgi_apps.litestar_app:app", "litestar", "/state",
     '{"greeting":"from startup","path":"/state"}'),
    ("asgi_apps.quart_app:app", "quart", "/items/5", None),
    ("wsgi_apps.django_site.asgi:application", "django", "/hello/cmd/",
     "Hello, cmd!"),
])
def test_the_command_serves_each_framework(subprocess_env, app, package,
                                           path, want):
    pytest.importorskip(package, reason=f"{package} is not installed")
    with gohttp_command(subprocess_env, app, "-b", "127.0.0.1:0") as (
            proc, banner):
        name, url = banner.wait()
        assert name == f"{app} (ASGI)"
        r = httpx.get(url + path, timeout=TIMEOUT)
        assert r.status_code == 200
        if want is not None:
            assert r.text == want
        assert stop(proc) == 0
