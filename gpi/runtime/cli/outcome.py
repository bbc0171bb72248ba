"""The exit status of a run (``gpi run``, ``gpi profile``, ``gpi demo``): non-zero when plugins went wrong.

A plugin's CI can run a scene as a test: the status is 1 when a plugin was
disabled (circuit breaker) or could not be restarted, and with ``--strict``
when any fault at all was recorded (an exception, a rejected command list, a
stall, ...). Loading failures exit 1 before the run starts.
"""

from __future__ import annotations

from typing import Any

from gpi.plugins.faults import FaultKind, PluginState
from gpi.safetext import neutralise

__all__ = ["run_outcome"]

_BAD_STATES = (PluginState.DISABLED, PluginState.CRASHED)
_BAD_KINDS = (FaultKind.DISABLED, FaultKind.RESTART_FAILED)


def run_outcome(host: Any, *, strict: bool = False) -> tuple[int, list[str]]:
    """``(exit status, reasons)`` for a finished run of ``host`` (a PluginHost); reasons are terminal-safe."""
    reasons: list[str] = []
    bad = {name for name, lp in host.plugins.items() if lp.status in _BAD_STATES}
    bad |= {str(f.get("plugin")) for f in host.faults if f.get("kind") in _BAD_KINDS}
    for name in sorted(bad):
        lp = host.plugins.get(name)
        state = lp.status if lp is not None else "disabled"
        reasons.append(f"plugin {neutralise(name, limit=200)} was {state}")
    total = host.events.fault_count
    if strict and total:
        reasons.append(f"--strict: {total} fault(s) recorded")
    return (1 if reasons else 0), reasons
