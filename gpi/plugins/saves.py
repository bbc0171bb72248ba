"""The host's side of plugin saves: commands in, one atomic batch per call, snapshots out.

A system with capability ``save`` calls ``ctx.save(key, value)`` /
``ctx.delete_save(key)``; the operations travel back with its result (the
``saves`` field, ``[["put", key, value] | ["del", key], ...]``). The host
applies them *after* that call's world commands, in schedule order, as one
:meth:`SaveStore.write` transaction (the last operation on a key wins), so a
crash of the host never leaves half a batch. A call whose commands were
rejected, or which raised, saves nothing.

Reads are deterministic and need no round trip: every run request of a
plugin carries its whole item map (``saved``) whenever the store changed
since that plugin's current child last saw it; ``ctx.load(key)`` reads that
map. The store is ``<data_dir>/saves.sqlite`` (WAL, ``synchronous=FULL``),
opened when a plugin with the ``save`` capability first runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gpi.plugins.faults import FaultKind
from gpi.plugins.savestore import DEFAULT_QUOTA, MEMORY, SaveStore, SaveStoreError

if TYPE_CHECKING:
    from gpi.plugins.host import PluginHost

__all__ = ["HostSaves"]


class HostSaves:
    """Applies plugins' save operations to a :class:`SaveStore` and hands out item snapshots."""

    def __init__(self, host: PluginHost, quota_bytes: int = DEFAULT_QUOTA) -> None:
        self.host = host
        self.quota_bytes = quota_bytes
        #: keep the store in memory instead of ``<data_dir>/saves.sqlite`` (set before first use)
        self.in_memory = False
        self._store: SaveStore | None = None
        self._version: dict[str, int] = {}  # plugin -> bumped on every applied batch
        self._seen: dict[str, tuple[int, int]] = {}  # plugin -> (id(worker), version) it was sent

    @property
    def store(self) -> SaveStore:
        """The save store (opened on first use)."""
        if self._store is None:
            path = MEMORY if self.in_memory else self.host.supervision.data_dir / "saves.sqlite"
            self._store = SaveStore(path, quota_bytes=self.quota_bytes)
        return self._store

    def plugins(self) -> list[str]:
        """Loaded plugins granted ``save``, in load order."""
        return [name for name, lp in self.host.plugins.items() if "save" in lp.granted]

    def state(self) -> dict[str, dict[str, Any]]:
        """Every save-granted plugin's items (``{}`` when it has none): what a replay keyframe keeps."""
        return {name: self.store.items(name) for name in self.plugins()}

    def load_state(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Make the store hold ``state`` for every save-granted plugin (absent plugins: empty).

        Children see the new items with their next request (versions bumped).
        """
        for name in self.plugins():
            self.store.replace(name, dict(state.get(name) or {}))
            self._version[name] = self._version.get(name, 0) + 1

    def snapshot_for(self, plugin: str, worker: Any) -> dict[str, Any] | None:
        """The plugin's items if ``worker`` has not seen the current version, else None."""
        mark = (id(worker), self._version.get(plugin, 0))
        if self._seen.get(plugin) == mark:
            return None
        self._seen[plugin] = mark
        return self.store.items(plugin)

    def apply(self, plugin: str, system: str, ops: Any) -> bool:
        """Write one call's save operations as one batch; a refused batch is a fault, nothing written."""
        source = f"plugin {plugin!r} system {system!r}"
        puts: dict[str, Any] = {}
        deletes: dict[str, None] = {}
        try:
            for op in ops:
                if op[0] == "put" and len(op) == 3:
                    puts[op[1]] = op[2]
                    deletes.pop(op[1], None)
                elif op[0] == "del" and len(op) == 2:
                    deletes[op[1]] = None
                    puts.pop(op[1], None)
                else:
                    raise SaveStoreError(f"unknown save operation {op!r}")
            self.store.write(plugin, puts, list(deletes))
        except (SaveStoreError, TypeError, IndexError, KeyError) as exc:
            self.host.events.fault(FaultKind.SAVE_REJECTED, plugin, system, f"{source}: saves not written: {exc}")
            return False
        self._version[plugin] = self._version.get(plugin, 0) + 1
        return True

    def close(self) -> None:
        """Close the store; safe twice."""
        store, self._store = self._store, None
        if store is not None:
            store.close()
