"""Shared scenes for the draw tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

import numpy as np

VIEW = (-50.0, -40.0, 60.0, 45.0)


def scene(seed: int, n: int, layers: int = 4):
    """Positions, sizes, colours, layers and rotations of ``n`` random shapes, some outside ``VIEW``."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-120, 120, (n, 2)).astype(np.float32)
    size = rng.uniform(0.5, 30, (n, 2)).astype(np.float32)
    color = rng.integers(0, 256, (n, 4), dtype=np.uint8)
    layer = rng.integers(-layers, layers, n).astype(np.int32)
    rot = rng.uniform(-20, 20, n).astype(np.float32)
    return pos, size, color, layer, rot
