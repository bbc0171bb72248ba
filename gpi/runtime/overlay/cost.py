"""What the overlay costs per frame.

:func:`overlay_cost` draws the overlay ``frames`` times with the given model
and times each frame from ``Overlay.frame`` to ``glFinish`` returning (so
the GPU or llvmpipe work is included, not just queued). The benchmark and
``gpi profile`` call it; the host loop does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gpi.runtime.overlay.model import OverlayModel
from gpi.runtime.overlay.overlay import Overlay
from gpi.runtime.telemetry import Stats, summarize

__all__ = ["OverlayCost", "overlay_cost"]


@dataclass(frozen=True, slots=True)
class OverlayCost:
    """Per-frame overlay time in milliseconds."""

    frames: int
    ms: Stats
    """Whole overlay frame: build + GL submission + glFinish."""
    build_ms: Stats
    """Building the ImGui frame in Python (telemetry tables, plots, widgets)."""
    gpu_ms: Stats
    """GL submission and rasterising up to glFinish (llvmpipe on a GPU-less machine)."""


def overlay_cost(
    overlay: Overlay,
    model: OverlayModel,
    *,
    frames: int = 30,
    warmup: int = 3,
    clock_ns: Callable[[], int] = time.perf_counter_ns,
    finish: bool = True,
) -> OverlayCost:
    """Time ``frames`` overlay frames (after ``warmup`` untimed ones) on the current context."""
    from OpenGL import GL as gl

    was_visible = overlay.visible
    overlay.visible = True
    times: list[float] = []
    build: list[float] = []
    gpu: list[float] = []
    try:
        for i in range(warmup + frames):
            start = clock_ns()
            overlay.frame(model)
            if finish:
                gl.glFinish()
            if i >= warmup:
                total = (clock_ns() - start) * 1e-6
                times.append(total)
                build.append(overlay.last_build_ns * 1e-6)
                gpu.append(max(total - overlay.last_build_ns * 1e-6, 0.0))
    finally:
        overlay.visible = was_visible
    return OverlayCost(
        frames=len(times), ms=summarize(times), build_ms=summarize(build), gpu_ms=summarize(gpu)
    )
