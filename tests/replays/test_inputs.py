"""Input state delta encoding: diff/apply round trips and msgpack stability."""

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.replays.inputs import EMPTY_INPUT, InputState, apply, diff, full

keys = st.frozensets(
    st.one_of(st.integers(0, 1 << 30), st.text(min_size=1, max_size=6)), max_size=6
)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
states = st.builds(
    InputState,
    keys=keys,
    mouse=st.tuples(floats, floats),
    buttons=st.frozensets(st.integers(1, 8), max_size=4),
    axes=st.dictionaries(st.text(min_size=1, max_size=5), floats, max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(states, states)
def test_apply_diff_round_trip(prev: InputState, cur: InputState) -> None:
    delta = diff(prev, cur)
    # through the file format, as the recorder and reader would
    wire = msgpack.unpackb(msgpack.packb(delta), strict_map_key=False)
    assert apply(prev, wire) == cur


@settings(max_examples=100, deadline=None)
@given(states)
def test_same_state_gives_empty_delta_and_dict_round_trip(s: InputState) -> None:
    assert diff(s, s) == {}
    assert InputState.from_dict(msgpack.unpackb(msgpack.packb(s.to_dict()))) == s
    assert apply(EMPTY_INPUT, full(s)) == s


def test_idle_and_small_deltas() -> None:
    a = InputState(keys={"w"}, mouse=(10, 20))
    b = InputState(keys={"w", 32}, mouse=(10, 20), buttons={1})
    assert diff(a, b) == {"kd": [32], "bd": [1]}
    assert diff(b, a) == {"ku": [32], "bu": [1]}
    assert apply(a, {}) is a


def test_negative_zero_axis_is_a_change() -> None:
    a = InputState(axes={"x": 0.0})
    b = InputState(axes={"x": -0.0})
    assert diff(a, b) == {"a": {"x": -0.0}}


def test_unknown_delta_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        apply(EMPTY_INPUT, {"zz": 1})


def test_bad_key_type() -> None:
    with pytest.raises(TypeError, match="keycode"):
        InputState(keys={1.5})  # type: ignore[arg-type]
