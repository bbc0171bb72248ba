"""``gpi verify DIR [--keyring DIR] [--key PUBFILE]``: check a plugin's signature.

Exit status 0 when the signature is valid and every file matches, 1 otherwise
(unsigned, tampered, unknown key, bad signature), with the file or key named.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpi.plugins.errors import PluginError
from gpi.plugins.manifest import load_manifest
from gpi.plugins.signing import Keyring, default_keyring_dir, verify

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi verify``."""
    p = subparsers.add_parser(
        "verify",
        help="verify a plugin folder's signature against trusted keys",
        description="Verify plugin.sig against the keyring and the folder's current files.",
    )
    p.add_argument("dir", type=Path, help="the plugin folder")
    p.add_argument(
        "--keyring",
        type=Path,
        default=None,
        help="folder of trusted .pub keys (default: $GPI_KEYRING or ~/.config/gpi/keyring)",
    )
    p.add_argument(
        "--key", type=Path, action="append", default=[], help="also trust this .pub file"
    )
    p.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    try:
        manifest = load_manifest(args.dir)
        ring = Keyring.load(args.keyring or default_keyring_dir())
        for pub in args.key:
            ring.add(pub)
        result = verify(args.dir, ring)
    except (PluginError, OSError) as exc:
        print(f"gpi verify: error: {exc}", file=sys.stderr)
        return 1
    if result.ok:
        print(f"OK: {manifest.name} {manifest.version}: {result.detail}")
        return 0
    print(f"gpi verify: FAILED ({result.state}): {result.detail}", file=sys.stderr)
    return 1
