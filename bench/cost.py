"""What one request costs the server, over a fixed number of requests:
CPU time (user + sys of the whole process), context switches (all
threads, and the main thread's, which runs the ASGI loop) and RSS.  On a
shared machine wall-clock req/s is noise; these are not (the CPU time
still moves by 10-20 % with the machine's load: interleave rounds).

    python3 bench/cost.py gohttp-asgi uvicorn go --rounds 3
    python3 bench/cost.py gohttp-asgi --tree /tmp/main-checkout   # a baseline

Rows: gohttp-asgi (bench/apps/app_bytes.py's `asgi`), gohttp (the native
handler, apps/gohttp_bytes.py), uvicorn (bench/.venv's, same app), go
(bench/.build/gohello -bytes, built by run.py).  The load is ab -k with
--connections at once on --path (default: the 1 MiB download).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"


def command(row: str, tree: Path, python: str, port: int) -> list[str]:
    apps = tree / "bench" / "apps"
    if row == "gohttp-asgi":
        return [python, str(apps / "gohttp_asgi.py"), "apps.app_bytes:asgi",
                str(port)]
    if row == "gohttp":
        return [python, str(apps / "gohttp_bytes.py"), str(port)]
    if row == "uvicorn":
        return [str(BENCH / ".venv" / "bin" / "uvicorn"), "--host", HOST,
                "--port", str(port), "--no-access-log", "--log-level",
                "warning", "apps.app_bytes:asgi"]
    if row == "go":
        return [str(BENCH / ".build" / "gohello"), "-addr",
                f"{HOST}:{port}", "-bytes"]
    raise SystemExit(f"unknown row {row!r}: gohttp-asgi, gohttp, uvicorn, go")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, sys) of the whole process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def switches(pid: int) -> tuple[int, int]:
    """(context switches of every thread, voluntary ones of the main
    thread: how often the ASGI loop went to sleep)."""
    total = main = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = task.joinpath("status").read_text()
        except OSError:
            continue   # the thread ended
        counts = [int(n) for n in re.findall(
            r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)", status, re.M)]
        total += sum(counts)
        if task.name == str(pid):
            main = counts[0]
    return total, main


def status_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+)", text, re.M)
    return int(match.group(1)) if match else 0


def ab(url: str, requests: int, connections: int) -> int:
    """Run the load; the failed requests ab counted."""
    out = subprocess.run(["ab", "-q", "-k", "-c", str(connections), "-n",
                          str(requests), url], capture_output=True,
                         text=True, check=True).stdout
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    return int(failed.group(1)) if failed else -1


def measure(row: str, args: argparse.Namespace) -> str:
    port = free_port()
    tree = Path(args.tree).resolve()
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'bench'}")
    server = subprocess.Popen(command(row, tree, args.python, port),
                              env=env, cwd=tree / "bench",
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    return f"{row}: did not start"
                time.sleep(0.05)
        url = f"http://{HOST}:{port}{args.path}"
        ab(url, max(200, args.requests // 10), args.connections)   # warm up
        user0, sys0 = cpu_seconds(server.pid)
        all0, main0 = switches(server.pid)
        failed = ab(url, args.requests, args.connections)
        user1, sys1 = cpu_seconds(server.pid)
        all1, main1 = switches(server.pid)
        n = args.requests
        return (f"{row}: {1e6 * (user1 - user0 + sys1 - sys0) / n:.0f} µs "
                f"CPU/request (user {1e6 * (user1 - user0) / n:.0f}, sys "
                f"{1e6 * (sys1 - sys0) / n:.0f}), {(all1 - all0) / n:.1f} "
                f"context switches/request (main thread "
                f"{(main1 - main0) / n:.2f}), RSS "
                f"{status_kib(server.pid, 'VmRSS') / 1024:.0f} MiB (peak "
                f"{status_kib(server.pid, 'VmHWM') / 1024:.0f}), "
                f"{failed} failed")
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="+")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--path", default="/download")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds, the rows interleaved in each")
    parser.add_argument("--tree", default=str(BENCH.parent),
                        help="the checkout whose gohttp and bench/apps the "
                             "gohttp rows run (default: this one)")
    parser.add_argument("--python", default=sys.executable,
                        help="the python of the gohttp rows")
    args = parser.parse_args()
    for _ in range(args.rounds):
        for row in args.rows:
            print(measure(row, args), flush=True)


if __name__ == "__main__":
    main()
