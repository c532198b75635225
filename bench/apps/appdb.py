"""The SQLite database of the realistic apps (app_flask.py, app_django.py):
100 items, made by bench/run.py in bench/.build before any server starts,
so that every server reads the same file.  Each request reads 10 rows."""

import os
import sqlite3
from pathlib import Path

PATH = Path(os.environ.get("GOHTTP_BENCH_DB",
                           Path(__file__).resolve().parent.parent
                           / ".build" / "apps.sqlite3"))
QUERY = "SELECT id, name, price FROM items WHERE id > ? ORDER BY id LIMIT 10"
FIRST = 40          # the query's parameter: rows 41 to 50
ROWS = 100


def create(path: Path = PATH) -> None:
    """(Re)create the database: ROWS items with a name and a price."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, "
                   "name TEXT NOT NULL, price TEXT NOT NULL)")
        db.executemany("INSERT INTO items VALUES (?, ?, ?)",
                       [(i, f"Item <{i}> & co", f"{i * 1.25:.2f}")
                        for i in range(1, ROWS + 1)])
    os.chmod(path, 0o644)
