"""Instructions per request that repeat: keep-alive phases under callgrind,
split into what the requests do and what the clock makes the runtime do.

    GOGC=off python3 bench/cgsum.py go gohttp gohttp-wsgi [--requests 10000]
        [--phases 3] [--runs 3]
    python3 bench/cgsum.py --dumps bench/.build/callgrind/callgrind.out.gohttp.*.[0-9]

The first form runs each row of `run.py` (its names) `--runs` times under
callgrind, as `run.py --callgrind` runs its first two phases: one
keep-alive connection, 500 requests to warm up, counters zeroed, then
`--phases` phases of `--requests` requests, each dumped.  The second
summarises dumps already made (by `run.py --callgrind` too).

Why: a whole-process total moves by several percent from one phase to the
next, though every request does the same work.  What moves is the Go
runtime's part that depends on wall-clock time, not on the requests: the
scheduler's idle Ps spinning (`stealWork`, `findRunnable`, `lock2`),
timers, `sysmon`, the background scavenger and GC cycles, and gohttp's
50 ms wait on the main thread; under valgrind's slowdown each weighs ~50x
more per request than at real speed.  So each dump is printed as its
total, its Ir outside `runtime.*` (self Ir of every function not in
package runtime or internal/runtime: net/http, gohttp's Go and C,
CPython, libc), which repeats to about ±1%, the `runtime.*` rest, and
the inclusive Ir of gohttp's C entry points (`gohttp_dispatch` for every
handler call, `gohttp_wsgi_run` for WSGI), which repeat to a few
instructions.  `GOGC=off` (passed through to the server) keeps GC cycles
out of the phases.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cgconn  # noqa: E402
import run  # noqa: E402

ENTRIES = ("gohttp_dispatch", "gohttp_wsgi_run")
RUNTIME = ("runtime.", "runtime/", "internal/runtime/")


def summary(path: str, requests: int) -> str:
    self_ir, _, call_ir = cgconn.read_dump(path)
    total = sum(self_ir.values())
    rt = sum(v for k, v in self_ir.items() if k.startswith(RUNTIME))
    entries = "  ".join(f"{e} {call_ir[e] / requests:6,.0f}"
                        for e in ENTRIES if call_ir.get(e))
    return (f"{Path(path).name:42s} total {total / requests:8,.0f}  "
            f"outside runtime.* {(total - rt) / requests:8,.0f}  "
            f"runtime.* {rt / requests:7,.0f}  {entries}")


def measure(row: run.Row, requests: int, phases: int, keep: Path) -> list[str]:
    """Dumps of phases keep-alive phases of row's server, copied to keep."""
    server = run.start_under_callgrind(row)
    if isinstance(server, str):
        raise RuntimeError(server)
    dumps = []
    try:
        conn = http.client.HTTPConnection(run.HOST, server.port, timeout=300)
        run.keepalive_requests(conn, 500)
        run.callgrind_control("--zero", server.pid)
        for phase in range(1, phases + 1):
            run.keepalive_requests(conn, requests)
            run.callgrind_control("--dump", server.pid)
            dump = (run.CALLGRIND_OUT
                    / f"callgrind.out.{row.name}.{server.pid}.{phase}")
            dumps.append(str(shutil.copy(dump, keep)))
        conn.close()
    finally:
        server.stop()
    return dumps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("rows", nargs="*", help="run.py row names")
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--phases", type=int, default=3)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--keep", default=str(run.CALLGRIND_OUT / "cgsum"),
                   help="where the dumps are kept (run.py deletes a row's "
                        "dumps when it starts it again)")
    p.add_argument("--dumps", nargs="*", default=[],
                   help="summarise these dumps instead (of --requests "
                        "requests each)")
    args = p.parse_args()
    if args.dumps:
        for path in args.dumps:
            print(summary(path, args.requests))
        return
    # The rows run under bench/.venv's python, as run.py's do: without it
    # the ASGI rows would fall back to asyncio (no uvloop) unannounced.
    venv_error = run.ensure_venv()
    rows = {r.name: r for r in run.all_rows()}
    unknown = [name for name in args.rows if name not in rows]
    if unknown:
        sys.exit(f"cgsum.py: no such row: {', '.join(unknown)}")
    chosen = [rows[name] for name in args.rows]
    run.mark_skips(chosen, venv_error)
    for row in chosen:
        if row.skip:
            sys.exit(f"cgsum.py: {row.name}: {row.skip}")
    keep = Path(args.keep)
    keep.mkdir(parents=True, exist_ok=True)
    run.ensure_tools(run.CALLGRIND_TOOLS)
    if "go" in args.rows and not run.GOHELLO.exists():
        run.build_gohello(run.go_command() or "go")
    print(f"GOGC={os.environ.get('GOGC', '(unset)')}, {args.phases} phases "
          f"of {args.requests} requests, {args.runs} runs a row")
    for name in args.rows:
        for _ in range(args.runs):
            for dump in measure(rows[name], args.requests, args.phases, keep):
                print(summary(dump, args.requests), flush=True)


if __name__ == "__main__":
    main()
