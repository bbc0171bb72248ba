"""The whole-column fast path of CommandBuffer.from_wire decodes exactly what the general path does.

Model: ``decode_op`` (the general, checking decoder). For any wire op, well formed
or not, ``from_wire`` must give the same op dict (same keys, order and values) or
the same error message as decoding through ``decode_op`` alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.ecs import CommandBuffer, CommandError, decode_inline, encode_inline
from gpi.ecs.commands.wire import decode_op

GOOD = [encode_inline(np.zeros((3, 2), np.float32)), encode_inline(np.arange(4, dtype=np.uint32))]
ARRAYS = st.sampled_from([
    *GOOD, *GOOD, *GOOD,
    {"dtype": "<f4", "shape": [5], "data": b"\0" * 4},  # wrong byte count
    {"dtype": "|O", "shape": [1], "data": b"\0" * 8},  # object dtype
    "not an array",
])
INTS = st.one_of(st.integers(-3, 100), st.integers(0, 9), st.integers(-1, 1), st.booleans(), st.just("7"),
                 st.none())


@st.composite
def wire_ops(draw: Any) -> dict[str, Any]:
    if draw(st.booleans()):  # well formed, epoch optional: the fast path's case
        op = {"op": "set_chunk", "name": draw(st.sampled_from(["Position", "Velocity"])),
              "table": draw(st.integers(0, 5)), "version": draw(st.integers(0, 5)),
              "rows": draw(st.integers(0, 5)), "values": draw(st.sampled_from(GOOD))}
        if draw(st.booleans()):
            op["epoch"] = draw(st.integers(-1, 5))
        return op
    op = {"op": draw(st.sampled_from(["set_chunk", "set_chunk", "set", "teleport"]))}
    for key, values in (("name", st.sampled_from(["Position", "Velocity", 3])), ("table", INTS),
                        ("version", INTS), ("rows", INTS), ("values", ARRAYS), ("epoch", INTS)):
        if draw(st.integers(0, 4)):  # usually present, sometimes missing
            op[key] = draw(values)
    return op


def general(w: dict[str, Any]) -> dict[str, Any] | str:
    try:
        return decode_op(w, decode_inline, "op 0")
    except CommandError as exc:  # from_wire names the op when the message does not
        msg = str(exc)
        return msg if msg.startswith("op 0") else f"op 0: {msg}"
    except Exception as exc:  # what from_wire reports for a failing decode hook
        return f"op 0: malformed operation: {exc!r}"


def fast(w: dict[str, Any]) -> dict[str, Any] | str:
    try:
        return CommandBuffer.from_wire({"v": 1, "ops": [w]}).ops[0]
    except CommandError as exc:
        return str(exc)


def same(a: dict[str, Any] | str, b: dict[str, Any] | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if list(a) != list(b):
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.dtype == y.dtype
                    and np.array_equal(x, y)):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(wire_ops())
def test_from_wire_matches_the_general_decoder(w: dict[str, Any]) -> None:
    assert same(fast(w), general(w))


def test_the_fast_path_keeps_the_values_array_zero_copy() -> None:
    backing = np.ones((4, 2), np.float32)
    w = {"op": "set_chunk", "name": "Position", "table": 1, "version": 2, "rows": 4, "epoch": 3,
         "values": "ref"}
    op = CommandBuffer.from_wire({"v": 1, "ops": [w]}, lambda ref: backing).ops[0]
    assert op["values"] is backing
    assert list(op) == ["op", "name", "table", "version", "rows", "values", "epoch"]
