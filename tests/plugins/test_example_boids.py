"""The boids example's steering kernel: a real flocking step, clamped speeds, robust cells."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

BOIDS = Path(__file__).resolve().parents[2] / "examples" / "plugins" / "boids" / "main.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_boids_main", BOIDS)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


boids = _load()


def reference(pos: np.ndarray, vel: np.ndarray, dt: float, noise: np.ndarray) -> np.ndarray:
    """The same step written boid by boid (float64): the model the kernel must follow."""
    cells = np.clip((pos / boids.CELL).astype(np.int64), 0, boids.GRID - 1)
    key = cells[:, 0] * boids.GRID + cells[:, 1]
    out = np.empty_like(vel, dtype=np.float64)
    for i in range(len(pos)):
        mates = key == key[i]
        t = pos[mates].mean(0) - pos[i]
        h = vel[mates].mean(0) - vel[i]
        acc = 0.8 * t + 0.5 * h + 0.5 * noise[i]
        d = np.hypot(*t)
        if d < 1.0:
            acc += -2.0 / max(d, 1e-3) * t
        v = vel[i] + acc * dt
        s = np.hypot(*v)
        out[i] = v * (np.clip(s, 2.0, 20.0) / max(s, 1e-6))
    return out


def test_steer_matches_the_per_boid_model() -> None:
    rng = np.random.default_rng(4)
    n = 400
    pos = rng.uniform(0, 30, (n, 2)).astype(np.float32)  # crowded: many boids share cells
    vel = rng.uniform(-15, 15, (n, 2)).astype(np.float32)
    noise = boids.noise_for(rng, n)
    got = boids.steer_chunk(pos, vel, 1 / 60, noise)
    assert got.dtype == np.float32 and got.shape == (n, 2)
    np.testing.assert_allclose(got, reference(pos, vel, 1 / 60, noise), rtol=1e-4, atol=1e-4)
    out = np.empty_like(vel)
    assert boids.steer_chunk(pos, vel, 1 / 60, noise, out) is out
    assert np.array_equal(out, got)


def test_flock_aligns_over_time() -> None:
    """Boids sharing a cell converge on a common heading (alignment really acts)."""
    rng = np.random.default_rng(9)
    n = 200
    pos = rng.uniform(50, 54, (n, 2)).astype(np.float32)  # one cell
    vel = rng.uniform(-10, 10, (n, 2)).astype(np.float32)
    spread0 = vel.std(0).sum()
    for _ in range(120):
        vel = boids.steer_chunk(pos, vel, 1 / 60, np.zeros((n, 2), np.float32))
    assert vel.std(0).sum() < 0.5 * spread0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e9, 1e9, width=32), st.floats(-1e9, 1e9, width=32)), min_size=1, max_size=60),
       st.integers(0, 2**32 - 1))
def test_any_positions_give_clamped_speeds(points: list[tuple[float, float]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    pos = np.array(points, np.float32).reshape(-1, 2)
    vel = rng.uniform(-40, 40, pos.shape).astype(np.float32)
    cell = boids.cell_of(pos)
    assert ((cell >= 0) & (cell < boids.GRID * boids.GRID)).all()
    new = boids.steer_chunk(pos, vel, 1 / 60, boids.noise_for(rng, len(pos)))
    speed = np.hypot(new[:, 0], new[:, 1])
    ok = np.isfinite(speed)
    assert ok.all() or not np.isfinite(pos).all()
    assert (speed[ok] <= boids.MAX_SPEED * 1.0001).all() and (speed[ok] >= boids.MIN_SPEED * 0.9999).all()


def test_noise_is_uniform_in_half_unit_and_deterministic() -> None:
    a = boids.noise_for(np.random.default_rng(1), 5000)
    b = boids.noise_for(np.random.default_rng(1), 5000)
    assert np.array_equal(a, b) and a.dtype == np.float32 and a.shape == (5000, 2)
    assert a.min() >= -0.5 and a.max() < 0.5 and abs(float(a.mean())) < 0.02
    with np.errstate(invalid="ignore"):  # NaN has no integer cell: it lands in a valid one
        assert boids.cell_of(np.array([[np.nan, 3.0]], np.float32))[0] in range(boids.GRID)
