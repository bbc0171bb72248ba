"""Plugin signatures: Ed25519 over a canonical list of the plugin's files.

A plugin folder is signed by writing ``plugin.sig`` next to ``plugin.toml``.
What is signed is the *canonical listing* of the folder: every regular file,
except ``plugin.sig`` itself, ``__pycache__`` folders, ``*.pyc`` files and
anything whose name starts with a dot, sorted by relative POSIX path, with
its SHA-256. The signed bytes are (UTF-8, ``\\n`` line ends)::

    gpi-plugin-signature v1
    key <key_id>
    <sha256 hex>  <relative/posix/path>      (one line per file, sorted by path)

``plugin.sig`` is JSON::

    {"format": 1, "algorithm": "ed25519", "key_id": "<16 hex>",
     "files": {"main.py": "<sha256 hex>", ...},
     "signature": "<base64 of the 64-byte Ed25519 signature>"}

Keys: ``gpi keys new`` writes ``NAME.key`` (PKCS#8 PEM, mode 0600) and
``NAME.pub`` (SubjectPublicKeyInfo PEM). A key id is the first 16 hex digits
of the SHA-256 of the raw 32-byte public key. A :class:`Keyring` is a folder
of trusted ``*.pub`` files.

:func:`verify` reports one of five states: ``valid``, ``unsigned``,
``tampered`` (a file changed, was added or is missing), ``unknown_key`` (the
signer is not in the keyring) or ``bad_signature`` (the signature does not
verify, or ``plugin.sig`` is malformed). :func:`check` applies a
:class:`Policy`:

- ``REQUIRE``: anything but ``valid`` raises :class:`SignatureError`.
- ``WARN``: ``unsigned`` and ``unknown_key`` load with a :class:`SignatureWarning`;
  ``tampered`` and ``bad_signature`` are still refused (a signature that does
  not match is never a good sign).
- ``ALLOW``: signatures are not enforced; nothing is raised or warned.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from gpi.fsio import atomic_write
from gpi.plugins.errors import KeyringError, SignatureError
from gpi.plugins.safewalk import open_file, read_file, walk_files

__all__ = [
    "SIGNATURE_NAME",
    "STATES",
    "Keyring",
    "Policy",
    "SignatureWarning",
    "VerifyResult",
    "canonical_bytes",
    "check",
    "content_hash",
    "default_keyring_dir",
    "file_hashes",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "sign",
    "verify",
]

#: File name of the signature inside a plugin folder.
SIGNATURE_NAME = "plugin.sig"
#: Every state :func:`verify` can report.
STATES = ("valid", "unsigned", "tampered", "unknown_key", "bad_signature")

_FORMAT = 1
_ALGORITHM = "ed25519"
_HEADER = "gpi-plugin-signature v1"
_HASH_CHUNK = 1 << 20


class SignatureWarning(UserWarning):
    """An unsigned or unknown-key plugin was loaded under the WARN policy."""


class Policy(enum.Enum):
    """What the host does with plugins whose signature is not ``valid``."""

    REQUIRE = "require"
    WARN = "warn"
    ALLOW = "allow"

    @classmethod
    def parse(cls, value: str | Policy) -> Policy:
        """A policy from its name (``"require"``, ``"warn"``, ``"allow"``), any case."""
        if isinstance(value, Policy):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(
                f"unknown signature policy {value!r}; expected one of require, warn, allow"
            ) from None


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`; ``detail`` names the file or key at fault."""

    state: str
    detail: str
    path: Path
    key_id: str | None = None
    key_name: str | None = None
    modified: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the signature is valid and every file matches."""
        return self.state == "valid"

    def to_dict(self) -> dict[str, Any]:
        """Plain serialisable form."""
        return {
            "state": self.state,
            "detail": self.detail,
            "path": str(self.path),
            "key_id": self.key_id,
            "key_name": self.key_name,
            "modified": list(self.modified),
            "added": list(self.added),
            "missing": list(self.missing),
        }


# --------------------------------------------------------------------------- keys


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short id of a public key: first 16 hex digits of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(
    out_dir: str | Path, name: str = "gpi", *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write ``out_dir/NAME.key`` (private, 0600) and ``NAME.pub``; returns both paths."""
    if not name or "/" in name or name.startswith("."):
        raise KeyringError(
            f"invalid key name {name!r}: use a plain file name like 'alice' (no '/', no leading '.')"
        )
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = folder / f"{name}.key", folder / f"{name}.pub"
    if not overwrite:
        for p in (priv_path, pub_path):
            if p.exists():
                raise KeyringError(
                    f"{p}: already exists; refusing to overwrite a key "
                    f"(choose another --name or delete it first)"
                )
    private = Ed25519PrivateKey.generate()
    priv_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if overwrite and priv_path.exists():
        priv_path.unlink()
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(priv_pem)
    os.chmod(priv_path, 0o600)  # in case the umask widened nothing but be explicit
    pub_path.write_bytes(pub_pem)
    return priv_path, pub_path


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key (PKCS#8 PEM, as ``gpi keys new`` writes)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise KeyringError(f"{p}: cannot read private key: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyringError(
            f"{p}: not an unencrypted PEM private key ({exc}); create one with `gpi keys new`"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyringError(f"{p}: expected an Ed25519 private key, got {type(key).__name__}")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key (SubjectPublicKeyInfo PEM)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise KeyringError(f"{p}: cannot read public key: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyringError(
            f"{p}: not a PEM public key ({exc}); use the .pub file `gpi keys new` wrote"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyringError(f"{p}: expected an Ed25519 public key, got {type(key).__name__}")
    return key


def default_keyring_dir() -> Path:
    """``$GPI_KEYRING``, else ``$XDG_CONFIG_HOME/gpi/keyring`` (``~/.config/gpi/keyring``)."""
    env = os.environ.get("GPI_KEYRING")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gpi" / "keyring"


class Keyring:
    """Trusted public keys, by key id; usually loaded from a folder of ``*.pub`` files."""

    def __init__(self, keys: dict[str, tuple[str, Ed25519PublicKey]] | None = None):
        self._keys: dict[str, tuple[str, Ed25519PublicKey]] = dict(keys or {})
        self.path: Path | None = None

    @classmethod
    def load(cls, folder: str | Path, *, missing_ok: bool = True) -> Keyring:
        """Every ``*.pub`` in ``folder``; a missing folder is an empty keyring if ``missing_ok``."""
        ring = cls()
        p = Path(folder)
        ring.path = p
        if not p.is_dir():
            if missing_ok and not p.exists():
                return ring
            raise KeyringError(f"{p}: keyring is not a folder; expected a folder of *.pub files")
        for pub in sorted(p.glob("*.pub")):
            ring.add(pub)
        return ring

    def add(self, pub: str | Path | Ed25519PublicKey, name: str | None = None) -> str:
        """Trust a public key (file or object); returns its key id."""
        if isinstance(pub, Ed25519PublicKey):
            key = pub
            label = name or "key"
        else:
            key = load_public_key(pub)
            label = name or Path(pub).stem
        kid = key_id(key)
        self._keys[kid] = (label, key)
        return kid

    def get(self, kid: str) -> Ed25519PublicKey | None:
        """The public key with id ``kid``, or None."""
        entry = self._keys.get(kid)
        return entry[1] if entry else None

    def name_of(self, kid: str) -> str | None:
        """The label (file stem) of key ``kid``, or None."""
        entry = self._keys.get(kid)
        return entry[0] if entry else None

    def ids(self) -> list[str]:
        """Every trusted key id, sorted."""
        return sorted(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids())

    def __repr__(self) -> str:
        where = f" from {str(self.path)!r}" if self.path else ""
        return f"Keyring({len(self)} keys{where})"


# --------------------------------------------------------------------------- files


def _excluded(rel_parts: tuple[str, ...]) -> bool:
    if any(part.startswith(".") or part == "__pycache__" for part in rel_parts):
        return True
    return rel_parts[-1].endswith(".pyc") or rel_parts == (SIGNATURE_NAME,)


def file_hashes(plugin_dir: str | Path) -> dict[str, str]:
    """The canonical listing: relative POSIX path -> SHA-256 hex, sorted by path."""
    root = Path(plugin_dir)
    if not root.is_dir():
        raise SignatureError(f"{root}: not a plugin folder", path=root)
    out: dict[str, str] = {}
    for rel, full in walk_files(root, _excluded):  # never follows a link out; refuses FIFOs and devices
        h = hashlib.sha256()
        with os.fdopen(open_file(root, full), "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
        out["/".join(rel)] = h.hexdigest()
    return dict(sorted(out.items()))


def canonical_bytes(files: dict[str, str], kid: str) -> bytes:
    """The exact bytes that are signed (see the module docstring)."""
    lines = [_HEADER, f"key {kid}"]
    lines += [f"{files[p]}  {p}" for p in sorted(files)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def content_hash(plugin_dir: str | Path) -> str:
    """SHA-256 hex of the canonical listing (no key): identifies a plugin's exact files.

    Replays record it so a replay names the plugin code it was made with; it
    ignores byte-code caches and the signature file, like signing does.
    """
    files = file_hashes(plugin_dir)
    lines = [f"{files[p]}  {p}" for p in files]
    return hashlib.sha256(("\n".join(lines) + "\n").encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- sign / verify


def sign(plugin_dir: str | Path, private_key: str | Path | Ed25519PrivateKey) -> Path:
    """Sign the folder with an Ed25519 private key (object or PEM file); returns ``plugin.sig``."""
    root = Path(plugin_dir)
    key = (
        private_key if isinstance(private_key, Ed25519PrivateKey) else load_private_key(private_key)
    )
    files = file_hashes(root)
    if not files:
        raise SignatureError(f"{root}: nothing to sign (no files)", path=root)
    kid = key_id(key.public_key())
    signature = key.sign(canonical_bytes(files, kid))
    doc = {
        "format": _FORMAT,
        "algorithm": _ALGORITHM,
        "key_id": kid,
        "files": files,
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    out = root / SIGNATURE_NAME
    return atomic_write(out, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _read_sig(path: Path) -> tuple[str, dict[str, str], bytes]:
    """(key id, files, signature) from ``plugin.sig``; ValueError naming the problem."""
    try:
        doc = json.loads(read_file(path.parent, path.name, limit=16 << 20).decode("utf-8"))  # no link out, no FIFO
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {SIGNATURE_NAME}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{SIGNATURE_NAME} is not a JSON object")
    if doc.get("format") != _FORMAT:
        raise ValueError(f"{SIGNATURE_NAME} format {doc.get('format')!r}; expected {_FORMAT}")
    if doc.get("algorithm") != _ALGORITHM:
        raise ValueError(
            f"{SIGNATURE_NAME} algorithm {doc.get('algorithm')!r}; expected {_ALGORITHM!r}"
        )
    kid, files, sig = doc.get("key_id"), doc.get("files"), doc.get("signature")
    if not isinstance(kid, str) or not isinstance(sig, str) or not isinstance(files, dict):
        raise ValueError(f"{SIGNATURE_NAME} lacks key_id, files or signature")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ValueError(f"{SIGNATURE_NAME} 'files' must map paths to hex digests")
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{SIGNATURE_NAME} signature is not base64: {exc}") from exc
    return kid, files, raw


def _list(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def verify(plugin_dir: str | Path, keyring: Keyring) -> VerifyResult:
    """Check ``plugin.sig`` against the keyring and the folder's current files."""
    root = Path(plugin_dir)
    sig_path = root / SIGNATURE_NAME
    if not sig_path.is_file():
        return VerifyResult(
            "unsigned",
            f"{root}: no {SIGNATURE_NAME}; sign it with `gpi sign {root} --key KEY`",
            root,
        )
    try:
        kid, signed_files, raw = _read_sig(sig_path)
    except ValueError as exc:
        return VerifyResult("bad_signature", f"{sig_path}: {exc}", root)
    public = keyring.get(kid)
    if public is None:
        where = f" in {keyring.path}" if keyring.path else ""
        return VerifyResult(
            "unknown_key",
            f"{root}: signed by key {kid}, which is not in the keyring{where}; "
            f"if you trust the signer, add their public key with `gpi keys trust KEY.pub`",
            root,
            key_id=kid,
        )
    name = keyring.name_of(kid)
    try:
        public.verify(raw, canonical_bytes(signed_files, kid))
    except InvalidSignature:
        return VerifyResult(
            "bad_signature",
            f"{sig_path}: signature does not verify with key {kid} ({name}); "
            f"{SIGNATURE_NAME} was altered or signed by another key",
            root,
            key_id=kid,
            key_name=name,
        )
    actual = file_hashes(root)
    modified = sorted(p for p in signed_files if p in actual and actual[p] != signed_files[p])
    added = sorted(p for p in actual if p not in signed_files)
    missing = sorted(p for p in signed_files if p not in actual)
    if modified or added or missing:
        parts = []
        if modified:
            parts.append(f"modified {_list(modified)}")
        if added:
            parts.append(f"added {_list(added)}")
        if missing:
            parts.append(f"missing {_list(missing)}")
        return VerifyResult(
            "tampered",
            f"{root}: files differ from the signature: {'; '.join(parts)}",
            root,
            key_id=kid,
            key_name=name,
            modified=tuple(modified),
            added=tuple(added),
            missing=tuple(missing),
        )
    return VerifyResult(
        "valid",
        f"{root}: signed by {name} ({kid}), {len(actual)} files match",
        root,
        key_id=kid,
        key_name=name,
    )


@dataclass
class _Decision:
    refuse: bool
    warn: bool = field(default=False)


_RULES: dict[Policy, dict[str, _Decision]] = {
    Policy.REQUIRE: {s: _Decision(refuse=s != "valid") for s in STATES},
    Policy.WARN: {
        "valid": _Decision(False),
        "unsigned": _Decision(False, True),
        "unknown_key": _Decision(False, True),
        "tampered": _Decision(True),
        "bad_signature": _Decision(True),
    },
    Policy.ALLOW: {s: _Decision(False) for s in STATES},
}


def check(
    plugin_dir: str | Path, keyring: Keyring, policy: Policy | str = Policy.REQUIRE
) -> VerifyResult:
    """Verify and apply ``policy``: raise :class:`SignatureError` or warn as the module says."""
    pol = Policy.parse(policy)
    result = verify(plugin_dir, keyring)
    decision = _RULES[pol][result.state]
    if decision.refuse:
        raise SignatureError(
            f"refused under signature policy {pol.value!r}: {result.state}: {result.detail}",
            state=result.state,
            path=result.path,
        )
    if decision.warn:
        warnings.warn(
            f"loading despite signature state {result.state!r} (policy 'warn'): {result.detail}",
            SignatureWarning,
            stacklevel=2,
        )
    return result
