"""WebAssembly plugins vs native vs Python: per-call overhead and movement at 100k entities.

Measured in one run, sides interleaved (A B A B) and reduced to medians:

- per-call overhead: a tick of a host running one no-op system, for a no-op
  wasm module in-process (the module is the sandbox) and a no-op Python
  plugin in a sandboxed child (the per-call round trip every child pays).
  The pipe ping-pong of this machine is printed beside them (FACTS.md).
- movement (Position += Velocity * dt, wrapped) at 100k entities, ms per
  tick: ``movement_native.c`` built for wasm (in-process, and in a sandboxed
  child), the same C built natively (in a child), the Python ``movement``
  plugin (in a child).
- the cost per byte of copying a query column into linear memory.

Target (issue #19): no-op wasm in-process per-call overhead <= the no-op
sandboxed Python system's. ``--quick`` shrinks the sizes, ``--json`` ends
with one JSON line.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import _common as bc  # noqa: E402

ROOT = bc.use()

from gpi.ecs import Component, World  # noqa: E402
from gpi.plugins.host import PluginHost  # noqa: E402
from gpi.plugins.native.build import build_project, plugin_dirs  # noqa: E402
from gpi.plugins.wasm.build import build_plugin  # noqa: E402

EXAMPLES = ROOT / "examples" / "plugins"

NOOP_WAT = """(module
  (import "gpi" "system" (func $system (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table (export "__indirect_function_table") 2 funcref)
  (elem (i32.const 0) $init $run)
  (data (i32.const 16) "\\0c\\00\\00\\00\\01\\00\\01\\00\\00\\00\\00\\00")
  (data (i32.const 160) "noop\\00")
  (data (i32.const 256) "\\30\\00\\00\\00\\00\\00\\00\\00\\a0\\00\\00\\00" )
  (data (i32.const 296) "\\01\\00\\00\\00")
  (func (export "gpi_plugin_entry") (result i32) (i32.const 16))
  (func $init (param i32 i32) (result i32) (call $system (local.get 1) (i32.const 256)))
  (func $run (param i32 i32) (result i32) (i32.const 0)))
"""

NOOP_PY = """from gpi import Plugin

plugin = Plugin("noop_py")


@plugin.system(stage="update")
def noop(ctx):
    pass
"""


def noop_plugins(root: Path) -> tuple[Path, Path]:
    w = root / "noop_wasm"
    w.mkdir()
    (w / "plugin.toml").write_text('[plugin]\nname = "noop_wasm"\nversion = "1.0.0"\nabi = 1\nkind = "wasm"\n'
                                   'library = "noop_wasm.wat"\n')
    (w / "noop_wasm.wat").write_text(NOOP_WAT)
    p = root / "noop_py"
    p.mkdir()
    (p / "plugin.toml").write_text('[plugin]\nname = "noop_py"\nversion = "1.0.0"\nabi = 1\nentry = "main"\n')
    (p / "main.py").write_text(NOOP_PY)
    return w, p


def tick_side(host: PluginHost, ticks: int) -> Callable[[], float]:
    """A side: median seconds per tick over ``ticks`` ticks."""

    def side() -> float:
        times = []
        for _ in range(ticks):
            t0 = time.perf_counter()
            rep = host.tick()
            times.append(time.perf_counter() - t0)
            if rep.errors or rep.rejected or rep.skipped:
                raise RuntimeError(f"benchmark tick failed: {rep} {host.faults[-1:]}")
        return statistics.median(times)

    return side


def pipe_pingpong(rounds: int = 2000) -> float:
    """Seconds per os.pipe round trip between two processes (this machine's wake-up baseline)."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        for _ in range(rounds):
            os.read(a_r, 1)
            os.write(b_w, b"x")
        os._exit(0)
    t0 = time.perf_counter()
    for _ in range(rounds):
        os.write(a_w, b"x")
        os.read(b_r, 1)
    dt = (time.perf_counter() - t0) / rounds
    os.waitpid(pid, 0)
    for fd in (a_r, a_w, b_r, b_w):
        os.close(fd)
    return dt


def movement_world(n: int, seed: int = 1) -> World:
    rng = np.random.default_rng(seed)
    w = World(seed=seed)
    w.register(Component("Position", "float32", (2,)), Component("Velocity", "float32", (2,)))
    w.spawn(n, {"Position": rng.uniform(0, 100, (n, 2)).astype(np.float32),
                "Velocity": rng.uniform(-5, 5, (n, 2)).astype(np.float32)})
    return w


def bench(sides_spec: dict[str, tuple[Path, str, int]], ticks: int, reps: int) -> dict[str, float]:
    """Median seconds per tick per side; spec: side -> (plugin folder, isolation, entities)."""
    worlds = {k: movement_world(n) if n else World(seed=1) for k, (_, _, n) in sides_spec.items()}
    hosts = {k: PluginHost(worlds[k], isolation=iso, sandbox=iso == "process")
             for k, (_, iso, _) in sides_spec.items()}
    try:
        for k, (folder, _, _) in sides_spec.items():
            hosts[k].load(folder)
            hosts[k].run(3)
        med = bc.interleaved_medians({k: tick_side(h, ticks) for k, h in hosts.items()}, reps)
        sums = {worlds[k].checksum() for k, (_, _, n) in sides_spec.items() if n}
        if len(sums) > 1:
            raise RuntimeError("the movement sides disagree")
    finally:
        for h in hosts.values():
            h.close()
        for w in worlds.values():
            w.close()
    return med


def copy_cost(nbytes: int = 8 << 20) -> float:
    """Nanoseconds per byte of copying a column into a module's linear memory (the chunk_column copy)."""
    import wasmtime

    store = wasmtime.Store()
    mem = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(nbytes // 65536 + 1, None)))
    view = np.ctypeslib.as_array(mem.data_ptr(store), shape=(mem.data_len(store),))
    src = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        view[16:16 + nbytes] = src
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / nbytes * 1e9


def main() -> int:
    args = bc.parse_args(__doc__)
    n = 20_000 if args.quick else 100_000
    reps, ticks = (3, 10) if args.quick else (5, 30)
    src = EXAMPLES / "boids_native" / "src" / "movement_native.c"
    mv_wasm = build_plugin("movement_wasm", [src])
    mv_native = plugin_dirs(build_project(EXAMPLES / "boids_native"))["movement_native"]
    pipe = statistics.median(pipe_pingpong() for _ in range(3))
    with tempfile.TemporaryDirectory() as tmp:
        noop_w, noop_p = noop_plugins(Path(tmp))
        noop = bench({"wasm_inprocess": (noop_w, "none", 0), "python_child": (noop_p, "process", 0)},
                     ticks * 5, reps)
    mv = bench({"wasm_inprocess": (mv_wasm, "none", n), "wasm_child": (mv_wasm, "process", n),
                "native_child": (mv_native, "process", n), "python_child": (EXAMPLES / "movement", "process", n)},
               ticks, reps)
    ml = bc.label(n)
    figures: dict[str, float] = {
        "pipe_pingpong_us": round(pipe * 1e6, 2),
        "noop_wasm_inprocess_tick_us": round(noop["wasm_inprocess"] * 1e6, 2),
        "noop_python_child_tick_us": round(noop["python_child"] * 1e6, 2),
        "copy_into_linear_memory_ns_per_byte": round(copy_cost(), 4),
    }
    for k, v in mv.items():
        figures[f"movement_{ml}_{k}_ms"] = round(v * 1e3, 3)
    figures[f"movement_{ml}_wasm_vs_native"] = round(mv["wasm_inprocess"] / mv["native_child"], 2)
    targets = {"noop_wasm_inprocess_le_python_child": bc.target(
        figures["noop_wasm_inprocess_tick_us"], "<=", figures["noop_python_child_tick_us"])}
    bc.report(figures, targets, bc.figures_table(figures, f"wasm plugins (movement {ml})"), json_line=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
