"""Plugin folder watching: real inotify events, attributed to the right plugin folder."""

import time
from pathlib import Path

from gpi.plugins.watch import PluginWatcher


def _poll_until(w: PluginWatcher, touch: Path, timeout: float = 10.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        touch.write_text(f"x = {n}\n")
        n += 1
        for _ in range(10):
            time.sleep(0.02)
            got = w.poll()
            if got:
                return got
    return []


def test_change_is_attributed_to_its_plugin(tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with PluginWatcher([a, b]) as w:
        got = _poll_until(w, b / "main.py")
        assert got == [b.resolve()]
        time.sleep(0.2)
        assert set(w.poll()) <= {b.resolve()}  # folder 'a' was never touched


def test_bytecode_changes_are_ignored(tmp_path: Path) -> None:
    a = tmp_path / "a"
    (a / "__pycache__").mkdir(parents=True)
    with PluginWatcher([a]) as w:
        (a / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0" * 10)
        time.sleep(0.3)
        assert w.poll() == []
        assert _poll_until(w, a / "main.py") == [a.resolve()]


def test_no_dirs_and_close_twice(tmp_path: Path) -> None:
    w = PluginWatcher([])
    assert w.poll() == []
    w.close()
    w.close()
