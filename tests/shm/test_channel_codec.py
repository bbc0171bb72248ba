"""The channel's fast msgpack subset codec against msgpack itself, on random values and bytes."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.cython_ext import ring_ops
from gpi.shm import protocol

if ring_ops.BACKEND != "cython":
    pytest.skip("Cython ring kernel not built", allow_module_level=True)

from gpi.cython_ext._ring import (  # type: ignore[import-not-found]  # noqa: E402
    NOT_HANDLED,
    fast_pack,
    fast_pack_message,
    fast_unpack,
)

PACK = msgpack.Packer(use_bin_type=True).pack

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.binary(max_size=300),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=20),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=10), inner, max_size=20),
    ),
    max_leaves=15,
)


def _same(a: object, b: object) -> bool:
    return PACK(a) == PACK(b) and type(a) is type(b)


@settings(max_examples=80, deadline=None)
@given(VALUES)
def test_fast_pack_writes_exactly_what_msgpack_writes(value: object) -> None:
    assert fast_pack(value) == PACK(value)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text(max_size=10), VALUES, max_size=20))
def test_fast_unpack_reads_what_msgpack_reads(value: dict) -> None:
    data = PACK(value)
    assert _same(fast_unpack(data), msgpack.unpackb(data))


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_are_never_accepted_differently(data: bytes) -> None:
    got = fast_unpack(data)
    if got is NOT_HANDLED:
        return
    assert _same(got, msgpack.unpackb(data))


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(st.text(max_size=6), SCALARS, min_size=1, max_size=8),
    st.data(),
)
def test_damaged_messages_are_refused_or_read_like_msgpack(
    value: dict, data: st.DataObject
) -> None:
    raw = bytearray(PACK(value))
    i = data.draw(st.integers(0, len(raw) - 1))
    action = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if action == "flip":
        raw[i] ^= data.draw(st.integers(1, 255))
    elif action == "truncate":
        del raw[i:]
    else:
        raw += b"\x00"
    got = fast_unpack(bytes(raw))
    if got is NOT_HANDLED:
        return
    assert _same(got, msgpack.unpackb(bytes(raw)))


def test_outside_the_subset_is_not_handled() -> None:
    assert fast_pack(2**64) is NOT_HANDLED
    assert fast_pack(-(2**63) - 1) is NOT_HANDLED
    assert fast_pack({1.5}) is NOT_HANDLED
    assert fast_pack("\ud800") is NOT_HANDLED  # lone surrogate: not UTF-8
    deep: list = []
    for _ in range(40):
        deep = [deep]
    assert fast_pack(deep) is NOT_HANDLED
    assert fast_unpack(PACK({b"bytes key": 1})) is NOT_HANDLED
    assert fast_unpack(PACK({1: 1})) is NOT_HANDLED
    assert fast_unpack(msgpack.packb(msgpack.ExtType(1, b"x"))) is NOT_HANDLED
    assert fast_unpack(b"\xa2\xff\xfe") is NOT_HANDLED  # invalid UTF-8
    assert fast_unpack(b"") is NOT_HANDLED
    assert fast_unpack(PACK(1) + b"\x00") is NOT_HANDLED  # trailing bytes
    nan = fast_unpack(PACK(float("nan")))
    assert isinstance(nan, float) and math.isnan(nan)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("v", "kind")), VALUES, max_size=20))
def test_fast_message_encoding_matches_the_protocol_module(body: dict) -> None:
    msg = {"kind": "call", **body}
    kinds = protocol.make_kinds()
    expect = protocol.encode(msg, kinds=kinds, max_size=1 << 30)
    assert fast_pack_message(msg, protocol.PROTOCOL_VERSION) == expect
    stamped = {"v": protocol.PROTOCOL_VERSION, **msg}
    assert fast_pack_message(stamped, protocol.PROTOCOL_VERSION) == PACK(stamped)
    assert fast_pack_message({**msg, "v": 99}, protocol.PROTOCOL_VERSION) is NOT_HANDLED
