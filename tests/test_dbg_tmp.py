import subprocess
from test_http3 import *  # noqa
def test_dbg(h3_server, h3client):
    for path in ("/proto", "/wsgi/", "/asgi/"):
        p = subprocess.run(["timeout", "4", str(h3client), h3_server.url + path], capture_output=True, text=True)
        print(path, p.returncode, p.stdout[:200], p.stderr[-300:])
