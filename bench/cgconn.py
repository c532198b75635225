"""What a new connection costs, from the dumps of `run.py --callgrind`.

    python3 bench/cgconn.py bench/.build/callgrind/callgrind.out.go.PID \\
        bench/.build/callgrind/callgrind.out.gohttp.PID [--top 40]

Each argument is the prefix of one server's dumps (the files end .1 to
.4, one a phase).  Phase 1 is one keep-alive connection, phase 4 a new
connection per request, both of --requests requests, so phase 4 less
phase 1, per request, is what a connection costs.  For each server: the
two phases' Ir per request, that difference, its goroutine stack growths
(`runtime.copystack` calls) per connection and Ir per growth; then the
functions whose own Ir per connection differ most between the first
server and the others.  A worker row's dumps are one file a process:
give one prefix a process.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys

Counts = collections.Counter[str]


def read_dump(path: str) -> tuple[Counts, Counts, Counts]:
    """path's self Ir by function, and calls and their inclusive Ir by
    callee (recursion levels, the `'2` suffixes, folded in)."""
    names: dict[str, str] = {}
    self_ir: Counts = collections.Counter()
    calls: Counts = collections.Counter()
    call_ir: Counts = collections.Counter()

    def name(spec: str) -> str:
        m = re.match(r"\((\d+)\)(?:\s+(.*))?", spec)
        if not m:
            return spec
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names[m.group(1)]

    fn = callee = ""
    pending = None  # the count of a calls= line, for the cost line below it
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                fn = re.sub(r"'\d+$", "", name(line[3:].strip()))
            elif line.startswith("cfn="):
                callee = re.sub(r"'\d+$", "", name(line[4:].strip()))
            elif line.startswith("calls="):
                pending = int(line[6:].split()[0])
            elif line[:1].isdigit() or line[:1] in ("+", "-", "*"):
                fields = line.split()
                ir = int(fields[1]) if len(fields) > 1 else 0
                if pending is not None:  # (callgrind writes calls=0 too)
                    calls[callee] += pending
                    call_ir[callee] += ir
                    pending = None
                else:
                    self_ir[fn] += ir
    return self_ir, calls, call_ir


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("prefixes", nargs="+", help="dump prefixes (…/callgrind.out.ROW.PID)")
    p.add_argument("--requests", type=int, default=2000,
                   help="requests of each phase (run.py's --requests, default 2000)")
    p.add_argument("--top", type=int, default=30,
                   help="functions to list (default 30)")
    args = p.parse_args()
    n = args.requests
    per_conn: list[dict[str, float]] = []
    for prefix in args.prefixes:
        self1, _, _ = read_dump(prefix + ".1")
        self4, calls4, call_ir4 = read_dump(prefix + ".4")
        one, new = sum(self1.values()) / n, sum(self4.values()) / n
        growths = calls4["runtime.copystack"]
        per_growth = call_ir4["runtime.copystack"] / growths if growths else 0
        print(f"{prefix}: {one:,.0f} Ir/request on one connection, {new:,.0f} "
              f"on a new one each: {new - one:,.0f} a connection; "
              f"{growths / n:.2f} stack growths a connection, "
              f"{per_growth:,.0f} Ir each")
        per_conn.append({k: (self4[k] - self1[k]) / n for k in set(self1) | set(self4)})
    if len(per_conn) > 1:
        base = per_conn[0]
        keys = set().union(*per_conn)
        spread = {k: max(abs(o.get(k, 0) - base.get(k, 0)) for o in per_conn[1:])
                  for k in keys}
        print("\nself Ir a connection (phase 4 - phase 1), first column the base:")
        for k in sorted(keys, key=lambda k: -spread[k])[:args.top]:
            cols = " ".join(f"{o.get(k, 0):9,.0f}" for o in per_conn)
            print(f"{cols}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
