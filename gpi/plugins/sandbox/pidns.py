"""A private pid namespace for a plugin child: other processes cannot be named.

``unshare(CLONE_NEWPID)`` does not move the caller; it makes the caller's
*next child* pid 1 of a new namespace. So this layer forks once: the process
that called :func:`enter_pid_namespace` (the *keeper*, still in the host's
namespace, never runs plugin code) waits for the new process (the
*plugin process*, pid 1 in a namespace of its own), and the plugin process
returns from the call and carries on. Inside, ``getpid()`` is 1, ``getppid()``
is 0, and no other process has a number: ``kill``, ``sched_setaffinity``,
``getsid``, ``getpgid``, ``getpriority``, ``pidfd_open`` of any other pid
answer ``ESRCH`` (seccomp refuses them first when it is active).

The keeper makes the pair look like one process to whoever started it:

- it closes every fd but stdio right after the fork (the channel, the
  control socket and the world segments belong to the plugin process);
- it forwards ``SIGUSR1`` (the host's "print your stacks") to the plugin
  process, and turns ``SIGTERM``, ``SIGINT`` and ``SIGHUP`` into ``SIGKILL``
  for it (see below), then exits with the signal it was sent;
- the plugin process gets ``PR_SET_PDEATHSIG(SIGKILL)`` against the keeper, so
  killing the keeper (the host's deadline) kills it; if the keeper died
  before that was set, it exits at once;
- when the plugin process exits, the keeper exits the same way: the same
  exit code, or the same signal (raised again on itself with the default
  action), so the host's crash classification is unchanged.

As pid 1 of its namespace the plugin process ignores signals it has no
handler for when they come from inside the namespace (the kernel protects
a namespace's init): a plugin's ``os.kill(os.getpid(), SIGTERM)`` does nothing,
``abort()`` ends in SIGSEGV rather than SIGABRT, and ``RLIMIT_CPU``'s
SIGXCPU is ignored, so the hard limit's SIGKILL one second later ends a
spinning child. Signals from the host side (SIGKILL, a death signal, a
fault) work as usual.

Needs ``CAP_SYS_ADMIN`` (a root host): otherwise the layer reports inactive
and seccomp's pid checks still keep other processes out of reach.
:func:`host_pid` gives the plugin process's pid as the host sees it (the
first ``NSpid`` field of ``/proc/self/status``).
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
from collections.abc import Callable

from gpi.plugins.sandbox._libc import libc

__all__ = ["enter_pid_namespace", "host_pid", "keeper_gone", "namespace_pids"]

CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
_FORWARDED = (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def namespace_pids() -> list[int]:
    """This process's pid in each pid namespace it is in, outermost first (``NSpid``)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return [os.getpid()]


def host_pid() -> int:
    """This process's pid in the outermost pid namespace /proc knows (the host's view)."""
    return namespace_pids()[0]


def _keep(child: int, cleanup: Callable[[], None] | None) -> None:
    """The keeper: forward signals, wait for ``child``, clean up, leave the way it left. Never returns."""
    code = 1
    try:
        try:
            import faulthandler

            faulthandler.unregister(signal.SIGUSR1)
        except Exception:
            pass

        asked: list[int] = []

        def forward(signum: int, _frame: object) -> None:
            # A namespace's init ignores signals it has no handler for: a request to end becomes SIGKILL.
            if signum != signal.SIGUSR1:
                asked.append(signum)
            try:
                os.kill(child, signal.SIGUSR1 if signum == signal.SIGUSR1 else signal.SIGKILL)
            except OSError:
                pass

        for sig in _FORWARDED:
            signal.signal(sig, forward)
        os.closerange(3, 65536)
        while True:
            try:
                pid, status = os.waitpid(child, 0)
            except ChildProcessError:
                break
            if pid == child and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
                if cleanup is not None:
                    try:
                        cleanup()
                    except Exception:
                        pass
                if os.WIFSIGNALED(status):
                    dead = os.WTERMSIG(status)
                    if dead == signal.SIGKILL and asked:
                        dead = asked[0]  # ended on request: leave the way the request asked
                    for other in {*map(int, _FORWARDED), dead} - {int(signal.SIGKILL), int(signal.SIGSTOP)}:
                        signal.signal(other, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, [dead])
                    os.kill(os.getpid(), dead)
                    code = 128 + dead
                else:
                    code = os.WEXITSTATUS(status)
                break
    finally:
        os._exit(code)


def enter_pid_namespace(cleanup: Callable[[], None] | None = None) -> tuple[bool, str, int]:
    """Fork into a new pid namespace; returns ``(active, detail, keeper_pidfd)`` in the plugin process only.

    The calling process becomes the keeper and never returns from this call;
    it runs ``cleanup`` once the plugin process has exited (e.g. removing its
    cgroup). ``keeper_pidfd`` (-1 when inactive) is readable once the keeper
    is gone: a credential change clears the death signal, so whoever re-arms
    it checks the keeper with :func:`keeper_gone` and closes the fd.
    Raises nothing when the kernel refuses: the layer is then inactive.
    """
    if _threads() > 1:
        return False, (f"this process has {_threads()} threads: forking it would leave their locks "
                       "behind (start the child single-threaded)"), -1
    fn = libc().unshare
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    if fn(CLONE_NEWPID) != 0:
        err = ctypes.get_errno()
        return False, f"unshare(CLONE_NEWPID) failed: {os.strerror(err)} (needs CAP_SYS_ADMIN: a root host)", -1
    keeper = os.pidfd_open(os.getpid())
    child = os.fork()
    if child != 0:
        _keep(child, cleanup)
    prctl = libc().prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if keeper_gone(keeper):  # the keeper died before the death signal was armed
        os._exit(1)
    outer = namespace_pids()
    return True, (f"pid 1 of a private pid namespace (host sees pid {outer[0]}; "
                  "a keeper process waits outside)"), keeper


def keeper_gone(pidfd: int) -> bool:
    """Whether the process behind ``pidfd`` has exited (a pidfd polls readable then)."""
    readable, _, _ = select.select([pidfd], [], [], 0)
    return bool(readable)


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1
