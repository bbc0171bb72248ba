"""Resource limits for a plugin child (``setrlimit``).

Each limit is set with soft == hard, so the child cannot raise it again (an
unprivileged process may only lower a hard limit; seccomp refuses
``setrlimit``/``prlimit64`` writes for root children). What each one stops:

- ``RLIMIT_AS``: a memory bomb fails with ``MemoryError`` instead of pushing the
  machine into swap or the OOM killer.
- ``RLIMIT_CPU``: counted from the moment the sandbox is applied (the soft limit
  is "CPU used so far + budget"); past it the kernel sends ``SIGXCPU`` (which
  kills the child) and one second later ``SIGKILL``.
- ``RLIMIT_NOFILE``: caps fd numbers (``EMFILE``).
- ``RLIMIT_FSIZE`` = 0: no regular file can grow; CPython ignores ``SIGXFSZ``,
  so a write raises ``OSError(EFBIG)``. Pipes and sockets are not affected, but
  a child whose stdout/stderr is a *file* cannot print: give children pipes.
- ``RLIMIT_CORE`` = 0: no core dumps (they could leak the world to disk).
- ``RLIMIT_NPROC`` = 0: no new tasks for the real uid, which for a non-root
  child also means no new threads. The kernel does not enforce it for root
  (CAP_SYS_RESOURCE/CAP_SYS_ADMIN), which is why seccomp also refuses process
  creation and the privilege layer switches a root child to its plugin's uid.
  A policy with ``threads = N`` raises it to ``2 * (N + 1)`` (the count is per
  uid: the child, its N threads, and a hot-swap twin of the same plugin).
"""

from __future__ import annotations

import math
import os
import resource
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpi.plugins.sandbox.policy import SandboxPolicy

__all__ = ["apply_rlimits", "current_address_space", "has_capability", "nproc_enforced"]

CAP_SYS_ADMIN = 21
CAP_SYS_RESOURCE = 24


def current_address_space() -> int:
    """This process's mapped address space in bytes (VmSize), or 0 if unknown."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def has_capability(cap: int) -> bool:
    """Whether this process has capability number ``cap`` in its effective set."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except OSError:
        pass
    return False


def nproc_enforced() -> bool:
    """Whether the kernel applies RLIMIT_NPROC to us: not for real uid 0, nor with CAP_SYS_RESOURCE/ADMIN."""
    if os.getuid() == 0:
        return False  # the kernel exempts the root user itself, capabilities or not
    return not (has_capability(CAP_SYS_RESOURCE) or has_capability(CAP_SYS_ADMIN))


def _set(res: int, value: int) -> int:
    """Set soft = hard = ``value`` (never above an existing finite hard limit)."""
    _, hard = resource.getrlimit(res)
    if hard != resource.RLIM_INFINITY and value > hard and os.geteuid() != 0:
        value = hard
    resource.setrlimit(res, (value, value))
    return value


def apply_rlimits(policy: SandboxPolicy) -> tuple[bool, str]:
    """Apply the policy's limits; ``(active, detail)``. Raises OSError if one cannot be set."""
    parts: list[str] = []
    if policy.address_space_bytes is not None:
        in_use = current_address_space()
        if in_use and in_use >= policy.address_space_bytes:
            raise OSError(
                f"RLIMIT_AS {policy.address_space_bytes >> 20} MiB is below the "
                f"{in_use >> 20} MiB this child already maps; raise address_space_bytes"
            )
        v = _set(resource.RLIMIT_AS, policy.address_space_bytes)
        parts.append(f"AS={v >> 20}MiB")
    if policy.cpu_seconds is not None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        used = math.ceil(ru.ru_utime + ru.ru_stime)
        soft = used + policy.cpu_seconds
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        new_hard = soft + 1
        if hard != resource.RLIM_INFINITY and new_hard > hard and os.geteuid() != 0:
            new_hard = hard
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, new_hard))
        parts.append(f"CPU={policy.cpu_seconds}s")
    if policy.open_files is not None:
        parts.append(f"NOFILE={_set(resource.RLIMIT_NOFILE, policy.open_files)}")
    if policy.file_size_bytes is not None:
        parts.append(f"FSIZE={_set(resource.RLIMIT_FSIZE, policy.file_size_bytes)}")
    if policy.core_bytes is not None:
        parts.append(f"CORE={_set(resource.RLIMIT_CORE, policy.core_bytes)}")
    nproc = policy.nproc
    if nproc is not None and policy.threads:
        nproc = max(nproc, 2 * (policy.threads + 1))
    if nproc is not None:
        v = _set(resource.RLIMIT_NPROC, nproc)
        note = "" if nproc_enforced() else " (enforced once the privilege layer leaves root)"
        parts.append(f"NPROC={v}{note}")
    return True, " ".join(parts) if parts else "no limits in policy"
