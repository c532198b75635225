"""The same hello world and echo as a Flask app (a WSGI app through a
framework), served by gunicorn sync and gohttp's WSGI adapter."""

from flask import Flask, request

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, world!", 200, {"Content-Type": "text/plain"}


@app.post("/echo")
def echo():
    return request.get_data(), 200, {"Content-Type": "application/octet-stream"}
