"""The 2D camera: which part of the world the window shows.

World units are arbitrary (a game picks them); y points up. The camera looks
at ``center`` with ``zoom`` screen pixels per world unit over a ``viewport``
of ``(width, height)`` pixels. Screen coordinates (mouse, ImGui) are pixels
from the window's top-left corner with y pointing down; :meth:`Camera.screen_to_world`
and :meth:`Camera.world_to_screen` convert. :meth:`Camera.view_rect` is the
rectangle the draw-list kernels cull against; :meth:`Camera.transform` is the
``(scale_x, scale_y, offset_x, offset_y)`` the vertex shader applies
(``clip = world * scale + offset``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Camera"]


@dataclass
class Camera:
    """A 2D camera: ``center`` (world units), ``zoom`` (pixels per unit), ``viewport`` (pixels)."""

    center: tuple[float, float] = (0.0, 0.0)
    zoom: float = 1.0
    viewport: tuple[int, int] = (1280, 720)

    def __post_init__(self) -> None:
        if not self.zoom > 0:
            raise ValueError(f"camera zoom must be positive, got {self.zoom}")

    def view_rect(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """The visible world rectangle ``(x0, y0, x1, y1)``, grown by ``margin`` world units."""
        hw = self.viewport[0] / (2.0 * self.zoom) + margin
        hh = self.viewport[1] / (2.0 * self.zoom) + margin
        cx, cy = self.center
        return (cx - hw, cy - hh, cx + hw, cy + hh)

    def transform(self) -> tuple[float, float, float, float]:
        """``(sx, sy, ox, oy)`` with ``clip = world * s + o``."""
        sx = 2.0 * self.zoom / self.viewport[0]
        sy = 2.0 * self.zoom / self.viewport[1]
        return (sx, sy, -self.center[0] * sx, -self.center[1] * sy)

    def world_to_screen(self, x: float, y: float) -> tuple[float, float]:
        """World point to window pixels (origin top-left, y down)."""
        sx = (x - self.center[0]) * self.zoom + self.viewport[0] / 2.0
        sy = self.viewport[1] / 2.0 - (y - self.center[1]) * self.zoom
        return (sx, sy)

    def screen_to_world(self, sx: float, sy: float) -> tuple[float, float]:
        """Window pixels (origin top-left, y down) to a world point."""
        x = (sx - self.viewport[0] / 2.0) / self.zoom + self.center[0]
        y = (self.viewport[1] / 2.0 - sy) / self.zoom + self.center[1]
        return (x, y)

    @classmethod
    def pixels(cls, width: int, height: int) -> Camera:
        """A camera whose world units are window pixels, origin at the bottom-left corner."""
        return cls(center=(width / 2.0, height / 2.0), zoom=1.0, viewport=(width, height))
