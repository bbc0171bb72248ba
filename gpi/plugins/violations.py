"""Violation records: what a plugin tried that something refused, and who refused it.

A *violation* is one refusal, seen by the host, attributed to a plugin::

    {"plugin": "socket_connect", "system": "attack", "tick": 3,
     "layer": "seccomp", "what": "syscall refused (EPERM): Operation not permitted",
     "kind": "exception"}

``layer`` names what stopped the attempt. The sandbox layers
(``rlimits``, ``no_new_privs``, ``pdeathsig``, ``netns``, ``landlock``,
``seccomp``, ``memfd_seal``; see :mod:`gpi.plugins.sandbox`) answer inside the
child; the host itself adds four more:

==============  ===============================================================
``deadline``    the child did not answer within the host's per-call timeout and
                was killed and restarted
``validation``  the host rejected the command list (malformed wire data, too many
                operations, undeclared writes): the world is unchanged
``protocol``    the child spoke nonsense on the channel and was restarted
``process``     the child crashed (a signal that is no sandbox limit, an exit):
                only that process died
==============  ===============================================================

Sources, best first: the child may attach a classified record to an error
result (``error["violation"]``, from
:func:`gpi.plugins.sandbox.classify_violation`); otherwise
:func:`classify_error` maps the error's type, errno and traceback text the same
way; a dead child's exit status goes through
:func:`gpi.plugins.sandbox.classify_exit`.

:class:`ViolationMonitor` subscribes to a host's faults (its
:class:`~gpi.plugins.host.events.HostEvents`), keeps the records and counts
them per plugin and per layer; telemetry and the overlay read it. Records are
informational: the refusal has happened whether or not it is reported, and a
plugin that catches its own ``PermissionError`` hides it from this log.
"""

from __future__ import annotations

import errno
import re
import signal
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from gpi.plugins.faults import FaultKind
from gpi.plugins.sandbox.report import classify_exit

__all__ = [
    "HOST_LAYERS",
    "LAYERS",
    "ViolationMonitor",
    "classify_error",
    "classify_exit_code",
    "from_fault",
]

#: Layers the host adds to the sandbox's own (see the module doc).
HOST_LAYERS = ("deadline", "validation", "protocol", "process")
#: Every layer a record may name: the sandbox's (plus the memfd seals) and the host's.
LAYERS = frozenset({"rlimits", "no_new_privs", "pdeathsig", "netns", "landlock", "seccomp", "memfd_seal",
                    *HOST_LAYERS})
_TEXT = 500  # characters kept of any text a child sent
#: Violation records kept in :attr:`ViolationMonitor.records` (the counts cover every one).
RECORDS_KEPT = 10_000

_ERRNO = re.compile(r"\[Errno (\d+)\]")


