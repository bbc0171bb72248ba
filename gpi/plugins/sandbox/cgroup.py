"""CPU bounded per tick: a cgroup with a CPU quota for each plugin child.

A plugin child gets its own cgroup, ``gpi-sandbox/<plugin>-<pid>`` under the
cgroup the child was started in, with a quota of ``SandboxPolicy.cpu_quota``
CPUs per period, the period being one tick (``dt``, clamped to 1 ms .. 1 s).
The kernel then never lets the child (all its threads together) run for more
than ``cpu_quota * dt`` per tick: spinning background threads are throttled,
and the host keeps the other CPUs.

Two interfaces, whichever the machine has:

- **cgroup v2** (``cpu.max = "<quota> <period>"``) when the ``cpu`` controller
  is enabled in the parent's ``cgroup.subtree_control`` (the layer tries to
  enable it; the kernel refuses when the parent has processes of its own and
  is not the root);
- **cgroup v1** (``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``) when the
  ``cpu`` controller is mounted as a v1 hierarchy (this development machine:
  Linux 6.18 with ``cpu`` bound to ``/sys/fs/cgroup/cpu``).

The cgroup is made only for a child whose policy grants threads
(``threads = N > 0``): a single-threaded child can use at most one CPU
anyway, and the host's per-call deadline bounds each call (no cgroup, no
bandwidth-control cost on every tick).

Creating a cgroup and moving a process into it needs write access to the
hierarchy (root, or a delegated subtree), so it is done before the privilege
layer drops root. When it cannot be done (no ``cpu`` controller, a read-only
``/sys/fs/cgroup`` in a container, not root) the layer reports inactive and
says why: the child is then bounded only by the host's per-call deadline and
``RLIMIT_CPU``, and by ``threads = 0`` (a child that cannot start threads can
use at most one CPU, and only while it is being called or spinning in its
system, which the deadline ends).

Clean-up: the pid-namespace keeper moves itself out and removes the cgroup
when the child exits (:func:`remove`); cgroups left by children killed with
their keeper are removed by the next child's :func:`join_cpu_cgroup` (empty
ones older than a minute: ``rmdir`` refuses a cgroup that still has tasks).
"""

from __future__ import annotations

import os
import time

__all__ = ["CpuCgroup", "cpu_stat", "join_cpu_cgroup", "remove"]

_GROUP = "gpi-sandbox"
_STALE_SECONDS = 60.0


class CpuCgroup:
    """Where a child's CPU cgroup is: ``path``, ``parent`` (to move back to) and ``version`` (1 or 2)."""

    def __init__(self, path: str, parent: str, version: int) -> None:
        self.path, self.parent, self.version = path, parent, version

    def __repr__(self) -> str:
        return f"CpuCgroup({self.path!r}, v{self.version})"


def _mounts() -> tuple[str | None, str | None]:
    """(cgroup2 mount point, v1 ``cpu`` mount point) from ``/proc/self/mountinfo``."""
    v2 = v1 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            kind, *rest = right.split()
            point = fields[4]
            if kind == "cgroup2" and v2 is None:
                v2 = point
            elif kind == "cgroup" and rest and "cpu" in rest[-1].split(","):
                v1 = point
    return v2, v1


def _own_paths() -> tuple[str | None, str | None]:
    """This process's cgroup path in the v2 hierarchy and in the v1 ``cpu`` one."""
    v2 = v1 = None
    with open("/proc/self/cgroup") as f:
        for line in f:
            num, controllers, path = line.rstrip("\n").split(":", 2)
            if num == "0" and controllers == "":
                v2 = path
            elif "cpu" in controllers.split(","):
                v1 = path
    return v2, v1


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _sweep(group: str) -> None:
    """Remove empty, stale child cgroups that killed children left behind."""
    now = time.time()
    try:
        names = os.listdir(group)
    except OSError:
        return
    for name in names:
        path = os.path.join(group, name)
        try:
            if os.path.isdir(path) and now - os.stat(path).st_mtime > _STALE_SECONDS:
                os.rmdir(path)
        except OSError:
            pass  # still has tasks, or another host removed it first


