"""The CPUs gohttp counts: the affinity mask, cut to the cgroup's CPU
quota (gohttp/_cpus.py), for --workers auto, the workers' GOMAXPROCS and
the Go runtime of a single process.

The parser reads /proc/self/cgroup and /proc/self/mountinfo; the tests
give it their own, whose mount points are in a temporary tree.  The last
test runs a real process in a real child cgroup with a quota, where this
machine lets it make one (root, a writable cgroup cpu controller)."""

import os
import subprocess
import sys
import uuid

import pytest

from gohttp import _cpus

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="cgroups are Linux's")


def tree(tmp_path, cgroup, mounts, files):
    """A /proc/self/cgroup, a mountinfo whose mount points are under
    tmp_path, and the files of the cgroup trees; returns cpu_limit's
    arguments."""
    lines = []
    for n, (fstype, root, point, superopts) in enumerate(mounts):
        (tmp_path / point).mkdir(parents=True, exist_ok=True)
        where = str(tmp_path / point).replace(" ", "\\040")
        lines.append(f"{30 + n} 23 0:{28 + n} {root} {where} rw,relatime "
                     f"shared:{n} - {fstype} {fstype} {superopts}")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "cgroup").write_text(cgroup)
    (tmp_path / "mountinfo").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "cgroup"), str(tmp_path / "mountinfo")


V2 = [("cgroup2", "/", "fs", "rw,nsdelegate")]


def test_v2_the_smallest_quota_of_the_cgroup_and_its_ancestors(tmp_path):
    args = tree(tmp_path, "0::/kubepods/pod1/c1\n", V2, {
        "fs/cpu.max": "max 100000\n",  # the root has none
        "fs/kubepods/cpu.max": "400000 100000\n",
        "fs/kubepods/pod1/cpu.max": "150000 100000\n",  # the pod's: 1.5
        "fs/kubepods/pod1/c1/cpu.max": "max 100000\n",
    })
    assert _cpus.cpu_limit(*args) == 2  # rounded up


def test_v2_max_everywhere_is_no_limit(tmp_path):
    args = tree(tmp_path, "0::/a/b\n", V2, {
        "fs/a/b/cpu.max": "max 100000\n", "fs/a/cpu.max": "max 100000\n"})
    assert _cpus.cpu_limit(*args) is None


def test_v2_a_quota_below_one_cpu_counts_as_one(tmp_path):
    args = tree(tmp_path, "0::/a\n", V2, {"fs/a/cpu.max": "20000 100000\n"})
    assert _cpus.cpu_limit(*args) == 1


def test_v2_the_path_is_read_within_the_mount_root(tmp_path):
    # Without a cgroup namespace a container sees its host's path, and
    # its own cgroup mounted as the root of /sys/fs/cgroup.
    mounts = [("cgroup2", "/docker/abc", "fs space", "rw")]
    args = tree(tmp_path, "0::/docker/abc/inner\n", mounts, {
        "fs space/cpu.max": "300000 100000\n",
        "fs space/inner/cpu.max": "max 100000\n"})
    assert _cpus.cpu_limit(*args) == 3
    # A path outside the mount root is nowhere to be read.
    args = tree(tmp_path, "0::/elsewhere\n", mounts, {})
    assert _cpus.cpu_limit(*args) is None


def test_v1_cfs_quota_over_period(tmp_path):
    mounts = [("cgroup", "/", "fs/memory", "rw,memory"),
              ("cgroup", "/", "fs/cpu,cpuacct", "rw,cpu,cpuacct")]
    args = tree(tmp_path, "4:memory:/x\n2:cpu,cpuacct:/x/y\n0::/\n", mounts, {
        "fs/memory/x/cpu.cfs_quota_us": "100000\n",  # not the cpu mount
        "fs/memory/x/cpu.cfs_period_us": "100000\n",
        "fs/cpu,cpuacct/x/y/cpu.cfs_quota_us": "-1\n",
        "fs/cpu,cpuacct/x/y/cpu.cfs_period_us": "100000\n",
        "fs/cpu,cpuacct/x/cpu.cfs_quota_us": "250000\n",
        "fs/cpu,cpuacct/x/cpu.cfs_period_us": "100000\n",
    })
    assert _cpus.cpu_limit(*args) == 3


def test_hybrid_v1_cpu_and_an_empty_v2(tmp_path):
    # systemd's hybrid layout (this machine's): the cpu controller on v1,
    # a cgroup2 mount without it.
    mounts = [("cgroup", "/", "fs/cpu", "rw,cpu"),
              ("cgroup2", "/", "fs/unified", "rw")]
    args = tree(tmp_path, "1:cpu:/\n0::/\n", mounts, {
        "fs/cpu/cpu.cfs_quota_us": "50000\n",
        "fs/cpu/cpu.cfs_period_us": "100000\n"})
    assert _cpus.cpu_limit(*args) == 1


@pytest.mark.parametrize("cpu_max", [
    "", "garbage\n", "100000\n", "abc 100000\n", "100000 0\n",
    "-5 100000\n", "1 2 3\n", "\xff\xfe\n"])
def test_unreadable_or_garbled_cpu_max_is_no_limit(tmp_path, cpu_max):
    args = tree(tmp_path, "0::/a\n", V2, {"fs/a/cpu.max": ""})
    (tmp_path / "fs/a/cpu.max").write_bytes(cpu_max.encode("latin-1"))
    assert _cpus.cpu_limit(*args) is None


