"""A Litestar app for the tests: path and query parameters, a JSON body
into a dataclass, a sync handler in a thread, streaming, lifespan
state."""

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


@get("/state")
async def state(request: Request, state: State) -> dict:
    return {"greeting": state.greeting, "path": request.url.path}


def on_startup(app: Litestar) -> None:
    app.state.greeting = "from startup"


app = Litestar([read_item, create_item, sync_handler, stream, state],
               on_startup=[on_startup])
