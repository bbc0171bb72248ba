"""SandboxPolicy: safe defaults, wire round trip, manifest tables that may only tighten."""

from __future__ import annotations

import errno
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpi.errors import GpiError
from gpi.plugins.sandbox import (
    ALL_LAYERS,
    DEFAULT_REQUIRED,
    LayerStatus,
    SandboxError,
    SandboxPolicy,
    SandboxPolicyError,
    SandboxReport,
    classify_exit,
    classify_violation,
)


def test_defaults_are_the_safe_ones() -> None:
    p = SandboxPolicy()
    assert p.file_size_bytes == 0 and p.core_bytes == 0 and p.nproc == 0
    assert p.layers == frozenset(ALL_LAYERS)
    assert p.required == DEFAULT_REQUIRED == {"rlimits", "no_new_privs", "privilege", "landlock", "seccomp"}
    assert p.seccomp_mode == "allowlist"
    assert p.threads == 0 and p.cpu_quota == 1.0


def test_threads_and_cpu_quota_come_from_the_manifest_table() -> None:
    p = SandboxPolicy.from_dict({"threads": 2, "cpu_quota": 0.5}, base=SandboxPolicy())
    assert (p.threads, p.cpu_quota) == (2, 0.5)
    assert SandboxPolicy.from_dict(p.to_dict()) == p
    for bad in ({"threads": -1}, {"threads": 65}, {"threads": True}, {"cpu_quota": 0.0}, {"cpu_quota": "1"}):
        with pytest.raises(SandboxPolicyError):
            SandboxPolicy.from_dict(bad, base=SandboxPolicy())


def test_child_environment_is_an_allow_list() -> None:
    from gpi.plugins.sandbox import child_environment

    host = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "PYTHONHASHSEED": "7", "GPI_PURE_PYTHON": "1",
            "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "GPI_DATA_DIR": "/d", "SSH_AUTH_SOCK": "/s",
            "LD_PRELOAD": "/evil.so", "PYTHONSTARTUP": "/x.py"}
    env = child_environment(host)
    assert {k: env[k] for k in ("PATH", "LANG", "LC_ALL", "PYTHONHASHSEED", "GPI_PURE_PYTHON")} == {
        "PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "PYTHONHASHSEED": "7", "GPI_PURE_PYTHON": "1"}
    for k in ("HOME", "AWS_SECRET_ACCESS_KEY", "GPI_DATA_DIR", "SSH_AUTH_SOCK", "LD_PRELOAD", "PYTHONSTARTUP"):
        assert k not in env, k
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert "PYTHONHASHSEED" not in child_environment({"PATH": "/bin"})


limits = st.one_of(st.none(), st.integers(0, 1 << 40))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=limits, c=limits, n=limits, f=limits,
    layers=st.sets(st.sampled_from(ALL_LAYERS)),
    extra=st.sets(st.sampled_from(ALL_LAYERS)),
    mode=st.sampled_from(["allowlist", "denylist"]),
    paths=st.lists(st.text(min_size=1, max_size=8), max_size=3),
)
def test_to_dict_from_dict_round_trip(a, c, n, f, layers, extra, mode, paths) -> None:  # type: ignore[no-untyped-def]
    required = frozenset(layers) & frozenset(extra)
    p = SandboxPolicy(
        address_space_bytes=a, cpu_seconds=c, open_files=n, file_size_bytes=f,
        layers=frozenset(layers), required=required, seccomp_mode=mode, read_paths=tuple(paths),
    )
    assert SandboxPolicy.from_dict(p.to_dict()) == p


def test_manifest_table_adjusts_limits() -> None:
    table = {"memory_mb": 512, "cpu_seconds": 2.5, "open_files": 64, "budget_ms": 4.0}
    p = SandboxPolicy.from_dict(table, base=SandboxPolicy())
    assert p.address_space_bytes == 512 << 20
    assert p.cpu_seconds == 3  # rounded up
    assert p.open_files == 64
    assert p.required == DEFAULT_REQUIRED


def test_manifest_cannot_relax_the_hosts_required_layers() -> None:
    base = SandboxPolicy()
    p = SandboxPolicy.from_dict({"required": []}, base=base)
    assert p.required == base.required
    with pytest.raises(SandboxPolicyError, match="cannot disable required layer"):
        SandboxPolicy.from_dict({"layers": ["rlimits"]}, base=base)
    tighter = SandboxPolicy.from_dict({"required": ["netns"]}, base=base)
    assert "netns" in tighter.required and "netns" in tighter.layers


