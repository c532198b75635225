"""A realistic Flask app: GET /items renders a Jinja template
(apps/templates/items.html) from 10 rows of a SQLite query, a connection
opened per request as Flask's tutorial does.  GET / answers the benchmark's
hello world (its readiness check).  Served by gohttp's WSGI adapter,
gunicorn sync and granian WSGI."""

import sqlite3
from contextlib import closing

from flask import Flask, render_template

from apps import appdb

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, world!", 200, {"Content-Type": "text/plain"}


@app.get("/items")
def items():
    with closing(sqlite3.connect(appdb.PATH)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(appdb.QUERY, (appdb.FIRST,)).fetchall()
    return render_template("items.html", title="Items",
                           items=[dict(r) for r in rows])
