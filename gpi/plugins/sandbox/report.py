"""What the sandbox did, and what a plugin tried that it refused.

:class:`SandboxReport` lists every layer with ``active`` and a one-line
``detail``; the child sends ``report.to_dict()`` to the host at handshake, and
the overlay and ``gpi doctor`` show it.

Violations are reported, not guessed at by the kernel: seccomp answers
``EPERM`` (``ENOSYS`` for clone3/openat2), Landlock answers ``EACCES``, the
rlimits answer ``MemoryError``, ``EFBIG``, ``EMFILE``, ``EAGAIN`` or a signal
(``SIGXCPU``, then ``SIGKILL``). :func:`classify_violation` turns such an
exception into ``{"layer", "what"}``; :func:`classify_exit` does the same for
a child's exit status seen by the host. The child runner records violations
it catches in the report's :class:`ViolationLog` (with plugin, system, tick)
and forwards them to the host.
"""

from __future__ import annotations

import errno
import linecache
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "LayerStatus",
    "SandboxReport",
    "ViolationLog",
    "classify_exit",
    "classify_violation",
]


@dataclass(frozen=True)
class LayerStatus:
    """One layer: whether it is active, whether the policy required it, and how it went."""

    name: str
    active: bool
    detail: str
    required: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Wire form."""
        return {"name": self.name, "active": self.active, "detail": self.detail, "required": self.required}


class ViolationLog:
    """Violations seen in this child, in order, each a dict with layer/what (+ context)."""

    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []
        self._call: tuple[str, list[tuple[int, int, int]], bool] | None = None

    def note_call(self, description: str, frames: list[tuple[int, int, int]], flexible: bool = False) -> None:
        """Remember the last sensitive call and its stack (frame id, code id, line), innermost first."""
        self._call = (description, frames, flexible)

    def _call_for(self, exc: BaseException) -> str | None:
        if self._call is None:
            return None
        description, frames, flexible = self._call
        lines: dict[tuple[int, int], int] = {}
        tb = exc.__traceback__
        while tb is not None:
            lines[(id(tb.tb_frame), id(tb.tb_frame.f_code))] = tb.tb_lineno
            tb = tb.tb_next
        shared = False
        for depth, (frame_id, code_id, line) in enumerate(frames):
            seen = lines.get((frame_id, code_id))
            if seen is None:
                continue
            if seen != line and not (depth == 0 and flexible):
                return None  # that frame has moved on: the noted call is finished
            shared = True
        if not shared:
            return None
        self._call = None
        return description

    def record(self, exc_or_info: BaseException | dict[str, Any], **context: Any) -> dict[str, Any] | None:
        """Classify and keep ``exc_or_info`` with ``context`` (e.g. plugin, system, tick); None if not a violation.

        With the audit hook installed, the record also names the ``call``
        behind the refusal when the exception came from it.
        """
        if isinstance(exc_or_info, BaseException):
            info = classify_violation(exc_or_info)
            if info is None:
                return None
            call = self._call_for(exc_or_info)
            if call is not None:
                info["call"] = call
        else:
            info = dict(exc_or_info)
        info.update(context)
        self._items.append(info)
        return info

    def drain(self) -> list[dict[str, Any]]:
        """Return and forget everything recorded so far (to send to the host)."""
        items, self._items = self._items, []
        return items

    def counts(self) -> dict[str, int]:
        """Number of recorded violations per layer."""
        out: dict[str, int] = {}
        for item in self._items:
            out[item["layer"]] = out.get(item["layer"], 0) + 1
        return out

    def to_list(self) -> list[dict[str, Any]]:
        """A copy of the records."""
        return [dict(i) for i in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._items))

    def __repr__(self) -> str:
        return f"ViolationLog({len(self._items)} violations: {self.counts()})"


@dataclass
class SandboxReport:
    """The outcome of :func:`gpi.plugins.sandbox.apply_sandbox` in one child."""

    layers: dict[str, LayerStatus] = field(default_factory=dict)
    violations: ViolationLog = field(default_factory=ViolationLog)
    #: Threads the plugin may start (the policy's ``threads``; 0: thread creation refused).
    threads: int = 0

    def active(self, name: str) -> bool:
        """Whether layer ``name`` is active."""
        status = self.layers.get(name)
        return bool(status and status.active)

    @property
    def active_layers(self) -> list[str]:
        """Names of the active layers, in the order applied."""
        return [n for n, s in self.layers.items() if s.active]

    def to_dict(self) -> dict[str, Any]:
        """Wire form: ``{"layers": {name: {...}}, "violations": [...], "threads": N}``."""
        return {
            "layers": {n: s.to_dict() for n, s in self.layers.items()},
            "violations": self.violations.to_list(),
            "threads": self.threads,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxReport:
        """Rebuild a report sent by a child (violations included)."""
        report = cls()
        for name, s in data.get("layers", {}).items():
            report.layers[name] = LayerStatus(name, bool(s["active"]), str(s["detail"]), bool(s.get("required")))
        for v in data.get("violations", []):
            report.violations.record(dict(v))
        report.threads = int(data.get("threads", 0) or 0)
        return report

    def summary(self) -> str:
        """One line: ``rlimits+ no_new_privs+ netns- ...``."""
        return " ".join(f"{n}{'+' if s.active else '-'}" for n, s in self.layers.items())


def _where(exc: BaseException) -> str:
    """``file:line: source`` of the innermost traceback frame, if any."""
    tb = exc.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
    return f"{code.co_filename}:{tb.tb_lineno}: {line}" if line else f"{code.co_filename}:{tb.tb_lineno}"


def classify_violation(exc: BaseException) -> dict[str, Any] | None:
    """``{"layer", "what"}`` (plus ``"where"``) if ``exc`` looks like a sandbox refusal, else None.

    The mapping follows the answer each layer gives: EPERM/ENOSYS from
    seccomp (EPERM/EACCES at an ``mmap``/``mprotect`` call site: the memfd
    seals), EACCES from Landlock (or plain file permissions), ENETUNREACH and
    friends from the empty network namespace, MemoryError/EFBIG/EMFILE/EAGAIN
    from the rlimits.
    """
    from gpi.plugins.sandbox.errors import SandboxError

    if isinstance(exc, SandboxError):
        return None
    where = _where(exc)
    info: dict[str, Any] | None = None
    said = f"{where} {exc}".lower()
    if isinstance(exc, MemoryError):
        info = {"layer": "rlimits", "what": f"address space limit (RLIMIT_AS) reached: {str(exc) or type(exc).__name__}"}
    elif isinstance(exc, OSError) and exc.errno is not None:
        target = f" {exc.filename!r}" if exc.filename else ""
        code = exc.errno
        if code in (errno.EPERM, errno.EACCES) and ("mmap" in said or "mprotect" in said):
            info = {"layer": "memfd_seal", "what": "writable mapping of a sealed (read-only) segment refused"}
        elif code == errno.EPERM:
            info = {"layer": "seccomp", "what": f"syscall refused (EPERM){target}: {exc.strerror}"}
        elif code == errno.ENOSYS:
            info = {"layer": "seccomp", "what": f"syscall refused (ENOSYS){target}"}
        elif code == errno.EACCES:
            info = {"layer": "landlock", "what": f"file system access denied{target}"}
        elif code in (errno.ENETUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL, errno.EHOSTUNREACH):
            info = {"layer": "netns", "what": f"network unreachable ({errno.errorcode[code]})"}
        elif code == errno.EFBIG:
            info = {"layer": "rlimits", "what": f"file size limit (RLIMIT_FSIZE) reached{target}"}
        elif code == errno.EMFILE:
            info = {"layer": "rlimits", "what": "open file limit (RLIMIT_NOFILE) reached"}
        elif code == errno.EAGAIN and "fork" in where:
            info = {"layer": "rlimits", "what": "process limit (RLIMIT_NPROC) reached"}
    elif isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        # clone refused: by seccomp (threads = 0), or RLIMIT_NPROC past the granted threads.
        info = {"layer": "seccomp", "what": "thread creation refused (the manifest's [sandbox] threads)"}
    elif isinstance(exc, ValueError) and "not allowed to raise maximum limit" in str(exc):
        # CPython's resource.setrlimit turns EPERM into this ValueError. The
        # refusal comes from seccomp (prlimit64 writes) or, without it, from
        # the hard limit itself; either way it protects the rlimits layer.
        info = {"layer": "rlimits", "what": "attempt to raise a resource limit refused"}
    if info is not None and where:
        info["where"] = where
    return info


_EXIT_SIGNALS = {
    signal.SIGXCPU: ("rlimits", "CPU time limit (RLIMIT_CPU): SIGXCPU"),
    signal.SIGXFSZ: ("rlimits", "file size limit (RLIMIT_FSIZE): SIGXFSZ"),
    signal.SIGSYS: ("seccomp", "killed by the seccomp filter (foreign-architecture syscall)"),
    signal.SIGKILL: ("rlimits", "SIGKILL: CPU hard limit, the host's deadline, or the OOM killer"),
}


def classify_exit(returncode: int) -> dict[str, Any] | None:
    """``{"layer", "what"}`` for a child that died of a sandbox signal (``Popen.returncode`` < 0)."""
    if returncode >= 0:
        return None
    sig = -returncode
    if sig in _EXIT_SIGNALS:
        layer, what = _EXIT_SIGNALS[signal.Signals(sig)]
        return {"layer": layer, "what": what, "signal": sig}
    return None