@pytest.mark.parametrize(
    "table, match",
    [
        ({"memroy_mb": 5}, "unknown key 'memroy_mb'"),
        ({"layers": ["selinux"]}, "unknown layer"),
        ({"seccomp_mode": "maybe"}, "seccomp_mode must be one of"),
        ({"open_files": -1}, "non-negative integer"),
        ({"memory_mb": "lots"}, "must be an integer"),
        ({"read_paths": "/etc"}, "list of paths"),
        ({"cpu_seconds": float("nan")}, "non-negative number"),
    ],
)
def test_bad_tables_are_clear_errors(table: dict, match: str) -> None:
    with pytest.raises(SandboxPolicyError, match=match) as info:
        SandboxPolicy.from_dict(table)
    assert isinstance(info.value, ValueError) and isinstance(info.value, GpiError)


def test_required_must_be_enabled() -> None:
    with pytest.raises(SandboxPolicyError, match="required but not enabled"):
        SandboxPolicy(layers=frozenset({"rlimits"}), required=frozenset({"seccomp"}))


def test_sandbox_error_names_layer_and_is_runtime_error() -> None:
    err = SandboxError("layer 'seccomp' could not be applied", layer="seccomp")
    assert isinstance(err, RuntimeError) and isinstance(err, GpiError) and err.layer == "seccomp"
    assert classify_violation(err) is None


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # give it a traceback like a real one
        return caught


@pytest.mark.parametrize(
    "exc, layer",
    [
        (PermissionError(errno.EPERM, "Operation not permitted"), "seccomp"),
        (OSError(errno.ENOSYS, "Function not implemented"), "seccomp"),
        (PermissionError(errno.EACCES, "Permission denied", "/etc/shadow"), "landlock"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "netns"),
        (OSError(errno.EFBIG, "File too large"), "rlimits"),
        (OSError(errno.EMFILE, "Too many open files"), "rlimits"),
        (MemoryError(), "rlimits"),
        (PermissionError(errno.EACCES, "mprotect: Permission denied"), "memfd_seal"),
    ],
)
def test_classify_violation(exc: BaseException, layer: str) -> None:
    info = classify_violation(_raised(exc))
    assert info is not None and info["layer"] == layer and info["what"]
    assert "where" in info


def test_ordinary_errors_are_not_violations() -> None:
    assert classify_violation(_raised(FileNotFoundError(errno.ENOENT, "nope"))) is None
    assert classify_violation(_raised(KeyError("x"))) is None


def test_classify_exit() -> None:
    assert classify_exit(0) is None and classify_exit(1) is None
    info = classify_exit(-signal.SIGXCPU)
    assert info is not None and info["layer"] == "rlimits" and info["signal"] == signal.SIGXCPU
    assert classify_exit(-signal.SIGSYS)["layer"] == "seccomp"  # type: ignore[index]
    assert classify_exit(-signal.SIGSEGV) is None


def test_report_wire_round_trip_and_violation_log() -> None:
    report = SandboxReport()
    report.layers["rlimits"] = LayerStatus("rlimits", True, "AS=1MiB", True)
    report.layers["netns"] = LayerStatus("netns", False, "no CAP_SYS_ADMIN", False)
    info = report.violations.record(_raised(PermissionError(errno.EPERM, "x")), plugin="boids", system="steer", tick=7)
    assert info is not None and info["tick"] == 7 and info["layer"] == "seccomp"
    assert report.violations.record(_raised(KeyError("not a violation"))) is None
    back = SandboxReport.from_dict(report.to_dict())
    assert back.active("rlimits") and not back.active("netns")
    assert back.summary() == "rlimits+ netns-"
    assert back.violations.counts() == {"seccomp": 1}
    assert len(back.violations.drain()) == 1 and len(back.violations) == 0


@pytest.mark.parametrize("line, ok", [
    ("threads = 2", True), ("threads = 0", True), ("threads = 64", True), ("threads = 65", False),
    ("threads = -1", False), ("threads = 1.5", False), ("cpu_quota = 0.5", True), ("cpu_quota = 0", False),
    ("spawn_per_call = 1000", True), ("spawn_per_tick = 0", False),
])
def test_manifest_threads_cpu_quota_and_spawn_budgets(tmp_path: Path, line: str, ok: bool) -> None:
    from gpi.plugins.errors import ManifestError
    from gpi.plugins.manifest import load_manifest

    (tmp_path / "plugin.toml").write_text(
        f'[plugin]\nname = "p"\nversion = "1.0.0"\nabi = 1\nentry = "main"\n\n[sandbox]\n{line}\n')
    if not ok:
        with pytest.raises(ManifestError):
            load_manifest(tmp_path, check_entry=False)
        return
    m = load_manifest(tmp_path, check_entry=False)
    pol = SandboxPolicy.from_dict(dict(m.sandbox), base=SandboxPolicy())  # host keys pass through
    key, value = (x.strip() for x in line.split("="))
    if key in ("threads", "cpu_quota"):
        assert getattr(pol, key) == float(value)
