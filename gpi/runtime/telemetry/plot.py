"""Frame-time plot as a PNG, drawn with Pillow (no matplotlib).

The picture: a white canvas, a plot area with a light grid, y-axis labels in
milliseconds, x-axis labels in frame numbers, the frame times as a blue
polyline, an optional dashed red line at the frame budget (16.7 ms at
60 Hz) and a legend line with mean / p95 / max. Colours are module
constants so tests can look for the line's pixels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gpi.runtime.telemetry.errors import PlotError
from gpi.runtime.telemetry.stats import summarize

__all__ = ["BACKGROUND", "BUDGET_COLOR", "LINE_COLOR", "plot_frame_times"]

BACKGROUND = (255, 255, 255)
AXIS_COLOR = (40, 40, 40)
GRID_COLOR = (225, 225, 225)
LINE_COLOR = (31, 119, 180)
BUDGET_COLOR = (214, 39, 40)
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 64, 20, 36, 44


def _nice_step(span: float, target_ticks: int = 5) -> float:
    """A 1/2/5 x 10^k step giving about ``target_ticks`` grid lines over ``span``."""
    raw = span / max(target_ticks, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def plot_frame_times(
    frame_ms: Sequence[float] | np.ndarray,
    path: str | os.PathLike[str],
    *,
    width: int = 900,
    height: int = 320,
    budget_ms: float | None = 1000.0 / 60.0,
    title: str = "frame time",
) -> Path:
    """Draw ``frame_ms`` (one value per frame) as a line plot PNG at ``path``; return it."""
    ys = np.asarray(frame_ms, dtype=np.float64)
    if ys.ndim != 1 or ys.size == 0:
        raise PlotError(
            f"plot_frame_times needs a non-empty 1-D sequence of frame times, got shape {ys.shape}"
        )
    if not np.all(np.isfinite(ys)):
        raise PlotError("plot_frame_times: frame times contain NaN or infinity")
    if width < 200 or height < 120:
        raise PlotError(f"plot_frame_times: {width}x{height} is too small; use at least 200x120")

    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    x0, y0 = _MARGIN_LEFT, _MARGIN_TOP
    x1, y1 = width - _MARGIN_RIGHT, height - _MARGIN_BOTTOM
    top = float(ys.max())
    if budget_ms is not None:
        top = max(top, budget_ms)
    top = top * 1.1 if top > 0 else 1.0
    n = ys.size

    def px(i: float) -> float:
        return x0 + (x1 - x0) * (i / max(n - 1, 1))

    def py(v: float) -> float:
        return y1 - (y1 - y0) * (v / top)

    # Grid and y labels.
    step = _nice_step(top)
    v = 0.0
    while v <= top + 1e-12:
        y = py(v)
        draw.line([(x0, y), (x1, y)], fill=GRID_COLOR)
        label = f"{v:g}"
        tw = draw.textlength(label, font=font)
        draw.text((x0 - 6 - tw, y - 6), label, fill=AXIS_COLOR, font=font)
        v += step
    # X labels.
    xstep = max(1, int(_nice_step(max(n - 1, 1), 6)))
    for i in range(0, n, xstep):
        x = px(i)
        draw.line([(x, y1), (x, y1 + 4)], fill=AXIS_COLOR)
        label = str(i)
        tw = draw.textlength(label, font=font)
        draw.text((x - tw / 2, y1 + 6), label, fill=AXIS_COLOR, font=font)
    # Axes.
    draw.line([(x0, y0), (x0, y1), (x1, y1)], fill=AXIS_COLOR, width=1)
    draw.text((x0, height - 16), "frame", fill=AXIS_COLOR, font=font)
    draw.text((4, y0 - 16), "ms", fill=AXIS_COLOR, font=font)

    # Budget line, dashed.
    if budget_ms is not None:
        yb = py(budget_ms)
        xa = float(x0)
        while xa < x1:
            draw.line([(xa, yb), (min(xa + 8, x1), yb)], fill=BUDGET_COLOR, width=1)
            xa += 14
        draw.text((x1 - 110, yb - 14), f"budget {budget_ms:.1f} ms", fill=BUDGET_COLOR, font=font)

    # The data.
    points = [(px(i), py(float(val))) for i, val in enumerate(ys)]
    if len(points) == 1:
        x, y = points[0]
        draw.ellipse([(x - 2, y - 2), (x + 2, y + 2)], fill=LINE_COLOR)
    else:
        draw.line(points, fill=LINE_COLOR, width=2)

    s = summarize(ys)
    draw.text(
        (x0, 8),
        f"{title}   n={s.count}  mean {s.mean:.2f} ms  p95 {s.p95:.2f} ms  max {s.max:.2f} ms",
        fill=AXIS_COLOR,
        font=font,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, format="PNG")
    return out
