"""Re-simulating replays: verify, seek and diff against a :class:`Simulator`.

This layer knows nothing about worlds or plugins; it drives anything that
satisfies the :class:`Simulator` protocol (the runtime provides one for the
real ECS world; the tests use a small pure-Python one):

* ``reset_to(snapshot)`` — load a world snapshot (the header's initial
  snapshot, or a keyframe);
* ``step(input, record) -> checksum`` — run one tick with the full
  :class:`~gpi.replays.inputs.InputState` of that tick; ``record`` is the
  :class:`~gpi.replays.records.TickRecord` so the simulator can reproduce its
  fault events (a skipped system) and plugin swaps; return the world checksum
  (u64) after the tick;
* ``snapshot() -> bytes`` — the current world as snapshot bytes;
* optionally ``world_diff(other_snapshot)`` — the differences between the
  current world and ``other_snapshot`` as tuples ``(component, entity, mine,
  theirs)`` or ``(component, entity, mine, theirs, systems)``, where
  ``systems`` names the systems that wrote that component in the last tick.

:func:`verify` replays every tick and checks the stored checksums and each
block's checksum chain (see :mod:`gpi.replays.format`). The first check that
fails bounds the divergence to a window: the ticks after the last passing
check. A window of one tick is the answer. A longer window (sparse
checkpoints) is narrowed by re-simulating it a second time from the nearest
keyframe and comparing the two runs tick by tick: for nondeterminism (wall
time, unordered iteration, ...) the runs part at the guilty tick. When the
simulator has ``world_diff``, the result also lists the components and
entities that differ: between two re-simulations at the divergent tick
(nondeterminism), or between the re-simulated world and the recorded keyframe
at or after the window (a deterministic change such as edited plugin code).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gpi.replays.errors import SeekError
from gpi.replays.format import chain_step
from gpi.replays.inputs import EMPTY_INPUT, InputState
from gpi.replays.inputs import apply as apply_input
from gpi.replays.reader import Replay
from gpi.replays.records import TickRecord

__all__ = [
    "DiffResult",
    "Difference",
    "Simulator",
    "VerifyResult",
    "diff",
    "diff_simulated",
    "check_checksums",
    "incomplete_reason",
    "simulate_ticks",
    "seek",
    "verify",
]

Progress = Callable[[int, int], None]


@runtime_checkable
class Simulator(Protocol):
    """What verify, seek and playback drive; see the module docstring."""

    def reset_to(self, snapshot: bytes) -> None:
        """Load a world snapshot."""

    def step(self, input: InputState, record: TickRecord) -> int:
        """Run one tick; return the world checksum after it."""

    def snapshot(self) -> bytes:
        """The current world as snapshot bytes."""


@dataclass(frozen=True)
class Difference:
    """One component value that differs between the expected and the actual world."""

    component: str
    entity: Any
    expected: Any
    actual: Any
    systems: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for humans."""
        by = f" (written by {', '.join(self.systems)})" if self.systems else ""
        return f"{self.component} of entity {self.entity}: expected {self.expected!r}, got {self.actual!r}{by}"


@dataclass
class VerifyResult:
    """The outcome of :func:`verify`."""

    ok: bool
    ticks_checked: int
    first_divergent_tick: int | None = None
    exact: bool = True
    window: tuple[int, int] | None = None
    expected: int | None = None
    actual: int | None = None
    kind: str = ""
    details: list[Difference] = field(default_factory=list)
    details_source: str = ""
    message: str = ""
    #: why the replay holds fewer ticks than its run had ("" when it is whole): every tick it
    #: holds was checked, but a recording that stopped early vouches for nothing after that
    incomplete: str = ""

    def __bool__(self) -> bool:
        return self.ok


def incomplete_reason(replay: Replay) -> str:
    """Why ``replay`` ends early ("" if it does not): its recording stopped, or it holds no ticks."""
    if replay.stopped:
        return (f"the replay holds {replay.tick_count} ticks: its recording stopped early "
                f"({replay.stopped})")
    if replay.tick_count == 0:
        return "the replay holds no ticks: nothing was recorded"
    return ""


@dataclass
class DiffResult:
    """The outcome of :func:`diff` between two recordings."""

    same: bool
    ticks_compared: int
    first_divergent_tick: int | None = None
    kind: str = ""
    a: Any = None
    b: Any = None
    window: tuple[int, int] | None = None
    header_differences: list[str] = field(default_factory=list)
    details: list[Difference] = field(default_factory=list)
    message: str = ""

    def __bool__(self) -> bool:
        return self.same


