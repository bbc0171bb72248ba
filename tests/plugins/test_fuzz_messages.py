"""Hypothesis fuzzing of every decoder of what a child (or a verify worker) sends.

Each decoder gets arbitrary msgpack-shaped data, mutations of well-formed
messages, and hostile shapes (deep nesting, wrong types, huge counts): it
either returns or raises its documented error type, never anything else,
and never takes long (the walks are iterative). The budget is fixed
(``max_examples``) so CI stays fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpi.draw import DrawList, DrawListError, read_batches, read_header
from gpi.ecs.errors import SchemaError
from gpi.ecs.values import check_value
from gpi.plugins.errors import MessageError
from gpi.plugins.messages import (
    MAX_LOG_TEXT,
    decode_arena_ref,
    decode_error,
    decode_ready,
    decode_result,
)
from gpi.replays.errors import VerifyWorkerError
from gpi.replays.parallel import decode_worker_message as decode_worker
from gpi.replays.parallel import pack_message

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1),
                    st.floats(allow_nan=True), st.text(max_size=40), st.binary(max_size=40))
plain = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.one_of(st.text(max_size=10), st.integers(-1000, 1000)), inner, max_size=6)),
    max_leaves=40)


def nested(depth: int, leaf: Any = "x") -> Any:
    v = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"k": v}
    return v


GOOD_RESULT = {"v": 1, "kind": "result", "tick": 3, "sys": "move", "cmds": None, "logs": [["info", "hi"]],
               "dropped": 0, "cpu_ns": 10, "child_ns": 20, "error": None, "saves": None}
GOOD_READY = {"v": 1, "kind": "ready", "abi": 1, "pid": 1234,
              "components": [{"name": "Position", "dtype": "<f4", "shape": [2]}],
              "systems": [{"name": "move", "stage": "update", "reads": ["Velocity"], "writes": ["Position"],
                           "resources": [], "events": [], "before": [], "after": [], "spawns": False,
                           "despawns": False}],
              "sandbox": {"available": True, "layers": {"seccomp": {"name": "seccomp", "active": True,
                                                                    "detail": "x", "required": True}},
                          "violations": []}}
GOOD_ERROR = {"v": 1, "kind": "error", "stage": "import", "type": "ImportError", "message": "m", "traceback": "t"}


def _mutate(base: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    msg = {k: v for k, v in base.items()}
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(msg) + ["extra"]))
        if data.draw(st.booleans()) and key in msg:
            del msg[key]
        else:
            msg[key] = data.draw(st.one_of(plain, st.builds(nested, st.integers(0, 2000))))
    return msg


@FUZZ
@given(st.data())
def test_result_decoder_only_raises_message_errors(data: st.DataObject) -> None:
    msg = _mutate(GOOD_RESULT, data)
    granted = data.draw(st.sampled_from([(), ("save",)]))
    try:
        out = decode_result(msg, plugin="fuzz", granted=granted)
    except MessageError as exc:
        assert exc.plugin == "fuzz" and exc.kind == "result" and exc.field and exc.reason
        return
    assert all(type(t) is str and len(t) <= MAX_LOG_TEXT + 64 for _, t in out["logs"])
    assert type(out["cpu_ns"]) is int and type(out["dropped"]) is int


@FUZZ
@given(st.data())
def test_ready_decoder_only_raises_message_errors(data: st.DataObject) -> None:
    msg = _mutate(GOOD_READY, data)
    try:
        decode_ready(msg, plugin="fuzz", sandbox_requested=data.draw(st.booleans()))
    except MessageError as exc:
        assert exc.kind == "ready" and exc.field
        return
    assert type(msg["pid"]) is int and msg["pid"] > 0


@FUZZ
@given(st.data())
def test_error_and_arena_ref_decoders_only_raise_message_errors(data: st.DataObject) -> None:
    try:
        decode_error(_mutate(GOOD_ERROR, data), plugin="fuzz")
    except MessageError:
        pass
    ref = _mutate({"off": 0, "nbytes": 8, "shape": [2], "dtype": "<f4"}, data)
    try:
        decode_arena_ref(ref, plugin="fuzz")
    except MessageError:
        pass


@FUZZ
@given(plain)
def test_any_plain_value_as_a_whole_message(value: Any) -> None:
    for fn in (lambda m: decode_result(m, plugin="p", granted=("save",)),
               lambda m: decode_ready(m, plugin="p", sandbox_requested=True),
               lambda m: decode_error(m, plugin="p")):
        try:
            fn(value)
        except MessageError:
            pass


def test_deep_nesting_is_refused_without_recursion() -> None:
    deep = nested(100_000)
    for field in ("logs", "error", "saves"):  # cmds: bounded by command validation (check_value)
        msg = {**GOOD_RESULT, field: deep}
        try:
            decode_result(msg, plugin="p", granted=("save",))
        except MessageError as exc:
            assert exc.field.startswith(field)
        else:
            raise AssertionError(f"{field}: a 100,000-deep value was accepted")
    try:
        check_value(nested(600))
    except SchemaError as exc:
        assert "deeper than" in str(exc)
    else:
        raise AssertionError("a 600-deep resource value passed")


@FUZZ
@given(st.binary(max_size=200), st.data())
def test_verify_worker_decoder_only_raises_worker_errors(raw: bytes, data: st.DataObject) -> None:
    frames = [raw, pack_message(*data.draw(st.lists(plain, max_size=4))),
              pack_message("sums", data.draw(st.integers(-5, (1 << 64) - 1)), data.draw(st.lists(plain, max_size=4)))]
    for frame in frames:
        try:
            decode_worker(frame, 0)
        except VerifyWorkerError as exc:
            assert "faulty" in str(exc)


@FUZZ
@given(st.data())
def test_draw_list_reader_only_raises_draw_list_errors(data: st.DataObject) -> None:
    buf = np.zeros(1 << 16, np.uint8)
    dl = DrawList(buf)
    dl.finish()
    raw = buf.copy()
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, 255))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        h = read_header(raw)
        read_batches(raw, h)
    except DrawListError:
        pass
