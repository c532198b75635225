"""A Quart app for the tests (Flask's API on ASGI): path and query
parameters, a JSON body, an async generator streamed, before_serving."""

import asyncio

from quart import Quart, jsonify, request

app = Quart(__name__)


@app.before_serving
async def startup():
    app.config["GREETING"] = "from before_serving"


@app.route("/items/<int:item_id>")
async def read_item(item_id):
    return jsonify(item_id=item_id, q=request.args.get("q"),
                   greeting=app.config["GREETING"])


@app.route("/items", methods=["POST"])
async def create_item():
    data = await request.get_json()
    return jsonify(name=data["name"], total=data["price"] * 2), 201


@app.route("/echo", methods=["POST"])
async def echo():
    body = await request.get_data()
    return jsonify(length=len(body))


@app.route("/stream")
async def stream():
    async def numbers():
        for i in range(5):
            yield f"{i}\n".encode()
            await asyncio.sleep(0)
    return numbers(), 200, {"Content-Type": "text/plain"}
