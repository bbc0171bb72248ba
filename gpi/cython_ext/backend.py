"""Which kernels run: the compiled Cython extensions or their references, chosen once, here.

Every kernel module of this package (:mod:`~gpi.cython_ext.checksum`,
:mod:`~gpi.cython_ext.ring_ops`, :mod:`~gpi.cython_ext.draw`) asks
:func:`load_kernel` for its extension when it is imported, and uses the
reference implementation beside it (numpy, or plain Python for the ring)
when the answer is None. The references have the same signatures and write
the same bytes, only slower; tests compare the two.

The answer is None when:

- ``GPI_PURE_PYTHON`` is set to anything but ``""`` or ``"0"`` (the override,
  after msgpack-python's ``MSGPACK_PUREPYTHON``: debug a kernel against its
  reference, or run a tree that was never built); it is read once, when this
  module is imported, so set it before the first ``import gpi``;
- the extension was not built (``python setup.py build_ext --inplace``);
- the host is big-endian (the kernels write the little-endian formats with
  native loads and stores).

Each kernel module's ``BACKEND`` says what it got.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

__all__ = ["PURE_PYTHON", "PURE_PYTHON_ENV", "load_kernel"]

PURE_PYTHON_ENV = "GPI_PURE_PYTHON"
PURE_PYTHON: bool = os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")


def load_kernel(name: str) -> ModuleType | None:
    """The compiled extension ``gpi.cython_ext.<name>`` (e.g. ``"_draw"``), or None to use the reference."""
    if PURE_PYTHON or sys.byteorder != "little":
        return None
    try:
        return importlib.import_module(f"gpi.cython_ext.{name}")
    except ImportError:  # not built
        return None
