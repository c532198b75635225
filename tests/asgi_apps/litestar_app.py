"""A Litestar app for the tests: path and query parameters, a JSON body
into a dataclass, a sync handler in a thread, streaming, lifespan
state."""

import asyncio
import threading
from dataclasses import dataclass

from litestar import Litestar, Request, get, post
from litestar.datastructures import State
from litestar.response import Stream


@dataclass
class Item:
    name: str
    price: float


@get("/items/{item_id:int}")
async def read_item(item_id: int, q: str = "") -> dict:
    return {"item_id": item_id, "q": q}


@post("/items")
async def create_item(data: Item) -> dict:
    return {"name": data.name, "total": data.price * 2}


@get("/sync", sync_to_thread=True)
def sync_handler() -> dict:
    return {"thread": threading.current_thread().name}


@get("/stream")
async def stream() -> Stream:
    async def numbers():
        for i in range(5):
            yield f"{i}\n"
    return Stream(numbers(), media_type="text/plain")


ticks = {"count": 0}


@get("/ticks")
async def endless() -> Stream:
    """Server-sent events until the client leaves (Litestar learns it
    from receive(), beside the stream)."""
    async def events():
        while True:
            ticks["count"] += 1
            yield f"data: {ticks['count']}\n\n"
            await asyncio.sleep(0.01)
    return Stream(events(), media_type="text/event-stream")


@get("/state")
async def state(request: Request, state: State) -> dict:
    return {"greeting": state.greeting, "path": request.url.path}


def on_startup(app: Litestar) -> None:
    app.state.greeting = "from startup"


app = Litestar([read_item, create_item, sync_handler, stream, endless,
                state],
               on_startup=[on_startup])
