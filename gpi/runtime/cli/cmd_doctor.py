"""``gpi doctor``: which plugin-sandbox layers work on this machine.

Runs :func:`gpi.plugins.sandbox.probe_layers` (a throwaway child applies the
full sandbox and checks from inside that it bites) and prints one row per
layer, plus whether memfd sealing makes shared segments read-only for peers,
and whether wasm plugins (wasmtime, fuel, memory caps) work and where they run.
Exit status 0 when every layer the default policy requires, and memfd
sealing, are available; 1 otherwise. ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi doctor``."""
    p = subparsers.add_parser(
        "doctor",
        help="check which sandbox layers this machine supports",
        description="Probe the plugin sandbox layers in a throwaway child and print them.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from gpi.plugins.sandbox import ALL_LAYERS, DEFAULT_REQUIRED, probe_layers
    from gpi.plugins.wasm.loader import probe as wasm_probe

    layers = dict(probe_layers())
    layers["wasm"] = wasm_probe()  # not an OS layer: a sandbox of its own for kind = "wasm" plugins
    must = set(DEFAULT_REQUIRED) | {"memfd_seal"}
    rows = []
    for name in (*ALL_LAYERS, "memfd_seal", "wasm", "probe"):
        if name in layers:
            ok, detail = layers[name]
            rows.append((name, ok, name in must or name == "probe", detail))
    missing = [n for n, ok, req, _ in rows if req and not ok] + [n for n in must if n not in layers]
    code = 1 if missing else 0
    if args.json:
        print(json.dumps({
            "python": sys.version.split()[0],
            "kernel": platform.release(),
            "layers": {n: {"available": ok, "required": req, "detail": d} for n, ok, req, d in rows},
            "missing_required": sorted(set(missing)),
            "ok": code == 0,
        }))
        return code
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"GPI sandbox layers (Python {sys.version.split()[0]}, Linux {platform.release()})")
    table.add_column("layer")
    table.add_column("available")
    table.add_column("required by default")
    table.add_column("detail", overflow="fold")
    for name, ok, req, detail in rows:
        mark = "[green]yes[/]" if ok else ("[bold red]NO[/]" if req else "[yellow]no[/]")
        table.add_row(name, mark, "yes" if req else "no", detail)
    console.print(table)
    if missing:
        console.print(
            f"[bold red]missing required layer(s): {', '.join(sorted(set(missing)))}[/] — plugins "
            "will not start under the default policy; see docs/security.md"
        )
    else:
        console.print("[green]all layers the default policy requires are available[/]")
    return code
