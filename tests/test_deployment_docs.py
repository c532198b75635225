"""The command lines docs/deployment.md shows (the systemd unit, the
Dockerfile, the Kubernetes Deployment) are ones the gohttp command
takes: a renamed or removed flag fails here, not in production."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

import gohttp.__main__ as cli

DOC = (Path(__file__).resolve().parent.parent / "docs" / "deployment.md"
       ).read_text()


def command_lines() -> list[tuple[str, list[str]]]:
    found = []
    for line in re.findall(r"^ExecStart=(\S*gohttp .*)$", DOC, re.M):
        found.append(("systemd", shlex.split(line)[1:]))
    for block in re.findall(r'^CMD (\[.*?\])$', DOC.replace("\\\n", ""),
                            re.M | re.S):
        found.append(("Dockerfile", json.loads(block)[1:]))
    for block in re.findall(r"args: (\[.*?\])", DOC, re.S):
        found.append(("Kubernetes", json.loads(block)[1:]))
    return found


@pytest.mark.parametrize("where, argv", command_lines(),
                         ids=[w for w, _ in command_lines()])
def test_the_documented_command_lines_parse(where: str,
                                            argv: list[str]) -> None:
    args = cli._parser().parse_args(argv)
    assert args.app
    assert cli._server_options(args).get("metrics_bind")


def test_every_place_is_found() -> None:
    assert {w for w, _ in command_lines()} == {"systemd", "Dockerfile",
                                               "Kubernetes"}
