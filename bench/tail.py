"""Tail latency on a private core, on a shared machine: each server pinned
to core 0, a closed-loop keep-alive load on core 1, and only the requests
no other process on the machine delayed.

    python3 bench/tail.py --rows go,gohttp,gohttp-wsgi --rounds 5
    python3 bench/tail.py --rows go,go-2p,gohttp-w2 --boost

Rows are run.py's (`go` is always measured first: the baseline).  Each
round starts each row's server under `taskset -c 0` and runs
bench/latgen (50 connections, `GET /`, as `wrk -t2 -c50` does) under
`taskset -c 1`: 1 s of warm-up, then --duration seconds during which
`perf record -a -k mono -e sched:sched_switch` notes what ran on each
CPU.  latgen writes each request's send and receive times on the same
clock.  A request is clean when it was sent at least --guard ms after
any other process (anything but the server's tree, latgen, the idle
task and ksoftirqd, which carries both sides' loopback traffic) last ran
on either core, and at least --window ms before one next did: chosen by
when it was sent, not by how long it took.  p50 and p99 are the clean
requests' (`bench/results.md`, "Tail latency, pinned").

--boost sets the autogroup nice of the servers and of this script's
session to -20 while it runs (root, or CAP_SYS_NICE), so that the other
sessions on the machine take less of the two cores and more requests are
clean; it does not change how the server's own threads share core 0.

Linux only; needs perf with the sched tracepoints (root, or
perf_event_paranoid <= -1).  Prints a markdown table.
"""

from __future__ import annotations

import argparse
import array
import bisect
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import run

LATGEN = run.BUILD / "latgen"
TRACE = run.BUILD / "tail.perf"
TIMES = run.BUILD / "tail.times"
MIN_CLEAN = 1000      # fewer, and a p99 says little
SWITCH = re.compile(r"\s*\[(\d+)\]\s+([\d.]+):.*?prev_pid=(\d+) .*"
                    r"next_comm=(.*?) next_pid=(\d+)")


def build_latgen(go: str) -> None:
    run.BUILD.mkdir(exist_ok=True)
    subprocess.run([go, "build", "-o", str(LATGEN), "."],
                   cwd=run.BENCH / "latgen",
                   env=dict(os.environ, GOTOOLCHAIN="local"), check=True)


