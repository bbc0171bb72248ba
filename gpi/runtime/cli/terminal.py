"""Plugin output in the terminal for ``gpi run`` / ``gpi demo``: logs as they happen, repeats collapsed, resources.

:class:`LogPrinter` subscribes to a host's log lines (``ctx.log`` of every
plugin and the host's own fault lines, sources ``plugin/system``) and prints
those at or above ``--log-level`` as they arrive, each naming its plugin and
system; the text is neutralised (:mod:`gpi.safetext`), so plugin text cannot
drive the terminal. A line identical to one already printed is counted, not
printed again; :meth:`LogPrinter.finish` says how often each repeated.
:func:`resource_rows` is the end-of-run summary of the world's resources.
"""

from __future__ import annotations

from typing import Any

from gpi.safetext import neutralise

__all__ = ["LEVELS", "LogPrinter", "resource_rows"]

#: ``--log-level`` names, lowest first.
LEVELS = ("debug", "info", "warning", "error")
#: A resource whose repr is at most this long is shown in full; longer ones are summarised.
SMALL_RESOURCE = 120


class LogPrinter:
    """Print a host's log lines at or above ``level`` (see the module docstring); ``off`` prints none."""

    def __init__(self, console: Any, level: str = "info") -> None:
        self.console = console
        self.min = LEVELS.index(level) if level in LEVELS else len(LEVELS)
        self.repeats: dict[tuple[str, str, str], int] = {}
        self._order: list[tuple[str, str, str]] = []

    def __call__(self, source: str, level: str, text: str) -> None:
        """One log line (the host's log hook signature)."""
        lv = level.lower()
        if (LEVELS.index(lv) if lv in LEVELS else 1) < self.min:
            return
        key = (source, lv, text)
        if key in self.repeats:
            self.repeats[key] += 1
            return
        self.repeats[key] = 1
        self._order.append(key)
        self.console.print(self.format(*key), markup=False, highlight=False, soft_wrap=True)

    @staticmethod
    def format(source: str, level: str, text: str) -> str:
        """``[plugin/system] level: text``, neutralised."""
        return f"[{neutralise(source, limit=200)}] {level}: {neutralise(text, limit=2000)}"

    def finish(self) -> None:
        """Print how often each line that repeated was seen in all."""
        for key in self._order:
            n = self.repeats[key]
            if n > 1:
                self.console.print(f"{self.format(*key)[:300]} (x{n} in all)", markup=False, highlight=False,
                                   soft_wrap=True)


def resource_rows(resources: dict[str, Any]) -> list[tuple[str, str]]:
    """``(name, shown value)`` per resource, sorted: small values in full, others as their type and size."""
    rows = []
    for name in sorted(resources, key=str):
        value = resources[name]
        text = repr(value)
        if len(text) > SMALL_RESOURCE:
            size = f"{len(value)} items" if hasattr(value, "__len__") else f"{len(text)} chars"
            text = f"{type(value).__name__} ({size})"
        rows.append((neutralise(str(name), limit=200), neutralise(text, limit=SMALL_RESOURCE)))
    return rows
