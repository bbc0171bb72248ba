"""Shared pytest setup: headless SDL/EGL for every test that renders."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own GPI data folder (crash reports, save store), never the user's.

    A test that names a ``data_dir`` still uses that one; a host made without
    one writes under ``$GPI_DATA_DIR``, set here to a fresh folder per test, so
    nothing one test (or an earlier run) left can change another's outcome.
    """
    monkeypatch.setenv("GPI_DATA_DIR", str(tmp_path_factory.mktemp("gpi-data")))
