"""Golden replays: re-simulate, render chosen ticks headless, compare with references by SSIM.

A failing tick writes ``<name>_tick_<T>_diff.png`` (reference | rendered |
difference) into ``$GPI_GOLDEN_DIFF_DIR`` (default: the test's tmp folder) and
names it in the failure. Regenerate with ``tests/golden/regenerate.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import golden_tools as gt
import numpy as np
import pytest

from gpi.replays import PluginMismatchError, Replay, verify
from gpi.runtime.replay.simulation import HostSimulator


def _diff_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("GPI_GOLDEN_DIFF_DIR") or tmp_path)


@pytest.mark.gl
@pytest.mark.parametrize("golden", gt.GOLDEN, ids=[g.name for g in gt.GOLDEN])
def test_golden_replay_matches_references(golden: gt.Golden, tmp_path: Path) -> None:
    assert golden.replay.is_file(), f"{golden.replay} missing: run tests/golden/regenerate.py"
    try:
        rendered = gt.render(golden)
    except PluginMismatchError as exc:
        pytest.fail(f"{exc}\nThe example plugins changed since the golden replays were recorded: "
                    "if intended, run tests/golden/regenerate.py and check the new PNGs")
    failures = []
    for t in golden.images:
        ref = gt.load_png(golden.reference(t))
        score = gt.ssim(ref, rendered[t])
        if score < gt.THRESHOLD:
            out = gt.side_by_side(ref, rendered[t], _diff_dir(tmp_path) / f"{golden.name}_tick_{t}_diff.png")
            failures.append(f"tick {t}: SSIM {score:.4f} < {gt.THRESHOLD} (side by side: {out})")
    assert not failures, f"golden replay {golden.name}: " + "; ".join(failures)


def test_ssim_and_side_by_side(tmp_path: Path) -> None:
    ref = gt.load_png(gt.GOLDEN[0].reference(gt.GOLDEN[0].images[-1]))
    assert gt.ssim(ref, ref.copy()) == pytest.approx(1.0)
    bad = ref.copy()
    bad[40:120, 40:120] = (255, 0, 255)
    assert gt.ssim(ref, bad) < gt.THRESHOLD
    assert gt.ssim(ref, ref[:-1]) == 0.0  # a size change never passes
    out = gt.side_by_side(ref, bad, tmp_path / "d.png")
    img = gt.load_png(out)
    h, w = ref.shape[:2]
    assert img.shape == (h, 3 * w + 8, 3)
    assert np.array_equal(img[:, :w], ref) and img[80, 2 * w + 8 + 80].any()


@pytest.mark.parametrize("golden", gt.GOLDEN, ids=[g.name for g in gt.GOLDEN])
def test_golden_replay_verifies(golden: gt.Golden) -> None:
    with Replay.open(golden.replay) as rp:
        assert rp.complete and rp.tick_count == golden.ticks
        with HostSimulator(rp.header, search=[gt.EXAMPLES], isolation="none") as sim:
            res = verify(rp, sim)
    assert res.ok, res.message
