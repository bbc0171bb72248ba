"""A private pid namespace for a plugin child: other processes cannot be named.

``unshare(CLONE_NEWPID)`` does not move the caller; it makes the caller's
*next child* pid 1 (the init) of a new namespace. This layer forks twice:

- the process that called :func:`enter_pid_namespace`, the **keeper**, stays
  in the host's namespace, never runs plugin code, waits, and then exits the
  way the plugin process did (same exit code, or the same signal raised
  again on itself), so the host's crash classification is unchanged;
- its child, the namespace's **init** (pid 1), only forks the plugin process,
  forwards signals to it, waits for it, and passes its wait status to the
  keeper through a pipe. A namespace's init is special (signals without a
  handler are ignored, its death kills the namespace), which is why the
  plugin does not run there;
- the **plugin process** (pid 2 inside) returns from the call and carries on.
  ``getppid()`` is 1; no process outside has a number: ``kill``,
  ``sched_setaffinity``, ``getsid``, ``getpgid``, ``getpriority``,
  ``pidfd_open`` of any other pid answer ``ESRCH`` (seccomp refuses them
  first when it is active).

The three look like one process to whoever started the keeper: the keeper
forwards ``SIGUSR1`` (the host's "print your stacks"), ``SIGTERM``, ``SIGINT``
and ``SIGHUP`` to the init, which forwards them to the plugin process; the
init dies with the keeper and the plugin process with the init
(``PR_SET_PDEATHSIG(SIGKILL)``, and the kernel kills a namespace whose init
died). Nobody closes the channel's fds, so the host sees the child's death
(socket and pidfd) only when the keeper exits, with the status mirrored.

Needs ``CAP_SYS_ADMIN`` (a root host) and a single-threaded caller
(forking a threaded process leaves the other threads' locks behind):
otherwise the layer reports inactive and seccomp's pid checks still keep
other processes out of reach. :func:`host_pid` gives the plugin process's pid
as the host sees it (the first ``NSpid`` field of ``/proc/self/status``).
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import struct
from collections.abc import Callable

from gpi.plugins.sandbox._libc import libc

__all__ = ["enter_pid_namespace", "host_pid", "namespace_pids", "parent_gone"]

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


def parent_gone(pidfd: int) -> bool:
    """Whether the process behind ``pidfd`` has exited (a pidfd polls readable then)."""
    readable, _, _ = select.select([pidfd], [], [], 0)
    return bool(readable)


def _death_signal() -> None:
    fn = libc().prctl
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    fn(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _forward_to(pid: int) -> None:
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    try:
        import faulthandler

        faulthandler.unregister(signal.SIGUSR1)
    except Exception:
        pass
    for sig in _FORWARDED:
        signal.signal(sig, forward)


def _wait(pid: int) -> int | None:
    """``pid``'s raw wait status once it has exited (None if it is not our child)."""
    while True:
        try:
            got, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return None
        if got == pid and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
            return status


def _leave_like(status: int) -> None:
    """Exit with ``status``'s code, or die of its signal. Never returns."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        for other in {*map(int, _FORWARDED), sig} - {int(signal.SIGKILL), int(signal.SIGSTOP)}:
            signal.signal(other, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _keeper(init: int, status_r: int, cleanup: Callable[[], None] | None) -> None:
    """Outside the namespace: forward signals to the init, wait, clean up, leave as the plugin did."""
    try:
        _forward_to(init)
        own = _wait(init)
        data = b""
        while len(data) < 4:
            chunk = os.read(status_r, 4 - len(data))
            if not chunk:
                break
            data += chunk
        if cleanup is not None:
            try:
                cleanup()
            except Exception:
                pass
        if len(data) == 4:
            _leave_like(struct.unpack("<i", data)[0])
        _leave_like(own if own is not None else 1 << 8)
    finally:
        os._exit(1)



def _init(status_w: int) -> None:
    """pid 1: fork the plugin process, forward signals to it, report its wait status. Never returns."""
    try:
        _death_signal()  # dies with the keeper (SIGKILL from outside the namespace is always delivered)
        plugin = os.fork()
        if plugin == 0:
            return  # the caller of _init carries on as the plugin process
        _forward_to(plugin)
        status = _wait(plugin)
        os.write(status_w, struct.pack("<i", status if status is not None else 1 << 8))
        os._exit(0)
    except BaseException:
        os._exit(1)


def enter_pid_namespace(cleanup: Callable[[], None] | None = None) -> tuple[bool, str, int]:
    """Fork into a new pid namespace; returns ``(active, detail, parent_pidfd)`` in the plugin process only.

    The calling process becomes the keeper and never returns from this call;
    it runs ``cleanup`` once the plugin process has exited (e.g. removing its
    cgroup). ``parent_pidfd`` (-1 when inactive) is a pidfd of the init,
    readable once it is gone: a credential change clears the death signal, so
    whoever re-arms it checks the parent with :func:`parent_gone` and closes it.
    Raises nothing when the kernel refuses: the layer is then inactive.
    """
    threads = _threads()
    if threads > 1:
        return False, (f"this process has {threads} threads: forking it would leave their locks "
                       "behind (start the child single-threaded)"), -1
    fn = libc().unshare
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    if fn(CLONE_NEWPID) != 0:
        err = ctypes.get_errno()
        return False, f"unshare(CLONE_NEWPID) failed: {os.strerror(err)} (needs CAP_SYS_ADMIN: a root host)", -1
    status_r, status_w = os.pipe()
    init = os.fork()
    if init != 0:
        os.close(status_w)
        _keeper(init, status_r, cleanup)
    os.close(status_r)
    _init(status_w)
    # The plugin process, pid 2: dies with the init.
    os.close(status_w)
    _death_signal()
    parent = os.pidfd_open(os.getppid())  # the init: getppid() is 1, a live pid inside the namespace
    if parent_gone(parent) or os.getppid() != 1:
        os._exit(1)
    outer = namespace_pids()
    return True, (f"pid {outer[-1]} of a private pid namespace (host sees pid {outer[0]}; "
                  "an init and a keeper process wait outside the plugin)"), parent


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1
