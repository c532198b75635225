"""The CPUs gohttp may use: those this process may run on (its affinity
mask), and no more than its cgroup's CPU quota allows (a container's CPU
limit: cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us).

Imported by gohttp/__init__.py before the Go runtime starts, so it uses
the standard library alone."""

from __future__ import annotations

import os
from typing import Optional

# Where the kernel says which cgroup this process is in, and where each
# cgroup hierarchy is mounted.
PROC_CGROUP = "/proc/self/cgroup"
PROC_MOUNTINFO = "/proc/self/mountinfo"


def affinity_count() -> int:
    """The CPUs this process may run on (Go counts the same for its
    default GOMAXPROCS)."""
    if hasattr(os, "process_cpu_count"):  # 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def cpu_count() -> int:
    """The CPUs gohttp counts for --workers auto and GOMAXPROCS: the
    affinity mask's, fewer if the cgroup's CPU quota allows fewer."""
    count = affinity_count()
    limit = cpu_limit()
    return count if limit is None else min(count, limit)


def cpu_limit(proc_cgroup: str = PROC_CGROUP,
              mountinfo: str = PROC_MOUNTINFO) -> Optional[int]:
    """The CPUs the cgroup quota of this process allows, rounded up, at
    least 1; None where no quota is set or none can be read.

    proc_cgroup and mountinfo are /proc/self/cgroup and
    /proc/self/mountinfo (a test gives others, whose mount points are in
    a temporary tree).  The kernel applies the quota of every ancestor
    of the process's cgroup as well, so each is read, up to the root of
    the mount; the smallest counts.  Both cgroup v2 (cpu.max) and v1
    (the cpu controller's cpu.cfs_quota_us and cpu.cfs_period_us) are
    read: a hybrid system has both."""
    try:
        with open(proc_cgroup, encoding="utf-8") as f:
            memberships = f.read().splitlines()
        with open(mountinfo, encoding="utf-8") as f:
            mounts = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    limits = []
    for line in memberships:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        hierarchy, controllers, path = fields
        if hierarchy == "0" and controllers == "":
            mount = _mount_point(mounts, "cgroup2", None)
            read = _v2_quota
        elif "cpu" in controllers.split(","):
            mount = _mount_point(mounts, "cgroup", "cpu")
            read = _v1_quota
        else:
            continue
        if mount is None:
            continue
        for directory in _ancestors(mount, path):
            quota = read(directory)
            if quota is not None:
                limits.append(quota)
    if not limits:
        return None
    return max(1, min(limits))


def _mount_point(mounts: list[str], fstype: str,
                 controller: Optional[str]) -> Optional[tuple[str, str]]:
    """The (root, mount point) of the first mount of fstype (with
    controller among its options, for v1) in mountinfo's lines."""
    for line in mounts:
        # id parent dev root mountpoint options [optional...] - fstype
        # source superoptions
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        before, after = left.split(), right.split()
        if len(before) < 5 or len(after) < 3 or after[0] != fstype:
            continue
        if controller is not None and controller not in after[2].split(","):
            continue
        return _unescape(before[3]), _unescape(before[4])
    return None


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"),
                       ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _ancestors(mount: tuple[str, str], path: str) -> list[str]:
    """The directories of cgroup path and each of its ancestors within
    the mount, the cgroup's own first.  A path outside the mount's root
    (another cgroup namespace) has none."""
    root, point = mount
    relative = os.path.relpath(os.path.normpath(path), os.path.normpath(root))
    if relative == os.curdir:
        parts: list[str] = []
    elif relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return []
    else:
        parts = relative.split(os.sep)
    return [os.path.join(point, *parts[:n])
            for n in range(len(parts), -1, -1)]


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _v2_quota(directory: str) -> Optional[int]:
    """cpu.max's "QUOTA PERIOD" as CPUs, rounded up; None for "max" or unreadable."""
    text = _read(os.path.join(directory, "cpu.max"))
    fields = text.split() if text else []
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _v1_quota(directory: str) -> Optional[int]:
    """cpu.cfs_quota_us / cpu.cfs_period_us, rounded up; None for -1 or unreadable."""
    quota = _read(os.path.join(directory, "cpu.cfs_quota_us"))
    period = _read(os.path.join(directory, "cpu.cfs_period_us"))
    if quota is None or period is None:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> Optional[int]:
    """quota / period, rounded up (the smallest of these rounded is the
    smallest rounded)."""
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    if q <= 0 or p <= 0:  # -1: no quota
        return None
    return -(-q // p)
