"""`gpi new plugin`: the template folder loads, signs, is discovered, and its own test passes."""

from __future__ import annotations

import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

import gpi
from gpi.plugins.discovery import find_plugins
from gpi.plugins.manifest import load_manifest
from gpi.plugins.scaffold import ScaffoldError, create_plugin
from gpi.plugins.signing import Keyring, generate_keypair, sign, verify

REPO = Path(__file__).resolve().parents[2]


def test_creates_valid_plugin(tmp_path: Path) -> None:
    folder = create_plugin("my_dots", tmp_path)
    assert folder == tmp_path / "my_dots"
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert names == ["README.md", "main.py", "plugin.toml", "tests/test_my_dots.py"]
    m = load_manifest(folder)
    assert (m.name, m.version, m.abi, m.entry) == ("my_dots", "0.1.0", gpi.ABI_VERSION, "main")
    assert set(m.capabilities) == {"spawn", "draw", "log"}
    text = (folder / "main.py").read_text()
    assert 'Plugin("my_dots")' in text and "ctx.draw." in text and "ctx.query(" in text
    assert "set_chunk" in text and "$" not in text
    for py in ("main.py", "tests/test_my_dots.py"):
        py_compile.compile(str(folder / py), doraise=True, cfile=str(tmp_path / "x.pyc"))


def test_rejects_bad_name_and_non_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="lowercase identifier"):
        create_plugin("My-Plugin", tmp_path)
    create_plugin("dots", tmp_path)
    with pytest.raises(ScaffoldError, match="not empty"):
        create_plugin("dots", tmp_path)
    assert create_plugin("dots", tmp_path, force=True).is_dir()


def test_sign_verify_and_discover_generated(tmp_path: Path) -> None:
    folder = create_plugin("dots", tmp_path / "plugins")
    priv, pub = generate_keypair(tmp_path / "keys", "me")
    sign(folder, priv)
    ring = Keyring()
    ring.add(pub)
    assert verify(folder, ring).state == "valid"
    report = find_plugins(
        [tmp_path / "plugins"], include_defaults=False, entry_points=False, keyring=ring
    )
    assert [(p.name, p.signature_state) for p in report.plugins] == [("dots", "valid")]


@pytest.mark.subprocess
def test_generated_test_passes(tmp_path: Path) -> None:
    folder = create_plugin("my_dots", tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


@pytest.mark.subprocess
def test_generated_plugin_runs_in_the_host(tmp_path: Path) -> None:
    from gpi.ecs import World
    from gpi.plugins.host import PluginHost

    folder = create_plugin("my_dots", tmp_path)
    with World(seed=7) as world, PluginHost(world, isolation="process") as host:
        assert host.load(folder) == ["my_dots"]
        for _ in range(3):
            host.tick()
        assert world.entity_count == 32  # spawned once, then moved
        assert not host.faults
