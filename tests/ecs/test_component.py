"""Component schemas: validation, serialisation, value coercion."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from gpi.ecs import Component, SchemaError
from gpi.errors import GpiError


def test_basic_fields_and_itemsize() -> None:
    c = Component("Position", "float32", (2,))
    assert c.name == "Position"
    assert c.dtype == np.dtype(np.float32)
    assert c.shape == (2,)
    assert c.itemsize == 8
    assert Component("Health", np.int32).shape == ()


def test_frozen_and_hashable() -> None:
    c = Component("Health", "int32")
    with pytest.raises(AttributeError):
        c.name = "x"  # type: ignore[misc]
    assert {c: 1}[Component("Health", np.int32)] == 1


@pytest.mark.parametrize(
    "spec",
    [
        ("Tint", "uint8[4]", ()),
        ("M", "f8", (3, 3)),
        ("Pair", np.dtype([("a", "<f4", (3,)), ("b", [("x", "u1"), ("y", "<i2")])]), ()),
        ("Scalar", "int64", 1),
    ],
)
def test_to_dict_round_trips_through_msgpack(spec: tuple) -> None:
    c = Component(*spec)
    wire = msgpack.unpackb(msgpack.packb(c.to_dict()), raw=False)
    assert Component.from_dict(wire) == c


def test_shorthand_folds_into_shape() -> None:
    assert Component("T", "uint8[4]") == Component("T", "uint8", (4,))
    assert Component("M", "float32[2, 3]").shape == (2, 3)


@pytest.mark.parametrize(
    "args, words",
    [
        (("1abc", "f4"), "name"),
        (("", "f4"), "name"),
        (("has space", "f4"), "name"),
        (("x" * 65, "f4"), "name"),
        (("Obj", object), "objects"),
        (("Bad", "not-a-dtype"), "not a numpy dtype"),
        (("Zero", "f4", (0,)), "positive"),
        (("Neg", "f4", (-2,)), "positive"),
    ],
)
def test_invalid_definitions_raise_schema_error(args: tuple, words: str) -> None:
    with pytest.raises(SchemaError, match=words) as info:
        Component(*args)
    assert isinstance(info.value, ValueError) and isinstance(info.value, GpiError)


def test_from_dict_rejects_garbage() -> None:
    with pytest.raises(SchemaError):
        Component.from_dict({"dtype": "f4"})
    with pytest.raises(SchemaError):
        Component.from_dict({"name": "X", "dtype": 5})


def test_coerce_broadcasts_and_checks() -> None:
    pos = Component("Position", "float32", (2,))
    out = pos.coerce([1, 2], 3)
    assert out.shape == (3, 2) and out.dtype == np.float32
    assert pos.coerce(np.zeros((3, 2)), 3).dtype == np.float32  # float64 -> float32 is same kind
    with pytest.raises(SchemaError, match="shape"):
        pos.coerce(np.zeros((3, 3), np.float32), 3)
    health = Component("Health", "int32")
    with pytest.raises(SchemaError, match="expected dtype int32, given float64"):
        health.coerce(np.array([1.5]), 1)
    tint = Component("Tint", "uint8", (4,))
    assert tint.coerce([255, 0, 0, 255], 2).tolist() == [[255, 0, 0, 255]] * 2
    with pytest.raises(SchemaError):
        tint.coerce([300, 0, 0, 0], 1)
    # integer arrays of another width are fine when they fit, refused (never wrapped) otherwise
    assert tint.coerce(np.array([1, 2, 3, 4]), 1).dtype == np.uint8
    with pytest.raises(SchemaError, match="do not fit uint8"):
        tint.coerce(np.array([-1, 2, 3, 4]), 1)
    with pytest.raises(SchemaError, match="do not fit int32"):
        health.coerce(np.array([2**40]), 1)
