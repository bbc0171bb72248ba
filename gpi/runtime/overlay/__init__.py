"""The ImGui + ImPlot profiling overlay.

:class:`OverlayModel` (data in) and :class:`OverlayAction` (requests out)
load without ImGui, so headless code can build and test models. The drawing
side, :class:`Overlay` and :func:`overlay_cost`, imports imgui-bundle, SDL2
and PyOpenGL only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpi.runtime.overlay.errors import OverlayError
from gpi.runtime.overlay.model import (
    ACTION_KINDS,
    PLUGIN_STATES,
    ControlState,
    OverlayAction,
    OverlayModel,
    PluginStatus,
    apply_loop_actions,
)

if TYPE_CHECKING:
    from gpi.runtime.overlay.cost import OverlayCost, overlay_cost
    from gpi.runtime.overlay.overlay import Overlay

__all__ = [
    "ACTION_KINDS",
    "PLUGIN_STATES",
    "ControlState",
    "Overlay",
    "OverlayAction",
    "OverlayCost",
    "OverlayError",
    "OverlayModel",
    "PluginStatus",
    "apply_loop_actions",
    "overlay_cost",
]

_LAZY = {
    "Overlay": "gpi.runtime.overlay.overlay",
    "OverlayCost": "gpi.runtime.overlay.cost",
    "overlay_cost": "gpi.runtime.overlay.cost",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gpi.runtime.overlay' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
