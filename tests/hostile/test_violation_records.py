"""Violation records from host faults (pure functions of gpi.plugins.violations; no processes)."""

from __future__ import annotations

import signal

from gpi.plugins.violations import LAYERS, classify_error, classify_exit_code, from_fault


def fault(kind: str, error: str, **extra: object) -> dict[str, object]:
    return {"tick": 3, "kind": kind, "plugin": "p", "system": "s", "error": error, **extra}


def test_errors_map_to_the_layer_that_answered() -> None:
    cases = {
        ("PermissionError", "[Errno 1] Operation not permitted"): "seccomp",
        ("OSError", "[Errno 38] Function not implemented"): "seccomp",
        ("PermissionError", "[Errno 13] Permission denied: '/etc/shadow'"): "landlock",
        ("OSError", "[Errno 101] Network is unreachable"): "netns",
        ("OSError", "[Errno 27] File too large"): "rlimits",
        ("MemoryError", ""): "rlimits",
        ("ValueError", "assignment destination is read-only"): "memfd_seal",
    }
    for (typ, msg), layer in cases.items():
        info = classify_error({"type": typ, "message": msg, "traceback": ""})
        assert info is not None and info["layer"] == layer, (typ, msg, info)
    tb = 'File "x.py", line 3, in attack\n    m = mmap.mmap(fd, 4096)\nPermissionError: [Errno 1] Operation not permitted'
    info = classify_error({"type": "PermissionError", "message": "[Errno 1] Operation not permitted", "traceback": tb})
    assert info is not None and info["layer"] == "memfd_seal"
    assert classify_error({"type": "RuntimeError", "message": "boom", "traceback": ""}) is None


def test_host_faults_become_records_with_host_attribution() -> None:
    assert from_fault(fault("timeout", "no answer"))["layer"] == "deadline"  # type: ignore[index]
    assert from_fault(fault("rejected", "bad op"))["layer"] == "validation"  # type: ignore[index]
    assert from_fault(fault("protocol", "garbage"))["layer"] == "protocol"  # type: ignore[index]
    crash = from_fault(fault("crashed", "peer died"), -signal.SIGSEGV)
    assert crash is not None and crash["layer"] == "process" and "SIGSEGV" in crash["what"]
    xcpu = from_fault(fault("crashed", "peer died"), -signal.SIGXCPU)
    assert xcpu is not None and xcpu["layer"] == "rlimits"
    exc = from_fault(fault("exception", "plugin 'p' system 's' raised PermissionError: [Errno 1] Operation not permitted"))
    assert exc == {"plugin": "p", "system": "s", "tick": 3, "layer": "seccomp",
                   "what": "syscall refused (EPERM): Operation not permitted", "kind": "exception"}
    # A bug is not a violation; an unconfined plugin's PermissionError is not the sandbox's doing.
    assert from_fault(fault("exception", "plugin 'p' system 's' raised KeyError: 'x'")) is None
    assert from_fault(fault("exception", "raised PermissionError: [Errno 1] x"), confined=False) is None
    assert classify_exit_code(None)["layer"] == "process"
    assert classify_exit_code(3)["what"] == "child exited with code 3"


def test_a_child_cannot_spoof_attribution_or_invent_layers() -> None:
    spoof = {"layer": "seccomp", "what": "x" * 10_000, "plugin": "victim", "system": "other", "tick": 999,
             "call": "os.fork()"}
    rec = from_fault(fault("exception", "raised PermissionError: [Errno 1] x", violation=spoof))
    assert rec is not None
    assert (rec["plugin"], rec["system"], rec["tick"]) == ("p", "s", 3)
    assert rec["call"] == "os.fork()" and len(rec["what"]) <= 500
    bogus = from_fault(fault("exception", "raised RuntimeError: x", violation={"layer": "magic", "what": "?"}))
    assert bogus is None
    assert {"seccomp", "landlock", "deadline", "validation"} <= LAYERS
