"""Real children under the real sandbox: what they cannot do, what they still can.

Every test starts a child process (see conftest.py), applies the sandbox there
and checks both the outcome and which layer answered. Attacks that could do
harm if a layer were missing are written to be harmless anyway (opening
/etc/passwd in append mode writes nothing, signal 0 kills nothing).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sandbox_harness import record

from gpi.plugins.sandbox import SandboxPolicy

pytestmark = [pytest.mark.sandbox, pytest.mark.subprocess]

Run = Callable[..., dict[str, Any]]

# The host hands the child a sealed memfd (the world) and a socketpair (the channel).
SEALED_MEMFD = """
SEG_FD = os.memfd_create("world", os.MFD_ALLOW_SEALING)
os.ftruncate(SEG_FD, 1 << 16)
_w = mmap.mmap(SEG_FD, 1 << 16)
_w[:8] = (12345).to_bytes(8, "little")
fcntl.fcntl(SEG_FD, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | 0x10)
CHAN_A, CHAN_B = socket.socketpair()
"""


def refused(res: dict[str, Any], layer: str, attack: str, call: str = "") -> None:
    record(attack, res, layer)
    assert res["outcome"] == "refused", res
    assert res["violation"] is not None, res
    assert res["violation"]["layer"] == layer, res
    assert res["violation"]["tick"] == 0, res
    if call:  # the audit hook named the Python call behind the refusal
        assert res["violation"].get("call", "").startswith(call), res


def allowed(res: dict[str, Any], attack: str) -> Any:
    record(attack, res, "-")
    assert res["outcome"] == "allowed", res
    assert all(res["layers"][n] for n in ("rlimits", "no_new_privs", "landlock", "seccomp")), res
    return res["value"]


# -- what the full sandbox refuses ------------------------------------------------------


def test_socket_creation_is_refused(run_sandboxed: Run) -> None:
    refused(run_sandboxed("socket.socket(socket.AF_INET, socket.SOCK_STREAM)"), "seccomp", "create a socket", "socket.__new__")


def test_connect_to_localhost_is_refused(run_sandboxed: Run) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        res = run_sandboxed("socket.create_connection(('127.0.0.1', ARGS['port']), timeout=2)", args={"port": port})
    refused(res, "seccomp", "connect to 127.0.0.1")


def test_unix_socketpair_is_refused(run_sandboxed: Run) -> None:
    refused(run_sandboxed("socket.socketpair()"), "seccomp", "socketpair")


def test_fork_is_refused(run_sandboxed: Run) -> None:
    res = run_sandboxed("""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    """)
    refused(res, "seccomp", "os.fork", "os.fork")


def test_subprocess_is_refused(run_sandboxed: Run) -> None:
    refused(run_sandboxed("subprocess.run(['/bin/true'])"), "seccomp", "subprocess.run", "subprocess.Popen")


def test_exec_is_refused(run_sandboxed: Run) -> None:
    refused(run_sandboxed("os.execv('/bin/true', ['true'])"), "seccomp", "os.execv", "os.exec")


def test_ptrace_of_the_parent_is_refused(run_sandboxed: Run) -> None:
    res = run_sandboxed("""
    LIBC.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    check(LIBC.ptrace(16, ARGS["host"], None, None), "ptrace(PTRACE_ATTACH)")
    """, args={"host": os.getpid()})
    refused(res, "seccomp", "ptrace the host")
    # ctypes calls raise no audit event, and the earlier ctypes.dlopen is not blamed.
    assert "call" not in res["violation"], res


def test_signalling_the_parent_is_refused(run_sandboxed: Run) -> None:
    refused(run_sandboxed("os.kill(ARGS['host'], 0)", args={"host": os.getpid()}), "seccomp", "kill(host, 0)", "os.kill")


def test_raising_a_limit_is_refused(run_sandboxed: Run) -> None:
    res = run_sandboxed("resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))")
    refused(res, "rlimits", "raise RLIMIT_AS (prlimit64 write denied)", "resource.setrlimit")


def test_open_etc_passwd_for_writing_is_refused(run_sandboxed: Run) -> None:
    # Append mode writes nothing even if it were allowed.
    refused(run_sandboxed("open('/etc/passwd', 'a').close()"), "seccomp", "open /etc/passwd for writing", "open('/etc/passwd'")


def test_reading_outside_the_plugin_folder_is_refused(run_sandboxed: Run, plugin_dir: Path) -> None:
    res = run_sandboxed("value = open(ARGS['path']).read()", args={"path": str(plugin_dir.parent / "outside.txt")})
    refused(res, "landlock", "read a file outside the plugin folder")
    assert res["errno"] == errno.EACCES


def test_writing_in_the_plugin_folder_is_refused(run_sandboxed: Run, plugin_dir: Path) -> None:
    res = run_sandboxed("open(os.path.join(PLUGIN_DIR, 'new.txt'), 'w').close()")
    refused(res, "seccomp", "create a file in the plugin folder")
    assert not (plugin_dir / "new.txt").exists()


def test_memory_bomb_hits_the_address_space_limit(run_sandboxed: Run) -> None:
    policy = SandboxPolicy(address_space_bytes=1 << 30)
    res = run_sandboxed("value = int(np.ones(3 << 30, dtype=np.uint8).sum())", policy=policy)
    refused(res, "rlimits", "memory bomb (3 GiB under a 1 GiB limit)")


def test_cpu_spin_is_killed_by_the_cpu_limit(run_sandboxed: Run) -> None:
    res = run_sandboxed("while True:\n    pass", policy=SandboxPolicy(cpu_seconds=1))
    record("infinite loop (1 s CPU limit)", res, "rlimits")
    assert res["outcome"] == "killed", res
    assert res["violation"]["layer"] == "rlimits", res


def test_big_file_write_hits_the_file_size_limit(run_sandboxed: Run, plugin_dir: Path) -> None:
    # Even an fd opened for writing *before* the sandbox cannot grow a file.
    target = plugin_dir.parent / "big.bin"
    res = run_sandboxed(
        "BIG.write(b'x' * (1 << 20)); BIG.flush()",
        setup=f"BIG = open({str(target)!r}, 'wb', buffering=0)\n",
    )
    refused(res, "rlimits", "write a big file (fd opened before)")
    assert target.stat().st_size == 0


def test_writable_mapping_of_a_sealed_segment_is_refused(run_sandboxed: Run) -> None:
    res = run_sandboxed("mmap.mmap(SEG_FD, 1 << 16)", setup=SEALED_MEMFD)
    refused(res, "memfd_seal", "mmap a sealed world segment read-write", "mmap.__new__")


def test_mprotect_to_writable_of_a_sealed_segment_is_refused(run_sandboxed: Run) -> None:
    res = run_sandboxed("""
    ro = mmap.mmap(SEG_FD, 1 << 16, prot=mmap.PROT_READ)
    addr = ctypes.addressof(ctypes.c_char.from_buffer_copy(b"x"))  # placeholder to keep ctypes warm
    view = np.frombuffer(ro, dtype=np.uint8)
    LIBC.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    check(LIBC.mprotect(view.ctypes.data, 1 << 16, mmap.PROT_READ | mmap.PROT_WRITE), "mprotect")
    """, setup=SEALED_MEMFD)
    refused(res, "memfd_seal", "mprotect a read-only world mapping to writable")
    assert res["errno"] == errno.EACCES


def test_numpy_write_to_a_read_only_view_is_refused(run_sandboxed: Run) -> None:
    res = run_sandboxed("""
    view = np.frombuffer(mmap.mmap(SEG_FD, 1 << 16, prot=mmap.PROT_READ), dtype=np.int64)
    view[0] = 1
    """, setup=SEALED_MEMFD)
    record("numpy write to a read-only world view", res, "memfd_seal")
    assert res["outcome"] == "refused" and "read-only" in res["error"], res


# -- what a well-behaved plugin can still do -----------------------------------------


def test_numpy_and_msgpack_work(run_sandboxed: Run) -> None:
    value = allowed(run_sandboxed("""
    x = np.random.default_rng(0).random((200, 200))
    y = float((x @ x.T).trace() + np.sort(x, axis=None)[-1])
    value = msgpack.unpackb(msgpack.packb({"y": y, "a": np.arange(5).tolist()}))["a"]
    """), "numpy array math + msgpack")
    assert value == [0, 1, 2, 3, 4]


def test_threads_are_refused_by_default(run_sandboxed: Run) -> None:
    res = run_sandboxed("threading.Thread(target=lambda: None).start()")
    refused(res, "seccomp", "start a thread (threads = 0)")
    assert "can't start new thread" in res["error"], res


def test_threads_work_when_the_policy_grants_them(run_sandboxed: Run) -> None:
    value = allowed(run_sandboxed("""
    out = []
    def work(i):
        out.append(int(np.arange(1000).sum()) + i)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    value = sorted(out)
    """, policy=SandboxPolicy(threads=4)), "start and join 4 threads (threads = 4)")
    assert value == [499500, 499501, 499502, 499503]


def test_reading_the_plugin_folder_and_importing_from_it_work(run_sandboxed: Run) -> None:
    value = allowed(run_sandboxed("""
    sys.path.insert(0, PLUGIN_DIR)
    import plugmod
    value = [open(os.path.join(PLUGIN_DIR, "data.txt")).read(), plugmod.ANSWER, sorted(os.listdir(PLUGIN_DIR))]
    import fractions, statistics  # stdlib modules imported only now
    """), "read + import from the plugin folder, late stdlib imports")
    assert value[0] == "plugin data\n" and value[1] == 42 and "plugmod.py" in value[2]


def test_sealed_segment_maps_read_only_and_fds_pass_over_the_channel(run_sandboxed: Run) -> None:
    value = allowed(run_sandboxed("""
    socket.send_fds(CHAN_A, [b"seg"], [SEG_FD])
    msg, fds, _, _ = socket.recv_fds(CHAN_B, 16, 4)
    ro = mmap.mmap(fds[0], 1 << 16, prot=mmap.PROT_READ)
    view = np.frombuffer(ro, dtype=np.int64)
    value = [int(view[0]), bool(view.flags.writeable), msg.decode()]
    """, setup=SEALED_MEMFD), "map a sealed memfd read-only (fd passed over socketpair)")
    assert value == [12345, False, "seg"]


def test_futex_sleep_and_polling_work(run_sandboxed: Run) -> None:
    value = allowed(run_sandboxed("""
    ev = threading.Event()
    threading.Timer(0.01, ev.set).start()
    ok = ev.wait(5)
    time.sleep(0.005)
    efd = os.eventfd(0); os.eventfd_write(efd, 3); n = os.eventfd_read(efd); os.close(efd)
    import select
    r, _, _ = select.select([CHAN_B], [], [], 0)
    os.kill(os.getpid(), 0)
    value = [ok, n, r, os.urandom(4) != b"", resource.getrlimit(resource.RLIMIT_FSIZE)[0]]
    """, setup=SEALED_MEMFD, policy=SandboxPolicy(threads=1)), "futex wait, sleep, eventfd, select, urandom")
    assert value == [True, 3, [], True, 0]


# -- layers one at a time: each stops its attack on its own ---------------------------


def test_landlock_alone_refuses_writes_and_outside_reads(run_sandboxed: Run, plugin_dir: Path) -> None:
    policy = SandboxPolicy(layers=frozenset({"no_new_privs", "landlock"}), required=frozenset({"landlock"}))
    res = run_sandboxed("open(os.path.join(PLUGIN_DIR, 'new.txt'), 'w').close()", policy=policy)
    refused(res, "landlock", "create a file in the plugin folder (Landlock only)")
    res = run_sandboxed("open(ARGS['p']).read()", policy=policy, args={"p": str(plugin_dir.parent / "outside.txt")})
    refused(res, "landlock", "read outside (Landlock only)")


def test_network_namespace_alone_makes_localhost_unreachable(run_sandboxed: Run) -> None:
    policy = SandboxPolicy(layers=frozenset({"netns"}), required=frozenset({"netns"}))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        res = run_sandboxed(
            "socket.create_connection(('127.0.0.1', ARGS['port']), timeout=2)",
            policy=policy, args={"port": server.getsockname()[1]},
        )
    if res["outcome"] == "sandbox-error":
        pytest.skip(f"no network namespace here: {res['error']}")
    refused(res, "netns", "connect to 127.0.0.1 (netns only)")


def test_denylist_mode_still_refuses_the_dangerous_calls(run_sandboxed: Run) -> None:
    policy = SandboxPolicy(seccomp_mode="denylist")
    allowed(run_sandboxed("value = float(np.linalg.norm(np.eye(3)))", policy=policy), "numpy (seccomp deny-list mode)")
    refused(run_sandboxed("socket.socket()", policy=policy), "seccomp", "socket (deny-list mode)")
    refused(run_sandboxed("os.fork()", policy=policy), "seccomp", "fork (deny-list mode)")
    refused(run_sandboxed("open('/etc/passwd', 'a')", policy=policy), "seccomp", "open for writing (deny-list mode)")


def test_a_required_layer_that_fails_stops_the_child(run_sandboxed: Run) -> None:
    res = run_sandboxed("value = 1", policy=SandboxPolicy(address_space_bytes=1 << 20))
    assert res["outcome"] == "sandbox-error", res
    assert res["layer"] == "rlimits" and "required" in res["error"], res
    assert res["partial"] == "rlimits-", res


# -- the real transport through the sandbox -----------------------------------------


def test_shm_channel_works_across_the_sandbox(plugin_dir: Path) -> None:
    """The child attaches the real gpi.shm Channel *after* the sandbox and serves requests."""
    import numpy as np
    from sandbox_harness import child_result, start_child

    from gpi.shm import Channel, send_with_fds

    ch = Channel.create("sbx", ring_capacity=1 << 14, arena_size=1 << 20, drawlist_size=1 << 16)
    host_sock, child_sock = socket.socketpair()
    try:
        proc = start_child(
            """
            from gpi.shm import Channel, recv_with_fds
            spec, fds = recv_with_fds(socket.socket(fileno=ARGS["fd"]))
            ch = Channel.attach(spec, fds)
            served = 0
            while True:
                msg = ch.recv(timeout=20)
                if msg["kind"] == "shutdown":
                    break
                ch.arena.reset()
                arr, ref = ch.arena.array(np.float64, (msg["n"],))
                arr[:] = np.arange(msg["n"]) * 2.0
                ch.send({"kind": "result", "ref": ref, "sum": float(arr.sum())})
                served += 1
            value = served
            """,
            plugin_dir, args={"fd": child_sock.fileno()}, pass_fds=(child_sock.fileno(),),
        )
        send_with_fds(host_sock, ch.child_spec(), ch.child_fds())
        ch.set_peer_pid(proc.pid)
        for n in (1, 1000, 50_000):
            reply = ch.request({"kind": "call", "n": n}, timeout=20)
            view = ch.arena.view(reply["ref"])
            assert reply["sum"] == float(n * (n - 1))
            assert np.array_equal(view, np.arange(n) * 2.0)
        ch.send({"kind": "shutdown"})
        res = child_result(proc)
    finally:
        ch.close()
        host_sock.close()
        child_sock.close()
    value = allowed(res, "serve 3 requests over the real shm Channel (futex rings, arena)")
    assert value == 3


def test_project_folders_on_sys_path_are_not_readable(run_sandboxed: Run, tmp_path: Path) -> None:
    """A sys.path entry that is a project/home folder (``python -m`` adds the cwd) stays closed."""
    proj = tmp_path / "project"
    proj.mkdir()
    (proj / "notes.txt").write_text("private\n")
    res = run_sandboxed(
        "value = open(os.path.join(ARGS['proj'], 'notes.txt')).read()",
        setup="sys.path.insert(0, ARGS['proj'])\n", args={"proj": str(proj)},
    )
    refused(res, "landlock", "read a project folder that is on sys.path")


# -- the host's world segment against ctypes and mmap tricks ----------------------------


def _host_world(plugin_dir: Path, code: str) -> tuple[dict[str, Any], bytes]:
    """A host-made sealed segment holding known bytes, passed to a sandboxed child running ``code``."""
    from sandbox_harness import child_result, start_child

    from gpi.shm import Segment

    with Segment.create(1 << 16, "world") as seg:
        seg.array_view()[:16] = list(range(16))
        seg.seal()
        proc = start_child(
            "ro = mmap.mmap(ARGS['fd'], 1 << 16, prot=mmap.PROT_READ)\n" + textwrap.dedent(code),
            plugin_dir, args={"fd": seg.fd}, pass_fds=(seg.fd,),
        )
        res = child_result(proc)
        return res, bytes(seg.array_view()[:16])


def test_ctypes_write_into_the_world_kills_the_child_and_changes_nothing(plugin_dir: Path) -> None:
    res, after = _host_world(plugin_dir, """
    view = np.frombuffer(ro, dtype=np.uint8)
    ctypes.memset(view.ctypes.data, 0xFF, 16)
    """)
    record("ctypes.memset into the read-only world", res, "memfd_seal", "world unchanged")
    assert res["outcome"] == "killed" and res["returncode"] == -signal.SIGSEGV, res
    assert after == bytes(range(16))


def test_private_writable_mapping_never_reaches_the_world(plugin_dir: Path) -> None:
    res, after = _host_world(plugin_dir, """
    cow = mmap.mmap(ARGS['fd'], 1 << 16, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    cow[:16] = b"\\xff" * 16
    value = [cow[0], ro[0]]
    """)
    record("MAP_PRIVATE writable copy of the world", res, "memfd_seal", "a private copy; world unchanged")
    assert res["outcome"] == "allowed" and res["value"] == [255, 0], res
    assert after == bytes(range(16))


def test_writing_through_proc_self_mem_is_refused(run_sandboxed: Run) -> None:
    refused(run_sandboxed("open('/proc/self/mem', 'r+b')"), "seccomp", "open /proc/self/mem for writing")


def test_applying_twice_is_a_clear_error(run_sandboxed: Run) -> None:
    res = run_sandboxed("apply_sandbox(POLICY, PLUGIN_DIR)")
    assert res["outcome"] == "refused" and "already ran in this process" in res["error"], res


def test_child_dies_with_its_parent(plugin_dir: Path) -> None:
    """pdeathsig: kill the sandboxed child's parent and the child is killed too.

    Three processes below the test: a reaper (a child subreaper, so it collects
    the orphan and sees how it died), the parent, and the sandboxed child.
    """
    import subprocess
    import sys

    from sandbox_harness import ROOT, _script

    (plugin_dir / "attack.py").write_text(_script("time.sleep(60)", ""))
    policy = SandboxPolicy(required=SandboxPolicy().required | {"pdeathsig"})
    reaper = textwrap.dedent("""
        import ctypes, os, signal, subprocess, sys, time
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        parent = subprocess.Popen([sys.executable, "-c", (
            "import subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable] + sys.argv[1:]); "
            "print(c.pid, flush=True); time.sleep(60)"), *sys.argv[1:]], stdout=subprocess.PIPE, text=True)
        child = int(parent.stdout.readline())
        status = f"/proc/{child}/status"
        for _ in range(1200):  # wait until the child runs under its seccomp filter
            if "Seccomp:\t2" in open(status).read():
                break
            time.sleep(0.025)
        parent.kill()
        parent.wait()
        for _ in range(1200):
            pid, st = os.waitpid(child, os.WNOHANG)
            if pid:
                print("child", os.waitstatus_to_exitcode(st), flush=True)
                break
            time.sleep(0.025)
        else:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            print("child survived", flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", reaper, str(plugin_dir / "attack.py"), json.dumps(policy.to_dict()),
         str(plugin_dir), "{}"],
        capture_output=True, text=True, env=env, timeout=90,
    )
    last = (out.stdout.strip().splitlines() or ["no output"])[-1]
    killed = last == f"child {-signal.SIGKILL}"
    res = {"outcome": "killed" if killed else last, "returncode": -signal.SIGKILL}
    record("parent dies: the child must not outlive it", res, "pdeathsig")
    assert killed, (out.stdout, out.stderr)


def test_a_finished_audited_call_is_not_blamed(run_sandboxed: Run) -> None:
    """Like tests/hostile's ptrace_host: dlopen (audited), then a refusal raised a few lines later."""
    res = run_sandboxed("""
    def attack():
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        rc = libc.ptrace(16, os.getppid(), None, None)
        raise PermissionError(ctypes.get_errno(), "ptrace refused")
    attack()
    """)
    refused(res, "seccomp", "ptrace after an audited dlopen in the same function")
    assert "call" not in res["violation"], res


def test_the_hosts_proc_files_are_not_readable(run_sandboxed: Run) -> None:
    """/proc/self is granted; the parent's /proc entries (environment, memory maps) are not."""
    res = run_sandboxed("value = open(f'/proc/{ARGS[\"host\"]}/environ', 'rb').read()[:10]", args={"host": os.getpid()})
    refused(res, "landlock", "read the host's /proc/<pid>/environ")
    res = run_sandboxed("value = len(open('/proc/self/status').read()) > 0")
    allowed(res, "read /proc/self/status")
