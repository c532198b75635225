"""What the leak tests measure, in one place.

Three views, each seeing what the others miss:

- tracemalloc snapshots: every block Python allocated, `str` and `bytes`
  included, which `gc.get_objects()` cannot see (it lists only objects
  that may form cycles);
- sys.gettotalrefcount() on a debug build of CPython (--with-pydebug;
  `make test-pydebug`): every reference, to any object, held anywhere;
- RSS, for what C and Go allocate outside Python (loose: allocators keep
  freed memory).

Each test warms up first, then measures around many more requests: a
leak of one object per request shows as thousands.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import pytest

# The bound for every path (native, WSGI, ASGI, C API): the total reference
# count may grow by at most this many per request, over thousands of
# requests.  A reference leaked by every request gives 1.0, by one request
# in a hundred 0.01.  Measured on CPython 3.11 (Debian's python3.11d):
# 0.0002 to 0.0005 on the native, WSGI and C API paths, 0.0002 to 0.001
# on ASGI's (hello, upload, stream, raise), caches that fill once
# (interned strings, method caches, logging's).
REFS_PER_REQUEST = 0.01

needs_pydebug = pytest.mark.skipif(
    not hasattr(sys, "gettotalrefcount"),
    reason="sys.gettotalrefcount needs a debug build of CPython "
           "(--with-pydebug): make test-pydebug")


def settle() -> None:
    for _ in range(3):
        gc.collect()


@dataclass
class Growth:
    """What grew between the start and the end of a traced() block."""
    bytes: int = 0
    top: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.bytes} more bytes allocated by Python; the most at:\n" \
            + "\n".join(self.top)


@contextmanager
def traced() -> Iterator[Growth]:
    """Trace Python's allocations over the block; settle the GC at both
    ends; the Growth filled in at the end says how many bytes are still
    held that were not before, and where they were allocated."""
    growth = Growth()
    settle()
    tracemalloc.start(5)
    try:
        before = tracemalloc.take_snapshot()
        yield growth
        settle()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(ignore).compare_to(
        before.filter_traces(ignore), "traceback")
    growth.bytes = sum(stat.size_diff for stat in diff)
    growth.top = [f"  {stat.size_diff:+} B in {stat.count_diff:+} blocks: "
                  + " <- ".join(f"{frame.filename}:{frame.lineno}"
                                for frame in stat.traceback)
                  for stat in diff[:5] if stat.size_diff > 0]


def refs_per_request(run, requests: int) -> float:
    """run(requests), and return how much sys.gettotalrefcount() grew per
    request (a debug build of CPython only).  Warm up before."""
    settle()
    before = sys.gettotalrefcount()  # type: ignore[attr-defined]
    run(requests)
    settle()
    grown = (sys.gettotalrefcount() - before) / requests  # type: ignore[attr-defined]
    print(f"sys.gettotalrefcount(): {grown:+.4f} per request over {requests}")
    return grown
