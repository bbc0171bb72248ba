"""WebAssembly plugins in the real host: load, run, validate, determinism, fuel, memory cap, imports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.plugins.native.build import BuildError, build_project, plugin_dirs
from gpi.plugins.wasm.build import build_plugin, compiler

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


def _fuel_stop(folder: Path, isolation: str) -> tuple[int, int, list[str]]:
    """(tick, fuel used) of the first stall, and the status of the plugin on the next ticks."""
    with _world() as world, PluginHost(world, isolation=isolation) as host:
        host.load(folder)
        _populate(world)
        for t in range(3):
            rep = host.tick()
            if rep.skipped:
                assert rep.skipped == ["wloop.run"], rep
                (fault,) = [f for f in host.faults if f["kind"] == "timeout"]
                text = str(fault["error"])
                assert "out of fuel after" in text and "budget 100000" in text, text
                used = int(text.split("out of fuel after ")[1].split()[0])
                statuses = []
                for _ in range(3):  # reported, restarted, and the breaker counts it
                    host.tick()
                    statuses.append(str(host.plugins["wloop"].status))
                assert host.plugins["wloop"].restarts >= 1 or "disabled" in statuses[-1], statuses
                return t, used, statuses
    raise AssertionError("the endless loop was never stopped")


def test_an_endless_loop_is_stopped_by_fuel_at_the_same_tick_and_instruction(plugins: Path, kit: Any) -> None:
    folder = kit.make_plugin(plugins, "wloop", kit.wat("loop"), sandbox="fuel = 100000")
    t1, used1, _ = _fuel_stop(folder, "none")
    t2, used2, _ = _fuel_stop(folder, "none")
    t3, used3, _ = _fuel_stop(folder, "process")
    assert used1 >= 100000
    assert (t1, used1) == (t2, used2) == (t3, used3)


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


def test_c_built_for_wasm_matches_native_and_python() -> None:
    """movement_native.c built with ziglang for wasm32: same checksums as the gcc build and the Python plugin."""
    try:
        compiler()
    except BuildError:
        pytest.skip("no C-to-wasm compiler: pip install ziglang (only this test needs it)")
    folder = build_plugin("movement_wasm", [EXAMPLE / "src" / "movement_native.c"])
    wasm = _sums(folder, "none")
    assert _sums(folder, "process", sandbox=True) == wasm
    assert _sums(MOVEMENT, "none") == wasm
    native = plugin_dirs(build_project(EXAMPLE))["movement_native"]
    assert _sums(native, "none") == wasm


def test_boids_built_for_wasm_steers_and_draws_in_process_and_in_a_child_alike() -> None:
    """The native issue's boids example built for wasm: draws through gpi.draw.v1, same checksums both ways."""
    try:
        compiler()
    except BuildError:
        pytest.skip("no C-to-wasm compiler: pip install ziglang (only this test needs it)")
    folder = build_plugin("boids_wasm", [EXAMPLE / "src" / "boids_native.c"], capabilities=["draw"],
                          dependencies={"movement": ">=1.0,<2"})
    out = []
    for iso in ("none", "process"):
        with World(seed=42) as world, PluginHost(world, isolation=iso, sandbox=iso == "process") as host:
            host.load(MOVEMENT, ROOT / "examples" / "plugins" / "spawner", folder)
            world.insert_resource("population", 200)
            world.insert_resource("target", 100)
            sums = []
            for _ in range(30):
                rep = host.tick()
                assert not (rep.errors or rep.rejected or rep.skipped), (rep, host.faults[:2])
                sums.append(world.checksum())
            vel = np.concatenate([c["Velocity"] for c in world.query("Velocity")])
            speed = np.hypot(vel[:, 0], vel[:, 1])
            assert (speed >= 2.0 - 1e-3).all() and (speed <= 20.0 + 1e-3).all()  # boids' speed clamp
            if iso == "process":
                from gpi.draw import read_header

                assert read_header(host.drawlist("boids_wasm")).vertex_count == 200 * 6
            out.append(sums)
    assert out[0] == out[1]


def test_record_in_a_child_and_verify_in_process_a_replay_with_wasm_plugins(tmp_path: Path) -> None:
    try:
        compiler()
    except BuildError:
        pytest.skip("no C-to-wasm compiler: pip install ziglang (only this test needs it)")
    from gpi.replays import InputState, Replay, verify
    from gpi.runtime.replay.recording import HostRecorder
    from gpi.runtime.replay.simulation import HostSimulator

    boids = build_plugin("boids_wasm", [EXAMPLE / "src" / "boids_native.c"], capabilities=["draw"],
                         dependencies={"movement": ">=1.0,<2"})
    path = tmp_path / "wasm.gpir"
    with World(seed=11) as world, PluginHost(world, isolation="process") as host:
        host.load(MOVEMENT, ROOT / "examples" / "plugins" / "spawner", boids)
        world.insert_resource("population", 60)
        with HostRecorder(host, path, keyframe_interval=50) as rec:
            for _ in range(80):
                inp = InputState()
                host.tick(inp.to_dict())
                rec.after_tick(inp)
    with Replay.open(path) as rp:
        assert "boids_wasm" in {p["name"] for p in rp.header.plugins}
        with HostSimulator(rp.header, isolation="none") as sim:
            res = verify(rp, sim)
            assert res.ok, res.message
            assert res.ticks_checked == 80


def test_gpi_add_plugin_wasm_builds_a_loadable_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CMake package's ``gpi_add_plugin(... WASM)``: the example's wasm targets, same results as compile_c."""
    try:
        import ziglang  # noqa: F401
    except ImportError:
        pytest.skip("gpi_add_plugin(WASM) uses python -m ziglang cc: pip install ziglang")
    import sys

    monkeypatch.setenv("GPI_PYTHON", sys.executable)
    built = plugin_dirs(build_project(EXAMPLE, tmp_path / "build", defines={"GPI_BUILD_WASM": "ON"}))
    assert "kind = \"wasm\"" in (built["movement_wasm"] / "plugin.toml").read_text()
    ref = build_plugin("movement_wasm", [EXAMPLE / "src" / "movement_native.c"])
    assert _sums(built["movement_wasm"], "none", 5) == _sums(ref, "none", 5)


def test_gpi_new_plugin_lang_c_wasm_builds_and_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``gpi new plugin NAME --lang c --wasm``: the C template, built as a wasm module, runs in the host."""
    try:
        import ziglang  # noqa: F401
    except ImportError:
        pytest.skip("gpi_add_plugin(WASM) uses python -m ziglang cc: pip install ziglang")
    import sys

    from gpi.plugins.scaffold import create_plugin

    monkeypatch.setenv("GPI_PYTHON", sys.executable)
    project = create_plugin("glow", tmp_path, lang="c", wasm=True)
    folder = plugin_dirs(build_project(project, tmp_path / "build"))["glow"]
    assert (folder / "glow.wasm").is_file()
    with World(seed=2) as world, PluginHost(world, isolation="none") as host:
        host.load(folder)
        for _ in range(5):
            rep = host.tick()
            assert not (rep.errors or rep.rejected or rep.skipped), (rep, host.faults[:2])
        assert world.entity_count > 0
