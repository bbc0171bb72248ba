"""The privilege, pid-namespace and cgroup layers, and seccomp's argument checks, in real children.

Each test starts a sandboxed child (see conftest.py) and looks from inside:
``/proc/self/status`` (capabilities, ids, ``NoNewPrivs``, ``Seccomp``,
``NSpid``), and calls that name another process, change signal owners or
grow kernel buffers. The host process (this test runner) is the target of
the attacks; each one is written so that it would be harmless even if it
were allowed (same affinity mask, no owner set while O_ASYNC is off).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sandbox_harness import record, start_child

from gpi.plugins.sandbox import SandboxPolicy
from gpi.plugins.sandbox.privilege import UID_BASE, UID_SPAN, uid_for

pytestmark = [pytest.mark.sandbox, pytest.mark.subprocess]

Run = Callable[..., dict[str, Any]]
ROOT = os.geteuid() == 0

STATUS = """
status = {}
for line in open("/proc/self/status"):
    k, _, v = line.partition(":")
    status[k] = v.split()
value = {k: status[k] for k in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd", "Uid", "Gid", "NoNewPrivs",
                                "Seccomp", "NSpid", "Groups")}
value["getpid"] = os.getpid()
value["getppid"] = os.getppid()
value["detail"] = REPORT.layers["privilege"].detail
"""


def _refused(res: dict[str, Any], attack: str, layer: str = "seccomp") -> None:
    record(attack, res, layer)
    assert res["outcome"] == "refused", res
    assert res["violation"] is not None and res["violation"]["layer"] == layer, res


def test_proc_self_status_shows_no_privilege(run_sandboxed: Run) -> None:
    res = run_sandboxed(STATUS)
    record("read /proc/self/status", res, "-")
    assert res["outcome"] == "allowed", res
    st = res["value"]
    for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert int(st[cap][0], 16) == 0, (cap, st)
    assert st["NoNewPrivs"] == ["1"] and st["Seccomp"] == ["2"], st
    if not ROOT:
        return
    uid = uid_for("plugin")  # the folder's name, as apply_sandbox defaults to
    assert UID_BASE <= uid < UID_BASE + UID_SPAN
    real, eff, saved, fs = map(int, st["Uid"])
    assert (real, eff, saved) == (uid, uid, uid), st
    assert fs in (uid, 0), st
    if fs == 0:  # the interpreter or the plugin folder is not readable by the plugin's uid
        assert "file system uid 0 kept" in st["detail"], st
    assert [int(g) for g in st["Gid"]] == [uid] * 4 and st["Groups"] == [], st
    # A private pid namespace: pid 2 inside (the namespace's init, pid 1, is its parent), another pid outside.
    assert len(st["NSpid"]) == 2 and st["NSpid"][1] == "2" and st["getpid"] == 2 and st["getppid"] == 1, st


def test_each_plugin_gets_its_own_uid() -> None:
    names = ["movement", "spawner", "boids", "player", "benign", "spin"]
    uids = {uid_for(n) for n in names}
    assert len(uids) == len(names)
    assert all(UID_BASE <= u < UID_BASE + UID_SPAN for u in uids)
    assert uid_for("boids") == uid_for("boids")


@pytest.mark.parametrize("call", [
    "os.sched_setaffinity(ARGS['host'], os.sched_getaffinity(0))",
    "os.sched_getaffinity(ARGS['host'])",
    "os.getsid(ARGS['host'])",
    "os.getpgid(ARGS['host'])",
    "os.getpriority(os.PRIO_PROCESS, ARGS['host'])",
    "os.getpriority(os.PRIO_USER, 0)",
    "os.sched_getscheduler(ARGS['host'])",
    "os.sched_getparam(ARGS['host'])",
    "os.setpgid(0, 0)",
    "os.pidfd_open(ARGS['host'])",
], ids=["setaffinity", "getaffinity", "getsid", "getpgid", "getpriority", "getpriority_user", "getscheduler",
        "getparam", "setpgid", "pidfd_open"])
def test_naming_another_process_is_refused(run_sandboxed: Run, call: str) -> None:
    _refused(run_sandboxed(call, args={"host": os.getpid()}), f"{call.split('(')[0]} of the host")


def test_own_process_calls_still_work(run_sandboxed: Run) -> None:
    res = run_sandboxed("""
    me = os.getpid()
    value = [len(os.sched_getaffinity(0)) > 0, len(os.sched_getaffinity(me)) > 0, os.getsid(0) >= 0,
             os.getpgid(0) >= 0, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)]
    os.sched_setaffinity(0, os.sched_getaffinity(0))
    """)
    record("affinity/session/priority of itself", res, "-")
    assert res["outcome"] == "allowed", res
    assert res["value"][:4] == [True, True, True, True], res


# fcntl / ioctl: make the kernel signal another process on I/O.
SIGIO = """
A, B = socket.socketpair()
"""


@pytest.mark.parametrize("call", [
    "fcntl.fcntl(A.fileno(), fcntl.F_SETOWN, ARGS['host'])",
    "fcntl.fcntl(A.fileno(), 15, b'\\x00' * 4 + ARGS['host'].to_bytes(4, 'little'))",  # F_SETOWN_EX
    "fcntl.fcntl(A.fileno(), 10, 9)",  # F_SETSIG: SIGKILL on I/O
    "fcntl.fcntl(A.fileno(), fcntl.F_SETFL, fcntl.fcntl(A.fileno(), fcntl.F_GETFL) | os.O_ASYNC)",
    "fcntl.ioctl(A.fileno(), 0x8902, ARGS['host'].to_bytes(4, 'little'))",  # SIOCSPGRP
    "fcntl.ioctl(A.fileno(), 0x8901, ARGS['host'].to_bytes(4, 'little'))",  # FIOSETOWN
    "fcntl.ioctl(A.fileno(), 0x5452, (1).to_bytes(4, 'little'))",  # FIOASYNC
    "check(LIBC.syscall(72, A.fileno(), (1 << 32) | 8, ARGS['host']), 'fcntl with high bits')",
], ids=["F_SETOWN", "F_SETOWN_EX", "F_SETSIG", "O_ASYNC", "SIOCSPGRP", "FIOSETOWN", "FIOASYNC", "high_bits"])
def test_signal_owner_and_async_io_are_refused(run_sandboxed: Run, call: str) -> None:
    _refused(run_sandboxed(call, setup=SIGIO, args={"host": os.getpid()}), f"signal owner: {call[:40]}")


def test_ordinary_fcntl_and_ioctl_still_work(run_sandboxed: Run) -> None:
    res = run_sandboxed("""
    os.set_blocking(A.fileno(), False)
    os.set_inheritable(A.fileno(), True)
    n = fcntl.ioctl(A.fileno(), 0x541B, b"\\0" * 4)  # FIONREAD
    value = [os.get_blocking(A.fileno()), os.get_inheritable(A.fileno()), fcntl.fcntl(A.fileno(), fcntl.F_GETOWN),
             fcntl.fcntl(1, 1032) > 0, fcntl.fcntl(1, 1031, 4096) > 0]  # F_GETPIPE_SZ, F_SETPIPE_SZ (shrink)
    A.settimeout(0.5)
    """, setup=SIGIO)
    record("O_NONBLOCK, FIOCLEX, FIONREAD, F_GETOWN, pipe size shrink", res, "-")
    assert res["outcome"] == "allowed", res
    assert res["value"] == [False, True, 0, True, True], res


@pytest.mark.parametrize("call", [
    "fcntl.fcntl(1, 1031, 256 << 20)",  # F_SETPIPE_SZ 256 MiB on the inherited stdout pipe
    "A.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 30)",
    "A.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 30)",
    "A.setsockopt(socket.SOL_SOCKET, 32, 1 << 30)",  # SO_SNDBUFFORCE
    "A.setsockopt(socket.SOL_SOCKET, 33, 1 << 30)",  # SO_RCVBUFFORCE
], ids=["F_SETPIPE_SZ", "SO_SNDBUF", "SO_RCVBUF", "SO_SNDBUFFORCE", "SO_RCVBUFFORCE"])
def test_kernel_buffer_growth_is_refused(run_sandboxed: Run, call: str) -> None:
    _refused(run_sandboxed(call, setup=SIGIO), f"kernel memory: {call[:44]}")


def test_denylist_mode_has_the_same_argument_checks(run_sandboxed: Run) -> None:
    policy = SandboxPolicy(seccomp_mode="denylist")
    for call in ("os.sched_setaffinity(ARGS['host'], os.sched_getaffinity(0))", "os.getsid(ARGS['host'])",
                 "fcntl.fcntl(A.fileno(), fcntl.F_SETOWN, ARGS['host'])", "fcntl.fcntl(1, 1031, 256 << 20)",
                 "fcntl.ioctl(A.fileno(), 0x8902, ARGS['host'].to_bytes(4, 'little'))",
                 "A.setsockopt(socket.SOL_SOCKET, 32, 1 << 30)", "threading.Thread(target=print).start()"):
        _refused(run_sandboxed(call, policy=policy, setup=SIGIO, args={"host": os.getpid()}), f"denylist: {call[:40]}")


@pytest.mark.skipif(not ROOT, reason="creating a CPU cgroup needs root")
def test_spinning_threads_are_throttled_by_the_cpu_quota(plugin_dir: Path) -> None:
    """Two threads spin forever; the kernel throttles the child to its quota (0.2 CPU per period)."""
    proc = start_child("""
    def spin():
        while True:
            pass
    for _ in range(2):
        threading.Thread(target=spin, daemon=True).start()
    print("CGROUP " + json.dumps([REPORT.active("cgroup"), REPORT.layers["cgroup"].detail]), flush=True)
    time.sleep(120)
    """, plugin_dir, SandboxPolicy(threads=2, cpu_quota=0.2))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("CGROUP "), (line, proc.stderr.read() if proc.stderr else "")
        active, detail = json.loads(line[7:])
        if not active:
            pytest.skip(f"no CPU cgroup on this machine: {detail}")
        path = detail.split()[2].rstrip(":")
        stat: dict[str, int] = {}
        while stat.get("nr_throttled", 0) < 3:  # an event: the kernel throttled the child three periods
            with open(os.path.join(path, "cpu.stat")) as f:
                stat = {k: int(v) for k, v in (ln.split() for ln in f)}
            time.sleep(0.01)
        record("two spinning threads (threads = 2, 0.2 CPU per tick)",
               {"outcome": f"throttled {stat['nr_throttled']} periods"}, "cgroup")
        assert stat["nr_throttled"] >= 3
    finally:
        proc.terminate()  # the keeper ends its child, removes the cgroup, and exits with SIGTERM
        proc.communicate()
    assert proc.returncode == -15
    # The keeper removed the cgroup after its child died.
    for _ in range(500):
        if not os.path.exists(path):
            break
        time.sleep(0.01)
    assert not os.path.exists(path)
