"""A FastAPI app for the tests, written as its documentation shows: path
and query parameters, JSON bodies, uploads, streaming and files,
background tasks, dependencies (async, with yield, and a sync def run in
the thread pool), exception handlers, server-sent events, lifespan."""

import asyncio
import contextlib
import hashlib
import threading
import time
from typing import Optional

from fastapi import (BackgroundTasks, Depends, FastAPI, File, Form,
                     HTTPException, Request, UploadFile)
from fastapi.responses import (FileResponse, JSONResponse, PlainTextResponse,
                               StreamingResponse)
from pydantic import BaseModel

# What the tests watch from outside the app.
background_done = threading.Event()
sse_release = threading.Event()
sse_state: dict = {}
closed_sessions: list = []


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.greeting = "from lifespan"
    yield {"started_at": time.time()}


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


class Teapot(Exception):
    pass


@app.exception_handler(Teapot)
async def teapot_handler(request: Request, exc: Teapot):
    return JSONResponse({"error": str(exc)}, status_code=418)


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: Optional[str] = None,
                    limit: int = 10):
    return {"item_id": item_id, "q": q, "limit": limit}


@app.post("/items", status_code=201)
async def create_item(item: Item):
    return {"item": item.model_dump(), "total": item.price * 2}


@app.post("/upload")
async def upload(file: UploadFile = File(...), note: str = Form(...)):
    digest = hashlib.sha256()
    size = 0
    while chunk := await file.read(65536):
        digest.update(chunk)
        size += len(chunk)
    return {"filename": file.filename, "size": size, "note": note,
            "sha256": digest.hexdigest(),
            "content_type": file.content_type}


@app.get("/stream")
async def stream(n: int = 5):
    async def numbers():
        for i in range(n):
            yield f"{i}\n"
            await asyncio.sleep(0)
    return StreamingResponse(numbers(), media_type="text/plain")


@app.get("/file")
async def file(path: str):
    return FileResponse(path, filename="data.bin")


@app.get("/later")
async def later(background: BackgroundTasks):
    background_done.clear()
    background.add_task(background_done.set)
    return PlainTextResponse("sent")


async def session():
    """An async dependency with cleanup after the response."""
    token = object()
    try:
        yield token
    finally:
        closed_sessions.append(token)


def settings(request: Request):
    """A sync dependency: FastAPI runs it in anyio's thread pool."""
    return {"thread": threading.current_thread().name,
            "greeting": request.app.state.greeting}


@app.get("/deps")
async def deps(conf: dict = Depends(settings), db: object = Depends(session)):
    return {"dependency_thread": conf["thread"],
            "greeting": conf["greeting"], "session": db is not None}


@app.get("/sync")
def sync_endpoint(x: int = 0):
    """A sync endpoint: the thread pool, not the loop."""
    return {"thread": threading.current_thread().name, "x": x}


@app.get("/teapot")
async def teapot():
    raise Teapot("short and stout")


@app.get("/missing")
async def missing():
    raise HTTPException(status_code=404, detail="no such thing")


@app.get("/boom")
async def boom():
    raise RuntimeError("the endpoint failed on purpose")


@app.get("/state")
async def state(request: Request):
    return {"started": request.state.started_at > 0}


@app.get("/events")
async def events(request: Request, hold: bool = True):
    """Server-sent events: one event, then (with hold) it waits for the
    test to release it before the rest; endless ones stop when the
    client goes away."""
    sse_release.clear()
    sse_state.clear()

    async def generate():
        try:
            yield "data: first\n\n"
            if hold:
                deadline = time.monotonic() + 30
                while not sse_release.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                for i in range(3):
                    yield f"data: {i}\n\n"
            else:
                sse_state["ticks"] = 0
                while True:
                    sse_state["ticks"] += 1
                    yield f"data: tick {sse_state['ticks']}\n\n"
                    await asyncio.sleep(0.01)
        finally:
            sse_state["finished"] = time.monotonic()
    return StreamingResponse(generate(), media_type="text/event-stream")