def simulate_ticks(
    replay: Replay, sim: Simulator, start: int, stop: int
) -> Iterator[tuple[TickRecord, InputState, int]]:
    """Reset ``sim`` to the nearest state at or before ``start - 1`` and run to ``stop - 1``.

    Yields ``(record, input, checksum)`` for ticks ``start .. stop - 1``.
    """
    kt, snap = replay.nearest_keyframe(start - 1)
    sim.reset_to(snap)
    state = replay.input_state_at(kt)
    for rec in replay.iter_ticks(kt + 1, stop):
        state = apply_input(state, rec.input)
        c = sim.step(state, rec)
        if rec.tick >= start:
            yield rec, state, c


def seek(replay: Replay, simulator: Simulator, tick: int) -> InputState:
    """Put ``simulator`` in the state after ``tick`` via the nearest keyframe.

    ``tick == start_tick - 1`` means the initial state. Returns the input state
    of ``tick``. Raises :class:`SeekError` for a tick the replay does not hold.
    """
    if not replay.start_tick - 1 <= tick < replay.end_tick:
        raise SeekError(
            f"{replay.path}: cannot seek to tick {tick}; readable ticks are "
            f"{replay.start_tick}..{replay.end_tick - 1}"
        )
    kt, snap = replay.nearest_keyframe(tick)
    simulator.reset_to(snap)
    state = replay.input_state_at(kt)
    for rec in replay.iter_ticks(kt + 1, tick + 1):
        state = apply_input(state, rec.input)
        simulator.step(state, rec)
    return state


def _checksums(replay: Replay, sim: Simulator, lo: int, hi: int) -> dict[int, int]:
    return {rec.tick: c for rec, _, c in simulate_ticks(replay, sim, lo, hi + 1)}


def _world_diff(sim: Simulator, other: bytes) -> list[Difference] | None:
    fn = getattr(sim, "world_diff", None)
    if fn is None:
        return None
    out: list[Difference] = []
    for item in fn(other):
        component, entity, mine, theirs = item[:4]
        systems = tuple(item[4]) if len(item) > 4 else ()
        out.append(Difference(str(component), entity, theirs, mine, systems))
    return out


def verify(
    replay: Replay,
    simulator: Simulator,
    *,
    progress: Progress | None = None,
    localize: bool = True,
) -> VerifyResult:
    """Re-simulate every readable tick of ``replay`` and compare checksums.

    ``progress(done, total)`` is called every block. On divergence the result
    names the first divergent tick (``exact``) or the window that holds it,
    the recorded and re-simulated checksums, and with ``world_diff`` the
    differing components; see the module docstring.
    """
    simulator.reset_to(replay.header.initial_snapshot)
    return check_checksums(
        replay,
        lambda rec, state: simulator.step(state, rec),
        lambda: simulator,
        progress=progress,
        localize=localize,
    )


def check_checksums(
    replay: Replay,
    checksum_of: Callable[[TickRecord, InputState], int],
    simulator: Callable[[], Simulator],
    *,
    progress: Progress | None = None,
    localize: bool = True,
) -> VerifyResult:
    """Compare the re-simulated checksum of every tick, in tick order, with the file.

    ``checksum_of(record, input)`` gives the re-simulated checksum after the
    record's tick (by stepping a simulator, or from checksums computed
    elsewhere, see :mod:`gpi.replays.parallel`); ``simulator()`` returns the
    simulator that localises a divergence (only called on one).
    """
    total = replay.tick_count
    state = EMPTY_INPUT
    chain = 0
    done = 0
    last_good = replay.start_tick - 1
    for block in replay.blocks:
        block_sums: dict[int, int] = {}
        for rec in replay.read_block(block.index):
            state = apply_input(state, rec.input)
            c = checksum_of(rec, state)
            chain = chain_step(chain, c)
            block_sums[rec.tick] = c
            done += 1
            if rec.checksum is not None:
                if rec.checksum != c:
                    window_sums = {t: v for t, v in block_sums.items() if t > last_good}
                    return _diverged(
                        replay,
                        simulator,
                        "checksum",
                        last_good + 1,
                        rec.tick,
                        rec.checksum,
                        c,
                        window_sums,
                        done,
                        localize,
                    )
                last_good = rec.tick
        if chain != block.chain:
            # checkpoints inside the block passed, but a divergence that healed
            # before one of them still breaks the chain: the window is the block
            return _diverged(
                replay,
                simulator,
                "chain",
                block.first_tick,
                block.last_tick,
                None,
                None,
                block_sums,
                done,
                localize,
            )
        last_good = block.last_tick  # the chain vouches for every tick of the block
        if progress is not None:
            progress(done, total)
    msg = f"{done} ticks verified, every checksum and chain matched"
    if replay.tail is not None:
        msg += f"; the file's {replay.tail.describe()}"
    short = incomplete_reason(replay)
    if short:
        msg += f"; {short}"
    return VerifyResult(ok=True, ticks_checked=done, message=msg, incomplete=short)


