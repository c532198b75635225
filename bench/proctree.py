"""What a server's processes have used so far, read from /proc (Linux
only): the counts that bench/cost.py and bench/conncost.py take before and
after a load, and subtract.

    before = proctree.usage(pids); ...load...; after = proctree.usage(pids)
    cpu_seconds = (after.ticks - before.ticks) / proctree.TICK
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    """What the processes' every thread has used since it started."""

    user: int = 0            # clock ticks: they split the time, sampled
    system: int = 0          # at the clock's rate
    run_ns: int = 0          # schedstat's run time: the time counted whole
    voluntary: int = 0       # context switches
    involuntary: int = 0
    main_voluntary: int = 0  # of the first process's main thread (an ASGI
                             # loop that runs on it: how often it slept)
    rss_kib: int = 0         # now, not since

    @property
    def ticks(self) -> int:
        """user + system."""
        return self.user + self.system


def usage(pids: list[int]) -> Usage:
    """The Usage of the processes pids (run.process_tree's); a thread or
    a process that ends meanwhile counts for what it was read at."""
    u = Usage()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            u.user += int(fields[11])
            u.system += int(fields[12])
            u.rss_kib += _field(Path(f"/proc/{pid}/status").read_text(),
                                "VmRSS")
            for task in Path(f"/proc/{pid}/task").glob("*"):
                status = (task / "status").read_text()
                voluntary = _field(status, "voluntary_ctxt_switches")
                u.voluntary += voluntary
                u.involuntary += _field(status, "nonvoluntary_ctxt_switches")
                if pid == pids[0] and task.name == str(pid):
                    u.main_voluntary += voluntary
                u.run_ns += int((task / "schedstat").read_text().split()[0])
        except OSError:
            pass
    return u


def _field(status: str, name: str) -> int:
    m = re.search(rf"^{name}:\s+(\d+)", status, re.M)
    return int(m.group(1)) if m else 0
