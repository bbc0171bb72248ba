"""Re-record the golden replays and re-render their reference images.

Usage (from the repository root)::

    .venv/bin/python tests/golden/regenerate.py              # replays and images
    .venv/bin/python tests/golden/regenerate.py --images-only

Look at the new PNGs in tests/golden/reference/ before committing them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import golden_tools as gt  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Regenerate; returns an exit code."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images-only", action="store_true", help="keep the replays, re-render the images")
    args = ap.parse_args(argv)
    for g in gt.GOLDEN:
        if not args.images_only:
            print(f"recording {gt.record(g)}")
        for t, img in gt.render(g).items():
            print(f"writing {gt.save_png(img, g.reference(t))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
