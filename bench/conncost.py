"""What a new connection costs the server in the kernel: system and user
CPU time, syscalls and context switches per connection.

    python3 bench/conncost.py --rows go,gohttp,gohttp-wsgi,granian-wsgi --rounds 3
    python3 bench/conncost.py --rows go,gohttp --syscalls-only --requests 4000

Each round starts each row's server (run.py's rows), sends --warmup
requests with ab (`ab -c 10`, a connection per request), then --requests
more, twice:

- once bare, reading the server's process tree from /proc before and
  after (user and system CPU time apart, voluntary and involuntary
  context switches of every thread);
- once under `perf stat --per-thread` counting syscall tracepoints (how
  many of each syscall, which reads and accepts found nothing to do:
  EAGAIN, and which thread accepted).  Counting tracepoints costs the
  server a little time of its own, which is why the CPU times come from
  the bare pass.

Needs root (or perf_event_paranoid <= 1) and tracefs for the syscall
tracepoints.  Linux only.  Prints a markdown table of medians over rounds;
bench/results.md "New connections: the kernel's side" has what was
measured with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import proctree
import run
from proctree import TICK


# The syscalls a connection's life makes on one of these servers (Go's
# netpoller, tokio's, Python's): each is counted per connection.
SYSCALLS = ["accept4", "accept", "setsockopt", "getsockopt", "getsockname",
            "epoll_ctl", "epoll_pwait", "epoll_wait", "read", "recvfrom",
            "write", "writev", "sendto", "shutdown", "close", "futex",
            "nanosleep", "sched_yield", "tgkill", "getpid"]
# Exits whose -EAGAIN (-11) says the call found nothing to do.
EAGAIN = ["read", "accept4", "recvfrom"]


def ab(url: str, requests: int) -> float:
    out = subprocess.run(["ab", "-q", "-r", "-n", str(requests), "-c", "10",
                          url], capture_output=True, text=True,
                         timeout=600).stdout
    m = re.search(r"Requests per second:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"ab said: {out[-300:]}")
    return float(m.group(1))


def perf_events() -> list[str]:
    have = Path("/sys/kernel/tracing/events/syscalls")
    events = ["raw_syscalls:sys_enter"]
    for name in SYSCALLS:
        if (have / f"sys_enter_{name}").exists():
            events.append(f"syscalls:sys_enter_{name}")
    return events


def counted(pids: list[int], url: str, requests: int
            ) -> dict[str, float]:
    """Syscalls per connection while ab runs, from perf stat: per
    syscall, 'total', '<name> EAGAIN', and 'accepting threads'."""
    events = perf_events()
    args = []
    for e in events:
        args += ["-e", e]
    for name in EAGAIN:
        args += ["-e", f"syscalls:sys_exit_{name}", "--filter", "ret == -11"]
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
        perf = subprocess.Popen(
            ["perf", "stat", "--per-thread", "-x", ";", "-o", out.name,
             "-p", ",".join(map(str, pids)), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # perf attaches to every thread
        if perf.poll() is not None:
            _, err = perf.communicate()
            raise RuntimeError(f"perf stat: {err}")
        ab(url, requests)
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=30)
        text = Path(out.name).read_text()
    per: dict[str, float] = defaultdict(float)
    acceptors = 0
    for line in text.splitlines():
        parts = line.split(";")
        if len(parts) < 4 or not parts[1].strip().isdigit():
            continue
        count, event = int(parts[1]), parts[3]
        if event == "raw_syscalls:sys_enter":
            per["total"] += count
        elif event.startswith("syscalls:sys_enter_"):
            per[event.removeprefix("syscalls:sys_enter_")] += count
            if event.endswith(("_accept4", "_accept")) and \
                    count > requests // 20:
                acceptors += 1
        elif event.startswith("syscalls:sys_exit_"):
            per[event.removeprefix("syscalls:sys_exit_") + " EAGAIN"] += count
    result = {k: v / requests for k, v in per.items()}
    result["accepting threads"] = acceptors
    return result


def measure(row: run.Row, args: argparse.Namespace) -> dict[str, float]:
    port = run.free_port()
    server = run.Server(row, port, [], run.BUILD / "logs" /
                        f"conncost-{row.name}.log")
    url = f"http://{run.HOST}:{port}/"
    got: dict[str, float] = {}
    try:
        ab(url, args.warmup)
        pids = run.process_tree(server.pid)
        if not args.syscalls_only:
            before = proctree.usage(pids)
            got["rps"] = ab(url, args.requests)
            after = proctree.usage(pids)
            n = args.requests
            got["cpu"] = (after.run_ns - before.run_ns) / 1e3 / n
            got["user"] = (after.user - before.user) / TICK / n * 1e6
            got["sys"] = (after.system - before.system) / TICK / n * 1e6
            got["voluntary"] = (after.voluntary - before.voluntary) / n
            got["involuntary"] = (after.involuntary - before.involuntary) / n
        got.update(counted(pids, url, args.syscall_requests))
    finally:
        server.stop()
    return got


def with_env(row: run.Row, assignment: str) -> run.Row:
    """row, with VAR=VALUE added to its environment."""
    var, _, value = assignment.partition("=")
    env = row.env
    return dataclasses.replace(row, name=f"{row.name} {assignment}",
                               label=f"{row.label}, {assignment}",
                               env=lambda: dict(env(), **{var: value}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default="go,gohttp,gohttp-wsgi,granian-wsgi",
                   help="run.py's rows, comma-separated")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=10000,
                   help="connections of the timed pass")
    p.add_argument("--syscall-requests", type=int, default=4000,
                   help="connections of the counted pass")
    p.add_argument("--warmup", type=int, default=2000)
    p.add_argument("--syscalls-only", action="store_true",
                   help="skip the timed pass")
    p.add_argument("--variant", action="append", default=[],
                   metavar="VAR=VALUE",
                   help="also measure each gohttp row with VAR=VALUE in "
                        "its environment, in the same rounds (before and "
                        "after a change that a variable switches); "
                        "repeatable")
    args = p.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("conncost.py: reads /proc and runs perf, so Linux only")
    run.ensure_tools({"ab": "apache2-utils"})
    go = run.go_command()
    if not go:
        sys.exit("conncost.py: Go is needed to build bench/gohello")
    run.build_gohello(go)
    venv_error = run.ensure_venv()
    wanted = args.rows.split(",")
    rows = [r for r in run.all_rows() if r.name in wanted]
    unknown = set(wanted) - {r.name for r in rows}
    if unknown:
        sys.exit(f"conncost.py: no such row: {', '.join(sorted(unknown))}")
    run.mark_skips(rows, venv_error)
    rows = [v for r in rows for v in [r, *(
        with_env(r, e) for e in args.variant if r.name.startswith("gohttp"))]]
    samples: dict[str, list[dict[str, float]]] = {r.name: [] for r in rows}
    for i in range(args.rounds):
        for row in rows:
            if row.skip:
                continue
            s = measure(row, args)
            samples[row.name].append(s)
            print(f"round {i + 1} {row.name}: " + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(s.items()) if v),
                file=sys.stderr, flush=True)
            time.sleep(0.2)
    keys = [] if args.syscalls_only else ["cpu", "user", "sys", "voluntary",
                                           "involuntary"]
    keys += ["total", "accept4", "accept", "accept4 EAGAIN", "setsockopt",
             "epoll_ctl", "epoll_pwait", "epoll_wait", "read", "read EAGAIN",
             "recvfrom", "write", "writev", "sendto", "shutdown", "close",
             "futex", "nanosleep", "accepting threads", "rps"]
    shown = [k for k in keys
             if any(s.get(k) for got in samples.values() for s in got)]
    print(f"\nab -c 10, a connection per request; medians over "
          f"{args.rounds} rounds, per connection (CPU in µs: cpu the "
          f"threads' run time from schedstat, user and sys from "
          f"/proc/PID/stat's clock ticks)\n")
    print("| | " + " | ".join(r.label for r in rows if samples[r.name])
          + " |")
    print("|---|" + "--:|" * sum(1 for r in rows if samples[r.name]))
    for k in shown:
        cells = []
        for r in rows:
            got = samples[r.name]
            if got:
                cells.append(f"{statistics.median(s.get(k, 0) for s in got):.2f}")
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
