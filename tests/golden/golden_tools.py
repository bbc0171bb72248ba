"""Golden replays: record them, render chosen ticks, compare with references by SSIM.

Layout of ``tests/golden``::

    replays/<name>.gpir                 small replays of the example simulation
    reference/<name>/tick_<T>.png       reference images of chosen ticks (RGB, SIZE)

:data:`GOLDEN` lists each replay: its plugins (example plugin names), seed,
population, ticks, keyframe interval and the ticks with reference images.
``python tests/golden/regenerate.py`` re-records the replays and re-renders
the references (``--images-only`` keeps the replays); run it after an
intended change to the example plugins or the renderer, look at the new
PNGs, and commit them.

Comparison: :func:`ssim` is scikit-image's ``structural_similarity`` with
Gaussian weights (sigma 1.5, the Wang et al. setting), RGB channels, data range
255; :func:`side_by_side` writes reference | rendered | 4x amplified absolute
difference as one PNG for a failing tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = ROOT / "examples" / "plugins"
REPLAYS = HERE / "replays"
REFERENCE = HERE / "reference"
SIZE = (192, 192)
THRESHOLD = 0.97


@dataclass(frozen=True)
class Golden:
    """One golden replay: how it is recorded and which ticks have references."""

    name: str
    plugins: tuple[str, ...]
    seed: int
    population: int
    ticks: int
    keyframe_interval: int
    images: tuple[int, ...]

    @property
    def replay(self) -> Path:
        """The replay file."""
        return REPLAYS / f"{self.name}.gpir"

    def reference(self, tick: int) -> Path:
        """The reference PNG of ``tick``."""
        return REFERENCE / self.name / f"tick_{tick:06d}.png"


GOLDEN = (
    Golden("demo", ("spawner", "movement", "boids", "player"), 7, 80, 150, 60, (0, 60, 150 - 1)),
    Golden("crowd", ("spawner", "movement"), 21, 300, 90, 30, (30, 89)),
)


def input_at(t: int) -> dict[str, object]:
    """The scripted input of tick ``t`` (the player walks a square)."""
    keys = (["right"], ["up"], ["left"], ["down"])[(t // 25) % 4]
    return {"keys": keys, "mouse": [0.0, 0.0], "buttons": [], "axes": {}}


def record(g: Golden, path: Path | None = None) -> Path:
    """Record ``g`` (isolation none) to ``path`` (default: its file in replays/)."""
    from gpi.ecs import World
    from gpi.plugins.host import PluginHost
    from gpi.replays import InputState
    from gpi.runtime.replay.recording import HostRecorder

    out = path or g.replay
    out.parent.mkdir(parents=True, exist_ok=True)
    with World(seed=g.seed) as world, PluginHost(world, isolation="none") as host:
        host.load(*[EXAMPLES / n for n in g.plugins])
        world.insert_resource("population", g.population)
        with HostRecorder(host, out, keyframe_interval=g.keyframe_interval, meta={"golden": g.name}) as rec:
            for t in range(g.ticks):
                inp = InputState.from_dict(input_at(t))
                host.tick(inp.to_dict())
                rec.after_tick(inp)
    return out


def camera() -> object:
    """The golden camera: the middle 48 x 48 units of the arena, 4 px per unit.

    Entities are 3 px quads: a moved entity changes whole SSIM windows, where
    a view of the whole arena (1.4 px dots on a flat background) scores above
    0.99 for visibly different runs.
    """
    from gpi.runtime.render import Camera

    return Camera(center=(50.0, 50.0), zoom=SIZE[0] / 48.0, viewport=SIZE)


def render(g: Golden, ticks: tuple[int, ...] | None = None, *, force: bool = False,
           search: tuple[Path, ...] = (EXAMPLES,)) -> dict[int, np.ndarray]:
    """RGB images ``(h, w, 3)`` of ``ticks`` (default: ``g.images``) re-simulated from the replay.

    Plugins come from the recorded folders, else ``search``; a plugin whose
    code changed since the recording is refused (``PluginMismatchError``)
    unless ``force``.
    """
    from gpi.replays import Replay
    from gpi.runtime.replay.render import render_ticks
    from gpi.runtime.replay.simulation import HostSimulator

    with Replay.open(g.replay) as rp, HostSimulator(rp.header, search=search, isolation="none",
                                                     force=force) as sim:
        imgs = render_ticks(rp, sim, list(ticks or g.images), size=SIZE, camera=camera())
    return {t: np.ascontiguousarray(img[..., :3]) for t, img in imgs.items()}


def load_png(path: Path) -> np.ndarray:
    """An RGB image as ``(h, w, 3)`` uint8."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def save_png(img: np.ndarray, path: Path) -> Path:
    """Write an RGB(A) image."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(img)).save(path)
    return path


def ssim(reference: np.ndarray, rendered: np.ndarray) -> float:
    """Structural similarity of two RGB images (Gaussian weights); 1.0 means identical."""
    from skimage.metrics import structural_similarity

    if reference.shape != rendered.shape:
        return 0.0
    return float(structural_similarity(reference, rendered, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, channel_axis=2, data_range=255))


def side_by_side(reference: np.ndarray, rendered: np.ndarray, path: Path) -> Path:
    """Write reference | rendered | amplified difference as one PNG; returns its path."""
    h = max(reference.shape[0], rendered.shape[0])
    w = max(reference.shape[1], rendered.shape[1])

    def pad(img: np.ndarray) -> np.ndarray:
        out = np.zeros((h, w, 3), np.uint8)
        out[: img.shape[0], : img.shape[1]] = img[..., :3]
        return out

    a, b = pad(reference), pad(rendered)
    diff = np.clip(np.abs(a.astype(np.int16) - b.astype(np.int16)) * 4, 0, 255).astype(np.uint8)
    gap = np.full((h, 4, 3), 255, np.uint8)
    return save_png(np.concatenate([a, gap, b, gap, diff], axis=1), path)