def classify_error(error: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"layer", "what"}`` for an error result ``{type, message, traceback}``, or None.

    Mirrors :func:`gpi.plugins.sandbox.classify_violation` for errors that
    crossed the wire as text: EPERM/ENOSYS are seccomp (EPERM/EACCES at an
    ``mmap``/``mprotect`` call: the memfd seals), EACCES is Landlock,
    ENETUNREACH and friends the network namespace, MemoryError/EFBIG/EMFILE
    the rlimits, and numpy's "read-only" refusal the read-only world mapping.
    """
    found = error.get("violation")
    if isinstance(found, Mapping) and found.get("layer") in LAYERS:
        # The child's own classification (untrusted: only known layers and short text are kept).
        out = {"layer": str(found["layer"]), "what": str(found.get("what") or "")[:_TEXT]}
        for key in ("where", "call"):
            if found.get(key):
                out[key] = str(found[key])[:_TEXT]
        return out
    typ = str(error.get("type") or "")
    msg = str(error.get("message") or "")
    tb = str(error.get("traceback") or "")
    tail = "\n".join(tb.strip().splitlines()[-4:]).lower()
    if typ == "MemoryError":
        return {"layer": "rlimits", "what": "address space limit (RLIMIT_AS) reached"}
    if typ == "ValueError" and "read-only" in msg:
        return {"layer": "memfd_seal", "what": f"write to the read-only world view refused: {msg}"}
    if typ == "ValueError" and "not allowed to raise maximum limit" in msg:
        return {"layer": "rlimits", "what": "attempt to raise a resource limit refused"}
    m = _ERRNO.search(msg)
    if m is None:
        return None
    code = int(m.group(1))
    text = msg[m.end():].strip()
    if code in (errno.EPERM, errno.EACCES) and ("mmap" in tail or "mprotect" in tail or "mprotect" in msg):
        return {"layer": "memfd_seal", "what": f"writable mapping of a sealed (read-only) segment refused: {text}"}
    if code == errno.EPERM:
        return {"layer": "seccomp", "what": f"syscall refused (EPERM): {text}"}
    if code == errno.ENOSYS:
        return {"layer": "seccomp", "what": f"syscall refused (ENOSYS): {text}"}
    if code == errno.EACCES:
        return {"layer": "landlock", "what": f"file system access denied: {text}"}
    if code in (errno.ENETUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL, errno.EHOSTUNREACH):
        return {"layer": "netns", "what": f"network unreachable: {text}"}
    if code == errno.EFBIG:
        return {"layer": "rlimits", "what": f"file size limit (RLIMIT_FSIZE) reached: {text}"}
    if code == errno.EMFILE:
        return {"layer": "rlimits", "what": "open file limit (RLIMIT_NOFILE) reached"}
    return None


def classify_exit_code(returncode: int | None) -> dict[str, Any]:
    """``{"layer", "what"}`` for a child that died with ``returncode`` (``Popen`` convention)."""
    if returncode is None:
        return {"layer": "process", "what": "child died (exit status unknown)"}
    info = classify_exit(returncode)
    if info is not None and returncode != -signal.SIGKILL:
        return {"layer": str(info["layer"]), "what": str(info["what"]), "returncode": returncode}
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return {"layer": "process", "what": f"child killed by {name}", "returncode": returncode}
    return {"layer": "process", "what": f"child exited with code {returncode}", "returncode": returncode}


def from_fault(fault: Mapping[str, Any], returncode: int | None = None, *, confined: bool = True) -> dict[str, Any] | None:
    """A violation record for one host fault record (``PluginHost.faults``), or None.

    ``returncode`` is the dead child's exit status when the host knows it.
    Plugin exceptions that no layer explains (a plain ``RuntimeError``) are
    bugs, not violations: None; so is every exception of a plugin that ran
    unconfined (``confined=False``: its ``PermissionError`` is the machine's
    ordinary permissions, not a sandbox layer) unless the child classified it.
    """
    kind = str(fault.get("kind") or "")
    err = str(fault.get("error") or "")
    info: dict[str, Any] | None
    if kind == FaultKind.EXCEPTION:
        # The host keeps the child's {type, message, traceback} in the fault's error text.
        m = re.search(r" raised (\w+): (.*)", err, re.S)
        error = {"type": m.group(1) if m else "", "message": m.group(2) if m else err,
                 "traceback": fault.get("traceback", ""), "violation": fault.get("violation")}
        info = classify_error(error) if confined or fault.get("violation") else None
    elif kind == FaultKind.TIMEOUT:
        info = {"layer": "deadline", "what": f"no answer within the deadline: {err}"}
    elif kind == FaultKind.REJECTED:
        info = {"layer": "validation", "what": f"command list rejected, world unchanged: {err}"}
    elif kind == FaultKind.PROTOCOL:
        info = {"layer": "protocol", "what": f"child broke the protocol: {err}"}
    elif kind == FaultKind.CRASHED:
        info = classify_exit_code(returncode)
    else:
        info = None
    if info is None:
        return None
    rec = {k: v for k, v in info.items() if k in ("where", "call", "signal", "returncode")}
    # The host's attribution, never the child's: a child could claim to be another plugin.
    rec.update(plugin=fault.get("plugin"), system=fault.get("system") or "", tick=fault.get("tick"),
               layer=info["layer"], what=info["what"], kind=kind)
    return rec


class ViolationMonitor:
    """Collects violation records from a plugin host's faults; counts them per plugin and layer.

    ::

        mon = ViolationMonitor(host)
        host.run(30)
        mon.update()
        mon.count("socket_connect")      # -> 30
        mon.layers("socket_connect")     # -> {"seccomp": 30}
    """

    def __init__(self, host: Any, on_violation: Callable[[dict[str, Any]], None] | None = None,
                 limit: int = RECORDS_KEPT) -> None:
        """Watch ``host`` (a :class:`~gpi.plugins.host.PluginHost`: its ``events`` and ``plugins``) from now on."""
        self.host = host
        #: The latest violation records, oldest first (a window; the counts below cover them all).
        self.records: deque[dict[str, Any]] = deque(maxlen=limit)
        self._per_layer: Counter[tuple[str, str]] = Counter()  # (plugin, layer) -> records ever
        self._pending: list[dict[str, Any]] = []  # faults published since the last update()
        self._hooks: list[Callable[[dict[str, Any]], None]] = []
        if on_violation is not None:
            self._hooks.append(on_violation)
        host.events.on_fault(self._pending.append)

    def _confined(self, plugin: str) -> bool:
        lp = self.host.plugins.get(plugin)
        sandbox = getattr(lp, "sandbox", None)
        return isinstance(sandbox, Mapping) and any(
            isinstance(s, Mapping) and s.get("active") for s in (sandbox.get("layers") or {}).values())

    def on_violation(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn(record)`` for every new violation record."""
        self._hooks.append(fn)

    def update(self) -> list[dict[str, Any]]:
        """Turn faults published since the last call into violation records; returns the new ones.

        Called by the host at the end of each tick, once supervision has
        added the dead children's exit status to their faults.
        """
        if not self._pending:  # no new fault (the common case)
            return []
        new: list[dict[str, Any]] = []
        for fault in self._pending:
            code = fault.get("returncode")  # set by the host's supervision when it reaped the child
            rec = from_fault(fault, code, confined=self._confined(str(fault.get("plugin"))))
            if rec is not None:
                new.append(rec)
        self._pending.clear()
        self.records.extend(new)
        for rec in new:
            self._per_layer[(str(rec["plugin"]), str(rec["layer"]))] += 1
        for rec in new:
            for fn in self._hooks:
                fn(rec)
        return new

    def for_plugin(self, plugin: str) -> list[dict[str, Any]]:
        """The kept records naming ``plugin``."""
        return [r for r in self.records if r["plugin"] == plugin]

    def count(self, plugin: str | None = None) -> int:
        """Number of violations ever recorded (of ``plugin``, or all)."""
        return sum(n for (p, _), n in self._per_layer.items() if plugin is None or p == plugin)

    def layers(self, plugin: str | None = None) -> dict[str, int]:
        """Violations per layer (of ``plugin``, or all)."""
        out: Counter[str] = Counter()
        for (p, layer), n in self._per_layer.items():
            if plugin is None or p == plugin:
                out[layer] += n
        return dict(out)

    def counts(self) -> dict[str, int]:
        """Violations per plugin."""
        out: Counter[str] = Counter()
        for (p, _), n in self._per_layer.items():
            out[p] += n
        return dict(out)

    def retained(self) -> dict[str, int]:
        """Counts of what the monitor keeps between ticks (see ``PluginHost.retained``)."""
        return {"violations": len(self.records), "violation_counters": len(self._per_layer)}

    def __repr__(self) -> str:
        return f"ViolationMonitor({len(self.records)} violations: {self.counts()})"
