"""probe_layers and ``gpi doctor`` on this machine (each runs one throwaway child)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpi.plugins.sandbox import ALL_LAYERS, DEFAULT_REQUIRED, probe_layers

pytestmark = [pytest.mark.sandbox, pytest.mark.subprocess]

ROOT = Path(__file__).resolve().parents[3]


def test_probe_layers_reports_every_layer_and_memfd_sealing() -> None:
    layers = probe_layers()
    assert "probe" not in layers, layers
    assert set(layers) == set(ALL_LAYERS) | {"memfd_seal"}
    for available, detail in layers.values():
        assert isinstance(available, bool) and detail
    # The test process itself was not confined: it can still open a socket.
    import socket

    socket.socket().close()


def test_gpi_doctor_exit_status_matches_the_layers() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "gpi.runtime.cli", "doctor", "--json"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    # The issue-14 layers are shown, with what this machine does about them.
    for name in ("privilege", "pidns", "cgroup"):
        assert name in data["layers"] and data["layers"][name]["detail"], data["layers"].get(name)
    assert data["layers"]["privilege"]["required"] is True
    if os.geteuid() == 0:
        assert data["layers"]["privilege"]["available"], data["layers"]["privilege"]
        assert "uid/gid" in data["layers"]["privilege"]["detail"]
        assert data["layers"]["pidns"]["available"], data["layers"]["pidns"]
    needed = set(DEFAULT_REQUIRED) | {"memfd_seal"}
    all_ok = all(data["layers"][n]["available"] for n in needed)
    assert proc.returncode == (0 if all_ok else 1), proc.stderr
    assert data["ok"] is all_ok
