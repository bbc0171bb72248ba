"""What the overlay shows and what it asks for, as plain data.

The overlay never reaches into the plugin host, the world or the loop. The
host fills an :class:`OverlayModel` each frame (telemetry, plugin statuses,
entity counts per archetype, control state) and the overlay returns a list of
:class:`OverlayAction` (pause, step, time scale, reload a plugin, start or
stop recording) that the host applies at the next tick boundary. This keeps
the overlay testable with sample data and keeps ImGui out of the
simulation's path.

:func:`apply_loop_actions` applies the loop-level actions (pause, resume,
step, time scale) to a :class:`~gpi.runtime.loop.FixedStepLoop` and hands
back the rest (reload, recording) for the host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gpi.plugins.faults import PluginState
from gpi.runtime.telemetry import Telemetry

if TYPE_CHECKING:
    from gpi.runtime.loop import FixedStepLoop

__all__ = [
    "ACTION_KINDS",
    "PLUGIN_STATES",
    "ControlState",
    "OverlayAction",
    "OverlayModel",
    "PluginStatus",
    "apply_loop_actions",
]

PLUGIN_STATES = tuple(str(s) for s in PluginState)
"""The states a plugin can be shown in."""

ACTION_KINDS = (
    "pause",
    "resume",
    "step",
    "time_scale",
    "reload",
    "record_start",
    "record_stop",
    "toggle_overlay",
)
"""Every action the overlay can request."""


@dataclass(frozen=True, slots=True)
class PluginStatus:
    """One plugin's row in the status table."""

    name: str
    state: str = "running"
    """One of :data:`PLUGIN_STATES`."""
    restarts: int = 0
    pid: int | None = None
    rss_bytes: int | None = None
    """Resident set size of the child, if known."""
    sandbox_layers: Mapping[str, bool] = field(default_factory=dict)
    """Sandbox layer name -> active (e.g. seccomp, landlock, netns, rlimits)."""
    systems: int = 0
    last_error: str = ""

    def __post_init__(self) -> None:
        if self.state not in PLUGIN_STATES:
            raise ValueError(
                f"PluginStatus({self.name!r}): state {self.state!r} is not one of {PLUGIN_STATES}"
            )


@dataclass(slots=True)
class ControlState:
    """The loop and recorder state the controls display."""

    paused: bool = False
    time_scale: float = 1.0
    recording: bool = False
    tick: int = 0
    tick_rate: float = 60.0
    record_path: str = ""


@dataclass(frozen=True, slots=True)
class OverlayAction:
    """A request from the overlay for the host (``plugin`` set for ``reload``)."""

    kind: str
    value: float | None = None
    plugin: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise ValueError(f"OverlayAction kind {self.kind!r} is not one of {ACTION_KINDS}")


@dataclass(slots=True)
class OverlayModel:
    """Everything one overlay frame draws."""

    telemetry: Telemetry
    plugins: Sequence[PluginStatus] = ()
    archetypes: Mapping[str, int] = field(default_factory=dict)
    """Archetype label (its component names) -> entity count."""
    controls: ControlState = field(default_factory=ControlState)
    plot_frames: int = 300
    """How many recent frames the plots show (5 s at 60 fps)."""

    @property
    def entity_count(self) -> int:
        """Total entities over all archetypes."""
        return sum(self.archetypes.values())


def apply_loop_actions(actions: Iterable[OverlayAction], loop: FixedStepLoop) -> list[OverlayAction]:
    """Apply pause/resume/step/time-scale to ``loop``; return the actions left for the host."""
    rest: list[OverlayAction] = []
    for action in actions:
        if action.kind == "pause":
            loop.pause()
        elif action.kind == "resume":
            loop.resume()
        elif action.kind == "step":
            loop.step(int(action.value or 1))
        elif action.kind == "time_scale" and action.value is not None:
            loop.time_scale = action.value
        else:
            rest.append(action)
    return rest
