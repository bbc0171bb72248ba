"""What an app is told to run: :class:`AppConfig`, scene files, screenshot specs, the demo's plugins.

Scene files (:func:`load_scene`) are small TOML documents::

    plugins = ["examples/plugins/movement", "examples/plugins/boids"]  # relative to the file
    seed = 7
    ticks = 600            # optional default for --ticks
    population = 2000      # optional: the 'population' resource
    [camera]
    center = [50.0, 50.0]
    zoom = 6.0             # pixels per world unit (optional: fit the arena)

A :class:`SceneConfig` turns into an :class:`AppConfig` with
:meth:`SceneConfig.app_config`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpi.runtime.errors import AppError, SceneError
from gpi.runtime.scene import ARENA

__all__ = [
    "DEFAULT_DRAWLIST_SIZE",
    "DEMO_PLUGINS",
    "AppConfig",
    "SceneConfig",
    "demo_plugin_dirs",
    "load_scene",
    "parse_screenshot",
]

DEMO_PLUGINS = ("spawner", "movement", "boids", "player")
"""The example plugins ``gpi demo`` runs, from ``examples/plugins``."""

# The example plugins draw boids as 24-segment circles (72 vertices each): a
# 100k-entity frame needs ~86 MiB of draw list, more than the plugin host's
# default region (sparse memfd pages: unused bytes cost nothing).
DEFAULT_DRAWLIST_SIZE = 128 << 20


@dataclass
class AppConfig:
    """Everything an :class:`App` needs to start."""

    plugins: Sequence[str | os.PathLike[str]] = ()
    available: Sequence[str | os.PathLike[str]] = ()
    """Plugin folders that dependencies may come from (``gpi run`` fills it from discovery's search paths)."""
    seed: int = 0
    isolation: str = "process"
    """``"process"`` (sandboxed children) or ``"none"`` (in the host, for debugging)."""
    render: bool = True
    """Open a window (or an offscreen one) and draw; False: pure simulation."""
    headless: bool | None = None
    """Offscreen SDL + EGL; None: headless when there is no screen."""
    overlay: bool = True
    overlay_every: int = 4
    """Frames between overlay redraws (the frames between reuse its cached pixels); 1: every frame."""
    width: int = 1024
    height: int = 720
    title: str = "GPI Sandbox"
    tick_rate: float = 60.0
    camera_center: tuple[float, float] = (ARENA / 2, ARENA / 2)
    camera_zoom: float | None = None
    """Pixels per world unit; None fits the arena into the window."""
    population: int | None = None
    """Sets the ``population`` resource (the spawner plugin's target)."""
    max_fps: float = 60.0
    """Real-time mode: most frames drawn per second."""
    min_fps: float = 6.0
    """Real-time mode: fewest frames per second while ticks fall behind."""
    max_catch_up: int | None = None
    """Most ticks per frame before the loop drops time; None: enough for ``min_fps``."""
    memory_every: int = 60
    """Ticks between RSS samples of host and children (0: never)."""
    telemetry_window: int = 600
    """Frames and calls per system the overlay's statistics cover."""
    telemetry_history: int = 4096
    """Latest records of each kind kept in order (bounded: a long run holds no more)."""
    host_records: int = 1024
    """Per-call records the plugin host keeps (``PluginHost.records``); the app reads them through hooks."""
    trace_path: str | os.PathLike[str] | None = None
    """Stream every telemetry record to this Chrome trace file (whole run, no memory cost)."""
    sandbox: bool | None = None
    parallel: bool = True
    """Run the systems of a wave in their children at the same time."""
    drawlist_size: int = DEFAULT_DRAWLIST_SIZE
    """Bytes of each drawing plugin's draw-list buffer."""
    timeout: float | None = None
    draw_entities: bool | None = None
    """Host draws every Position entity as a small quad; None: only when no plugin draws."""
    clear_color: tuple[float, float, float, float] = (0.05, 0.07, 0.12, 1.0)


@dataclass
class SceneConfig:
    """A scene file's content (see the module docstring)."""

    plugins: list[Path]
    seed: int = 0
    ticks: int | None = None
    population: int | None = None
    camera_center: tuple[float, float] = (ARENA / 2, ARENA / 2)
    camera_zoom: float | None = None
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def app_config(self, **overrides: Any) -> AppConfig:
        """An :class:`AppConfig` for this scene, with ``overrides`` applied."""
        cfg = AppConfig(plugins=list(self.plugins), seed=self.seed, population=self.population,
                        camera_center=self.camera_center, camera_zoom=self.camera_zoom)
        for k, v in overrides.items():
            setattr(cfg, k, v)
        return cfg


def _pair(value: Any, where: str) -> tuple[float, float]:
    if (not isinstance(value, list | tuple) or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise SceneError(f"{where} must be a list of two numbers, like [50.0, 50.0]; got {value!r}")
    return (float(value[0]), float(value[1]))


def load_scene(path: str | os.PathLike[str]) -> SceneConfig:
    """Read a scene TOML file; plugin paths are relative to the file's folder."""
    p = Path(path)
    if not p.is_file():
        raise SceneError(f"scene file {str(p)!r} does not exist; pass a .toml file listing plugins")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SceneError(f"scene file {str(p)!r} is not valid TOML: {exc}") from None
    known = {"plugins", "seed", "ticks", "population", "camera"}
    plugins = data.get("plugins")
    if not isinstance(plugins, list) or not plugins or not all(isinstance(x, str) for x in plugins):
        raise SceneError(f"scene file {str(p)!r}: 'plugins' must be a non-empty list of plugin folder paths")
    dirs = [(p.parent / x).resolve() if not Path(x).is_absolute() else Path(x) for x in plugins]
    for d, raw in zip(dirs, plugins, strict=True):
        if not (d / "plugin.toml").is_file():
            raise SceneError(f"scene file {str(p)!r}: plugin folder {raw!r} ({d}) has no plugin.toml")

    def _int(name: str, minimum: int) -> int | None:
        v = data.get(name)
        if v is None:
            return None
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise SceneError(f"scene file {str(p)!r}: {name!r} must be an integer >= {minimum}; got {v!r}")
        return v

    seed = _int("seed", 0) or 0
    cam = data.get("camera", {})
    if not isinstance(cam, dict):
        raise SceneError(f"scene file {str(p)!r}: [camera] must be a table with center and zoom")
    center = _pair(cam["center"], f"scene file {str(p)!r}: camera.center") if "center" in cam \
        else (ARENA / 2, ARENA / 2)
    zoom = cam.get("zoom")
    if zoom is not None and (not isinstance(zoom, int | float) or isinstance(zoom, bool) or zoom <= 0):
        raise SceneError(f"scene file {str(p)!r}: camera.zoom must be a positive number (pixels per unit)")
    return SceneConfig(plugins=dirs, seed=seed, ticks=_int("ticks", 1), population=_int("population", 0),
                       camera_center=center, camera_zoom=None if zoom is None else float(zoom), path=p,
                       extra={k: v for k, v in data.items() if k not in known})


def parse_screenshot(spec: str) -> tuple[int, Path]:
    """``"TICK:FILE"`` -> ``(tick, Path(FILE))``; raises ValueError with what is expected."""
    tick_s, sep, file = spec.partition(":")
    if not sep or not file:
        raise ValueError(f"--screenshot {spec!r}: expected TICK:FILE, e.g. 120:out/shot.png")
    try:
        tick = int(tick_s)
    except ValueError:
        raise ValueError(f"--screenshot {spec!r}: TICK must be an integer, got {tick_s!r}") from None
    if tick < 0:
        raise ValueError(f"--screenshot {spec!r}: TICK must be >= 0")
    if not file.lower().endswith(".png"):
        raise ValueError(f"--screenshot {spec!r}: FILE must end in .png")
    return tick, Path(file)


def demo_plugin_dirs(root: str | os.PathLike[str] | None = None, names: Sequence[str] = DEMO_PLUGINS) -> list[Path]:
    """The example plugin folders (``examples/plugins/<name>`` of the source tree)."""
    base = Path(root) if root is not None else Path(__file__).resolve().parents[2] / "examples" / "plugins"
    dirs = [base / n for n in names]
    missing = [str(d) for d in dirs if not (d / "plugin.toml").is_file()]
    if missing:
        raise AppError(f"example plugins not found: {missing}; run from a source checkout of GPI Sandbox")
    return dirs
