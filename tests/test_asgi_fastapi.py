"""FastAPI, unchanged, on gohttp, with a real httpx client on a real
socket: everything its tutorial shows a user (see asgi_apps/fastapi_app),
and server-sent events that reach the client as they are sent."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

pytest.importorskip("fastapi", reason="FastAPI is not installed (tests/"
                    "requirements.txt): pip install fastapi python-multipart")
pytest.importorskip("python_multipart", reason="FastAPI's uploads need "
                    "python-multipart (tests/requirements.txt)")
pytest.importorskip("httpx")

from asgi_apps import fastapi_app  # noqa: E402
from helpers.asgi_fixtures import (asgi_errors, client,  # noqa: E402,F401
                                   serving, stops_growing)
from helpers.common import TIMEOUT  # noqa: E402


@pytest.fixture(scope="module")
def url():
    with serving(fastapi_app.app, lifespan="on") as srv:
        yield srv.url


def test_path_and_query_parameters(url, client):
    r = client.get(url + "/items/42", params={"q": "café", "limit": "3"})
    assert r.json() == {"item_id": 42, "q": "café", "limit": 3}
    assert client.get(url + "/items/7").json() == {
        "item_id": 7, "q": None, "limit": 10}
    r = client.get(url + "/items/nope")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_json_body(url, client):
    r = client.post(url + "/items",
                    json={"name": "pen", "price": 1.5, "tags": ["a"]})
    assert r.status_code == 201
    assert r.json() == {"item": {"name": "pen", "price": 1.5,
                                 "tags": ["a"]}, "total": 3.0}
    assert client.post(url + "/items", json={"name": "pen"}
                       ).status_code == 422
    r = client.post(url + "/items", content=b"{not json",
                    headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_upload_file_multipart(url, client):
    data = os.urandom(3 << 20)   # beyond the 1 MiB SpooledTemporaryFile
    r = client.post(url + "/upload", data={"note": "três"},
                    files={"file": ("photo.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json() == {"filename": "photo.jpg", "size": len(data),
                        "note": "três",
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "content_type": "image/jpeg"}
    r = client.post(url + "/upload", data={"note": "no file"})
    assert r.status_code == 422


def test_streaming_response(url, client):
    with client.stream("GET", url + "/stream", params={"n": 200}) as r:
        assert "".join(r.iter_text()) == "".join(f"{i}\n"
                                                 for i in range(200))


def test_file_response_whole_and_range(url, client, tmp_path):
    data = os.urandom(300_000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    r = client.get(url + "/file", params={"path": str(path)})
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-length"] == str(len(data))
    assert 'filename="data.bin"' in r.headers["content-disposition"]
    r = client.get(url + "/file", params={"path": str(path)},
                   headers={"range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.content == data[1000:2000]


def test_background_tasks_run_after_the_response(url, client):
    assert client.get(url + "/later").text == "sent"
    assert fastapi_app.background_done.wait(TIMEOUT)


def test_dependencies_sync_in_the_thread_pool_async_cleaned_up(url, client):
    before = len(fastapi_app.closed_sessions)
    r = client.get(url + "/deps")
    assert r.status_code == 200
    body = r.json()
    assert body["greeting"] == "from lifespan"
    assert body["session"] is True
    assert body["dependency_thread"] not in ("gohttp-asgi", "MainThread")
    deadline = time.monotonic() + TIMEOUT
    while len(fastapi_app.closed_sessions) == before:
        assert time.monotonic() < deadline, "the dependency's cleanup"
        time.sleep(0.01)


def test_sync_endpoint_runs_in_the_thread_pool(url, client):
    r = client.get(url + "/sync", params={"x": 5})
    assert r.json()["x"] == 5
    assert r.json()["thread"] not in ("gohttp-asgi", "MainThread")


def test_exception_handlers(url, client, asgi_errors):
    r = client.get(url + "/teapot")
    assert (r.status_code, r.json()) == (418, {"error": "short and stout"})
    r = client.get(url + "/missing")
    assert (r.status_code, r.json()) == (404, {"detail": "no such thing"})
    r = client.get(url + "/boom")
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    # Starlette sends its 500, then re-raises: logged as the task ends.
    deadline = time.monotonic() + TIMEOUT
    while not asgi_errors() and time.monotonic() < deadline:
        time.sleep(0.01)
    [error] = asgi_errors()   # with its traceback
    assert str(error.exc_info[1]) == "the endpoint failed on purpose"
    # The server goes on serving.
    assert client.get(url + "/items/1").status_code == 200


def test_lifespan_state_reaches_requests(url, client):
    assert client.get(url + "/state").json() == {"started": True}


def test_server_sent_events_arrive_as_they_are_sent(url, client):
    with client.stream("GET", url + "/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        assert next(lines) == "data: first"
        # The first event is here while the handler still waits.
        assert "finished" not in fastapi_app.sse_state
        fastapi_app.sse_release.set()
        rest = [line for line in lines if line]
    assert rest == ["data: 0", "data: 1", "data: 2"]
    assert "finished" in fastapi_app.sse_state


def test_an_endless_event_stream_stops_when_the_client_goes(
        url, client, asgi_errors):
    """Starlette learns it from send(), whose OSError it turns into its
    ClientDisconnect: no server error is logged for it."""
    with client.stream("GET", url + "/events", params={"hold": "false"}
                       ) as r:
        lines = r.iter_lines()
        assert next(lines) == "data: first"
        assert next(lines) == ""
        assert next(lines).startswith("data: tick")
    assert stops_growing(lambda: fastapi_app.sse_state["ticks"])
    assert asgi_errors() == []
    # The server goes on serving.
    assert client.get(url + "/items/1").status_code == 200
