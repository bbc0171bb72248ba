"""Command buffers: how systems change the world, validated whole before anything applies.

A system (in a child process, or in-process) never mutates the world. It
records operations in a :class:`CommandBuffer`; the host calls
:meth:`World.apply`, which first validates the *entire* buffer against the
current world and the system's declared :class:`Access`. Any problem rejects
the whole buffer with a :class:`~gpi.ecs.errors.CommandError` listing every
problem found, and the world is untouched (same checksum).

One module per step:

- :mod:`~gpi.ecs.commands.buffer`: :class:`CommandBuffer`, what a system records;
- :mod:`~gpi.ecs.commands.wire`: the msgpack-able wire form and its decoding
  (with the fast path for whole-column writes);
- :mod:`~gpi.ecs.commands.validate`: :class:`Access` and the checks against
  access, dtypes, shapes, live ids and sizes, which produce the apply plan;
- :mod:`~gpi.ecs.commands.apply`: the plan applied in order.

Apply order within one buffer is fixed, by phase, each phase in recording order:

1. ``set`` and ``set_chunk`` (value writes against the current layout),
2. ``add_component``, 3. ``remove_component``, 4. ``despawn`` and
``despawn_recursive``, 5. ``spawn``,
6. ``insert_resource`` / ``remove_resource``, 7. ``send_event``.

Because writes come before any structural change and entities only die in
phase 4, validating every operation against the starting state is exact.
"""

from gpi.ecs.commands.apply import apply_buffer
from gpi.ecs.commands.buffer import CommandBuffer
from gpi.ecs.commands.validate import Access, validate_buffer
from gpi.ecs.commands.wire import (
    MAX_OPS,
    WIRE_VERSION,
    DecodeArray,
    EncodeArray,
    decode_inline,
    encode_inline,
)

__all__ = [
    "MAX_OPS",
    "WIRE_VERSION",
    "Access",
    "CommandBuffer",
    "DecodeArray",
    "EncodeArray",
    "apply_buffer",
    "decode_inline",
    "encode_inline",
    "validate_buffer",
]
