"""A realistic JSON API in FastAPI: POST /items parses a small JSON body
into a pydantic model and answers JSON; GET /items answers a list of 10
objects.  GET / answers the benchmark's hello world (its readiness check).
Served by gohttp's ASGI server, uvicorn and granian ASGI."""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    price: float
    quantity: int = 1
    tags: list[str] = []


class Created(BaseModel):
    name: str
    total: float
    tags: int


ITEMS = [Item(name=f"item {i}", price=i * 1.25, quantity=i % 3 + 1,
              tags=["bench", f"t{i % 4}"]) for i in range(1, 11)]


@app.get("/", response_class=PlainTextResponse)
async def hello() -> str:
    return "Hello, world!"


@app.get("/items")
async def list_items() -> list[Item]:
    return ITEMS


@app.post("/items")
async def create_item(item: Item) -> Created:
    return Created(name=item.name, total=item.price * item.quantity,
                   tags=len(item.tags))