def _make(base: str, name: str) -> tuple[str, str]:
    group = os.path.join(base, _GROUP)
    os.makedirs(group, exist_ok=True)
    _sweep(group)
    path = os.path.join(group, f"{name}-{os.getpid()}")
    os.makedirs(path, exist_ok=True)
    return group, path


def join_cpu_cgroup(name: str, quota: float, period_s: float) -> tuple[CpuCgroup | None, str]:
    """Create ``name``'s cgroup with ``quota`` CPUs per ``period_s`` and move this process in.

    Returns ``(cgroup, detail)``; ``cgroup`` is None when the machine does not
    allow it (``detail`` says why). Raises nothing for a refusal.
    """
    period_us = max(1000, min(1_000_000, round(period_s * 1e6)))
    quota_us = max(1000, round(period_us * quota))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:64] or "plugin"
    why: list[str] = []
    try:
        v2_mount, v1_mount = _mounts()
        v2_path, v1_path = _own_paths()
    except OSError as exc:
        return None, f"cannot read /proc/self cgroup files: {exc}"
    if v2_mount and v2_path is not None:
        parent = os.path.normpath(v2_mount + v2_path)
        try:
            with open(os.path.join(parent, "cgroup.controllers")) as f:
                available = f.read().split()
            if "cpu" not in available:
                raise OSError("no cpu controller in this cgroup v2 hierarchy")
            group, path = _make(parent, safe)
            with open(os.path.join(group, "cgroup.subtree_control")) as f:
                if "cpu" not in f.read().split():
                    _write(os.path.join(parent, "cgroup.subtree_control"), "+cpu")
                    _write(os.path.join(group, "cgroup.subtree_control"), "+cpu")
            _write(os.path.join(path, "cpu.max"), f"{quota_us} {period_us}")
            _write(os.path.join(path, "cgroup.procs"), str(os.getpid()))
            return CpuCgroup(path, parent, 2), (
                f"cgroup v2 {path}: cpu.max {quota_us}/{period_us} us ({quota:g} CPU per tick)")
        except OSError as exc:
            why.append(f"cgroup v2: {exc}")
    if v1_mount and v1_path is not None:
        parent = os.path.normpath(v1_mount + v1_path)
        try:
            _, path = _make(parent, safe)
            _write(os.path.join(path, "cpu.cfs_period_us"), str(period_us))
            _write(os.path.join(path, "cpu.cfs_quota_us"), str(quota_us))
            _write(os.path.join(path, "cgroup.procs"), str(os.getpid()))
            return CpuCgroup(path, parent, 1), (
                f"cgroup v1 {path}: cfs quota {quota_us}/{period_us} us ({quota:g} CPU per tick)")
        except OSError as exc:
            why.append(f"cgroup v1: {exc}")
    if not why:
        why.append("no cgroup v2 or v1 cpu hierarchy mounted")
    return None, "; ".join(why) + " (CPU bounded only by the host's deadline and RLIMIT_CPU)"


def remove(cg: CpuCgroup) -> None:
    """Move this process back to the parent cgroup and remove ``cg`` once it is empty (best effort)."""
    try:
        _write(os.path.join(cg.parent, "cgroup.procs"), str(os.getpid()))
    except OSError:
        pass
    for _ in range(50):
        try:
            os.rmdir(cg.path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)  # the exited child's last task is still being released


def cpu_stat(path: str) -> dict[str, int]:
    """``cpu.stat`` of cgroup ``path`` as ints (``nr_periods``, ``nr_throttled``, ...)."""
    out: dict[str, int] = {}
    with open(os.path.join(path, "cpu.stat")) as f:
        for line in f:
            key, _, value = line.partition(" ")
            try:
                out[key] = int(value)
            except ValueError:
                pass
    return out
