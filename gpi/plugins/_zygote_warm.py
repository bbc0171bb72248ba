"""Imported once by the fork-server: work every plugin child would otherwise repeat after the fork.

The sandbox's modules, ``sysconfig``'s configuration (the audit hook asks for
the standard library paths) and the draw-list kernel are loaded here, so a
forked child only pays for its own plugin.
"""

from __future__ import annotations

import sysconfig

sysconfig.get_paths()

try:  # optional: the sandbox package may be missing on other platforms
    import gpi.plugins.sandbox  # noqa: F401
except Exception:  # pragma: no cover
    pass
