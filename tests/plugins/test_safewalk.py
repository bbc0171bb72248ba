"""Plugin folders are read without following links out of them: one walk for hashing, signing, manifests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gpi.plugins.errors import ManifestError, UnsafePathError
from gpi.plugins.manifest import load_manifest
from gpi.plugins.safewalk import check_folder, read_file, walk_files
from gpi.plugins.signing import content_hash, file_hashes

ROOT = Path(__file__).resolve().parents[2]
BENIGN = ROOT / "tests" / "hostile" / "plugins" / "benign"


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    d = tmp_path / "plug"
    shutil.copytree(BENIGN, d)
    return d


def test_an_ordinary_folder_hashes_as_before(plugin: Path) -> None:
    (plugin / "sub").mkdir()
    (plugin / "sub" / "helper.py").write_text("X = 1\n")
    os.symlink("sub/helper.py", plugin / "alias.py")  # a link to a file inside is read where it is
    os.symlink("sub", plugin / "subdir_link")  # a link to a folder inside is not walked twice
    files = file_hashes(plugin)
    assert list(files) == ["alias.py", "main.py", "plugin.toml", "sub/helper.py"]
    assert files["alias.py"] == files["sub/helper.py"]
    assert [r for r, _ in walk_files(plugin)] == [("alias.py",), ("main.py",), ("plugin.toml",), ("sub", "helper.py")]
    assert len(content_hash(plugin)) == 64


def test_a_link_to_proc_pagemap_is_refused_not_read(plugin: Path) -> None:
    os.symlink("/proc/self/pagemap", plugin / "data.bin")
    with pytest.raises(UnsafePathError, match=r"data.bin is a symbolic link to /proc/\S+/pagemap, outside"):
        content_hash(plugin)  # what --record does: must return at once, not read 2**55 bytes
    with pytest.raises(UnsafePathError):
        check_folder(plugin)


def test_a_fifo_is_refused_without_blocking(plugin: Path) -> None:
    os.mkfifo(plugin / "pipe")
    with pytest.raises(UnsafePathError, match="pipe is a FIFO"):
        file_hashes(plugin)
    with pytest.raises(UnsafePathError, match="FIFO"):
        read_file(plugin, "pipe")


def test_a_device_and_a_link_to_a_folder_outside_are_refused(plugin: Path, tmp_path: Path) -> None:
    os.symlink("/dev/zero", plugin / "zero")
    with pytest.raises(UnsafePathError, match="outside the plugin folder"):
        check_folder(plugin)
    os.unlink(plugin / "zero")
    outside = tmp_path / "secrets"
    outside.mkdir()
    os.symlink(outside, plugin / "lib")
    with pytest.raises(UnsafePathError, match="lib is a symbolic link"):
        check_folder(plugin)


def test_a_manifest_that_is_a_link_out_or_a_fifo_is_a_clear_manifest_error(plugin: Path) -> None:
    (plugin / "plugin.toml").unlink()
    os.symlink("/proc/self/pagemap", plugin / "plugin.toml")
    with pytest.raises(ManifestError, match="outside the plugin folder"):
        load_manifest(plugin)
    (plugin / "plugin.toml").unlink()
    os.mkfifo(plugin / "plugin.toml")
    with pytest.raises(ManifestError, match="FIFO|not a regular file|missing"):
        load_manifest(plugin)


def test_a_signature_file_that_links_out_is_not_read(plugin: Path) -> None:
    from gpi.plugins.signing import Keyring, verify

    os.symlink("/proc/self/pagemap", plugin / "plugin.sig")
    res = verify(plugin, Keyring())
    assert res.state != "valid" and "outside the plugin folder" in res.detail, res
