"""The soak under faults (tests/soak/run.py), for 10 seconds, so that the
harness behind `make soak` keeps working: load on native, WSGI and ASGI
routes over HTTP/1.1 and HTTP/2, and WebSockets, while workers are killed and reloaded,
then every response, the resources and the log checked."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.heavy,
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="the soak reads /proc"),
]

RUN = Path(__file__).resolve().parent / "soak" / "run.py"


def test_soak_short(subprocess_env, tmp_path):
    pytest.importorskip("h2", reason="the soak's HTTP/2 client")
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--seconds", "10", "--clients", "4",
         "--out", str(tmp_path), "--json", str(summary)],
        env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=300)
    s = json.loads(summary.read_text())
    assert proc.returncode == 0, proc.stdout
    # The faults ran, and the load reached every interface and kind.
    assert s["faults"]["kill"] >= 2 and s["faults"]["reload"] >= 1
    assert set(s["by_interface"]) == {"n", "w", "a"}
    kinds = {name.split()[0] for name in s["requests"]}
    assert kinds >= {"blob", "stream", "upload", "upload-cut", "raise",
                     "raise-mid", "reset", "ws-echo", "ws-vanish"}
    assert {name.split()[1] for name in s["requests"]} == {"h1", "h2"}
    assert s["log"]["tracebacks_expected"] > 0
    assert not s["failures"]
