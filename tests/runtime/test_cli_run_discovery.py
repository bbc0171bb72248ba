"""`gpi run NAME-or-DIR` finds plugins given by name and dependencies where `gpi plugins list` looks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BODY = 'from gpi import Plugin\n\nplugin = Plugin("{name}")\n\n@plugin.system\ndef step(ctx):\n    pass\n'


def _plugin(root: Path, name: str, deps: str = "") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "plugin.toml").write_text(f'[plugin]\nname = "{name}"\nversion = "1.0.0"\nabi = 1\nentry = "main"\n{deps}')
    (d / "main.py").write_text(BODY.format(name=name))
    return d


@pytest.mark.subprocess
def test_run_finds_names_and_dependencies_on_search_paths(tmp_path: Path) -> None:
    env_dir = tmp_path / "envplugins"
    _plugin(env_dir, "asteroids")
    project = tmp_path / "game"
    _plugin(project / "plugins", "combat", '\n[dependencies]\nasteroids = ">=1.0"\n')
    env = {**os.environ, "GPI_PLUGIN_PATH": str(env_dir), "HOME": str(tmp_path / "home"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "gpi.runtime.cli", "run", "--ticks", "3", "--headless", "--quiet", "--isolation",
           "none"]
    for target in ("combat", "plugins/combat"):  # by name (./plugins) and by folder; asteroids from the env path
        proc = subprocess.run([*cmd, target], capture_output=True, text=True, cwd=project, env=env, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "2 plugins" in proc.stdout and "asteroids.step" in proc.stdout, proc.stdout
    proc = subprocess.run([*cmd, "nosuch"], capture_output=True, text=True, cwd=project, env=env, timeout=120)
    assert proc.returncode == 2 and "no plugin of that name" in proc.stdout + proc.stderr
