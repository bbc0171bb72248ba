"""Ed25519 plugin signatures: round trip, every tampering case, keyring, policies."""

from __future__ import annotations

import json
import stat
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpi.plugins.errors import KeyringError, SignatureError
from gpi.plugins.signing import (
    SIGNATURE_NAME,
    Keyring,
    Policy,
    SignatureWarning,
    canonical_bytes,
    check,
    content_hash,
    file_hashes,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    sign,
    verify,
)


def make_plugin(root: Path) -> Path:
    folder = root / "boids"
    (folder / "lib").mkdir(parents=True)
    (folder / "plugin.toml").write_text('[plugin]\nname = "boids"\n')
    (folder / "main.py").write_text("print('hi')\n")
    (folder / "lib" / "util.py").write_text("X = 1\n")
    return folder


@pytest.fixture()
def keys(tmp_path: Path) -> tuple[Path, Path, Keyring]:
    priv, pub = generate_keypair(tmp_path / "keys", "alice")
    ring_dir = tmp_path / "ring"
    ring_dir.mkdir()
    (ring_dir / "alice.pub").write_bytes(pub.read_bytes())
    return priv, pub, Keyring.load(ring_dir)


def test_keygen_files(tmp_path: Path) -> None:
    priv, pub = generate_keypair(tmp_path / "k", "bob")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert key_id(load_private_key(priv).public_key()) == key_id(load_public_key(pub))
    assert len(key_id(load_public_key(pub))) == 16
    with pytest.raises(KeyringError, match="already exists"):
        generate_keypair(tmp_path / "k", "bob")
    with pytest.raises(KeyringError, match="not an unencrypted PEM"):
        load_private_key(pub)
    with pytest.raises(KeyringError, match="cannot read"):
        load_public_key(tmp_path / "nope.pub")


def test_canonical_listing_excludes(tmp_path: Path) -> None:
    folder = make_plugin(tmp_path)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"x")
    (folder / "lib" / "util.pyc").write_bytes(b"x")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("x")
    (folder / ".hidden").write_text("x")
    (folder / SIGNATURE_NAME).write_text("{}")
    assert list(file_hashes(folder)) == ["lib/util.py", "main.py", "plugin.toml"]
    data = canonical_bytes(file_hashes(folder), "abcd")
    assert data.startswith(b"gpi-plugin-signature v1\nkey abcd\n")
    assert data.endswith(b"  plugin.toml\n")


def test_round_trip_valid(tmp_path: Path, keys: tuple[Path, Path, Keyring]) -> None:
    priv, _, ring = keys
    folder = make_plugin(tmp_path)
    sig = sign(folder, priv)
    assert sig == folder / SIGNATURE_NAME
    doc = json.loads(sig.read_text())
    assert doc["algorithm"] == "ed25519" and set(doc["files"]) == {
        "main.py",
        "plugin.toml",
        "lib/util.py",
    }
    res = verify(folder, ring)
    assert res.ok and res.state == "valid" and res.key_name == "alice"
    # byte-code caches appearing after a run do not break the signature
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "main.pyc").write_bytes(b"\0")
    assert verify(folder, ring).ok
    assert check(folder, ring, Policy.REQUIRE).ok


def test_unsigned(tmp_path: Path, keys: tuple[Path, Path, Keyring]) -> None:
    folder = make_plugin(tmp_path)
    res = verify(folder, keys[2])
    assert res.state == "unsigned" and "gpi sign" in res.detail


@pytest.mark.parametrize(
    "tamper, words",
    [
        (lambda f: (f / "main.py").write_text("import os\n"), "modified 'main.py'"),
        (lambda f: (f / "lib" / "evil.py").write_text("x"), "added 'lib/evil.py'"),
        (lambda f: (f / "lib" / "util.py").unlink(), "missing 'lib/util.py'"),
    ],
)
def test_tampered_names_file(
    tmp_path: Path, keys: tuple[Path, Path, Keyring], tamper, words
) -> None:  # noqa: ANN001
    priv, _, ring = keys
    folder = make_plugin(tmp_path)
    sign(folder, priv)
    tamper(folder)
    res = verify(folder, ring)
    assert res.state == "tampered" and words in res.detail
    with pytest.raises(SignatureError, match=words) as info:
        check(folder, ring, "require")
    assert info.value.state == "tampered"
    with pytest.raises(SignatureError):
        check(folder, ring, Policy.WARN)
    assert check(folder, ring, Policy.ALLOW).state == "tampered"


