"""A Starlette app, unchanged, on gohttp: routing, JSON bodies, streaming,
sync endpoints (anyio's thread pool), background tasks, lifespan state;
a real httpx client."""

from __future__ import annotations

import contextlib
import threading

import pytest

starlette = pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from starlette.applications import Starlette  # noqa: E402
from starlette.background import BackgroundTask  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import (JSONResponse, PlainTextResponse,  # noqa: E402
                                 StreamingResponse)
from starlette.routing import Mount, Route  # noqa: E402

from helpers.asgi_fixtures import client, serving  # noqa: E402,F401
from helpers.common import TIMEOUT  # noqa: E402

background_done = threading.Event()


async def item(request: Request):
    return JSONResponse({"id": int(request.path_params["id"]),
                         "q": request.query_params.get("q"),
                         "root_path": request.scope["root_path"]})


async def create(request: Request):
    data = await request.json()
    return JSONResponse({"got": data, "n": len(await request.body())},
                        status_code=201)


async def stream(request: Request):
    async def numbers():
        for i in range(5):
            yield f"{i}\n"
    return StreamingResponse(numbers(), media_type="text/plain")


def sync_endpoint(request: Request):
    # Starlette runs it in anyio's thread pool: it needs the request's
    # task to be a real asyncio Task.
    return PlainTextResponse(threading.current_thread().name)


async def later(request: Request):
    return PlainTextResponse("sent", background=BackgroundTask(
        background_done.set))


async def state(request: Request):
    return PlainTextResponse(request.state.greeting)


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"greeting": "from lifespan"}


routes = [Route("/items/{id:int}", item), Route("/items", create,
                                                methods=["POST"]),
          Route("/stream", stream), Route("/sync", sync_endpoint),
          Route("/later", later), Route("/state", state)]
app = Starlette(routes=routes + [Mount("/sub", routes=routes)],
                lifespan=lifespan)


@pytest.fixture(scope="module")
def url():
    with serving(app, lifespan="on") as srv:
        yield srv.url


def test_routing_and_path_parameters(url, client):
    r = client.get(url + "/items/42", params={"q": "x"})
    assert r.json() == {"id": 42, "q": "x", "root_path": ""}
    assert client.get(url + "/items/nope").status_code == 404
    assert client.get(url + "/sub/items/7").json()["id"] == 7


def test_json_body(url, client):
    r = client.post(url + "/items", json={"name": "café", "n": [1, 2]})
    assert r.status_code == 201
    assert r.json()["got"] == {"name": "café", "n": [1, 2]}


def test_streaming_response(url, client):
    with client.stream("GET", url + "/stream") as r:
        assert "".join(r.iter_text()) == "0\n1\n2\n3\n4\n"


def test_sync_endpoint_in_the_thread_pool(url, client):
    r = client.get(url + "/sync")
    assert r.status_code == 200
    assert r.text != "gohttp-asgi"   # not on the loop's thread


def test_background_task_runs_after_the_response(url, client):
    background_done.clear()
    assert client.get(url + "/later").text == "sent"
    assert background_done.wait(TIMEOUT)


def test_lifespan_state_reaches_requests(url, client):
    assert client.get(url + "/state").text == "from lifespan"
