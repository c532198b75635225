"""setup.py's rebuild check: a build whose compiler flags or switches
changed relinks the extension, even though no source file did; one whose
flags are the same does not.  Builds into a folder of the test's own, so
the in-place gohttp under test is left alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.common import tool_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("flavor")

    def build(**env: str) -> str:
        """Build gohttp into out with env added; return the build's log."""
        done = subprocess.run(
            [sys.executable, "setup.py", "build_ext",
             "-b", str(out / "lib"), "-t", str(out / "temp")],
            cwd=ROOT, env=dict(tool_env(), **env), capture_output=True,
            text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    build.first_log = build()  # type: ignore[attr-defined]
    build.out = out  # type: ignore[attr-defined]
    return build


def linked(log: str) -> bool:
    """Whether the build log shows the extension being linked."""
    return re.search(r"^\S*(gcc|cc|clang)\S* -shared ", log, re.M) is not None


def test_a_change_of_flags_rebuilds_and_no_change_does_not(build) -> None:
    assert not linked(build()), "an unchanged build relinked"
    steps = [
        {"CFLAGS": "-DGOHTTP_FLAVOR_PROBE=1"},
        {"LDFLAGS": "-Wl,-z,now"},  # and CFLAGS back as they were
    ]
    for env in steps:
        assert linked(build(**env)), f"{env}: the old .so was kept"
        assert not linked(build(**env)), f"{env}: an identical build relinked"


def test_an_unknown_sanitizer_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "-b", str(tmp_path),
         "-t", str(tmp_path)], cwd=ROOT,
        env=dict(tool_env(), GOHTTP_SANITIZE="address,thread"),
        capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "'thread' is not one of address, undefined" in done.stderr


def test_a_wheel_build_strips(build) -> None:
    # Not in place (as pip wheel builds): Go's symbol table and DWARF are
    # left out and the .so is stripped; Go's own tables stay, for its
    # tracebacks and panics.  (The in-place build keeps its debug info.)
    # The builds of the other tests are looked at: no build of its own.
    if any(os.environ.get(v, "") not in ("", "0")
           for v in ("GOHTTP_DEBUG", "GOHTTP_SANITIZE", "GOHTTP_STRIP")):
        pytest.skip("a debug, sanitizer or GOHTTP_STRIP build is not stripped")
    assert "'-ldflags=-s -w'" in build.first_log
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    so = next((build.out / "lib").rglob("_gohttp*.so"))
    sections = subprocess.run([readelf, "-SW", str(so)], capture_output=True,
                              text=True, check=True, timeout=60).stdout
    assert ".gopclntab" in sections
    assert ".debug_info" not in sections and ".symtab" not in sections


def test_a_bad_strip_switch_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "-b", str(tmp_path),
         "-t", str(tmp_path)], cwd=ROOT,
        env=dict(tool_env(), GOHTTP_STRIP="yes"),
        capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "GOHTTP_STRIP='yes': want 1 (strip) or 0" in done.stderr
