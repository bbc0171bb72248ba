"""`gpi run --load SNAPSHOT` starts from a world snapshot file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import Component, World
from gpi.plugins.snapshots import read_header, save_world
from gpi.runtime.cli import main

MOVEMENT = Path(__file__).resolve().parents[2] / "examples" / "plugins" / "movement"


@pytest.mark.subprocess
def test_run_load_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with World(seed=0) as world:
        world.register(Component("Position", "float32", (2,)), Component("Velocity", "float32", (2,)))
        world.spawn(7, {"Position": np.full((7, 2), 5, np.float32), "Velocity": np.ones((7, 2), np.float32)})
        snap = save_world(world, tmp_path / "start.gpisnap", tick=40)
    code = main(["run", str(MOVEMENT), "--headless", "--ticks", "3", "--load", str(snap), "--quiet",
                 "--no-sandbox", "--no-overlay"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert re.search(r"entities\s*│\s*7\s", out.out), out.out  # the loaded entities were simulated
    # --save at the end, then --load it: the second run continues from the first one's world
    out_snap = tmp_path / "end.gpisnap"
    assert main(["run", str(MOVEMENT), "--headless", "--ticks", "2", "--load", str(snap), "--save", str(out_snap),
                 "--quiet", "--no-sandbox", "--no-overlay"]) == 0
    assert "snapshot:" in capsys.readouterr().out
    header = read_header(out_snap)
    assert header["entities"] == 7 and header["tick"] == 42
    bad = tmp_path / "bad.gpisnap"
    bad.write_bytes(b"x")
    assert main(["run", str(MOVEMENT), "--headless", "--ticks", "1", "--load", str(bad), "--quiet",
                 "--no-sandbox"]) != 0
    assert "not a GPI world snapshot" in capsys.readouterr().err
