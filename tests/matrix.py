"""The Python version matrix: `make test-matrix`.

For each CPython 3.10, 3.11, 3.12 and 3.13 that pyenv has
($PYENV_ROOT/versions/3.1X.*/bin/python3, the newest patch release),
this builds gohttp in place (`make all`), runs the test suite on it
(`make pytest`), and builds its wheel (`make wheel`, repaired into dist/),
checking the wheel's tags: cp31X-cp31X and, on Linux, manylinux. Each
version gets a virtual environment of its own, build/matrix/venv-3.1X,
into which make installs what the steps need. A version pyenv lacks is
skipped with a message.

Each step's output goes to build/matrix/3.1X-STEP.log; the end is a
table, and the exit status is 1 if any version failed.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, "build", "matrix")
MINORS = [10, 11, 12, 13]
PYENV_ROOT = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


class StepFailed(Exception):
    pass


def find_python(minor: int) -> str | None:
    """The newest pyenv CPython 3.MINOR.N, or None."""
    best: tuple[tuple[int, ...], str] | None = None
    for path in glob.glob(os.path.join(PYENV_ROOT, "versions", f"3.{minor}.*", "bin",
                                       "python3")):
        name = path.split(os.sep)[-3]
        if re.fullmatch(rf"3\.{minor}\.\d+", name) is None:
            continue  # 3.13.0t, 3.12-dev, ...: not a release of the plain build
        key = tuple(int(p) for p in name.split("."))
        if best is None or key > best[0]:
            best = (key, path)
    return best[1] if best else None


def run(version: str, step: str, command: list[str]) -> str:
    """Run a step with its output in build/matrix/VERSION-STEP.log."""
    path = os.path.join(LOGS, f"{version}-{step}.log")
    print(f"[{version}] {step}: {' '.join(command)}", flush=True)
    with open(path, "w", encoding="utf-8") as out:
        done = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if done.returncode != 0:
        tail = "\n".join(text.splitlines()[-25:])
        raise StepFailed(f"{step} failed (exit {done.returncode}; {path}):\n{tail}")
    return text


def check_version(python: str, version: str) -> dict[str, str]:
    tag = "cp3" + version.split(".")[1]
    result = {}
    env = [f"PYTHON={python}", f"VENV={os.path.join(LOGS, 'venv-' + version)}"]
    run(version, "build", ["make", "all", *env])
    result["build"] = "ok"

    text = run(version, "pytest", ["make", "pytest", *env,
                                   "PYTEST_ARGS=-q -p no:cacheprovider tests"])
    summary = [line for line in text.splitlines() if re.search(r"\d+ passed", line)]
    result["tests"] = summary[-1].strip("= ") if summary else "?"

    run(version, "wheel", ["make", "wheel", *env])
    built = glob.glob(os.path.join(ROOT, "build", "wheel",
                                   "repaired" if sys.platform.startswith("linux") else "",
                                   "gohttp-*.whl"))
    if len(built) != 1:
        raise StepFailed(f"make wheel left {built}, want one wheel")
    wheel = os.path.basename(built[0])
    tags = wheel[:-len(".whl")].split("-")[2:]
    if tags[:2] != [tag, tag]:
        raise StepFailed(f"{wheel}: tags {tags[:2]}, want [{tag!r}, {tag!r}]")
    if sys.platform.startswith("linux") and not tags[2].startswith("manylinux_"):
        raise StepFailed(f"{wheel}: platform {tags[2]}, want manylinux_*")
    with zipfile.ZipFile(built[0]) as z:
        native = [n for n in z.namelist() if n.endswith(".so")]
    if len(native) != 1 or f".cpython-{tag[2:]}-" not in native[0]:
        raise StepFailed(f"{wheel}: native files {native}, want one cpython-{tag[2:]} .so")
    result["wheel"] = wheel
    return result


def main() -> int:
    os.makedirs(LOGS, exist_ok=True)
    rows: list[tuple[str, str, str, str]] = []
    failed = False
    for minor in MINORS:
        python = find_python(minor)
        if python is None:
            print(f"[3.{minor}] skipped: no {PYENV_ROOT}/versions/3.{minor}.*/bin/python3",
                  flush=True)
            rows.append((f"3.{minor}", "skipped", "(not installed)", ""))
            continue
        version = python.split(os.sep)[-3]
        try:
            result = check_version(python, version)
        except StepFailed as e:
            print(f"[{version}] FAILED: {e}", flush=True)
            rows.append((version, "FAILED", str(e).splitlines()[0], ""))
            failed = True
            continue
        rows.append((version, result["build"], result["tests"], result["wheel"]))

    print("\npython    build    tests / wheel", flush=True)
    for version, build, tests, wheel in rows:
        print(f"{version:<9} {build:<8} {tests}")
        if wheel:
            print(f"{'':<18} {wheel}")
    print(f"\nlogs: {LOGS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
