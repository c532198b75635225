"""Each ASGI request's app runs inside its own real asyncio Task from its
first step on, however it is started (gohttp.asgi.task_starter: eager on
3.12, the first step at once on 3.10 and 3.11's asyncio loop): anyio's
task groups and thread pool, under Starlette and FastAPI, need that."""

from __future__ import annotations

import asyncio
import threading

import pytest

from helpers.asgi_fixtures import asgi_errors, respond, serve_asgi  # noqa: F401

anyio = pytest.importorskip("anyio")


def test_first_step_has_its_task_a_task_group_and_threads(
        serve_asgi, asgi_errors, http):
    seen = []

    async def app(scope, receive, send):
        # Before any await: the first step, which may run inside drain.
        task = asyncio.current_task()
        seen.append(task)
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep, 0)
            name = await anyio.to_thread.run_sync(
                lambda: threading.current_thread().name)
        assert asyncio.current_task() is task
        await respond(send, name.encode())

    srv = serve_asgi(app)
    for _ in range(3):
        r = http.request("GET", srv.url + "/")
        assert r.status == 200
        assert r.data != threading.current_thread().name.encode()
    assert all(isinstance(t, asyncio.Task) for t in seen)
    assert len({id(t) for t in seen}) == 3   # seen keeps them alive
    assert asgi_errors() == []


def test_tasks_of_one_batch_each_get_their_own(serve_asgi, http):
    """Concurrent requests: every app sees a distinct current task."""
    tasks = []
    both = threading.Barrier(2)

    async def app(scope, receive, send):
        tasks.append(asyncio.current_task())
        await asyncio.sleep(0.01)
        await respond(send, b"ok")

    srv = serve_asgi(app)

    def get():
        both.wait()
        assert http.request("GET", srv.url + "/").status == 200

    threads = [threading.Thread(target=get) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tasks) == 2 and tasks[0] is not tasks[1]
    assert all(isinstance(t, asyncio.Task) for t in tasks)
