"""Draw-list benchmark: Cython kernels vs numpy, kernel bandwidth vs memcpy, GL upload paths.

- Build: N rotated quads (N = 100k, 1M; random positions, sizes, angles,
  colours, 4 layers; a view rectangle that keeps every quad) turned into
  draw-list vertices (6 x 12 bytes per quad) by the Cython kernel
  (:func:`gpi.cython_ext.draw.build_quads`, into a preallocated region)
  and by its numpy reference (:func:`quads_reference`, the vectorised
  version the tests compare against).
- Bandwidth: the kernel's output bytes per second against a numpy copy
  (``np.copyto``, i.e. memcpy) of the same number of bytes.
- With motion: the same kernel also writing each quad's motion row (float32
  dx, dy: render interpolation) to its 6 vertices' motion stream, 48 more
  bytes per quad (120 in all), against a memcpy of those 120 bytes per quad.
- Upload: the finished draw list sent to a GL vertex buffer in a headless
  context (SDL offscreen + Mesa EGL): ``glBufferSubData`` straight from the
  draw-list memory vs a numpy copy first and then ``glBufferSubData`` from
  the copy (``glFinish`` after each, so the driver's work is counted).
- Frame: one full ``Renderer.render`` of the 100k-quad list at 512x512, and
  of the same list with a motion stream drawn between two ticks (``alpha=0.5``).

Usage: ``python benchmarks/draw_bench.py [--quick] [--json]``. The sides of
each ratio are interleaved (A B A B ...) after a warm-up; medians reported.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import _common as bc  # noqa: E402

ROOT = bc.use()

from gpi import draw as dl  # noqa: E402
from gpi.cython_ext.draw import Scratch  # noqa: E402


def _columns(n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(n)
    pos = rng.uniform(-1000, 1000, (n, 2)).astype(np.float32)
    size = rng.uniform(1, 20, (n, 2)).astype(np.float32)
    color = rng.integers(0, 256, (n, 4), dtype=np.uint8)
    layer = rng.integers(0, 4, n).astype(np.int32)
    rot = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    return pos, size, color, layer, rot


def _motion(n: int) -> np.ndarray:
    """Per-quad displacement during one 60 Hz tick (Velocity * dt)."""
    return (np.random.default_rng(n + 1).uniform(-20, 20, (n, 2)) / 60.0).astype(np.float32)


VIEW = (-1100.0, -1100.0, 1100.0, 1100.0)


def _interleaved(fns: dict[str, Any], reps: int) -> dict[str, float]:
    """Seconds per call of each side: a warm-up (faults every output page in), then interleaved."""
    return bc.interleaved_medians(fns, reps, time_calls=True, warmup=True, gc_off=True)


def measure_build(n: int, reps: int) -> dict[str, float]:
    pos, size, color, layer, rot = _columns(n)
    out = np.zeros(n * 6 * dl.VERTEX_SIZE, dtype=np.uint8)
    src = np.ones_like(out)
    dst = np.zeros_like(out)
    scratch = Scratch()
    res = dl.build_quads(out, pos, size, color, layer, rot, VIEW, scratch)
    assert res.shapes == n
    motion = _motion(n)
    mout = np.zeros(n * 6 * dl.MOTION_SIZE, dtype=np.uint8)
    msrc = np.ones(out.nbytes + mout.nbytes, dtype=np.uint8)
    mdst = np.zeros_like(msrc)
    times = _interleaved(
        {
            "kernel": lambda: dl.build_quads(out, pos, size, color, layer, rot, VIEW, scratch),
            "numpy": lambda: dl.quads_reference(pos, size, color, layer, rot, VIEW),
            "memcpy": lambda: np.copyto(dst, src),
            "kernel_motion": lambda: dl.build_quads(out, pos, size, color, layer, rot, VIEW, scratch,
                                                    motion, mout),
            "memcpy_motion": lambda: np.copyto(mdst, msrc),
        },
        reps,
    )
    times["bytes"] = float(out.nbytes)
    times["bytes_motion"] = float(msrc.nbytes)
    return times


def measure_upload(quick: bool) -> dict[str, float]:
    from gpi.runtime.window import Window, configure_platform

    configure_platform()
    from gpi.runtime.render import Camera, Renderer

    figures: dict[str, float] = {}
    with Window(512, 512, "draw bench", hidden=True) as win:
        renderer = Renderer(win)
        try:
            for n in (100_000, 1_000_000):
                pos, size, color, layer, rot = _columns(n)
                d = dl.DrawList.allocate(6 * n, batch_capacity=16)
                d.draw_quads(pos, size, color, layer, rot)
                d.finish()
                reps = 3 if quick else 7
                t = _interleaved(
                    {
                        "direct": lambda d=d: renderer.upload_only([d]),
                        "copy": lambda d=d: renderer.upload_only([d], copy=True),
                    },
                    reps,
                )
                lab = bc.label(n)
                nbytes = d.vertex_count * dl.VERTEX_SIZE
                figures[f"upload_{lab}_direct_ms"] = round(t["direct"] * 1e3, 3)
                figures[f"upload_{lab}_copy_ms"] = round(t["copy"] * 1e3, 3)
                figures[f"upload_{lab}_direct_gbps"] = round(nbytes / t["direct"] / 1e9, 2)
                figures[f"upload_{lab}_copy_gbps"] = round(nbytes / t["copy"] / 1e9, 2)
                figures[f"upload_copy_overhead_{lab}"] = round(t["copy"] / t["direct"], 2)
                if n == 100_000:
                    cam = Camera(zoom=512 / 2200)
                    moving = dl.DrawList.allocate(6 * n, batch_capacity=16, motion=True)
                    moving.draw_quads(pos, size, color, layer, rot, motion=_motion(n))
                    moving.finish()

                    def frame(d: dl.DrawList = d, cam: Camera = cam, alpha: float = 1.0) -> None:
                        renderer.render([d], cam, alpha=alpha)
                        renderer.read_pixels()

                    ft = _interleaved({"still": frame,
                                       "moving": lambda m=moving, c=cam: frame(m, c, 0.5)}, reps)
                    figures["frame_100k_ms"] = round(ft["still"] * 1e3, 2)
                    figures["frame_100k_motion_ms"] = round(ft["moving"] * 1e3, 2)
        finally:
            renderer.close()
    return figures


def measure(quick: bool, with_gl: bool = True) -> dict[str, Any]:
    figures: dict[str, float] = {}
    for n in (100_000, 1_000_000):
        r = measure_build(n, 5 if quick else 11)
        lab = bc.label(n)
        figures[f"quads_{lab}_kernel_ms"] = round(r["kernel"] * 1e3, 3)
        figures[f"quads_{lab}_numpy_ms"] = round(r["numpy"] * 1e3, 3)
        figures[f"memcpy_{lab}_ms"] = round(r["memcpy"] * 1e3, 3)
        figures[f"kernel_speedup_vs_numpy_{lab}"] = round(r["numpy"] / r["kernel"], 2)
        figures[f"kernel_{lab}_gbps"] = round(r["bytes"] / r["kernel"] / 1e9, 2)
        figures[f"memcpy_{lab}_gbps"] = round(r["bytes"] / r["memcpy"] / 1e9, 2)
        figures[f"kernel_bandwidth_vs_memcpy_{lab}"] = round(r["memcpy"] / r["kernel"], 3)
        figures[f"output_bytes_{lab}"] = r["bytes"]
        figures[f"quads_{lab}_kernel_motion_ms"] = round(r["kernel_motion"] * 1e3, 3)
        figures[f"memcpy_{lab}_motion_ms"] = round(r["memcpy_motion"] * 1e3, 3)
        figures[f"kernel_motion_{lab}_gbps"] = round(r["bytes_motion"] / r["kernel_motion"] / 1e9, 2)
        figures[f"kernel_motion_bandwidth_vs_memcpy_{lab}"] = round(
            r["memcpy_motion"] / r["kernel_motion"], 3)
        figures[f"motion_cost_{lab}"] = round(r["kernel_motion"] / r["kernel"], 2)
    if with_gl:
        try:
            figures.update(measure_upload(quick))
        except Exception as exc:  # no GL on this machine: report the rest
            print(f"GL upload measurement skipped: {exc}", file=sys.stderr)

    targets = {
        "kernel_speedup_vs_numpy_1m": bc.target(figures["kernel_speedup_vs_numpy_1m"], ">=", 3),
        "kernel_bandwidth_vs_memcpy": bc.target(figures["kernel_bandwidth_vs_memcpy_1m"], ">=", 0.4),
    }
    return {"figures": figures, "targets": targets, "quick": quick}


def tables(result: dict[str, Any]) -> list[Any]:
    """The build table and, when measured, the upload table and the frame line."""
    f = result["figures"]
    out: list[Any] = [bc.rows_table(
        "Rotated quads -> draw-list vertices (72 B per quad), median ms",
        ("quads", "Cython kernel", "numpy reference", "speedup", "kernel GB/s",
         "memcpy same bytes", "memcpy GB/s", "kernel / memcpy"),
        ((lab,
          f"{f[f'quads_{lab}_kernel_ms']:.2f}",
          f"{f[f'quads_{lab}_numpy_ms']:.2f}",
          f"{f[f'kernel_speedup_vs_numpy_{lab}']:.1f}x",
          f"{f[f'kernel_{lab}_gbps']:.2f}",
          f"{f[f'memcpy_{lab}_ms']:.2f}",
          f"{f[f'memcpy_{lab}_gbps']:.2f}",
          f"{f[f'kernel_bandwidth_vs_memcpy_{lab}']:.2f}") for lab in ("100k", "1m")),
        first="right"),
        bc.rows_table(
            "Same quads with a motion stream (72 + 48 B per quad), median ms",
            ("quads", "kernel with motion", "x without", "kernel GB/s", "memcpy same bytes",
             "kernel / memcpy"),
            ((lab,
              f"{f[f'quads_{lab}_kernel_motion_ms']:.2f}",
              f"{f[f'motion_cost_{lab}']:.2f}x",
              f"{f[f'kernel_motion_{lab}_gbps']:.2f}",
              f"{f[f'memcpy_{lab}_motion_ms']:.2f}",
              f"{f[f'kernel_motion_bandwidth_vs_memcpy_{lab}']:.2f}") for lab in ("100k", "1m")),
            first="right")]
    if "upload_1m_direct_ms" in f:
        out.append(bc.rows_table(
            "Upload to a GL vertex buffer (Mesa llvmpipe, headless), median ms",
            ("quads", "glBufferSubData from shared memory", "numpy copy + glBufferSubData", "copy / direct"),
            ((lab,
              f"{f[f'upload_{lab}_direct_ms']:.2f} ({f[f'upload_{lab}_direct_gbps']:.1f} GB/s)",
              f"{f[f'upload_{lab}_copy_ms']:.2f} ({f[f'upload_{lab}_copy_gbps']:.1f} GB/s)",
              f"{f[f'upload_copy_overhead_{lab}']:.2f}x") for lab in ("100k", "1m")),
            first="right"))
        out.append(f"Full frame, 100k quads at 512x512 (render + read_pixels): {f['frame_100k_ms']:.1f} ms; "
                   f"with motion at alpha 0.5: {f['frame_100k_motion_ms']:.1f} ms")
    return out


def main(argv: list[str] | None = None) -> int:
    args = bc.parse_args(__doc__, argv, quick_help="fewer repetitions", add=lambda ap: ap.add_argument(
        "--no-gl", action="store_true", help="skip the GL upload measurement"))
    result = measure(args.quick, with_gl=not args.no_gl)
    bc.report(result["figures"], result["targets"], tables(result), json_line=args.json,
              extra={"quick": result["quick"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
