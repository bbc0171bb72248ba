"""Apply the sandbox layers in a plugin child, in order, and report each one.

Call :func:`apply_sandbox` in the child *after* its own imports (numpy,
msgpack, the channel) and *before* importing the plugin. Never call it in the
host or in a test runner: every layer is irreversible for the process.

Order and why: rlimits first (they cover everything after), then
no_new_privs (needed by Landlock and seccomp without CAP_SYS_ADMIN), the
parent-death signal, the CPU cgroup (joined while still root; the pid
namespace's child inherits it), the pid namespace (a fork: from here on this
function runs in the new pid 1, the caller's process waits outside), the
network namespace (``unshare`` needs root and is denied by seccomp later),
the privilege drop (after everything that needs root), Landlock (its syscalls
are denied by seccomp later), and seccomp last.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterable

from gpi.plugins.sandbox import (
    audit,
    cgroup,
    landlock,
    netns,
    pidns,
    prctl,
    privilege,
    rlimits,
    seccomp,
)
from gpi.plugins.sandbox.errors import SandboxError
from gpi.plugins.sandbox.policy import ALL_LAYERS, SandboxPolicy
from gpi.plugins.sandbox.report import LayerStatus, SandboxReport

__all__ = ["apply_sandbox"]


# The kernel's sandbox state is per process, so this record of it is too (a
# container's own seccomp filter must not count, hence no prctl check).
_applied_in: dict[str, int] = {}


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def apply_sandbox(
    policy: SandboxPolicy,
    plugin_dir: str | os.PathLike[str],
    read_paths: Iterable[str | os.PathLike[str]] = (),
    *,
    expected_parent: int | None = None,
    extra_syscalls: tuple[str, ...] = (),
    name: str | None = None,
    tick_seconds: float = 1 / 60,
) -> SandboxReport:
    """Confine this process per ``policy``; raise SandboxError if a required layer fails.

    ``plugin_dir`` and ``read_paths`` (plus ``policy.read_paths`` and the
    interpreter's own files) become readable; nothing becomes writable.
    ``expected_parent`` (the host's pid) lets the parent-death layer notice a
    host that is already gone. ``extra_syscalls`` are let through seccomp
    (see :func:`gpi.plugins.sandbox.seccomp.install_filter`).
    """
    if not sys.platform.startswith("linux"):
        raise SandboxError(f"the plugin sandbox needs Linux, this is {sys.platform}", layer="")
    plugin_dir = os.fspath(plugin_dir)
    plugin_name = name or os.path.basename(os.path.normpath(plugin_dir)) or "plugin"
    if not os.path.isdir(plugin_dir):
        raise SandboxError(f"sandbox: plugin folder {plugin_dir!r} does not exist", layer="landlock")
    if _applied_in.get("pid") == os.getpid():
        raise SandboxError(
            "sandbox: apply_sandbox already ran in this process; its layers cannot be "
            "loosened or re-applied: apply it once, in a fresh child",
            layer="",
        )
    # Nothing may be written, so do not even try to cache bytecode for the plugin.
    sys.dont_write_bytecode = True
    if "seccomp" in policy.layers:
        seccomp.preload()
    report = SandboxReport()
    threads_before = _thread_count()

    def readable() -> list[str]:
        paths = landlock.default_read_paths(plugin_dir)
        paths += [os.fspath(p) for p in policy.read_paths]
        paths += [os.fspath(p) for p in read_paths]
        return paths

    def run_landlock() -> tuple[bool, str]:
        _, _, detail = landlock.restrict_to_read_only(readable())
        skipped = [p for p in landlock.sys_path_entries()[1] if p]
        if skipped:
            detail += f"; {len(skipped)} sys.path folder(s) outside the interpreter not granted"
        if threads_before > 1:
            detail += f"; {threads_before - 1} thread(s) started earlier are not covered"
        return True, detail

    def run_seccomp() -> tuple[bool, str]:
        stacked = prctl.seccomp_mode() == 2  # e.g. a container runtime's own filter
        active, detail = seccomp.install_filter(policy.seccomp_mode, extra_allowed=extra_syscalls,
                                                threads=policy.threads > 0)
        if stacked:
            detail += "; stacked on a filter that was already there (container?)"
        return active, detail

    joined: list[cgroup.CpuCgroup] = []

    def run_cgroup() -> tuple[bool, str]:
        if policy.cpu_quota is None:
            return False, "no CPU quota in the policy (cpu_quota = None)"
        if policy.threads == 0:
            return False, ("not needed: threads = 0 (one thread uses at most one CPU, and the host's "
                           "deadline bounds it per tick)")
        if os.geteuid() != 0:
            return False, "not root: cannot create a cgroup (CPU bounded by the host's deadline and RLIMIT_CPU)"
        cg, detail = cgroup.join_cpu_cgroup(plugin_name, policy.cpu_quota, tick_seconds)
        if cg is not None:
            joined.append(cg)
        return cg is not None, detail

    keeper: list[int] = []

    def run_pidns() -> tuple[bool, str]:
        cleanup = (lambda: cgroup.remove(joined[0])) if joined else None
        active, detail, fd = pidns.enter_pid_namespace(cleanup)
        if active:
            _applied_in["pid"] = os.getpid()  # the new process carries on from here
            keeper.append(fd)
        return active, detail

    def run_privilege() -> tuple[bool, str]:
        plugin_first = [plugin_dir] + [p for p in readable() if p != plugin_dir and not p.startswith("/proc")]
        death = prctl.parent_death_signal()
        ppid = os.getppid()
        try:
            return privilege.drop_privileges(plugin_name, plugin_first)
        finally:
            if death:  # a credential change clears the death signal: arm it again, then check the parent
                prctl.set_parent_death_signal(death)
                if (pidns.parent_gone(keeper[0]) if keeper else os.getppid() != ppid):
                    os._exit(1)

    steps: dict[str, Callable[[], tuple[bool, str]]] = {
        "rlimits": lambda: rlimits.apply_rlimits(policy),
        "no_new_privs": prctl.set_no_new_privs,
        "pdeathsig": lambda: prctl.set_parent_death_signal(signal.SIGKILL, expected_parent),
        "cgroup": run_cgroup,
        "pidns": run_pidns,
        "netns": netns.unshare_network,
        "privilege": run_privilege,
        "landlock": run_landlock,
        "seccomp": run_seccomp,
    }
    if policy.audit:
        audit.install_audit_hook(report.violations)
    _applied_in["pid"] = os.getpid()  # from here on layers are irreversible
    for name in ALL_LAYERS:
        required = name in policy.required
        if name not in policy.layers:
            report.layers[name] = LayerStatus(name, False, "disabled by policy", required)
            continue
        try:
            active, detail = steps[name]()
        except Exception as exc:  # each layer's failure becomes a report line (or an error)
            active, detail = False, f"{type(exc).__name__}: {exc}"
        report.layers[name] = LayerStatus(name, active, detail, required)
        if required and not active:
            err = SandboxError(
                f"sandbox layer {name!r} is required by the policy but could not be applied: {detail}. "
                "Run `gpi doctor` to see which layers this machine supports, or drop "
                f"{name!r} from the policy's required layers.",
                layer=name,
            )
            err.report = report  # what was applied before the failure, for the host
            raise err
    for fd in keeper:
        os.close(fd)
    report.threads = policy.threads
    return report
