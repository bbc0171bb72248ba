"""``gpi sign DIR --key KEYFILE``: sign a plugin folder (writes ``DIR/plugin.sig``).

The manifest is validated first: a broken plugin is not signed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpi.plugins.errors import PluginError
from gpi.plugins.manifest import load_manifest
from gpi.plugins.signing import file_hashes, key_id, load_private_key, sign

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi sign``."""
    p = subparsers.add_parser(
        "sign",
        help="sign a plugin folder with an Ed25519 private key",
        description="Sign a plugin folder: writes plugin.sig with the SHA-256 of every file.",
    )
    p.add_argument("dir", type=Path, help="the plugin folder")
    p.add_argument("--key", required=True, type=Path, help="private key file (from gpi keys new)")
    p.set_defaults(handler=_sign)


def _sign(args: argparse.Namespace) -> int:
    try:
        manifest = load_manifest(args.dir)
        key = load_private_key(args.key)
        out = sign(args.dir, key)
        count = len(file_hashes(args.dir))
    except (PluginError, OSError) as exc:
        print(f"gpi sign: error: {exc}", file=sys.stderr)
        return 1
    kid = key_id(key.public_key())
    print(f"signed {manifest.name} {manifest.version}: {count} files, key {kid} -> {out}")
    return 0
