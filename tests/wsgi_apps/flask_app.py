"""A Flask app for the framework tests."""

import hashlib

from flask import (Flask, Response, jsonify, redirect, request,
                   stream_with_context, url_for)

app = Flask(__name__)


@app.get("/hello/<name>")
def hello(name):
    return f"Hello, {name}!"


@app.get("/where")
def where():
    return jsonify(script_root=request.script_root, path=request.path,
                   url=request.url, url_for=url_for("hello", name="x"),
                   args=request.args.to_dict(flat=False))


@app.post("/json")
def echo_json():
    return jsonify(got=request.get_json(), length=request.content_length)


@app.post("/upload")
def upload():
    upload = request.files["file"]
    data = upload.read()
    return jsonify(name=upload.filename, size=len(data),
                   sha256=hashlib.sha256(data).hexdigest(),
                   field=request.form["field"])


@app.get("/stream/<int:count>")
def stream(count):
    def lines():
        for i in range(count):
            yield f"line {i}\n"
    return Response(stream_with_context(lines()), mimetype="text/plain")


@app.get("/redirect")
def go_elsewhere():
    return redirect(url_for("hello", name="redirected"))


@app.get("/cookies")
def cookies():
    response = jsonify(dict(request.cookies))
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    return response


@app.get("/boom")
def boom():
    raise ZeroDivisionError("flask view failed")
