"""The built-in bitmap font: text as quads, one per lit horizontal run of a glyph row.

The glyphs are Pillow's built-in 6x11 font (``ImageFont.load_default_imagefont``),
ASCII 32..126, stored as 11 rows per glyph, two hex digits per row, bit 5 the
leftmost pixel. :func:`text_quads` lays a string out in world units; the
builder (:meth:`gpi.draw.DrawList.text`) draws the quads it returns.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FONT_CELL", "text_quads"]

FONT_CELL = (6, 11)
_FONT_HEX = (
    "000000000000000000000000000018181818001800000000001414140000000000000014143e14143e141400"
    "00081e323c1e06363c08000000382a3c081e2a0e00000000001c30183e2c3e000000000c0810000000000000"
    "0000040818181818080400000010080c0c0c0c0810000000083c1824000000000000000008083e0808000000"
    "00000000000000000c081000000000003e000000000000000000000000001800000000020204040808101000"
    "00001c36363636361c000000000c3c0c0c0c0c3f000000001c36060c18363e000000001c36061c06361c0000"
    "0000060e16363f0606000000003e303c3606263c000000001c36303c36361c000000003e36060c0c18180000"
    "00001c36361c36361c000000001c36361e06361c000000000000001800001800000000000000180000181020"
    "0000000c1830180c000000000000003c003c00000000000000180c060c180000000000001c260c1800180000"
    "00001c32262a2a27301c000000003c1c143e363700000000003c363c36363c00000000001e363030361c0000"
    "0000003c363636363c00000000003e303c30363e00000000003e303c30303800000000001c36303e361e0000"
    "00000037363e36363700000000003c181818183c00000000001e0c0c2c2c3800000000003634383c363b0000"
    "00000038303030363e00000000002236363e2a2a0000000000373a3a36363200000000001c363636361c0000"
    "0000003c36363c303800000000001c363636361c06000000003c36363c363b00000000001e323c0e263c0000"
    "0000003e1a1818183c000000000037363636361c00000000003736141c1c0800000000002b2a2a3e1c140000"
    "000000331e0c0c1e33000000000033331e0c0c1e00000000003e360c18363e000000001c1818181818181c00"
    "000020201010080804040000001c0c0c0c0c0c0c1c000000081c36000000000000000000000000000000003f"
    "0000180804000000000000000000001c361e363f0000000030303c3636363c0000000000001c3630361c0000"
    "00000e061e3636361f0000000000001c363e301e000000000e183e1818183e0000000000001b3636361e063c"
    "000030303c36363636000000000c003c0c0c0c3f000000000c003c0c0c0c0c0c3800003030363c383c370000"
    "00003c0c0c0c0c0c3f0000000000003c3e2a2a2a0000000000002c363636360000000000001c3636361c0000"
    "000000003c3636363c3038000000001b3636361e060f00000000371d18183c0000000000001e381e073e0000"
    "000018183e18181b0e000000000000363636361f00000000000036361c1c080000000000002b2a3e1e140000"
    "000000003b1e0c1e37000000000000373636141c1830000000003e2c18363e00000000060c0c180c0c0c0600"
    "000000080808080808080000003018180c1818183000000000001a2c0000000000"
)


def _glyph_runs() -> dict[int, np.ndarray]:
    """Per character code: float32 ``[k, 3]`` rows ``(x, y, length)`` of lit horizontal runs."""
    w, h = FONT_CELL
    data = bytes.fromhex(_FONT_HEX)
    runs: dict[int, np.ndarray] = {}
    for ci in range(95):
        rows = data[ci * h : (ci + 1) * h]
        out: list[tuple[int, int, int]] = []
        for y, bits in enumerate(rows):
            x = 0
            while x < w:
                if bits & (1 << (w - 1 - x)):
                    start = x
                    while x < w and bits & (1 << (w - 1 - x)):
                        x += 1
                    out.append((start, y, x - start))
                else:
                    x += 1
        runs[32 + ci] = np.array(out, dtype=np.float32).reshape(-1, 3)
    return runs


_GLYPHS = _glyph_runs()


def text_quads(x: float, y: float, text: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``[k, 2]`` and sizes ``[k, 2]`` of the quads that draw ``text`` with top-left at (x, y).

    World y points up: rows go down from ``y``; each font pixel is ``scale``
    world units; ``\n`` starts a new line; characters outside ASCII 32..126 draw as '?'.
    """
    cw, ch = FONT_CELL
    parts_c: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    col = row = 0
    for chr_ in text:
        if chr_ == "\n":
            col, row = 0, row + 1
            continue
        runs = _GLYPHS.get(ord(chr_), _GLYPHS[ord("?")])
        if runs.size:
            cx = x + (col * cw + runs[:, 0] + runs[:, 2] * 0.5) * scale
            cy = y - (row * ch + runs[:, 1] + 0.5) * scale
            parts_c.append(np.stack([cx, cy], axis=1))
            parts_s.append(np.stack([runs[:, 2] * scale, np.full(len(runs), scale)], axis=1))
        col += 1
    if not parts_c:
        empty = np.zeros((0, 2), dtype=np.float32)
        return empty, empty
    return (np.concatenate(parts_c).astype(np.float32), np.concatenate(parts_s).astype(np.float32))
