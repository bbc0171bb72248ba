"""Native test plugins: the CMake project in c/ built once (real cmake + gcc) and shared by the tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpi.plugins.native.build import build_project, plugin_dirs

C_PROJECT = Path(__file__).resolve().parent / "c"
ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "plugins" / "boids_native"


def _need_toolchain() -> None:
    missing = [t for t in ("cmake", "gcc") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"native plugin tests need {' and '.join(missing)} (make sysdeps installs them)")


@pytest.fixture(scope="session")
def native() -> dict[str, Path]:
    """name -> plugin folder of every test plugin (built once, cached by source hash)."""
    _need_toolchain()
    return plugin_dirs(build_project(C_PROJECT))


@pytest.fixture(scope="session")
def example_native() -> dict[str, Path]:
    """The boids_native example's plugin folders (boids_native, movement_native)."""
    _need_toolchain()
    return plugin_dirs(build_project(EXAMPLE))
