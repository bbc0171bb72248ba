"""Deterministic replays: the ``.gpir`` format, recorder, reader and verification.

A replay stores a run's header (versions, seed, plugins, schema, initial
snapshot) and then, per tick, the input delta, the world checksum (at
checkpoints, plus a per-block checksum chain), fault events, plugin swaps and
periodic keyframe snapshots. See :mod:`gpi.replays.format` for the bytes,
``docs/replays.md`` for the guide.
"""

from gpi.replays.errors import (
    CorruptBlockError,
    HeaderError,
    PluginMismatchError,
    RecordError,
    ReplayError,
    ReplayFormatError,
    ReplayVersionError,
    SeekError,
    SimulatorUnavailableError,
    TruncatedReplayError,
    VerifyWorkerError,
)
from gpi.replays.format import FORMAT_VERSION, ReplayHeader, chain_step, check_plugins
from gpi.replays.inputs import EMPTY_INPUT, InputState
from gpi.replays.inputs import apply as apply_input
from gpi.replays.inputs import diff as diff_input
from gpi.replays.parallel import VerifyPool, verify_parallel
from gpi.replays.player import Player
from gpi.replays.reader import BlockInfo, Replay, TailInfo
from gpi.replays.records import FAULT_KINDS, TickRecord
from gpi.replays.verify import (
    Difference,
    DiffResult,
    Simulator,
    VerifyResult,
    diff,
    diff_simulated,
    seek,
    verify,
)
from gpi.replays.writer import Recorder

__all__ = [
    "EMPTY_INPUT",
    "FAULT_KINDS",
    "FORMAT_VERSION",
    "BlockInfo",
    "DiffResult",
    "Difference",
    "Simulator",
    "VerifyResult",
    "CorruptBlockError",
    "HeaderError",
    "InputState",
    "Player",
    "PluginMismatchError",
    "RecordError",
    "Recorder",
    "Replay",
    "ReplayError",
    "ReplayFormatError",
    "ReplayHeader",
    "ReplayVersionError",
    "SeekError",
    "SimulatorUnavailableError",
    "TailInfo",
    "TickRecord",
    "TruncatedReplayError",
    "VerifyPool",
    "VerifyWorkerError",
    "apply_input",
    "chain_step",
    "check_plugins",
    "diff",
    "diff_input",
    "diff_simulated",
    "seek",
    "verify",
    "verify_parallel",
]
