"""The plugin-store commands: gpi keys, sign, verify, plugins list, new plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpi.runtime.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GPI_KEYRING", str(tmp_path / "ring"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GPI_DATA_DIR", raising=False)  # the CLI finds its data folder through XDG here
    monkeypatch.delenv("GPI_PLUGIN_PATH", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_new_trust_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "keys", "new", "--out", "keys", "--name", "alice")
    assert code == 0 and "key id:" in out
    kid = out.split("key id:")[1].split()[0]
    assert (tmp_path / "keys" / "alice.key").stat().st_mode & 0o777 == 0o600
    code, _, err = run(capsys, "keys", "new", "--out", "keys", "--name", "alice")
    assert code == 1 and "already exists" in err
    assert run(capsys, "keys", "list")[1].startswith("no trusted keys")
    code, out, _ = run(capsys, "keys", "trust", "keys/alice.pub")
    assert code == 0 and kid in out
    assert (tmp_path / "ring" / "alice.pub").is_file()
    assert f"{kid}  alice" in run(capsys, "keys", "list")[1]


def test_new_sign_verify_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "new", "plugin", "dots", "--dir", "plugins")
    assert code == 0 and "plugins/dots/plugin.toml" in out
    run(capsys, "keys", "new", "--out", "keys", "--name", "me")

    code, _, err = run(capsys, "verify", "plugins/dots")
    assert code == 1 and "FAILED (unsigned)" in err

    code, out, _ = run(capsys, "sign", "plugins/dots", "--key", "keys/me.key")
    assert code == 0 and "signed dots 0.1.0" in out

    code, _, err = run(capsys, "verify", "plugins/dots")
    assert code == 1 and "FAILED (unknown_key)" in err and "gpi keys trust" in err
    assert run(capsys, "verify", "plugins/dots", "--key", "keys/me.pub")[0] == 0
    run(capsys, "keys", "trust", "keys/me.pub")
    code, out, _ = run(capsys, "verify", "plugins/dots")
    assert code == 0 and out.startswith("OK: dots 0.1.0")

    code, out, _ = run(capsys, "plugins", "list", "--json", "--no-entry-points")
    doc = json.loads(out)
    assert [(p["name"], p["signature"], p["source"]) for p in doc["plugins"]] == [
        ("dots", "valid", "project")
    ]
    code, out, _ = run(capsys, "plugins", "list", "--no-entry-points")
    assert code == 0 and "dots" in out and "valid" in out and "0.1.0" in out

    with (tmp_path / "plugins" / "dots" / "main.py").open("a") as f:
        f.write("# changed\n")
    code, _, err = run(capsys, "verify", "plugins/dots")
    assert code == 1 and "FAILED (tampered)" in err and "modified 'main.py'" in err
    doc = json.loads(run(capsys, "plugins", "list", "--json", "--no-entry-points")[1])
    assert doc["plugins"][0]["signature"] == "tampered"


def test_plugins_list_shows_problems(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    (extra / "game").mkdir(parents=True)
    (extra / "game" / "main.py").write_text("")
    (extra / "game" / "plugin.toml").write_text(
        '[plugin]\nname = "game"\nversion = "1.0"\nabi = 1\nentry = "main"\n'
        '[dependencies]\nphysics = ">=2"\n'
    )
    (extra / "broken").mkdir()
    (extra / "broken" / "plugin.toml").write_text("[plugin\n")
    code, out, _ = run(capsys, "plugins", "list", "--path", str(extra), "--no-entry-points")
    assert code == 0
    assert "game" in out and "physics>=2" in out and "unsigned" in out
    assert "invalid TOML" in out
    assert "game -> physics: 'physics' is not installed" in out
    code, out, _ = run(capsys, "plugins", "list", "--path", "nowhere", "--no-entry-points")
    assert "no plugins found" in out and "not a folder" in out


def test_errors_are_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "sign", "nowhere", "--key", "k.key")
    assert code == 1 and "gpi sign: error:" in err and "not a plugin folder" in err
    run(capsys, "new", "plugin", "dots")
    code, _, err = run(capsys, "sign", "dots", "--key", "missing.key")
    assert code == 1 and "missing.key" in err
    code, _, err = run(capsys, "new", "plugin", "Bad-Name")
    assert code == 1 and "lowercase identifier" in err
    code, _, err = run(capsys, "new", "plugin", "dots")
    assert code == 1 and "not empty" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["sign", "dir"],  # --key missing
        ["verify"],
        ["keys"],
        ["keys", "new"],  # --out missing
        ["plugins"],
        ["plugins", "lst"],
        ["new", "plugin"],
        ["new", "thing", "x"],
    ],
)
def test_wrong_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.subprocess
def test_verify_exit_status_in_a_real_process(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def gpi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gpi", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert gpi("new", "plugin", "p").returncode == 0
    proc = gpi("verify", "p")
    assert proc.returncode == 1 and "unsigned" in proc.stderr
    proc = gpi("verify")
    assert proc.returncode == 2 and "required" in proc.stderr


def guide_commands() -> list[tuple[str, int]]:
    """``$ ...`` lines of the console blocks in docs/plugin-guide.md, with expected exit codes."""
    import re

    text = (REPO / "docs" / "plugin-guide.md").read_text()
    out = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                m = re.search(r"\s#\s*exits (\d+)", line)
                out.append((line[2:], int(m.group(1)) if m else 0))
    return out


@pytest.mark.slow
@pytest.mark.subprocess
def test_plugin_guide_commands_work_as_written(tmp_path: Path) -> None:
    import shutil

    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "gpi").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gpi "$@"\n')
    (shim / "gpi").chmod(0o755)
    # scripts, not symlinks: a symlinked venv python would not find its venv
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shim / "python").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(
        os.environ,
        PATH=f"{shim}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(REPO),
        GPI_KEYRING=str(tmp_path / "default-ring"),
        XDG_DATA_HOME=str(tmp_path / "xdg"),
    )
    env.pop("GPI_PLUGIN_PATH", None)
    commands = guide_commands()
    assert [c for c, _ in commands if c.startswith("gpi ")], "no commands found in the guide"
    assert shutil.which("bash")
    for command, expected in commands:
        proc = subprocess.run(
            ["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == expected, f"$ {command}\n{proc.stdout}\n{proc.stderr}"
        if "verify" in command and expected == 0:
            assert proc.stdout.startswith("OK: my_dots 0.1.0")
        if "verify" in command and expected == 1:
            assert "tampered" in proc.stderr and "main.py" in proc.stderr
        if "plugins list" in command:
            assert "my_dots" in proc.stdout and "valid" in proc.stdout