def _diverged(
    replay: Replay,
    simulator: Callable[[], Simulator],
    kind: str,
    lo: int,
    hi: int,
    expected: int | None,
    actual: int | None,
    first_run: dict[int, int],
    done: int,
    localize: bool,
) -> VerifyResult:
    res = VerifyResult(
        ok=False,
        ticks_checked=done,
        first_divergent_tick=hi,
        exact=lo == hi,
        window=(lo, hi),
        expected=expected,
        actual=actual,
        kind=kind,
    )
    nondeterministic = False
    if localize:
        sim = simulator()
        second = _checksums(replay, sim, lo, hi)
        parted = [t for t in range(lo, hi + 1) if second.get(t) != first_run.get(t)]
        if parted:
            nondeterministic = True
            res.first_divergent_tick = parted[0]
            res.exact = True
        if _has_world_diff(sim):
            _add_details(replay, sim, res, nondeterministic, lo)
    where = (
        f"tick {res.first_divergent_tick}"
        if res.exact
        else f"a tick in {lo}..{hi} (checkpoints every {replay.header.checksum_interval} ticks)"
    )
    what = (
        f"recorded checksum {expected:#018x}, re-simulated {actual:#018x} at tick {hi}"
        if kind == "checksum" and expected is not None and actual is not None
        else f"checksum chain of ticks {lo}..{hi} differs"
    )
    cause = (
        "; two re-simulations from the same keyframe also disagree there: the simulation "
        "is nondeterministic"
        if nondeterministic
        else ""
    )
    res.message = f"replay diverges at {where}: {what}{cause}"
    return res


def _has_world_diff(sim: Simulator) -> bool:
    return callable(getattr(sim, "world_diff", None))


def _add_details(
    replay: Replay, sim: Simulator, res: VerifyResult, nondeterministic: bool, lo: int
) -> None:
    assert res.first_divergent_tick is not None
    t = res.first_divergent_tick
    if nondeterministic:
        for _ in simulate_ticks(replay, sim, t, t + 1):
            pass
        first = sim.snapshot()
        for _ in simulate_ticks(replay, sim, t, t + 1):
            pass
        diffs = _world_diff(sim, first)
        if diffs:
            res.details = diffs
            res.details_source = f"two re-simulations of tick {t} from the same keyframe"
            return
    later = [k for k in replay.keyframe_ticks if k >= lo]
    if not later:
        res.details_source = "no recorded keyframe at or after the divergence to compare with"
        return
    k = later[0]
    kf = replay.record(k).keyframe
    assert kf is not None
    # run from a state before the window, so the keyframe is not simply loaded
    kt, snap = replay.nearest_keyframe(lo - 1)
    sim.reset_to(snap)
    state = replay.input_state_at(kt)
    for rec in replay.iter_ticks(kt + 1, k + 1):
        state = apply_input(state, rec.input)
        sim.step(state, rec)
    res.details = _world_diff(sim, kf) or []
    res.details_source = f"re-simulated world vs recorded keyframe at tick {k}"


def _states(replay: Replay) -> Iterator[tuple[TickRecord, InputState]]:
    state = EMPTY_INPUT
    for rec in replay.iter_ticks():
        state = apply_input(state, rec.input)
        yield rec, state


def _header_differences(a: Replay, b: Replay) -> list[str]:
    ha, hb = a.header, b.header
    out: list[str] = []
    for name in ("seed", "tick_rate", "start_tick", "engine_version", "abi_version"):
        va, vb = getattr(ha, name), getattr(hb, name)
        if va != vb:
            out.append(f"{name}: {va!r} vs {vb!r}")
    if ha.initial_snapshot != hb.initial_snapshot:
        out.append("initial snapshots differ")
    pa = {p["name"]: p for p in ha.plugins}
    pb = {p["name"]: p for p in hb.plugins}
    for name in sorted(set(pa) | set(pb)):
        x, y = pa.get(name), pb.get(name)
        if x is None or y is None:
            out.append(f"plugin {name!r} only in {'B' if x is None else 'A'}")
        elif x["content_hash"] != y["content_hash"]:
            out.append(
                f"plugin {name!r}: {x['version']} ({x['content_hash']}) vs "
                f"{y['version']} ({y['content_hash']})"
            )
    return out