def boost(pid: int | str) -> None:
    """Weigh pid's session as nice -20 against the machine's others."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text("-20")
    except OSError:
        pass  # the kernel has no autogroups, or a process ended


def latgen(port: int, seconds: float, out: Path) -> int:
    proc = subprocess.run(
        ["taskset", "-c", "1", str(LATGEN), "-addr", f"{run.HOST}:{port}",
         "-d", f"{seconds}s", "-o", str(out)],
        capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"latgen: {proc.stderr.strip()[-300:]}")
    return int(proc.stdout.split()[-1])


def foreign_runs(trace: str, ours: set[int]) -> list[tuple[int, int]]:
    """(start, end) in ns of every run on CPU 0 or 1 of a task not ours."""
    runs: list[tuple[int, int]] = []
    on: dict[int, tuple[int, int, str]] = {}   # cpu: (since, pid, comm)
    for line in trace.splitlines():
        m = SWITCH.match(line)
        if not m or m.group(1) not in ("000", "001", "0", "1"):
            continue
        cpu, t = int(m.group(1)), round(float(m.group(2)) * 1e9)
        if cpu in on:
            since, pid, comm = on[cpu]
            if (pid != 0 and pid not in ours and comm != "latgen"
                    and not comm.startswith("ksoftirqd")):
                runs.append((since, t))
        on[cpu] = (t, int(m.group(5)), m.group(4))
    return sorted(runs)


def clean_latencies(times: array.array, runs: list[tuple[int, int]],
                    guard_ns: float, window_ns: float
                    ) -> tuple[list[float], list[float]]:
    """Every request's latency in ms, and the clean requests': those sent
    at least guard_ns after any other task last ran and window_ns before
    one next did.  They are chosen by when they were sent, never by how
    long they took, so that a slow request is as likely to count as a
    fast one (choosing those that ended before the next foreign run would
    favour the fast)."""
    starts = [s for s, _ in runs]
    reach, farthest = [], 0    # reach[i]: the latest end of runs[:i + 1]
    for _, end in runs:
        farthest = max(farthest, end)
        reach.append(farthest)
    every, clean = [], []
    for i in range(0, len(times), 2):
        sent, got = times[i], times[i + 1]
        ms = (got - sent) / 1e6
        every.append(ms)
        k = bisect.bisect_right(starts, sent)  # runs that began by sent
        quiet_since = reach[k - 1] if k else 0
        quiet_until = starts[k] if k < len(starts) else got + window_ns
        if sent - quiet_since >= guard_ns and quiet_until - sent >= window_ns:
            clean.append(ms)
    return every, clean


def quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def measure(row: run.Row, args: argparse.Namespace
            ) -> Optional[dict[str, float]]:
    """One measurement of row, or None when fewer than MIN_CLEAN of its
    requests were clean (another process kept the cores busy)."""
    port = run.free_port()
    server = run.Server(row, port, ["taskset", "-c", "0"],
                        run.BUILD / "logs" / f"tail-{row.name}.log")
    try:
        if args.boost:
            for pid in run.process_tree(server.pid):
                boost(pid)
        latgen(port, 1, TIMES)
        perf = subprocess.Popen(
            ["perf", "record", "-q", "-a", "-k", "mono", "-o", str(TRACE),
             "-e", "sched:sched_switch", "--", "sleep",
             str(args.duration + 0.6)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)
        n = latgen(port, args.duration, TIMES)
        _, err = perf.communicate(timeout=60)
        if perf.returncode != 0:
            raise RuntimeError(f"perf record: {err.strip()[-300:]}")
        ours: set[int] = set()
        for pid in run.process_tree(server.pid):
            ours.update(int(t.name) for t in
                        Path(f"/proc/{pid}/task").glob("*"))
    finally:
        server.stop()
    trace = subprocess.run(
        ["perf", "script", "-i", str(TRACE), "-F", "cpu,time,trace"],
        capture_output=True, text=True, check=True).stdout
    times = array.array("q")
    times.frombytes(TIMES.read_bytes())
    every, clean = clean_latencies(times, foreign_runs(trace, ours),
                                   args.guard * 1e6, args.window * 1e6)
    if len(clean) < MIN_CLEAN:
        return None
    return {"rps": n / args.duration, "clean": len(clean) / len(every),
            "p50": quantile(clean, 0.5), "p90": quantile(clean, 0.9),
            "p99": quantile(clean, 0.99), "p999": quantile(clean, 0.999),
            "all_p99": quantile(every, 0.99)}


def measure_rounds(rows: list[run.Row], args: argparse.Namespace
                   ) -> dict[str, list[dict[str, float]]]:
    """Each round measures each row; a row's ratios are to pure Go's of
    the same round."""
    got: dict[str, list[dict[str, float]]] = {r.name: [] for r in rows}
    for i in range(args.rounds):
        base = None
        for row in rows:
            if row.skip:
                continue
            s = measure(row, args)
            if s is None:
                print(f"round {i + 1} {row.name}: fewer than {MIN_CLEAN} "
                      "clean requests, not counted (--boost may help)",
                      file=sys.stderr, flush=True)
                if row.name == "go":
                    break    # nothing to compare this round's rows with
                continue
            if row.name == "go":
                base = s
            if base:
                s["p99x"], s["p50x"] = (s["p99"] / base["p99"],
                                        s["p50"] / base["p50"])
            got[row.name].append(s)
            print(f"round {i + 1} {row.name}: {s['rps']:,.0f}/s, "
                  f"{s['clean']:.0%} clean, p50 {s['p50']:.2f} p90 "
                  f"{s['p90']:.2f} p99 {s['p99']:.2f} p99.9 {s['p999']:.2f} "
                  f"ms (every request's p99 {s['all_p99']:.2f})",
                  file=sys.stderr, flush=True)
    return got


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default="go,gohttp,gohttp-wsgi",
                   help="run.py's rows, comma-separated (go is always "
                   "measured, first)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=5.0,
                   help="seconds of traced load a measurement")
    p.add_argument("--guard", type=float, default=1.0,
                   help="ms before a request's send that must be clean too")
    p.add_argument("--window", type=float, default=3.0,
                   help="ms after a request's send that must be clean too "
                   "(longer than nearly every request takes)")
    p.add_argument("--boost", action="store_true",
                   help="autogroup nice -20 for the servers and this script")
    args = p.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("tail.py: reads /proc and perf's sched events: Linux only")
    for tool in ("perf", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"tail.py: {tool} is needed")
    go = run.go_command()
    if not go:
        sys.exit("tail.py: Go is needed to build bench/gohello and latgen")
    run.build_gohello(go)
    build_latgen(go)
    venv_error = run.ensure_venv()
    wanted = ["go"] + [r for r in args.rows.split(",") if r != "go"]
    by_name = {r.name: r for r in run.all_rows()}
    unknown = [r for r in wanted if r not in by_name]
    if unknown:
        sys.exit(f"tail.py: no such row: {', '.join(unknown)}")
    rows = [by_name[r] for r in wanted]
    run.mark_skips(rows, venv_error)
    if args.boost:
        boost("self")
    try:
        got = measure_rounds(rows, args)
    finally:
        if args.boost:
            Path("/proc/self/autogroup").write_text("0")
    print(f"\n{args.rounds} rounds of {args.duration:g} s, server on core 0, "
          f"latgen -c 50 on core 1; clean requests only (guard "
          f"{args.guard:g} ms, window {args.window:g} ms); medians over "
          f"rounds, × Go: the median of the rounds' ratios "
          f"(lowest–highest)\n")
    print("| server | rounds | clean | p50 ms | p99 ms | p99/p50 | p50 × Go "
          "| p99 × Go | every request's p99 ms |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        ss = got[row.name]
        if not ss:
            print(f"| {row.label} | 0 | {row.skip or '–'} | | | | | | |")
            continue

        def med(key: str) -> float:
            return statistics.median(s[key] for s in ss)

        def ratio(key: str) -> str:
            v = [s[key] for s in ss if key in s]
            return (f"{statistics.median(v):.2f}× ({min(v):.2f}–"
                    f"{max(v):.2f})") if v else "–"
        shape = statistics.median(s["p99"] / s["p50"] for s in ss)
        print(f"| {row.label} | {len(ss)} | {med('clean'):.0%} | "
              f"{med('p50'):.2f} | "
              f"{med('p99'):.2f} | {shape:.2f} | {ratio('p50x')} | "
              f"{ratio('p99x')} | {med('all_p99'):.2f} |")


if __name__ == "__main__":
    main()
