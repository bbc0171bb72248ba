"""The hostile plugin corpus, run through the real plugin host under the real sandbox.

Each attack is a real plugin folder in ``plugins/`` with one system that tries
one thing on every tick. It runs beside ``benign`` (spawns 256 movers, moves
them every tick) in a :class:`~gpi.plugins.host.PluginHost` with the full
default sandbox, real child processes and real shared memory. For each attack:

- the host keeps ticking: every tick of the run completes;
- the other plugin's systems run on every tick;
- the world checksum after every tick equals a run of ``benign`` alone;
- the attack fails (its system raises, its list is rejected) or its child is
  stopped (killed, deadline) and restarted;
- a violation naming the plugin (and the layer, where knowable) is reported
  in ``host.violations`` (:class:`gpi.plugins.violations.ViolationMonitor`).

Nothing touches the real ``/tmp``: ``GPI_HOSTILE_TMP`` (where ``file_bomb``
writes its 10 GB) and ``GPI_HOSTILE_SECRET`` (what ``read_outside`` steals)
point into pytest's temporary folder. The outcome table is printed at the end
of the run and written to ``out/hostile_table.md``.

An attack whose stopping layer this machine lacks is skipped, never run
unconfined. Runs are short (a few ticks; crashing attacks restart their child
every tick) so the corpus takes well under a minute and a half.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hostile_table import ROWS

from gpi.ecs import World
from gpi.plugins.host import PluginHost

HERE = Path(__file__).resolve().parent
PLUGINS = HERE / "plugins"
ROOT = HERE.parents[1]
EXAMPLES = [ROOT / "examples" / "plugins" / n for n in ("movement", "spawner", "boids", "player")]
SEED = 11
TICKS = 6  # per attack; attacks that kill their child restart it every tick, so keep this small
SHORT = 4  # for attacks that cost a restart (and maybe a deadline) per tick
DEADLINE = 1.0  # seconds: the host's per-call timeout for the spin/sleeper runs
CALM = 3.0  # seconds: the timeout of every other run, far above what benign needs on a busy machine
SECRET = "the-host-secret-7f3a"

pytestmark = [pytest.mark.subprocess, pytest.mark.sandbox, pytest.mark.slow]


@dataclass(frozen=True)
class Attack:
    """One hostile plugin and what must stop it."""

    name: str
    outcome: str  # "refused": its system raises; "rejected": its list is; "stopped": its child is killed;
    # "inert": it runs every tick and finds nothing to take
    layers: tuple[str, ...]  # acceptable reported layers
    needs: tuple[str, ...] = ()  # sandbox layers without which the attack must not run
    stopped_by: str = ""  # the mechanism, when the reported layer cannot say it (a crash)
    ticks: int = TICKS
    timeout: float = CALM


ATTACKS = [
    Attack("abort", "stopped", ("process",), stopped_by="process isolation (SIGABRT; RLIMIT_CORE=0: no core)",
           ticks=SHORT),
    Attack("segfault", "stopped", ("process",), stopped_by="process isolation (SIGSEGV)", ticks=SHORT),
    # A fresh child's first call gets a grace period (seconds): these two cost that much per restart.
    Attack("spin", "stopped", ("deadline", "rlimits"), needs=("rlimits",),
           stopped_by="host deadline, or RLIMIT_CPU (manifest cpu_seconds=2) first", ticks=3, timeout=DEADLINE),
    Attack("sleeper", "stopped", ("deadline",), stopped_by="host deadline (kill + restart)", ticks=3,
           timeout=DEADLINE),
    Attack("fork_bomb", "refused", ("seccomp", "rlimits"), needs=("seccomp",)),
    Attack("subprocess_exec", "refused", ("seccomp",), needs=("seccomp",)),
    Attack("execve", "refused", ("seccomp",), needs=("seccomp",)),
    Attack("memory_bomb", "refused", ("rlimits",), needs=("rlimits",)),
    Attack("file_bomb", "refused", ("seccomp", "landlock", "rlimits"), needs=("seccomp", "landlock", "rlimits")),
    Attack("numpy_write", "refused", ("memfd_seal",), needs=("memfd_seal",)),
    Attack("ctypes_write", "stopped", ("process",), needs=("memfd_seal",),
           stopped_by="memfd_seal (read-only mapping: SIGSEGV)", ticks=SHORT),
    Attack("mprotect", "refused", ("memfd_seal",), needs=("memfd_seal",)),
    Attack("passwd_write", "refused", ("seccomp", "landlock"), needs=("seccomp", "landlock")),
    Attack("read_outside", "refused", ("landlock",), needs=("landlock",)),
    Attack("socket_connect", "refused", ("seccomp", "netns", "landlock"), needs=("seccomp",)),
    Attack("ptrace_host", "refused", ("seccomp",), needs=("seccomp",)),
    Attack("command_flood", "stopped", ("process", "protocol", "validation"),
           stopped_by="channel message limit (1 MiB): child stopped", ticks=SHORT),
    Attack("malformed_wire", "rejected", ("validation",), stopped_by="host validation (wire decode)"),
    Attack("undeclared_write", "rejected", ("validation",), stopped_by="host validation (declared access)"),
    # Issue 14: children with no privilege.
    Attack("affinity_host", "refused", ("seccomp",), needs=("seccomp",),
           stopped_by="seccomp (pid checks: own pid or 0 only); pid namespace and uid behind it"),
    Attack("pid_enum", "refused", ("seccomp",), needs=("seccomp",),
           stopped_by="seccomp (pid checks); pid namespace (ESRCH) behind it"),
    Attack("env_secret", "inert", (), stopped_by="environment allow-list (child_environment): nothing to steal"),
    Attack("kernel_memory", "refused", ("seccomp",), needs=("seccomp",),
           stopped_by="seccomp (F_SETPIPE_SZ <= 64 KiB, no SO_*BUF*); privilege (no CAP_SYS_RESOURCE/NET_ADMIN)"),
    Attack("sigio_host", "refused", ("seccomp",), needs=("seccomp",),
           stopped_by="seccomp (fcntl/ioctl argument checks); pid namespace and uid behind it"),
    Attack("spawn_flood", "rejected", ("validation",),
           stopped_by="host spawn budget (1,000,000 per call, 2,000,000 per tick; manifest [sandbox] spawn_per_call)"),
    Attack("thread_spin", "refused", ("seccomp",), needs=("seccomp",),
           stopped_by="seccomp (threads = 0: clone refused); RLIMIT_NPROC, cgroup CPU quota when granted"),
]


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def layers() -> dict[str, tuple[bool, str]]:
    """What this machine supports (probed once, in a throwaway child)."""
    from gpi.plugins.sandbox import probe_layers

    return probe_layers()


@pytest.fixture(scope="session")
def reference() -> list[int]:
    """Per-tick world checksums of ``benign`` alone, under the same sandbox."""
    return run_corpus([PLUGINS / "benign"], max(a.ticks for a in ATTACKS), timeout=CALM)["checksums"]


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Crash reports and save stores of every host in this folder, not the user's data folder."""
    d = tmp_path_factory.mktemp("gpi-data")
    old = os.environ.get("GPI_DATA_DIR")
    os.environ["GPI_DATA_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("GPI_DATA_DIR", None)
    else:
        os.environ["GPI_DATA_DIR"] = old


@pytest.fixture
def hostile_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """``GPI_HOSTILE_TMP`` and ``GPI_HOSTILE_SECRET`` inside pytest's tmp folder (children inherit them)."""
    tmp = tmp_path / "hostile-tmp"
    tmp.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    monkeypatch.setenv("GPI_HOSTILE_TMP", str(tmp))
    monkeypatch.setenv("GPI_HOSTILE_SECRET", str(secret))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # a credential in the host's environment
    yield {"tmp": tmp, "secret": secret}


# -- running ---------------------------------------------------------------------------------


def run_corpus(dirs: list[Path], ticks: int, *, timeout: float = CALM, sandbox: bool = True,
               isolation: str = "process", input_keys: bool = False) -> dict[str, Any]:
    """Run ``dirs`` for ``ticks`` ticks; per-tick checksums, reports, faults, violations, plugin summaries."""
    opts: dict[str, Any] = {"isolation": isolation, "sandbox": sandbox, "timeout": timeout}
    with World(seed=SEED) as world, PluginHost(world, **opts) as host:
        host.load(*dirs)
        world.insert_resource("population", 120)
        world.insert_resource("target", 60)
        world.insert_resource("host_pid", os.getpid())  # what the attacks aimed at the host take aim at
        checksums, reports = [], []
        for t in range(ticks):
            keys = {"keys": [("left", "up", "right", "down")[(t // 5) % 4]]} if input_keys else None
            reports.append(host.tick(keys))
            checksums.append(world.checksum())
        return {"checksums": checksums, "reports": reports, "faults": list(host.faults),
                "violations": list(host.violations.records),
                "violation_counts": host.violations.counts(), "plugins": {n: p.summary() for n, p in host.plugins.items()},
                "logs": list(host.logs), "ticks": host.tick_count}


def _skip_reason(attack: Attack, layers: dict[str, tuple[bool, str]]) -> str | None:
    if "probe" in layers:
        return f"sandbox probe failed on this machine: {layers['probe'][1]}"
    for name in ("rlimits", "no_new_privs", "landlock", "seccomp", *attack.needs):
        ok, detail = layers.get(name, (False, "not probed"))
        if not ok:
            return f"layer {name!r} is not available here ({detail}); not running {attack.name!r} unconfined"
    return None


def _outcome(attack: Attack, res: dict[str, Any]) -> str:
    key = f"{attack.name}.attack"
    kinds = {f["kind"] for f in res["faults"] if f["plugin"] == attack.name}
    n = len(res["reports"])
    if attack.outcome == "refused":
        errs = sum(key in r.errors for r in res["reports"])
        return f"refused: system raised on {errs}/{n} ticks"
    if attack.outcome == "rejected":
        rej = sum(key in r.rejected for r in res["reports"])
        return f"list rejected on {rej}/{n} ticks, world unchanged"
    if attack.outcome == "inert":
        ran = sum(key in r.ran for r in res["reports"])
        return f"ran on {ran}/{n} ticks, found nothing"
    lp = res["plugins"][attack.name]
    what = "deadline missed" if "timeout" in kinds else "child died"
    faults = sum(1 for f in res["faults"] if f["plugin"] == attack.name and f["kind"] in ("timeout", "crashed"))
    tail = "; then disabled" if lp["status"] == "disabled" else ""
    return f"{what} {faults}x in {n} ticks; restarted {lp['restarts']}x{tail}"


# -- the corpus ------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_contained(attack: Attack, layers: dict[str, tuple[bool, str]], reference: list[int],
                             hostile_env: dict[str, Path]) -> None:
    reason = _skip_reason(attack, layers)
    if reason:
        pytest.skip(reason)
    res = run_corpus([PLUGINS / "benign", PLUGINS / attack.name], attack.ticks, timeout=attack.timeout)
    key = f"{attack.name}.attack"

    # The host kept ticking and the benign systems ran on every tick.
    assert res["ticks"] == attack.ticks
    for t, rep in enumerate(res["reports"]):
        assert {"benign.populate", "benign.move"} <= set(rep.ran), (t, rep, res["faults"][-3:])

    # The world is exactly what it is without the hostile plugin.
    assert res["checksums"] == reference[: attack.ticks], res["faults"][:3]

    # The attack failed, or its child was stopped, on every tick. (A stopped child may wait a few
    # ticks for its restart, or be disabled by the circuit breaker: its system is skipped then.)
    if attack.outcome == "inert":
        _check_inert(attack, res)
        return
    for t, rep in enumerate(res["reports"]):
        if attack.outcome == "refused":
            assert key in rep.errors, (t, rep)
        elif attack.outcome == "rejected":
            assert key in rep.rejected, (t, rep)
        else:
            assert key in rep.skipped and key not in rep.ran, (t, rep)
    faults = [f for f in res["faults"] if f["plugin"] == attack.name and f["kind"] != "disabled"]
    assert faults and faults[0]["tick"] == 0, res["faults"][:3]
    if attack.outcome == "stopped":
        lp = res["plugins"][attack.name]
        assert lp["restarts"] >= 1 or lp["status"] in ("restarting", "disabled"), lp
    # The benign plugin never faulted and was never restarted.
    assert res["plugins"]["benign"]["restarts"] == 0
    assert not [f for f in res["faults"] if f["plugin"] == "benign"]

    # Every fault was reported as a violation naming the plugin and the layer that refused it.
    mine = [v for v in res["violations"] if v["plugin"] == attack.name]
    assert len(mine) == len(faults), (mine, faults)
    assert [v["tick"] for v in mine] == [f["tick"] for f in faults]
    got = {v["layer"] for v in mine}
    assert got <= set(attack.layers), (got, mine[:2])
    assert all(v["system"] == "attack" and v["what"] for v in mine)
    assert res["violation_counts"] == {attack.name: len(mine)}  # nobody else is blamed

    # The child ran confined: every default-required layer was active.
    sb = res["plugins"][attack.name]["sandbox"] or {}
    active = {n for n, s in (sb.get("layers") or {}).items() if s.get("active")}
    assert {"rlimits", "no_new_privs", "privilege", "landlock", "seccomp"} <= active, sb

    # Attack-specific evidence that nothing got out.
    leaked = [text for _, _, text in res["logs"] if SECRET in text]
    assert not leaked, leaked[:1]
    bomb = hostile_env["tmp"] / "gpi_hostile_10gb.bin"
    assert not bomb.exists(), f"{bomb} exists ({bomb.stat().st_size} bytes)"
    assert os.listdir(hostile_env["tmp"]) == []

    layer_names = ", ".join(sorted(got))
    stopped = attack.stopped_by or layer_names
    if attack.stopped_by and layer_names not in attack.stopped_by:
        stopped = f"{attack.stopped_by} [reported: {layer_names}]"
    first = mine[0]
    reported = f"{first['what']}" + (f" (call: {first['call']})" if first.get("call") else "")
    ROWS.append((attack.name, _outcome(attack, res), stopped, reported))


def _check_inert(attack: Attack, res: dict[str, Any]) -> None:
    """An attack with nothing to take: it ran every tick, no fault, and nothing of the host's got out."""
    key = f"{attack.name}.attack"
    for t, rep in enumerate(res["reports"]):
        assert key in rep.ran, (t, rep, res["faults"][:3])
    assert not [f for f in res["faults"] if f["plugin"] == attack.name], res["faults"][:3]
    assert not res["violations"], res["violations"][:3]
    text = repr(res["logs"]) + repr(res["faults"])
    assert SECRET not in text, [line for line in res["logs"] if SECRET in repr(line)][:2]
    assert any("environment:" in str(line) for line in res["logs"]), res["logs"][-5:]  # it did look
    sb = res["plugins"][attack.name]["sandbox"] or {}
    active = {n for n, s in (sb.get("layers") or {}).items() if s.get("active")}
    assert {"rlimits", "no_new_privs", "privilege", "landlock", "seccomp"} <= active, sb
    ROWS.append((attack.name, _outcome(attack, res), attack.stopped_by, "nothing (no fault, no secret in logs)"))


def test_file_bomb_leaves_no_file(hostile_env: dict[str, Path], layers: dict[str, tuple[bool, str]]) -> None:
    """The 10 GB write: nothing is created, not even an empty file, and the host's disk is untouched."""
    reason = _skip_reason(ATTACKS[[a.name for a in ATTACKS].index("file_bomb")], layers)
    if reason:
        pytest.skip(reason)
    res = run_corpus([PLUGINS / "benign", PLUGINS / "file_bomb"], 2)
    assert not (hostile_env["tmp"] / "gpi_hostile_10gb.bin").exists()
    assert not Path("/tmp/gpi_hostile_10gb.bin").exists()
    errs = [f["error"] for f in res["faults"] if f["plugin"] == "file_bomb"]
    assert errs and all("PermissionError" in e or "Errno" in e for e in errs), errs


def test_examples_unchanged_under_full_sandbox(layers: dict[str, tuple[bool, str]]) -> None:
    """The well-behaved example plugins give the same per-tick checksums confined as in-process."""
    if "probe" in layers or not all(layers.get(n, (False, ""))[0] for n in ("rlimits", "landlock", "seccomp")):
        pytest.skip(f"full sandbox not available here: {layers}")
    ticks = 40
    free = run_corpus(EXAMPLES, ticks, sandbox=False, isolation="none", input_keys=True)
    boxed = run_corpus(EXAMPLES, ticks, sandbox=True, input_keys=True)
    assert free["faults"] == [], free["faults"][:3]
    assert boxed["faults"] == [] and boxed["violations"] == [], (boxed["faults"][:3], boxed["logs"][-5:])
    for name, summary in boxed["plugins"].items():
        sb = summary["sandbox"] or {}
        active = {n for n, s in (sb.get("layers") or {}).items() if s.get("active")}
        assert {"rlimits", "no_new_privs", "landlock", "seccomp"} <= active, (name, sb)
    first = next((t for t, (a, b) in enumerate(zip(free["checksums"], boxed["checksums"])) if a != b), None)
    assert first is None, f"checksums differ from tick {first}: {boxed['reports'][first]}"
    assert len(set(free["checksums"])) > ticks // 2  # the world really changes