def diff(replay_a: Replay, replay_b: Replay, *, progress: Progress | None = None) -> DiffResult:
    """Find the first tick where two recordings part: input, fault, swap or checksum.

    Checksums are compared where both files store one, and block chains where
    both files end a block at the same tick; a checksum mismatch is reported at
    that tick with ``window`` = the ticks since the last tick known equal.
    """
    hdr = _header_differences(replay_a, replay_b)
    chains_a = {b.last_tick: b.chain for b in replay_a.blocks}
    chains_b = {b.last_tick: b.chain for b in replay_b.blocks}
    total = min(replay_a.tick_count, replay_b.tick_count)
    n = 0
    last_equal = max(replay_a.start_tick, replay_b.start_tick) - 1
    res = DiffResult(same=True, ticks_compared=0, header_differences=hdr)

    def part(
        tick: int, kind: str, a: Any, b: Any, window: tuple[int, int] | None = None
    ) -> DiffResult:
        res.same = False
        res.first_divergent_tick = tick
        res.kind = kind
        res.a, res.b = a, b
        res.window = window or (tick, tick)
        res.ticks_compared = n
        where = (
            f"tick {tick}" if res.window[0] == res.window[1] else f"ticks {res.window[0]}..{tick}"
        )
        res.message = f"recordings part at {where}: {kind} differs ({a!r} vs {b!r})"
        return res

    ia, ib = _states(replay_a), _states(replay_b)
    for (ra, sa), (rb, sb) in zip(ia, ib):
        if ra.tick != rb.tick:
            return part(min(ra.tick, rb.tick), "tick numbering", ra.tick, rb.tick)
        n += 1
        if sa != sb:
            return part(ra.tick, "input", sa.to_dict(), sb.to_dict())
        if list(ra.faults) != list(rb.faults):
            return part(ra.tick, "faults", list(ra.faults), list(rb.faults))
        if list(ra.swaps) != list(rb.swaps):
            return part(ra.tick, "swaps", list(ra.swaps), list(rb.swaps))
        if ra.checksum is not None and rb.checksum is not None:
            if ra.checksum != rb.checksum:
                return part(
                    ra.tick, "checksum", ra.checksum, rb.checksum, (last_equal + 1, ra.tick)
                )
            last_equal = ra.tick
        if ra.tick in chains_a and ra.tick in chains_b:
            if chains_a[ra.tick] != chains_b[ra.tick]:
                return part(
                    ra.tick,
                    "checksum chain",
                    chains_a[ra.tick],
                    chains_b[ra.tick],
                    (last_equal + 1, ra.tick),
                )
            last_equal = ra.tick  # equal chains vouch for every tick so far
        if progress is not None and n % 1024 == 0:
            progress(n, total)
    res.ticks_compared = n
    if replay_a.tick_count != replay_b.tick_count:
        t = min(replay_a.end_tick, replay_b.end_tick)
        return part(t, "length", replay_a.tick_count, replay_b.tick_count)
    res.message = f"{n} ticks compared, no difference" + (
        f" (header differences: {'; '.join(hdr)})" if hdr else ""
    )
    return res


def diff_simulated(
    replay_a: Replay,
    sim_a: Simulator,
    replay_b: Replay,
    sim_b: Simulator,
    *,
    progress: Progress | None = None,
) -> DiffResult:
    """Re-simulate two recordings side by side and find the first tick whose worlds differ.

    Unlike :func:`diff` this is exact whatever the files' checkpoint settings:
    every tick's checksum is computed. With ``world_diff`` on ``sim_b`` the
    result lists the differing components (``expected`` = A, ``actual`` = B).
    """
    hdr = _header_differences(replay_a, replay_b)
    sim_a.reset_to(replay_a.header.initial_snapshot)
    sim_b.reset_to(replay_b.header.initial_snapshot)
    total = min(replay_a.tick_count, replay_b.tick_count)
    res = DiffResult(same=True, ticks_compared=0, header_differences=hdr)
    n = 0
    for (ra, sa), (rb, sb) in zip(_states(replay_a), _states(replay_b)):
        ca = sim_a.step(sa, ra)
        cb = sim_b.step(sb, rb)
        n += 1
        if ca != cb or ra.tick != rb.tick:
            res.same = False
            res.first_divergent_tick = ra.tick
            res.window = (ra.tick, ra.tick)
            res.kind = "world"
            res.a, res.b = ca, cb
            res.ticks_compared = n
            res.details = _world_diff(sim_b, sim_a.snapshot()) or []
            cause = "inputs differ" if sa != sb else "same inputs"
            res.message = (
                f"re-simulated worlds part at tick {ra.tick} ({cause}): checksum "
                f"{ca:#018x} vs {cb:#018x}"
            )
            return res
        if progress is not None and n % 256 == 0:
            progress(n, total)
    res.ticks_compared = n
    if replay_a.tick_count != replay_b.tick_count:
        res.same = False
        res.kind = "length"
        res.first_divergent_tick = min(replay_a.end_tick, replay_b.end_tick)
        res.a, res.b = replay_a.tick_count, replay_b.tick_count
        res.message = f"re-simulated worlds agree for {n} ticks, then one recording ends"
        return res
    res.message = f"{n} ticks re-simulated side by side, every checksum equal"
    return res
