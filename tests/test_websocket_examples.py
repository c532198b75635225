"""examples/chat.py (native) and examples/fastapi_chat.py (FastAPI), as
shipped, each in a process of its own on a free port: the page is served
and a message goes from one chat client to another."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from helpers.common import GOHTTP_PATH, TIMEOUT, get

pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# How each example is served on port 0: the native one's own Server, the
# FastAPI app mounted on one.
SERVE = {
    "chat": """
        import chat
        srv = chat.srv
        srv._configure(port=0)
    """,
    "fastapi_chat": """
        import gohttp, fastapi_chat
        srv = gohttp.Server("127.0.0.1", 0)
        srv.mount_asgi("/", fastapi_chat.app)
    """,
}


def serve_example(name: str) -> Iterator[str]:
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{GOHTTP_PATH!r}, {str(EXAMPLES)!r}]
    """) + textwrap.dedent(SERVE[name]) + textwrap.dedent("""
        srv.start()
        print(srv.url, flush=True)
        sys.stdin.read()
        srv.shutdown(timeout=5)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == 0


@pytest.mark.parametrize("name", ["chat", "fastapi_chat"])
def test_the_chat_example_round_trips_a_message(name):
    if name == "fastapi_chat":
        pytest.importorskip("fastapi")
    serving = serve_example(name)
    url = next(serving)
    try:
        page = get(url + "/")
        assert page.status == 200
        assert b"new WebSocket(" in page.data
        ws = "ws" + url[len("http"):] + "/chat/lobby"
        with connect(ws + "?name=ann", open_timeout=TIMEOUT) as ann:
            assert ann.recv(timeout=TIMEOUT) == "* ann joined lobby (1 here)"
            with connect(ws + "?name=bob", open_timeout=TIMEOUT) as bob:
                assert bob.recv(timeout=TIMEOUT) == \
                    "* bob joined lobby (2 here)"
                assert ann.recv(timeout=TIMEOUT) == \
                    "* bob joined lobby (2 here)"
                ann.send("hello, bob")
                assert bob.recv(timeout=TIMEOUT) == "ann: hello, bob"
                assert ann.recv(timeout=TIMEOUT) == "ann: hello, bob"
            assert ann.recv(timeout=TIMEOUT) == "* bob left"
    finally:
        next(serving, None)
