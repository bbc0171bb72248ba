"""``gpi plugins list``: every discovered plugin with version, path, signature, dependencies.

Searches ``--path`` folders first, then ``$GPI_PLUGIN_PATH``, ``./plugins``
(or ``--project DIR``/plugins), the user data folder and installed packages
(entry point group ``gpi.plugins``). Problems (broken manifests, shadowed
duplicates) are listed under the table. ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gpi.plugins.discovery import Problem, find_plugins
from gpi.plugins.errors import PluginError
from gpi.plugins.resolve import find_problems
from gpi.plugins.signing import Keyring, default_keyring_dir

__all__ = ["register"]

_STATE_STYLE = {
    "valid": "green",
    "unsigned": "yellow",
    "unknown_key": "yellow",
    "tampered": "bold red",
    "bad_signature": "bold red",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi plugins`` and its ``list`` sub-command."""
    p = subparsers.add_parser(
        "plugins",
        help="list installed plugins",
        description="Inspect the plugins GPI can find.",
    )
    sub = p.add_subparsers(dest="plugins_command", metavar="ACTION")
    sub.required = True
    lst = sub.add_parser(
        "list",
        help="show discovered plugins: name, version, path, signature state, dependencies",
    )
    lst.add_argument(
        "--path", type=Path, action="append", default=[], help="extra plugin folder (repeatable)"
    )
    lst.add_argument("--keyring", type=Path, default=None, help="folder of trusted .pub keys")
    lst.add_argument("--project", type=Path, default=None, help="project folder (default: .)")
    lst.add_argument("--no-user", action="store_true", help="skip the user data folder")
    lst.add_argument("--no-entry-points", action="store_true", help="skip installed packages")
    lst.add_argument("--json", action="store_true", help="print JSON instead of a table")
    lst.set_defaults(handler=_list)


def _list(args: argparse.Namespace) -> int:
    try:
        ring = Keyring.load(args.keyring or default_keyring_dir())
        report = find_plugins(
            args.path,
            project_dir=args.project,
            include_user=not args.no_user,
            entry_points=not args.no_entry_points,
            keyring=ring,
        )
    except (PluginError, OSError) as exc:
        print(f"gpi plugins list: error: {exc}", file=sys.stderr)
        return 1
    # dependencies are checked across everything installed, as the host would
    _, dep_problems = find_problems(report.manifests())
    report.problems.extend(
        Problem("dependency", " -> ".join(d.chain), d.message) for d in dep_problems
    )
    if args.json:
        doc = {
            "plugins": [
                {
                    "name": p.name,
                    "version": p.manifest.version,
                    "path": str(p.path),
                    "source": p.source,
                    "signature": p.signature_state,
                    "signature_detail": p.signature.detail,
                    "dependencies": {k: str(v) for k, v in p.manifest.dependencies.items()},
                }
                for p in report.plugins
            ],
            "problems": [
                {"kind": q.kind, "where": q.where, "message": q.message} for q in report.problems
            ],
        }
        print(json.dumps(doc, indent=2))
        return 0

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(soft_wrap=False)
    table = Table(title=f"GPI plugins ({len(report.plugins)})")
    for col in ("name", "version", "signature", "dependencies", "source", "path"):
        table.add_column(col, overflow="fold")
    for p in report.plugins:
        deps = ", ".join(f"{k}{v}" if str(v) else k for k, v in p.manifest.dependencies.items())
        style = _STATE_STYLE.get(p.signature_state, "")
        table.add_row(
            escape(p.name),
            escape(p.manifest.version),
            f"[{style}]{p.signature_state}[/]" if style else p.signature_state,
            escape(deps or "-"),
            p.source,
            escape(str(p.path)),
        )
    if report.plugins:
        console.print(table)
    else:
        console.print(
            "no plugins found (searched --path, ./plugins, the user data folder "
            "and installed packages)"
        )
    for q in report.problems:
        console.print(f"[yellow]{q.kind}[/]: {escape(q.message)}", highlight=False, soft_wrap=True)
    return 0
