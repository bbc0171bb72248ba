"""Watching plugin folders for changes, for hot-swap.

A :class:`PluginWatcher` runs ``watchfiles`` (inotify underneath) in a
background thread and collects which plugin folders changed. The host calls
:meth:`PluginWatcher.poll` once per tick boundary; it never blocks the tick.
Changes to bytecode caches and editor temporaries are ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from watchfiles import watch

__all__ = ["PluginWatcher"]

_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", ".tmp", "~")
_IGNORED_PARTS = ("__pycache__", ".git", ".pytest_cache")


def _relevant(path: Path) -> bool:
    return not path.name.endswith(_IGNORED_SUFFIXES) and not any(p in path.parts for p in _IGNORED_PARTS)


class PluginWatcher:
    """Collects the plugin folders whose files changed since the last poll."""

    _thread: threading.Thread | None = None

    def __init__(self, plugin_dirs: Iterable[str | Path], debounce_ms: int = 30) -> None:
        self.plugin_dirs = sorted({Path(d).resolve() for d in plugin_dirs})
        self._changed: set[Path] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._debounce_ms = debounce_ms
        if self.plugin_dirs:
            self._thread = threading.Thread(target=self._run, name="gpi-plugin-watcher", daemon=True)
            self._thread.start()
            self._ready.wait(5)

    def _owner(self, path: Path) -> Path | None:
        for d in self.plugin_dirs:
            if path == d or d in path.parents:
                return d
        return None

    def _run(self) -> None:
        self._ready.set()
        for changes in watch(
            *self.plugin_dirs,
            stop_event=self._stop,
            debounce=self._debounce_ms,
            step=10,
            rust_timeout=200,
            yield_on_timeout=False,
        ):
            hits = {self._owner(Path(p)) for _change, p in changes if _relevant(Path(p))}
            with self._lock:
                self._changed.update(h for h in hits if h is not None)

    def poll(self) -> list[Path]:
        """Plugin folders changed since the last call, sorted; never blocks."""
        with self._lock:
            changed, self._changed = self._changed, set()
        return sorted(changed)

    def close(self) -> None:
        """Stop the watcher thread; safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(2)

    def __enter__(self) -> PluginWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
