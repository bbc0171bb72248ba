"""``gpi replay info``: what a replay file holds, as a dict (``--json``) or as tables.

The figures come from the reader (:class:`gpi.replays.Replay`): header,
ticks, blocks and keyframes, bytes per tick with and without keyframe
blocks, and where a damaged (truncated or corrupt) tail starts.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from gpi.replays import Replay
from gpi.safetext import neutralise

__all__ = ["info_dict", "print_info"]


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def info_dict(rp: Replay) -> dict[str, Any]:
    """The replay's header, size, keyframes and damage as plain data (``--json``)."""
    h = rp.header
    seconds = rp.tick_count / h.tick_rate
    return {
        "file": rp.path,
        "file_bytes": rp.file_size,
        "engine_version": h.engine_version,
        "abi_version": h.abi_version,
        "seed": h.seed,
        "tick_rate": h.tick_rate,
        "start_tick": h.start_tick,
        "keyframe_interval": h.keyframe_interval,
        "checksum_interval": h.checksum_interval,
        "created": h.created,
        "plugins": [dict(p) for p in h.plugins],
        "components": [c.get("name", "?") for c in h.schema],
        "initial_snapshot_bytes": len(h.initial_snapshot),
        "ticks": rp.tick_count,
        "first_tick": rp.start_tick if rp.tick_count else None,
        "last_tick": rp.last_tick,
        "seconds": seconds,
        "blocks": len(rp.blocks),
        "keyframes": rp.keyframe_ticks,
        "bytes_per_tick": rp.bytes_per_tick(),
        "bytes_per_tick_without_keyframes": rp.bytes_per_tick(include_keyframes=False),
        "bytes_per_second": rp.data_bytes / seconds if seconds else 0.0,
        "complete": rp.complete,
        "tail": None
        if rp.tail is None
        else {
            "kind": rp.tail.kind,
            "offset": rp.tail.offset,
            "block": rp.tail.block_index,
            "tick": rp.tail.tick,
            "reason": rp.tail.reason,
            "lost_bytes": rp.tail.lost_bytes,
        },
    }


# -- handlers ------------------------------------------------------------------


def print_info(d: dict[str, Any], name: str) -> None:
    """Print :func:`info_dict`'s ``d`` as rich tables (replay ``name``)."""
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title=f"replay {name}", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    created = (
        _dt.datetime.fromtimestamp(d["created"], _dt.UTC).isoformat(timespec="seconds")
        if d["created"]
        else "-"
    )
    kfs = d["keyframes"]
    kf_text = f"{len(kfs)}" + (
        f" (ticks {', '.join(map(str, kfs[:6]))}{', ...' if len(kfs) > 6 else ''})" if kfs else ""
    )
    rows = [
        ("engine / ABI", f"{d['engine_version']} / ABI {d['abi_version']}"),
        ("created", created),
        ("seed", str(d["seed"])),
        ("tick rate", f"{d['tick_rate']:g} Hz"),
        (
            "ticks",
            f"{d['ticks']} ({d['first_tick']}..{d['last_tick']}, {d['seconds']:.1f} s)"
            if d["ticks"]
            else "0",
        ),
        ("blocks", str(d["blocks"])),
        ("keyframes", f"{kf_text}, every {d['keyframe_interval']} ticks"),
        (
            "checksums",
            f"chain per block, plus every {d['checksum_interval']} ticks and at keyframes"
            if d["checksum_interval"]
            else "chain per block, plus at keyframes",
        ),
        ("components", ", ".join(d["components"]) or "-"),
        ("initial snapshot", _fmt_bytes(d["initial_snapshot_bytes"])),
        ("file size", _fmt_bytes(d["file_bytes"])),
        (
            "bytes per tick",
            f"{d['bytes_per_tick']:.2f} ({d['bytes_per_tick_without_keyframes']:.2f} without keyframe blocks)",
        ),
        ("bytes per second", f"{d['bytes_per_second']:.1f}"),
    ]
    if d["tail"] is not None:
        tl = d["tail"]
        rows.append(
            (
                "damage",
                f"[red]{tl['kind']} tail at byte {tl['offset']} (block {tl['block']}): "
                f"ticks from {tl['tick']} lost, {tl['lost_bytes']} bytes unused; {neutralise(tl['reason'], markup=True)}[/red]",
            )
        )
    rows.append(
        (
            "closed cleanly",
            "[green]yes[/green]"
            if d["complete"]
            else "[yellow]no (recorder did not close; readable up to the last block)[/yellow]",
        )
    )
    for k, v in rows:
        t.add_row(k, v)
    con.print(t)
    if d["plugins"]:
        pt = Table(title="plugins")
        for col in ("name", "version", "content hash"):
            pt.add_column(col)
        for p in d["plugins"]:
            pt.add_row(*(neutralise(p.get(k), markup=True, limit=200) for k in ("name", "version", "content_hash")))
        con.print(pt)
