"""What a request costs the server, where req/s are noise: CPU time and
context switches per request over a fixed number of requests.

    python3 bench/cost.py --rows go,go-2p,gohttp,gohttp-w2 --rounds 5
    python3 bench/cost.py --rows go,gohttp --keep-alive --requests 50000
    python3 bench/cost.py --rows go-download,gohttp-asgi-download,uvicorn-download --keep-alive --requests 4000

Rows: run.py's, and the rows of its apps section that answer a GET
(flask, django, api-get, download: `--rows` names them as run.py --apps
does, e.g. gohttp-asgi-download), each asked on its table's path.

Each round starts each row's server (run.py's rows), sends
--warmup requests with ab, then --requests more, and reads the server's
whole process tree from /proc before and after: user + sys CPU time,
the voluntary and involuntary context switches of every thread, those
of the main thread alone (voluntary: how often an ASGI loop that runs
on it went to sleep) and the tree's RSS at the end.  A
connection per request (`ab -c 10`, the ab column's condition) unless
--keep-alive (`ab -k -c 50`).  On a shared machine these move less than
req/s, but still move (a busy machine makes a server sleep and wake
more): compare rows of the same rounds, and read `others`, the cores
other processes used meanwhile.  Linux only.  Prints a markdown table;
bench/results.md has what was measured with it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import proctree
import run
from proctree import TICK

def busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0]
         .split()[1:9]]
    return sum(f) - f[3] - f[4], sum(f)


def ab(url: str, requests: int, keep_alive: bool) -> tuple[float, float]:
    """Run ab; its req/s and the CPU seconds it used."""
    argv = ["ab", "-q", "-r", "-n", str(requests), "-c",
            "50" if keep_alive else "10", *(["-k"] if keep_alive else []),
            url]
    before = os.times()
    out = subprocess.run(argv, capture_output=True, text=True,
                         timeout=600).stdout
    after = os.times()
    m = re.search(r"Requests per second:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"ab said: {out[-300:]}")
    used = (after.children_user + after.children_system
            - before.children_user - before.children_system)
    return float(m.group(1)), used


def measure(row: run.Row, path: str,
            args: argparse.Namespace) -> dict[str, float]:
    port = run.free_port()
    server = run.Server(row, port, [], run.BUILD / "logs" /
                        f"cost-{row.name}.log")
    url = f"http://{run.HOST}:{port}{path}"
    try:
        ab(url, args.warmup, args.keep_alive)
        pids = run.process_tree(server.pid)
        before, (busy0, total0) = proctree.usage(pids), busy_ticks()
        rps, ab_cpu = ab(url, args.requests, args.keep_alive)
        after, (busy1, total1) = proctree.usage(pids), busy_ticks()
    finally:
        server.stop()
    n = args.requests
    cpus = os.cpu_count() or 1
    server_ticks = after.ticks - before.ticks
    others = (busy1 - busy0 - server_ticks - ab_cpu * TICK) / max(
        (total1 - total0) / cpus, 1)
    return {"cpu_us": server_ticks / TICK / n * 1e6,
            "voluntary": (after.voluntary - before.voluntary) / n,
            "involuntary": (after.involuntary - before.involuntary) / n,
            "main": (after.main_voluntary - before.main_voluntary) / n,
            "rss": after.rss_kib / 1024,
            "rps": rps, "others": max(others, 0.0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default="go,go-2p,gohttp,gohttp-w2",
                   help="run.py's rows, comma-separated")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--warmup", type=int, default=2000)
    p.add_argument("--keep-alive", action="store_true",
                   help="ab -k -c 50 rather than a connection per request")
    args = p.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("cost.py: reads /proc, so Linux only")
    run.ensure_tools({"ab": "apache2-utils"})
    go = run.go_command()
    if not go:
        sys.exit("cost.py: Go is needed to build bench/gohello")
    run.build_gohello(go)
    venv_error = run.ensure_venv()
    wanted = args.rows.split(",")
    paths = {r.name: "/" for r in run.all_rows() if r.name in wanted}
    rows = [r for r in run.all_rows() if r.name in wanted]
    run.mark_skips(rows, venv_error)
    loads = [load for load in run.app_loads() if load.method == "GET"]
    run.mark_app_skips(loads, venv_error)
    for load in loads:
        for r in load.rows:
            if r.name in wanted and r.name not in paths:
                r.label = f"{r.label}, GET {load.path}"
                rows.append(r)
                paths[r.name] = load.path
    unknown = set(wanted) - {r.name for r in rows}
    if unknown:
        sys.exit(f"cost.py: no such row: {', '.join(sorted(unknown))}")
    samples: dict[str, list[dict[str, float]]] = {r.name: [] for r in rows}
    for i in range(args.rounds):
        for row in rows:
            if row.skip:
                continue
            s = measure(row, paths[row.name], args)
            samples[row.name].append(s)
            print(f"round {i + 1} {row.name}: {s['cpu_us']:.1f} µs CPU, "
                  f"{s['voluntary']:.2f} + {s['involuntary']:.2f} switches "
                  f"per request (main thread {s['main']:.2f}), RSS "
                  f"{s['rss']:.0f} MiB, {s['rps']:,.0f}/s, others "
                  f"{s['others']:.2f} cores", file=sys.stderr, flush=True)
            time.sleep(0.2)
    how = ("ab -k -c 50" if args.keep_alive else "ab -c 10, a connection "
           "per request")
    print(f"\n{how}, {args.requests} requests a round; medians over "
          f"rounds (lowest in brackets)\n")
    print("| server | rounds | CPU µs/request | voluntary switches/request "
          "| involuntary | main thread's voluntary | RSS MiB "
          "| others (cores) |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        got = samples[row.name]
        if not got:
            print(f"| {row.label} | 0 | {row.skip or '–'} | | | | | |")
            continue

        def col(key: str, fmt: str) -> str:
            values = [s[key] for s in got]
            return (f"{statistics.median(values):{fmt}} "
                    f"({min(values):{fmt}})")
        print(f"| {row.label} | {len(got)} | {col('cpu_us', '.0f')} | "
              f"{col('voluntary', '.2f')} | {col('involuntary', '.2f')} | "
              f"{col('main', '.2f')} | {col('rss', '.0f')} | "
              f"{statistics.median(s['others'] for s in got):.2f} |")


if __name__ == "__main__":
    main()
