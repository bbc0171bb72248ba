"""Hot-swap: plugins whose files change are replaced at the next tick boundary.

:meth:`PluginHost.enable_hot_swap` creates a :class:`HotSwapper` over a
:class:`~gpi.plugins.watch.PluginWatcher` of the loaded plugins' folders (or
a watcher you pass). At the start of every :meth:`PluginHost.tick`, before
any system runs, :meth:`HotSwapper.process` takes the folders that changed
(and names queued with :meth:`HotSwapper.request`, e.g. the overlay's reload
button) and calls :meth:`PluginHost.reload` for each, in name order:

1. the new version starts beside the old one (new child, handshake);
2. its component schemas must equal the registered ones, else the swap is
   refused with a message naming the component;
3. the old child stops, the new one takes its place and the schedule is
   rebuilt; the world and the other plugins never stop.

A swap that fails (syntax error, import error, schema conflict) leaves the old
version running and records a ``reload_failed`` fault, so a replay shows it.
Each tick is therefore all-old or all-new code: no tick is lost or mixed. The
swapped names land in ``TickReport.swaps``.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpi.plugins.host import PluginHost

__all__ = ["HISTORY_KEPT", "HotSwapper"]

#: Swap attempts kept in :attr:`HotSwapper.history`.
HISTORY_KEPT = 1024


class HotSwapper:
    """Turns folder changes and reload requests into swaps at tick boundaries."""

    def __init__(self, host: PluginHost, watcher: Any = None) -> None:
        from gpi.plugins.watch import PluginWatcher

        self.host = host
        self._own_watcher = watcher is None or isinstance(watcher, (list, tuple, set, str, os.PathLike))
        if watcher is None:
            watcher = PluginWatcher([lp.manifest.path for lp in host.plugins.values()])
        elif self._own_watcher:
            dirs = [watcher] if isinstance(watcher, (str, os.PathLike)) else list(watcher)
            watcher = PluginWatcher([Path(d) for d in dirs])
        self.watcher = watcher
        self._requested: set[str] = set()
        #: (tick, plugin, ok) of the latest swaps attempted.
        self.history: deque[tuple[int, str, bool]] = deque(maxlen=HISTORY_KEPT)

    def request(self, name: str) -> None:
        """Swap ``name`` at the next tick boundary (as if its files had changed)."""
        self._requested.add(name)

    def _names_for(self, folders: list[Path]) -> set[str]:
        by_dir = {Path(lp.manifest.path).resolve(): name for name, lp in self.host.plugins.items()}
        return {by_dir[f] for f in (Path(x).resolve() for x in folders) if f in by_dir}

    def process(self) -> list[str]:
        """Swap every changed or requested plugin now; returns the names that swapped."""
        names = self._names_for(self.watcher.poll()) | self._requested
        self._requested = set()
        swapped = []
        for name in sorted(names):
            if name not in self.host.plugins:
                continue
            ok = self.host.reload(name)
            self.history.append((self.host.tick_count, name, ok))
            if ok:
                swapped.append(name)
        return swapped

    def close(self) -> None:
        """Stop the watcher if this swapper made it; safe twice."""
        if self._own_watcher and self.watcher is not None:
            self.watcher.close()
        self.watcher = None
