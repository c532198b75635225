"""The chat of examples/chat.py as a FastAPI app, served by gohttp's ASGI
side: `pip install fastapi`, then `gohttp examples.fastapi_chat:app` (or
`python examples/fastapi_chat.py`) and open http://127.0.0.1:5000/ in two
browser tabs.

FastAPI's WebSocket endpoints run unchanged: Go does the WebSocket
protocol, the ASGI ``websocket`` scope carries the messages.
"""

import asyncio

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

app = FastAPI()

# room name -> the WebSockets in it; only the event loop's thread uses it.
rooms: dict[str, set[WebSocket]] = {}

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>FastAPI chat on gohttp</title>
<div id="log"></div>
<form id="say"><input id="text" autocomplete="off"> <button>send</button></form>
<script>
const scheme = location.protocol === "https:" ? "wss" : "ws";
const ws = new WebSocket(`${scheme}://${location.host}/chat/lobby?name=anon`);
ws.onmessage = (event) => {
  const p = document.createElement("div");
  p.textContent = event.data;
  document.getElementById("log").append(p);
};
document.getElementById("say").onsubmit = (event) => {
  event.preventDefault();
  ws.send(document.getElementById("text").value);
  document.getElementById("text").value = "";
};
</script>
"""


@app.get("/", response_class=HTMLResponse)
async def index() -> str:
    return PAGE


@app.websocket("/chat/{room}")
async def chat(websocket: WebSocket, room: str, name: str = "anon") -> None:
    name = name[:32] or "anon"
    await websocket.accept()
    members = rooms.setdefault(room, set())
    members.add(websocket)
    await broadcast(members, f"* {name} joined {room} ({len(members)} here)")
    try:
        while True:
            message = await websocket.receive_text()
            await broadcast(members, f"{name}: {message[:1000]}")
    except WebSocketDisconnect:
        pass
    finally:
        members.discard(websocket)
        if not members:
            rooms.pop(room, None)
        await broadcast(members, f"* {name} left")


async def broadcast(members: set[WebSocket], text: str) -> None:
    await asyncio.gather(*(m.send_text(text) for m in list(members)),
                         return_exceptions=True)


if __name__ == "__main__":
    import gohttp

    gohttp.serve_asgi(app, host="127.0.0.1", port=5000)
