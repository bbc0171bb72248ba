"""WebAssembly plugins in the real host: load, run, validate, determinism, fuel, memory cap, imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.plugins.native.build import build_project, plugin_dirs

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[3]
MOVEMENT = ROOT / "examples" / "plugins" / "movement"
EXAMPLE = ROOT / "examples" / "plugins" / "boids_native"
INCLUDE = ROOT / "gpi" / "sdk" / "include"


def _world(seed: int = 3) -> World:
    return World(seed=seed)


def _populate(w: World, seed: int = 3, n: int = 64) -> None:
    """Entities to move (after the plugins declared the components)."""
    rng = np.random.default_rng(seed)
    w.spawn(n, {"Position": rng.uniform(0, 100, (n, 2)).astype(np.float32),
                "Velocity": rng.uniform(-20, 20, (n, 2)).astype(np.float32)})


def _sums(folder: Path, isolation: str, ticks: int = 20, **kw: object) -> list[int]:
    out = []
    with _world() as world, PluginHost(world, isolation=isolation, **kw) as host:  # type: ignore[arg-type]
        host.load(folder)
        _populate(world)
        for _ in range(ticks):
            rep = host.tick()
            assert not (rep.errors or rep.rejected or rep.skipped), (rep, host.faults[:2], list(host.logs)[-3:])
            out.append(world.checksum())
    return out


def test_wat_module_runs_in_process_and_in_a_sandboxed_child_identically(plugins: Path, kit: Any) -> None:
    folder = kit.make_plugin(plugins, "wmove", kit.wat("move"))
    ref = _sums(folder, "none")
    assert len(set(ref)) == len(ref)  # the world moves every tick
    assert _sums(folder, "process", sandbox=True) == ref


def test_an_undeclared_write_from_wasm_is_rejected_whole(plugins: Path, kit: Any) -> None:
    folder = kit.make_plugin(plugins, "wbad", kit.wat("move", reads="Position", writes="Velocity", slot=0))
    for isolation in ("none", "process"):
        with _world() as world, PluginHost(world, isolation=isolation) as host:
            host.load(folder)
            _populate(world)
            before = world.checksum()
            rep = host.tick()
            assert rep.rejected == ["wbad.run"], rep
            assert world.checksum() == before
            assert "Position" in " ".join(t for _, _, t in host.logs)


def _fuel_stop(folder: Path) -> tuple[int, str]:
    with _world() as world, PluginHost(world, isolation="none") as host:
        host.load(folder)
        _populate(world)
        for t in range(3):
            rep = host.tick()
            if rep.errors:
                text = " ".join(t for _, _, t in host.logs)
                return t, text
    raise AssertionError("the endless loop was never stopped")


def test_an_endless_loop_is_stopped_by_fuel_at_the_same_tick_and_instruction(plugins: Path, kit: Any) -> None:
    folder = kit.make_plugin(plugins, "wloop", kit.wat("loop"), sandbox="fuel = 100000")
    tick1, text1 = _fuel_stop(folder)
    tick2, text2 = _fuel_stop(folder)
    assert "out of fuel after" in text1 and "budget 100000" in text1, text1
    used = text1.split("out of fuel after ")[1].split()[0]
    assert int(used) >= 100000
    assert (tick1, used) == (tick2, text2.split("out of fuel after ")[1].split()[0])


def test_growing_memory_past_the_cap_is_a_clear_fault(plugins: Path, kit: Any) -> None:
    folder = kit.make_plugin(plugins, "wgrow", kit.wat("grow"), sandbox="memory_mb = 8")
    with _world() as world, PluginHost(world, isolation="none") as host:
        host.load(folder)
        _populate(world)
        rep = host.tick()
        assert rep.errors, rep
        text = " ".join(t for _, _, t in host.logs)
        assert "out of bounds" in text and "cap of 8 MiB" in text, text


def test_an_import_not_granted_fails_the_load_naming_it(plugins: Path, kit: Any) -> None:
    imp = '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))'
    folder = kit.make_plugin(plugins, "wwasi", kit.wat("noop", extra_import=imp))
    with World(seed=1) as world, PluginHost(world, isolation="none") as host, \
            pytest.raises(Exception, match=r"wasi_snapshot_preview1\.fd_write.*WASI is not granted"):
        host.load(folder)
        _populate(world)


def test_a_malformed_module_is_a_clear_error(plugins: Path, kit: Any) -> None:
    folder = kit.make_plugin(plugins, "wjunk", "")
    (folder / "wjunk.wat").unlink()
    (folder / "wjunk.wasm").write_bytes(b"\0asmgarbage")
    (folder / "plugin.toml").write_text((folder / "plugin.toml").read_text().replace("wjunk.wat", "wjunk.wasm"))
    with World(seed=1) as world, PluginHost(world, isolation="none") as host, \
            pytest.raises(Exception, match=r"wjunk\.wasm is not a valid WebAssembly module"):
        host.load(folder)
        _populate(world)


def _zig() -> list[str]:
    try:
        import ziglang  # noqa: F401
    except ImportError:
        if shutil.which("zig"):
            return ["zig"]
        pytest.skip("no C-to-wasm compiler: pip install ziglang (only this test needs it)")
    return [sys.executable, "-m", "ziglang"]


def test_c_built_for_wasm_matches_native_and_python(tmp_path: Path) -> None:
    """movement_native.c built with ziglang for wasm32: same checksums as the gcc build and the Python plugin."""
    folder = tmp_path / "movement_wasm"
    folder.mkdir()
    subprocess.run([*_zig(), "cc", "--target=wasm32-freestanding", "-O2", "-nostdlib", "-Wl,--no-entry",
                    "-Wl,--export-table", f"-I{INCLUDE}", "-o", str(folder / "movement_wasm.wasm"),
                    str(EXAMPLE / "src" / "movement_native.c")], check=True, timeout=300)
    (folder / "plugin.toml").write_text('[plugin]\nname = "movement_wasm"\nversion = "1.0.0"\nabi = 1\n'
                                        'kind = "wasm"\nlibrary = "movement_wasm.wasm"\n')
    wasm = _sums(folder, "none")
    assert _sums(folder, "process", sandbox=True) == wasm
    assert _sums(MOVEMENT, "none") == wasm
    native = plugin_dirs(build_project(EXAMPLE))["movement_native"]
    assert _sums(native, "none") == wasm
