"""A chat over WebSockets with gohttp's native API: `python examples/chat.py`,
then open http://127.0.0.1:5000/ in two browser tabs.  Ctrl-C stops it.

Every message a client sends to /chat/{room} goes to everyone in that room.
Go holds the connections; the handler is an ``async def``, so a client
that is connected but quiet costs a task on the event loop, not a thread.
"""

import asyncio

import gohttp

srv = gohttp.Server(host="127.0.0.1", port=5000)

# room name -> the WebSockets in it; only the event loop's thread uses it.
rooms: dict[str, set[gohttp.AsyncWebSocket]] = {}

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>gohttp chat</title>
<style>body { font: 16px sans-serif; max-width: 40em; margin: 2em auto; }
#log { height: 20em; overflow-y: auto; border: 1px solid #ccc; padding: .5em; }</style>
<h1>gohttp chat</h1>
<p>Room <input id="room" value="lobby"> name <input id="name" value="anon">
<button id="join">join</button></p>
<div id="log"></div>
<form id="say"><input id="text" size="50" autocomplete="off"> <button>send</button></form>
<script>
let ws = null;
const log = (line) => {
  const p = document.createElement("div");
  p.textContent = line;
  document.getElementById("log").append(p);
  p.scrollIntoView();
};
document.getElementById("join").onclick = () => {
  if (ws) ws.close();
  const room = encodeURIComponent(document.getElementById("room").value);
  const name = encodeURIComponent(document.getElementById("name").value);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/chat/${room}?name=${name}`);
  ws.onmessage = (event) => log(event.data);
  ws.onclose = (event) => log(`(closed: ${event.code} ${event.reason})`);
};
document.getElementById("say").onsubmit = (event) => {
  event.preventDefault();
  const text = document.getElementById("text");
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(text.value);
  text.value = "";
};
document.getElementById("join").click();
</script>
"""


@srv.route("GET /{$}")
def index(w, req):
    w.header.set("Content-Type", "text/html; charset=utf-8")
    w.write(PAGE)


@srv.websocket("/chat/{room}")
async def chat(ws, req):
    name = req.query_params.get("name", ["anon"])[0][:32] or "anon"
    room = req.path_value("room")
    await ws.accept()
    members = rooms.setdefault(room, set())
    members.add(ws)
    await broadcast(members, f"* {name} joined {room} ({len(members)} here)")
    try:
        async for message in ws:           # ends when the client closes
            if isinstance(message, str):
                await broadcast(members, f"{name}: {message[:1000]}")
    finally:
        members.discard(ws)
        if not members:
            rooms.pop(room, None)
        await broadcast(members, f"* {name} left")


async def broadcast(members, text):
    """Send text to every member at once; one that has gone is skipped
    (its own handler removes it)."""
    await asyncio.gather(*(member.send(text) for member in list(members)),
                         return_exceptions=True)


if __name__ == "__main__":
    srv.run()
