"""Loading native plugins: declarations, manifests, ABI versions and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.plugins.manifest import load_manifest
from gpi.plugins.native import NativeLoadError, NativePlugin, abi, load_native
from gpi.plugins.native.loader import library_path


def _lib(folder: Path) -> Path:
    m = load_manifest(folder)
    return library_path(folder, m.library)


def test_manifest_says_native_and_names_the_built_library(native: dict[str, Path]) -> None:
    m = load_manifest(native["nat_basic"])
    assert m.kind == "native" and m.library == "libnat_basic.so" and m.entry == ""
    assert set(m.capabilities) == {"spawn", "draw", "events", "resources", "log"}
    assert (native["nat_basic"] / m.library).is_file()
    assert load_manifest(m.path).to_dict()["kind"] == "native"


def test_declarations_match_what_python_declares(native: dict[str, Path]) -> None:
    p = load_native(native["nat_basic"], "nat_basic", "nat_basic", granted=["draw", "spawn"])
    comps = {c.name: (str(c.dtype), c.shape) for c in p.components.values()}
    assert comps == {"Position": ("float32", (2,)), "Velocity": ("float32", (2,)), "Serial": ("uint32", ())}
    spawn, move, count, draw = (p.systems[n] for n in ("spawn", "move", "count", "draw"))
    assert spawn.spawns and not spawn.despawns and spawn.writes == ("Position", "Velocity", "Serial")
    assert move.reads == ("Velocity",) and move.writes == ("Position",) and move.after == ("spawn",)
    assert count.stage == "post_update" and count.resources == ("nat_ticks",) and count.events == ("nat_count",)
    assert draw.stage == "render" and draw.reads == ("Position",)


def test_minor0_plugin_loads_in_this_minor1_host(native: dict[str, Path]) -> None:
    folder = native["nat_minor0"]
    plug = NativePlugin(_lib(folder), "nat_minor0", ["draw"])
    assert plug.abi_version == (1, 0) and (abi.ABI_MAJOR, abi.ABI_MINOR) == (1, 1)
    assert set(plug.plugin.systems) == {"spawn", "move", "count", "draw"}
    newer = NativePlugin(_lib(native["nat_basic"]), "nat_basic", [])
    assert newer.abi_version == (1, 1)


def test_a_plugin_newer_than_the_host_is_refused(native: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(abi, "ABI_MINOR", 0)
    with pytest.raises(NativeLoadError, match=r"built for GPI ABI 1\.1, newer than this host's ABI 1\.0"):
        NativePlugin(_lib(native["nat_basic"]), "nat_basic", [])
    NativePlugin(_lib(native["nat_minor0"]), "nat_minor0", [])  # 1.0 in a 1.0 host: fine


def test_major_mismatch_names_both_versions(native: dict[str, Path]) -> None:
    with pytest.raises(NativeLoadError) as info:
        load_native(native["nat_major2"], "libnat_major2.so", "nat_major2")
    msg = str(info.value)
    assert "built for GPI ABI 2.0" in msg and "this host speaks ABI 1.1" in msg and "libnat_major2.so" in msg


def test_missing_entry_symbol_is_a_clear_error(native: dict[str, Path]) -> None:
    with pytest.raises(NativeLoadError, match="does not export 'gpi_plugin_entry'.*GPI_PLUGIN_DEFINE"):
        load_native(native["nat_noentry"], "libnat_noentry.so", "nat_noentry")


def test_missing_library_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "plugin.toml").write_text('[plugin]\nname = "ghost"\nversion = "1.0.0"\nabi = 1\n'
                                          'kind = "native"\nlibrary = "libghost.so"\n')
    with pytest.raises(Exception, match="library 'libghost.so' not found"):
        load_manifest(tmp_path)
    with pytest.raises(NativeLoadError, match="library 'libghost.so' not found"):
        load_native(tmp_path, "libghost.so", "ghost")
    assert load_manifest(tmp_path, check_entry=False).library == "libghost.so"


def test_features_follow_the_granted_capabilities(native: dict[str, Path]) -> None:
    with_draw = NativePlugin(_lib(native["nat_basic"]), "nat_basic", ["draw"])
    without = NativePlugin(_lib(native["nat_basic"]), "nat_basic", [])
    assert with_draw.host.get_feature(None, abi.FEATURE_DRAW.encode())
    assert not without.host.get_feature(None, abi.FEATURE_DRAW.encode())
    assert not with_draw.host.get_feature(None, b"gpi.no.such.feature")


def test_signing_covers_the_built_library(native: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from gpi.plugins import signing

    folder = tmp_path / "nat_basic"
    shutil.copytree(native["nat_basic"], folder)
    key, pub = signing.generate_keypair(tmp_path / "keys", "dev")
    signing.sign(folder, key)
    ring = signing.Keyring.load(tmp_path / "keys")
    assert "libnat_basic.so" in signing.file_hashes(folder)
    assert signing.verify(folder, ring).ok
    lib = folder / "libnat_basic.so"
    data = bytearray(lib.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the library
    lib.write_bytes(bytes(data))
    res = signing.verify(folder, ring)
    assert not res.ok and res.modified == ("libnat_basic.so",)


def test_manifest_kind_and_library_are_checked(tmp_path: Path) -> None:
    from gpi.plugins.errors import ManifestError

    head = '[plugin]\nname = "k"\nversion = "1.0.0"\nabi = 1\n'
    cases = {
        'kind = "rust"\nentry = "main"\n': "[plugin].kind: expected one of python, native",
        'kind = "native"\n': "[plugin].library: missing",
        'kind = "native"\nlibrary = "../evil.so"\n': "a file name in the plugin folder",
        'kind = "native"\nlibrary = "libk.so"\nentry = "main"\n': "not used by kind = \"native\"",
    }
    for body, expected in cases.items():
        (tmp_path / "plugin.toml").write_text(head + body)
        with pytest.raises(ManifestError) as info:
            load_manifest(tmp_path, check_entry=False)
        assert expected in str(info.value), (body, str(info.value))
