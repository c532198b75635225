"""What docs/deployment.md shows works as far as this machine allows:
the command lines (the systemd unit, the Dockerfile, the Kubernetes
Deployment) are ones the gohttp command takes, the systemd units pass
systemd-analyze verify, and the Deployment's probes and timings fit the
command's flags.  (The systemd protocol itself: test_systemd.py.)"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
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


def units() -> dict[str, str]:
    """The systemd units the page shows, by file name."""
    return {m.group(1): m.group(2) for m in re.finditer(
        r"```ini\n# /etc/systemd/system/(myapp\.\w+)\n(.*?)```", DOC, re.S)}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="needs systemd-analyze")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    found = units()
    assert set(found) == {"myapp.service", "myapp.socket"}
    for name, text in found.items():
        # What this machine lacks: the app's virtual environment, its
        # directory and its user.
        text = re.sub(r"^ExecStart=\S+", "ExecStart=/bin/true", text,
                      flags=re.M)
        text = re.sub(r"^WorkingDirectory=.*$", f"WorkingDirectory={tmp_path}",
                      text, flags=re.M)
        text = re.sub(r"^User=.*\n", "", text, flags=re.M)
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no",
         str(tmp_path / "myapp.socket"), str(tmp_path / "myapp.service")],
        capture_output=True, text=True, timeout=60)
    # verify exits 0 on a directive it ignores, but says so.
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    assert "Type=notify" in found["myapp.service"]


def test_the_kubernetes_probes_reach_the_metrics_listener() -> None:
    yaml = pytest.importorskip("yaml")
    block = re.search(r"```yaml\n(apiVersion: apps/v1.*?)```", DOC, re.S)
    assert block
    deployment = yaml.safe_load(block.group(1))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    args = container["args"]
    assert args[args.index("--metrics-bind") + 1].endswith(
        f":{ports['metrics']}")
    assert args[args.index("--bind") + 1].endswith(f":{ports['http']}")
    for probe, path in [("startupProbe", "/readyz"),
                        ("readinessProbe", "/readyz"),
                        ("livenessProbe", "/healthz")]:
        assert container[probe]["httpGet"] == {"path": path,
                                               "port": "metrics"}
    grace = deployment["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"]
    delay = float(args[args.index("--shutdown-delay") + 1])
    timeout = float(args[args.index("--shutdown-timeout") + 1])
    assert grace > delay + timeout
