"""`gpi replay verify` in confined, parallel workers: the same verdicts, and plugins stay confined."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest

from gpi.replays import Replay, SimulatorUnavailableError, VerifyPool, verify, verify_parallel
from gpi.runtime.cli import main
from gpi.runtime.replay.simulation import HostSimulator, confined_simulator, make_simulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "plugins"
FIXTURES = ROOT / "tests" / "replays" / "fixtures"
ESCAPE_TARGET = Path("/tmp/gpi-escape-probe.txt")

pytestmark = [pytest.mark.subprocess, pytest.mark.sandbox]


def _record(path: Path, dirs: list[Path], ticks: int, *, isolation: str, keyframes: int,
            population: int | None = None) -> None:
    from gpi.ecs import World
    from gpi.plugins.host import PluginHost
    from gpi.runtime.replay.recording import HostRecorder

    with World(seed=5) as world, PluginHost(world, isolation=isolation) as host:
        host.load(*dirs)
        if population is not None:
            world.insert_resource("population", population)
        with HostRecorder(host, path, keyframe_interval=keyframes) as rec:
            for t in range(ticks):
                inp = {"keys": ["right"] if t % 50 < 20 else [], "mouse": [float(t % 7), 0.0]}
                host.tick(inp)
                rec.after_tick(inp)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vp") / "demo.gpir"
    dirs = [EXAMPLES / n for n in ("spawner", "movement", "boids", "player")]
    _record(path, dirs, 150, isolation="none", keyframes=40, population=300)
    return path


def test_confined_workers_are_sandboxed_and_agree_with_serial_verify(demo: Path) -> None:
    with Replay.open(demo) as rp, tempfile.TemporaryDirectory() as tmp:
        factory = functools.partial(make_simulator, isolation="confined", skip_effect_free=True, data_dir=tmp)
        with VerifyPool(demo, factory, 2) as pool:
            for pid in pool.pids:
                status = dict(
                    line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if ":\t" in line
                )
                assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
            par = verify_parallel(rp, pool, lambda: HostSimulator(rp.header, isolation="none"))
        with HostSimulator(rp.header, isolation="none") as sim:
            ser = verify(rp, sim)
    assert par.ok and ser.ok and par.ticks_checked == ser.ticks_checked == 150, par.message


def test_skipping_draw_only_systems_leaves_every_checksum(demo: Path) -> None:
    with Replay.open(demo) as rp, HostSimulator(rp.header, isolation="none", skip_effect_free=True) as sim:
        assert sim.effect_free_systems() == {"boids.draw"}
        assert verify(rp, sim).ok


def test_a_confined_simulator_refuses_the_main_process(demo: Path) -> None:
    with Replay.open(demo) as rp, pytest.raises(SimulatorUnavailableError, match="verify worker"):
        confined_simulator(rp.header)


def test_verify_confines_a_plugin_that_tries_to_escape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ESCAPE_TARGET.unlink(missing_ok=True)
    path = tmp_path / "escape.gpir"
    _record(path, [FIXTURES / "escape"], 40, isolation="process", keyframes=20)  # sandboxed: nothing escaped
    assert not ESCAPE_TARGET.exists()
    for jobs in ("1", "2"):
        assert main(["replay", "verify", str(path), "--jobs", jobs, "--no-progress"]) == 0, capsys.readouterr()
        assert not ESCAPE_TARGET.exists()
    # unconfined, the same plugin writes the file, and the checksums say so
    try:
        assert main(["replay", "verify", str(path), "--isolation", "none", "--no-progress"]) == 1
        assert ESCAPE_TARGET.exists()
        assert "Escaped" in capsys.readouterr().out
    finally:
        ESCAPE_TARGET.unlink(missing_ok=True)


def test_verify_jobs_and_isolation_arguments(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (["--jobs", "0"], ["--jobs", "many"], ["--isolation", "vm"]):
        with pytest.raises(SystemExit) as stop:
            main(["replay", "verify", str(demo), *bad])
        assert stop.value.code == 2
    assert "--jobs" in capsys.readouterr().err
    assert main(["replay", "verify", str(demo), "--jobs", "8", "--isolation", "process", "--no-progress"]) == 0
    assert "150 ticks verified" in capsys.readouterr().out


def test_verify_all_systems_runs_draw_systems_too(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "verify", str(demo), "--all-systems", "--jobs", "2", "--no-progress"]) == 0
    assert "150 ticks verified, every checksum and chain matched" in capsys.readouterr().out


def test_a_confined_worker_has_room_for_every_plugins_memory(tmp_path: Path) -> None:
    from gpi.plugins.sandbox import SandboxPolicy
    from gpi.runtime.replay.simulation import _confined_policy

    dirs = []
    for name, mb in (("big", 6000), ("bigger", 9000)):
        d = tmp_path / name
        d.mkdir()
        (d / "plugin.toml").write_text(
            f'[plugin]\nname = "{name}"\nversion = "1.0.0"\nabi = 1\nentry = "main"\n\n[sandbox]\nmemory_mb = {mb}\n'
        )
        dirs.append(d)
    policy = _confined_policy(dirs, SandboxPolicy)
    assert policy.address_space_bytes == (6000 + 9000) * (1 << 20) + (2 << 30)
    assert policy.cpu_seconds is None and policy.required == SandboxPolicy().required
    assert _confined_policy(dirs[:0], SandboxPolicy).address_space_bytes == 8 << 30
