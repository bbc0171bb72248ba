"""``gpi keys``: create signing keys and manage the keyring of trusted public keys.

- ``gpi keys new --out DIR [--name NAME]`` writes ``NAME.key`` (private, 0600)
  and ``NAME.pub``;
- ``gpi keys trust PUBFILE [--keyring DIR]`` copies a public key into the keyring;
- ``gpi keys list [--keyring DIR]`` shows the trusted keys with their ids.

The keyring defaults to ``$GPI_KEYRING`` or ``~/.config/gpi/keyring``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from gpi.plugins.errors import PluginError
from gpi.plugins.signing import (
    Keyring,
    default_keyring_dir,
    generate_keypair,
    key_id,
    load_public_key,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi keys`` and its sub-commands."""
    p = subparsers.add_parser(
        "keys",
        help="create Ed25519 signing keys; manage trusted public keys",
        description="Create Ed25519 signing keys and manage the keyring of trusted public keys.",
    )
    sub = p.add_subparsers(dest="keys_command", metavar="ACTION")
    sub.required = True

    new = sub.add_parser("new", help="create a key pair (NAME.key private, NAME.pub public)")
    new.add_argument("--out", required=True, type=Path, help="folder to write the key files in")
    new.add_argument("--name", default="gpi", help="base file name of the keys (default: gpi)")
    new.add_argument("--force", action="store_true", help="overwrite existing key files")
    new.set_defaults(handler=_new)

    trust = sub.add_parser("trust", help="add a public key (.pub) to the keyring")
    trust.add_argument("pubkey", type=Path, help="the .pub file to trust")
    trust.add_argument("--keyring", type=Path, default=None, help="keyring folder")
    trust.set_defaults(handler=_trust)

    lst = sub.add_parser("list", help="show the trusted keys")
    lst.add_argument("--keyring", type=Path, default=None, help="keyring folder")
    lst.set_defaults(handler=_list)


def _new(args: argparse.Namespace) -> int:
    try:
        priv, pub = generate_keypair(args.out, args.name, overwrite=args.force)
        kid = key_id(load_public_key(pub))
    except (PluginError, OSError) as exc:
        print(f"gpi keys new: error: {exc}", file=sys.stderr)
        return 1
    print(f"private key: {priv}  (keep it secret; mode 0600)")
    print(f"public key:  {pub}")
    print(f"key id:      {kid}")
    return 0


def _trust(args: argparse.Namespace) -> int:
    ring_dir = args.keyring or default_keyring_dir()
    try:
        kid = key_id(load_public_key(args.pubkey))
        ring_dir.mkdir(parents=True, exist_ok=True)
        dest = ring_dir / args.pubkey.name
        if dest.exists() and dest.resolve() != args.pubkey.resolve():
            if key_id(load_public_key(dest)) != kid:
                print(
                    f"gpi keys trust: error: {dest} already holds another key; "
                    f"rename {args.pubkey.name} first",
                    file=sys.stderr,
                )
                return 1
        if not dest.exists():
            shutil.copyfile(args.pubkey, dest)
    except (PluginError, OSError) as exc:
        print(f"gpi keys trust: error: {exc}", file=sys.stderr)
        return 1
    print(f"trusted key {kid} ({args.pubkey.stem}) in {ring_dir}")
    return 0


def _list(args: argparse.Namespace) -> int:
    ring_dir = args.keyring or default_keyring_dir()
    try:
        ring = Keyring.load(ring_dir)
    except PluginError as exc:
        print(f"gpi keys list: error: {exc}", file=sys.stderr)
        return 1
    if not len(ring):
        print(f"no trusted keys in {ring_dir}")
        return 0
    for kid in ring.ids():
        print(f"{kid}  {ring.name_of(kid)}")
    return 0
