"""gpi.fsio: atomic writes (temp file in the folder, fsync, rename, fsync the folder)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gpi import fsio
from gpi.fsio import AtomicFile, atomic_write


def _fsync_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record (kind, inode) of every fsync'd fd, still fsyncing for real."""
    seen: list[tuple[str, int]] = []
    real = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        seen.append(("dir" if stat.S_ISDIR(st.st_mode) else "file", st.st_ino))
        real(fd)

    monkeypatch.setattr(fsio.os, "fsync", spy)
    return seen


def test_write_replaces_and_syncs_file_then_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "sub" / "doc.json"
    atomic_write(target, "old")
    seen = _fsync_spy(monkeypatch)
    assert atomic_write(target, b"new bytes") == target
    assert target.read_bytes() == b"new bytes"
    # the file's data first, then the folder holding the rename
    assert [k for k, _ in seen] == ["file", "dir"]
    assert seen[0][1] == target.stat().st_ino
    assert seen[1][1] == target.parent.stat().st_ino
    assert sorted(p.name for p in target.parent.iterdir()) == ["doc.json"]


def test_failure_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "trace.json"
    atomic_write(target, "complete old content")
    with pytest.raises(RuntimeError, match="mid-write"):
        with AtomicFile(target, "w", encoding="utf-8") as f:
            f.write("half of the new")
            raise RuntimeError("mid-write")
    assert target.read_text() == "complete old content"
    assert [p.name for p in tmp_path.iterdir()] == ["trace.json"]


def test_streaming_file_is_invisible_until_commit(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    f = AtomicFile(target)
    for i in range(100):
        f.write(bytes([i]) * 100)
    assert not target.exists()
    assert f.commit() == target
    assert target.stat().st_size == 10_000
    f.abort()  # after commit: nothing happens
    assert target.exists()
    with pytest.raises(ValueError, match="already committed"):
        f.commit()


def test_mode_is_what_open_gives(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = atomic_write(tmp_path / "atomic.txt", "x")
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    os.chmod(atomic, 0o640)
    atomic_write(atomic, "y")  # an existing file keeps its mode
    assert stat.S_IMODE(atomic.stat().st_mode) == 0o640


def test_fsio_imports_nothing_from_gpi() -> None:
    text = Path(fsio.__file__).read_text()
    assert "from gpi" not in text and "import gpi" not in text