@pytest.mark.parametrize("cgroup, mountinfo", [
    (None, "x"),  # no /proc/self/cgroup
    ("0::/a\n", None),  # no mountinfo
    ("garbage\n", "garbage\n"),
    ("0::/a\n", "30 23 0:28 / /nowhere rw - cgroup2 cgroup2 rw\n"),
    ("1:memory:/a\n", None),  # no cpu controller, no v2
])
def test_missing_files_are_no_limit(tmp_path, cgroup, mountinfo):
    paths = []
    for name, text in (("cgroup", cgroup), ("mountinfo", mountinfo)):
        if text is not None:
            (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    assert _cpus.cpu_limit(*paths) is None


def test_cpu_count_is_the_affinity_cut_to_the_limit(monkeypatch):
    monkeypatch.setattr(_cpus, "affinity_count", lambda: 8)
    monkeypatch.setattr(_cpus, "cpu_limit", lambda: None)
    assert _cpus.cpu_count() == 8
    monkeypatch.setattr(_cpus, "cpu_limit", lambda: 3)
    assert _cpus.cpu_count() == 3
    monkeypatch.setattr(_cpus, "cpu_limit", lambda: 16)
    assert _cpus.cpu_count() == 8


def test_import_gives_go_the_quota_unless_gomaxprocs_is_set(monkeypatch):
    # What `import gohttp` does (gohttp/__init__.py), run again in this
    # process with a quota of one CPU: Go's threads go down to 1, unless
    # the environment set GOMAXPROCS (the user's, or a supervisor's for
    # its worker), which Go has read and which is kept.
    import gohttp
    from gohttp import _gohttp
    before = _gohttp._go_procs()
    if before < 2:
        pytest.skip("Go runs one thread already")
    monkeypatch.setattr(_cpus, "cpu_limit", lambda: 1)
    monkeypatch.setenv("GOMAXPROCS", str(before))
    gohttp._fit_go_procs_to_quota()
    assert _gohttp._go_procs() == before
    monkeypatch.delenv("GOMAXPROCS")
    try:
        gohttp._fit_go_procs_to_quota()
        assert _gohttp._go_procs() == 1
        assert "GOMAXPROCS" not in os.environ
    finally:
        _gohttp._go_procs(before)
    monkeypatch.setattr(_cpus, "cpu_limit", lambda: before)
    gohttp._fit_go_procs_to_quota()
    assert _gohttp._go_procs() == before


def child_cgroup():
    """A new cgroup, child of this process's, that allows one CPU, as
    (its directory, its procs file); skips where none can be made."""
    if os.geteuid() != 0:
        pytest.skip("making a cgroup needs root")
    with open(_cpus.PROC_CGROUP) as f:
        memberships = [line.split(":", 2) for line in f.read().splitlines()]
    with open(_cpus.PROC_MOUNTINFO) as f:
        mounts = f.read().splitlines()
    name = f"gohttp-test-{uuid.uuid4().hex[:8]}"
    for hierarchy, controllers, path in memberships:
        if "cpu" in controllers.split(","):  # v1
            mount = _cpus._mount_point(mounts, "cgroup", "cpu")
            files = {"cpu.cfs_period_us": "100000",
                     "cpu.cfs_quota_us": "100000"}
        elif hierarchy == "0" and controllers == "":  # v2
            mount = _cpus._mount_point(mounts, "cgroup2", None)
            files = {"cpu.max": "100000 100000"}
        else:
            continue
        if mount is None:
            continue
        parents = _cpus._ancestors(mount, path)
        if not parents:
            continue
        if files.keys() == {"cpu.max"}:
            # Enabling the controller for the children of our own
            # cgroup would change it: only where it is on already.
            try:
                with open(os.path.join(parents[0],
                                       "cgroup.subtree_control")) as f:
                    if "cpu" not in f.read().split():
                        continue
            except OSError:
                continue
        directory = os.path.join(parents[0], name)
        try:
            os.mkdir(directory)
        except OSError:
            continue
        try:
            for file, value in files.items():
                with open(os.path.join(directory, file), "w") as f:
                    f.write(value)
        except OSError:
            os.rmdir(directory)
            continue
        return directory, os.path.join(directory, "cgroup.procs")
    pytest.skip("no cgroup with a cpu controller can be made here")


def test_a_process_in_a_cgroup_with_a_quota_gets_its_gomaxprocs(
        subprocess_env):
    # The Go runtime of `import gohttp` (a single process, or a worker's
    # supervisor) runs as many threads as the quota allows, not the
    # affinity's CPUs, and puts no GOMAXPROCS in os.environ for the
    # app's subprocesses to inherit; --workers auto and its --help count
    # the same (the workers' GOMAXPROCS follows: _supervisor.go_procs).
    if _cpus.affinity_count() < 2:
        pytest.skip("needs 2 CPUs in the affinity mask, above the quota's 1")
    directory, procs = child_cgroup()
    env = dict(subprocess_env)
    env.pop("GOMAXPROCS", None)
    # The process moves itself into the cgroup, then starts Go.
    code = ("import os, sys\n"
            "try:\n"
            "    with open(sys.argv[1], 'w') as f: f.write(str(os.getpid()))\n"
            "except OSError as e: sys.exit(f'skip: {e}')\n"
            "import gohttp, gohttp._supervisor as s\n"
            "print(gohttp._gohttp._go_procs(), s.cpu_count(), "
            "s.Policy.of(workers='auto').workers, "
            "os.environ.get('GOMAXPROCS'), "
            "os.environ.get('GOHTTP_GOMAXPROCS'))")
    try:
        run = subprocess.run([sys.executable, "-c", code, procs], env=env,
                             capture_output=True, text=True, timeout=60)
    finally:
        os.rmdir(directory)
    if run.stderr.startswith("skip: "):
        pytest.skip(f"cannot join the cgroup: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "1", "1", "None", "None"]