def test_unknown_key(tmp_path: Path, keys: tuple[Path, Path, Keyring]) -> None:
    folder = make_plugin(tmp_path)
    other, other_pub = generate_keypair(tmp_path / "keys", "mallory")
    sign(folder, other)
    kid = key_id(load_public_key(other_pub))
    res = verify(folder, keys[2])
    assert res.state == "unknown_key" and kid in res.detail
    with pytest.raises(SignatureError, match=kid):
        check(folder, keys[2], Policy.REQUIRE)
    with pytest.warns(SignatureWarning, match=kid):
        assert check(folder, keys[2], Policy.WARN).state == "unknown_key"


def test_bad_signature_and_forged_hashes(tmp_path: Path, keys: tuple[Path, Path, Keyring]) -> None:
    priv, _, ring = keys
    folder = make_plugin(tmp_path)
    sign(folder, priv)
    sig = folder / SIGNATURE_NAME
    doc = json.loads(sig.read_text())
    # an attacker edits main.py and updates its hash in plugin.sig: the signature catches it
    (folder / "main.py").write_text("evil\n")
    doc["files"]["main.py"] = file_hashes(folder)["main.py"]
    sig.write_text(json.dumps(doc))
    res = verify(folder, ring)
    assert res.state == "bad_signature" and "does not verify" in res.detail
    sig.write_text("not json")
    assert verify(folder, ring).state == "bad_signature"
    doc["algorithm"] = "rsa"
    sig.write_text(json.dumps(doc))
    assert "algorithm" in verify(folder, ring).detail


def test_policies_unsigned(tmp_path: Path, keys: tuple[Path, Path, Keyring]) -> None:
    folder = make_plugin(tmp_path)
    ring = keys[2]
    with pytest.raises(SignatureError, match="refused under signature policy 'require': unsigned"):
        check(folder, ring, Policy.REQUIRE)
    with pytest.warns(SignatureWarning, match="unsigned"):
        check(folder, ring, Policy.WARN)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check(folder, ring, Policy.ALLOW).state == "unsigned"
    assert Policy.parse("WARN") is Policy.WARN
    with pytest.raises(ValueError, match="require, warn, allow"):
        Policy.parse("maybe")


def test_keyring_folder(tmp_path: Path) -> None:
    assert len(Keyring.load(tmp_path / "absent")) == 0
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(KeyringError, match="not a folder"):
        Keyring.load(f)
    _, pub = generate_keypair(tmp_path, "a")
    ring = Keyring.load(tmp_path)
    kid = key_id(load_public_key(pub))
    assert kid in ring and ring.ids() == [kid] and ring.name_of(kid) == "a"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.dictionaries(
        st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6})?\.py", fullmatch=True),
        st.binary(max_size=64),
        min_size=1,
        max_size=5,
    ),
    flip=st.integers(min_value=0),
)
def test_any_single_byte_change_is_caught(tmp_path_factory, files, flip) -> None:  # noqa: ANN001
    root = tmp_path_factory.mktemp("p")
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_dir():
            return
        p.write_bytes(data)
    priv, pub = generate_keypair(tmp_path_factory.mktemp("k"), "k")
    ring = Keyring()
    ring.add(pub)
    sign(root, priv)
    assert verify(root, ring).ok
    names = sorted(file_hashes(root))
    target = root / names[flip % len(names)]
    data = bytearray(target.read_bytes()) or bytearray(b"\0")
    data[flip % len(data)] ^= 0x01 if target.stat().st_size else 0
    target.write_bytes(bytes(data))
    res = verify(root, ring)
    assert res.state == "tampered" and names[flip % len(names)] in res.modified


def test_content_hash(tmp_path: Path, keys: tuple[Path, Path, Keyring]) -> None:
    folder = make_plugin(tmp_path)
    h = content_hash(folder)
    assert len(h) == 64
    sign(folder, keys[0])  # the signature file does not change the content hash
    (folder / "__pycache__").mkdir()
    assert content_hash(folder) == h
    (folder / "main.py").write_text("other")
    assert content_hash(folder) != h
