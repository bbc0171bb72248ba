"""The CMake package and ``gpi new plugin --lang c``: generate, build with cmake, run its own test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpi.plugins.manifest import load_manifest
from gpi.runtime.cli import main as gpi_main
from gpi.sdk import cmake_dir, include_dir

pytestmark = pytest.mark.subprocess


def test_gpi_sdk_prints_the_cmake_dir(capsys: pytest.CaptureFixture[str]) -> None:
    assert gpi_main(["sdk", "--cmakedir"]) == 0
    out = capsys.readouterr().out.strip()
    assert Path(out) == cmake_dir() and (Path(out) / "gpiConfig.cmake").is_file()
    assert gpi_main(["sdk", "--include", "--abi"]) == 0
    inc, abi = capsys.readouterr().out.split()
    assert (Path(inc) / "gpi_plugin.h").is_file() and Path(inc) == include_dir() and abi == "1.1"


def test_find_package_refuses_another_major(tmp_path: Path) -> None:
    (tmp_path / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.16)\nproject(x LANGUAGES C)\n"
                                            "find_package(gpi 2.0 CONFIG REQUIRED)\n")
    proc = subprocess.run(["cmake", "-S", str(tmp_path), "-B", str(tmp_path / "b"), f"-Dgpi_DIR={cmake_dir()}"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "1.1" in proc.stderr  # CMake names the version it found


def test_new_plugin_lang_c_builds_and_its_test_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gpi_main(["new", "plugin", "glow", "--lang", "c", "--dir", str(tmp_path)]) == 0
    assert "cmake -S" in capsys.readouterr().out
    project = tmp_path / "glow"
    assert {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()} == {
        "CMakeLists.txt", "src/glow.c", "tests/test_glow.py", "README.md"}
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", str(project), "-B", str(build), f"-Dgpi_DIR={cmake_dir()}",
                 f"-DGPI_PYTHON={sys.executable}"],
                ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    m = load_manifest(build / "plugins" / "glow")
    assert m.kind == "native" and m.library == "libglow.so" and set(m.capabilities) == {"spawn", "draw", "log"}
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    proc = subprocess.run(["ctest", "--test-dir", str(build), "--output-on-failure"], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "100% tests passed" in proc.stdout


def test_gpi_run_runs_the_demo_stack_with_boids_native(example_native: dict[str, Path]) -> None:
    """What ``gpi demo --native`` runs, through the ``gpi run`` front door, headless."""
    examples = Path(__file__).resolve().parents[3] / "examples" / "plugins"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]), SDL_VIDEODRIVER="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "gpi", "run", str(examples / "movement"), str(examples / "spawner"),
         str(example_native["boids_native"]), "--headless", "--ticks", "40", "--population", "300",
         "--no-overlay"],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {line.split()[1]: line.split() for line in proc.stdout.splitlines() if line.startswith("│ boids_native.")}
    assert set(rows) == {"boids_native.steer", "boids_native.draw"}, proc.stdout
    assert all(r[3] == "40" and r[-2] == "0" for r in rows.values()), rows  # 40 calls, 0 faults each
    assert "plugin boids_native" in proc.stdout and "seccomp" in proc.stdout


def test_package_data_ships_every_sdk_file() -> None:
    """pyproject.toml's package-data covers the header, the CMake package and the C templates."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[3]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gpi.sdk"]
    sdk = root / "gpi" / "sdk"
    files = [p.relative_to(sdk).as_posix() for p in sdk.rglob("*") if p.is_file() and p.suffix != ".py"
             and "__pycache__" not in p.parts]
    assert "include/gpi_plugin.h" in files and "cmake/gpiConfig.cmake" in files
    missing = [f for f in files if not any(fnmatch.fnmatchcase(f, pat) and f.count("/") == pat.count("/")
                                           for pat in patterns)]
    assert not missing, f"not shipped in the wheel: {missing}"
